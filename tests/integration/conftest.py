"""One real TorchServe for the integration tests, on the built default archives plus a user's own
checkpoint packaged as a user would (the real all-MiniLM-L6-v2 with a fresh 3-class head), on free
ports in its own working directory (so it can run beside a `make run` server). One server holds every
model: a second JVM per model would cost its start-up time again for nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.launch import DEFAULT_MODELS, ROOT, Ports, TorchServe

OWN_MODEL = "own-minilm"
OWN_LABELS = {0: "low", 1: "mid", 2: "high"}


class ServedModel(TorchServe):
    """The test server; ``model`` names the model requests go to (sentiment unless a view says otherwise)."""

    model = "sentiment"


class ModelView:
    """The same server, with requests addressed to another of its models."""

    def __init__(self, server: ServedModel, model: str) -> None:
        self.server = server
        self.model = model

    def __getattr__(self, name: str) -> object:
        return getattr(self.server, name)


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory) -> Iterator[ServedModel]:
    missing = [m for m in DEFAULT_MODELS if not (ROOT / "model_store" / m.split("=")[1]).exists()]
    if missing:
        pytest.fail(f"{missing} not built; `make test` builds them (make models)")
    own = package_own_model(tmp_path_factory.mktemp("own-checkpoint"))
    models = [*DEFAULT_MODELS, f"{OWN_MODEL}={own.name}"]
    server = ServedModel(tmp_path_factory.mktemp("torchserve"), models, Ports.free())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def topics(torchserve: ServedModel) -> ModelView:
    return ModelView(torchserve, "topics")


@pytest.fixture
def fashion_model(torchserve: ServedModel) -> ModelView:
    return ModelView(torchserve, "fashion")


def package_own_model(folder) -> object:
    """A checkpoint as a user brings one (save_pretrained of MiniLM with a new head), through `package`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from model_store.package import package
    from model_store.recipes.text_classifier import base_dir

    labels = {"id2label": OWN_LABELS, "label2id": {v: k for k, v in OWN_LABELS.items()}}
    AutoModelForSequenceClassification.from_pretrained(base_dir(), num_labels=3, **labels).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_dir()).save_pretrained(folder)
    return package(folder, OWN_MODEL)


@pytest.fixture
def own_model(torchserve: ServedModel) -> ModelView:
    return ModelView(torchserve, OWN_MODEL)
