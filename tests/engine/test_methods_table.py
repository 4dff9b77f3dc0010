"""Every registered method × every modality through the whole engine, on a tiny BERT and a tiny ViT:
one table, so a new method is enrolled in every cross-check (batched = unbatched, alignment with the
tokens or patches, finiteness), and a modality its record does not list is refused by name."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from attnserve.concepts.bank import RANDOM, CavBank
from attnserve.explain import ModelInfo
from attnserve.image.codec import ImageSpec
from attnserve.image.explainer import ImageExplainer
from attnserve.image.game import ImageGame
from attnserve.methods import REGISTRY
from attnserve.methods.registry import ATTRIBUTIONS, IMAGE, TEXT
from tests.conftest import CONCEPTS, make_amortizer, make_tiny_vit, random_cavs

# Every method the engine serves; a registered method missing here fails test_table_covers_registry.
ENROLLED = {
    "shapley_cls",
    "shapley_mutual",
    "shapley_max_mutual",
    "grad_shapley_cls",
    "grad_shapley_mutual",
    "grad_shapley_max_mutual",
    "rollout",
    "gae",
    "weighted_relevance",
    "saliency",
    "amortized_shapley",
    "integrated_gradients",
    "kernel_shap",
    "shapley_sampling",
    "tcav",
}
TABLE = [(method, modality) for method in sorted(REGISTRY) for modality in (TEXT, IMAGE)]

TEXTS = [
    "Not bad, actually quite fun.",
    "A gorgeous, moving film that never stops surprising, with performances that linger long after.",
    "Dull.",
]
SPEC = ImageSpec(height=16, width=16, mean=(0.5,), std=(0.5,), patch_size=4)


def png(seed: int) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def image_explainer() -> ImageExplainer:
    vit = make_tiny_vit(16, 4, 3, attn_implementation="eager").eval()
    layers, dim = vit.config.num_hidden_layers, vit.config.hidden_size
    concepts = {name: random_cavs(name, layers, dim, seed) for seed, name in enumerate(CONCEPTS)}
    bank = CavBank("vit", list(range(layers)), dim, "mean", concepts, random_cavs(RANDOM, layers, dim, 9))
    return ImageExplainer(vit, SPEC, ModelInfo("vit", "0"), [], bank=bank, amortizer=make_amortizer(vit))


@pytest.fixture(scope="module")
def explainers(explainer, tiny_bank, image_explainer) -> dict:
    text = explainer.__class__(
        explainer.model,
        explainer.tokenizer,
        ModelInfo("tiny", "0"),
        max_length=64,
        default_methods=[],
        bank=tiny_bank,
        amortizer=explainer.amortizer,
    )
    return {TEXT: text, IMAGE: image_explainer}


def bodies(modality: str, method: str) -> list[tuple[dict, None]]:
    inputs = [{"text": t} for t in TEXTS] if modality == TEXT else [{"image": png(seed)} for seed in range(3)]
    return [({**given, "methods": [method]}, None) for given in inputs]


def scores(response: dict, method: str) -> list[list[float]]:
    """Every per-position list a method answered with: its attributions, or each concept layer's."""
    if REGISTRY[method].output == ATTRIBUTIONS:
        return list(response["attributions"][method].values())
    layers = [layer for concept in response["concepts"].values() for layer in concept["layers"]]
    return [layer[key] for layer in layers for key in ("tokens", "words", "patches") if key in layer]


def test_table_covers_registry() -> None:
    assert set(REGISTRY) == ENROLLED, "enrol every registered method in ENROLLED"


@pytest.mark.parametrize(("method", "modality"), TABLE)
def test_batched_equals_unbatched(explainers, method: str, modality: str) -> None:
    if modality not in REGISTRY[method].modalities:
        pytest.skip(f"{method} does not run on {modality}")
    sent = bodies(modality, method)
    together = explainers[modality].explain(sent)
    for body, batched in zip(sent, together, strict=True):
        (alone,) = explainers[modality].explain([body])
        for a, b in zip(scores(alone, method), scores(batched, method), strict=True):
            assert a == pytest.approx(b, abs=1e-5)
        assert alone["probabilities"] == pytest.approx(batched["probabilities"], abs=1e-5)


@pytest.mark.parametrize(("method", "modality"), TABLE)
def test_aligned_and_finite_or_refused_by_name(explainers, method: str, modality: str) -> None:
    (response,) = explainers[modality].explain(bodies(modality, method)[1:2])
    if modality not in REGISTRY[method].modalities:
        assert response.code == "INVALID_INPUT" and response.field == "methods[0]"
        assert method in response.message and modality in response.message
        return
    players = len(response["tokens"]) if modality == TEXT else math.prod(response["patches"]["grid"])
    found = scores(response, method)
    assert found and all(math.isfinite(x) for values in found for x in values)
    if modality == TEXT:
        tokens, words = found[0], found[1]  # the attributions' (or the first concept layer's) two lists
        assert len(tokens) == players
        assert len(words) == len(response["words"]) and sum(words) == pytest.approx(sum(tokens), abs=1e-6)
    else:
        assert all(len(values) == players for values in found)


def test_an_option_above_its_cap_is_a_400_naming_it(explainers) -> None:
    (response,) = explainers[TEXT].explain(
        [({"text": TEXTS[0], "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 10**6}}}, None)]
    )
    assert response.field == "options.kernel_shap.samples" and "at most 10000" in response.message


def test_the_records_declare_what_the_engine_reads() -> None:
    for name, method in REGISTRY.items():
        assert method.name == name and method.modalities <= {TEXT, IMAGE} and method.summary
        assert all(1 <= option.default <= option.maximum for option in method.options)
        if method.options:
            assert method.cost(method.option_defaults, 10) >= 1


def test_image_without_fills_the_absent_patches_as_the_image_game_does(image_explainer) -> None:
    """The subgame pass's masking of a batch equals the masking game's, row by row."""
    explainer = image_explainer
    items = [explainer.encode(explainer.parse({"image": png(seed)}, None)) for seed in (1, 2)]
    batch = explainer.collate(items)
    absent = torch.zeros_like(batch.players)
    absent[0, explainer.leading + 3] = absent[1, explainer.leading] = absent[1, -1] = True
    masked = explainer.without(batch.inputs, absent)["pixel_values"]
    spec = explainer.spec
    for row in range(2):
        game = ImageGame(
            explainer.model, batch.inputs["pixel_values"][row : row + 1], spec.grid, spec.patch_size, spec.black, 0
        )
        present = ~absent[row : row + 1, explainer.leading :]
        assert torch.equal(masked[row : row + 1], game.masked_pixels(present))
    assert not torch.equal(masked, batch.inputs["pixel_values"])
