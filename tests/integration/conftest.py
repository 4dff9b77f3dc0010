"""One real TorchServe for the integration tests, on the built default archive, on free ports in its
own working directory (so it can run beside a `make run` server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.launch import ROOT, Ports, TorchServe

ARCHIVE = ROOT / "model_store" / "sentiment.mar"


class ServedModel(TorchServe):
    """A TorchServe serving the sentiment archive; ``model`` names it for requests."""

    model = "sentiment"


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory) -> Iterator[ServedModel]:
    if not ARCHIVE.exists():
        pytest.fail(f"{ARCHIVE} is not built; `make test` builds it (make models)")
    server = ServedModel(tmp_path_factory.mktemp("torchserve"), ["sentiment=sentiment.mar"], Ports.free())
    server.start()
    try:
        yield server
    finally:
        server.stop()
