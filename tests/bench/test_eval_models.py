"""The harness's one loader: every bundle is an evaluable model, loaded from its release set as the
archive serves it (staged, through the handler's loader), with its recipe's held-out items. Tiny models
in a scratch release set stand in for the shipped ones, so this runs before those are committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attnserve.methods.amortized import FILE_NAME, save_amortizer
from bench.eval.__main__ import parse
from bench.eval.models import BUNDLES, MODELS, OUT_OF_DOMAIN, EvalModel, ImageEvalModel, load_model
from model_store.recipes import fashion
from model_store.recipes.build import release_dir
from model_store.recipes.bundles import Bundle, discover
from model_store.recipes.release_sets import ReleaseError
from tests.bundles import sections, write_bundle, write_release
from tests.conftest import make_amortizer, make_tiny_vit
from tests.recipes import tiny_recipe

CARD = {
    "version": "0.1",
    "task": "a test task",
    "data": {"source": "test data"},
    "metrics": {"accuracy": 0.75},
}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Staged model dirs go to a scratch cache, never the user's real one."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ATTNSERVE_CACHE", str(root))
    return root


def test_every_bundle_is_a_model_the_command_line_accepts() -> None:
    assert set(BUNDLES) == set(discover()) and {"sentiment", "topics", "fashion"} <= set(BUNDLES)
    for name in [*BUNDLES, *OUT_OF_DOMAIN]:
        assert parse(["--model", name]).model == name


@pytest.fixture
def text_bundle(tmp_path: Path, tiny_bert, tokenizer) -> Bundle:
    """A bundle on the tiny recipe (its weights ship whole) whose release set holds the tiny BERT and a
    learned explainer."""
    spec = sections("sentiment") | {"recipe": tiny_recipe.__name__, "max_length": 32}
    bundle = write_bundle(tmp_path / "model_store" / "tiny", spec)
    model_dir = tmp_path / "weights"
    tiny_bert.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / "model_card.json").write_text(json.dumps(CARD | {"base_model": {"name": "tiny BERT"}}))
    save_amortizer(make_amortizer(tiny_bert), model_dir / FILE_NAME, {})
    write_release(bundle, model_dir)
    return bundle


def test_a_text_model_is_its_release_set_with_its_recipes_held_out_texts(text_bundle: Bundle, tiny_bert) -> None:
    subject = load_model(text_bundle)
    assert isinstance(subject, EvalModel) and subject.name == "tiny"
    assert subject.texts == [text for text, _ in tiny_recipe.split()[1]]
    assert subject.max_length == 32  # the bundle's, as served
    for name, weights in tiny_bert.state_dict().items():
        assert torch.equal(subject.model.state_dict()[name], weights), name
    assert subject.amortizer is not None and "amortized_shapley" not in subject.explainer(100).refused
    assert subject.description == (
        "tiny BERT: a test task, trained on test data (held-out accuracy 0.750); "
        "texts: the held-out split, in its seeded order"
    )


def test_a_release_set_that_does_not_match_its_manifest_is_never_evaluated(text_bundle: Bundle) -> None:
    weights = release_dir(text_bundle) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(ReleaseError, match="truncated"):
        load_model(text_bundle)


def test_an_image_model_is_its_release_set_with_the_test_images(tmp_path: Path) -> None:
    if not fashion.DATA_DIR.is_dir():
        pytest.fail("Debian's dataset-fashion-mnist is missing; `make test` installs it (make debian)")
    bundle = write_bundle(tmp_path / "model_store" / "tiny-fashion", sections("fashion"))
    model_dir = tmp_path / "weights"
    make_tiny_vit(image_size=28, patch_size=4, num_labels=10).save_pretrained(model_dir)
    processor = {"image_mean": [0.5], "image_std": [0.5], "size": {"height": 28, "width": 28}}
    (model_dir / "preprocessor_config.json").write_text(json.dumps(processor))
    (model_dir / "model_card.json").write_text(json.dumps(CARD | {"architecture": {"class": "tiny ViT"}}))
    write_release(bundle, model_dir)

    subject = load_model(bundle)
    assert isinstance(subject, ImageEvalModel) and subject.amortizer is None
    images, _ = fashion.load_split("test")
    assert subject.texts[:2] == ["test/0", "test/1"] and len(subject.texts) == len(images)
    assert subject.spec.grid == (7, 7) and subject.n_tokens("test/3") == 49
    assert torch.equal(subject.row("test/3").pixels, fashion.normalise(images[3:4]))
    assert subject.description.endswith("images: the test split, in file order, 49 patches (7×7 grid of 4×4 pixels)")


def test_out_of_domain_sets_load_the_sentiment_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = []
    stand_in = EvalModel("sentiment", None, None, 128, ["a"], "MiniLM (held-out accuracy 0.9); texts: held-out")
    monkeypatch.setattr("bench.eval.models.load_model", lambda bundle: loaded.append(bundle) or stand_in)
    subject = MODELS["sentiment-nyt"]()
    assert loaded == [BUNDLES["sentiment"]] and subject.name == "sentiment" and len(subject.texts) > 2000
    assert subject.description.startswith("MiniLM (held-out accuracy 0.9); texts: out-of-domain New York Times")
