"""The handler's fixtures: one ``ExplainHandler`` class started in-process, through TorchServe's own
Context, on a tiny random BERT (with random CAVs) and on a tiny ViT."""

from __future__ import annotations

import json

import pytest
from ts.context import Context

from attnserve.concepts.bank import save_cavs
from handlers.explain_handler import ExplainHandler


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tiny_bert, tokenizer, tiny_bank):
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_bert.save_pretrained(path)
    tokenizer.save_pretrained(path)
    save_cavs(tiny_bank, path / "cavs.pt")
    (path / "model_card.json").write_text(json.dumps({"version": "0.1"}))
    return path


@pytest.fixture(scope="session")
def image_model_dir(tmp_path_factory, tiny_vit):
    path = tmp_path_factory.mktemp("tiny-vit")
    tiny_vit.save_pretrained(path)
    processor = {"image_mean": [0.5], "image_std": [0.5], "size": {"height": 28, "width": 28}}
    (path / "preprocessor_config.json").write_text(json.dumps(processor))
    (path / "model_card.json").write_text(json.dumps({"version": "0.2"}))
    return path


def started(name: str, model_dir, settings: dict) -> tuple[ExplainHandler, Context]:
    context = Context(name, str(model_dir), {}, 8, None, "0.12.0", model_yaml_config={"handler": settings})
    handler = ExplainHandler()
    handler.initialize(context)
    return handler, context


@pytest.fixture(scope="session")
def handler_and_context(model_dir):
    return started("sentiment", model_dir, {"max_length": 32, "default_methods": ["shapley_cls"]})


@pytest.fixture(scope="session")
def image_handler_and_context(image_model_dir):
    return started("fashion", image_model_dir, {"modality": "image", "default_methods": ["shapley_mutual"]})
