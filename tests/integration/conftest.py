"""One real TorchServe for the integration tests, on the built default archives, on free ports in its
own working directory (so it can run beside a `make run` server). One server holds every model: a
second JVM per model would cost its start-up time again for nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.launch import DEFAULT_MODELS, ROOT, Ports, TorchServe


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
    server = ServedModel(tmp_path_factory.mktemp("torchserve"), DEFAULT_MODELS, Ports.free())
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
