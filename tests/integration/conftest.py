"""One real TorchServe for the integration tests, on the built default archive, on free ports in its
own working directory (so it can run beside a `make run` server)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from deploy.launch import ROOT, Ports, TorchServe

ARCHIVE = ROOT / "model_store" / "sentiment.mar"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class ServedModel(TorchServe):
    """A TorchServe serving the sentiment archive; ``model`` names it for requests."""

    model = "sentiment"


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory) -> Iterator[ServedModel]:
    if not ARCHIVE.exists():
        pytest.fail(f"{ARCHIVE} is not built; `make test` builds it (make models)")
    server = ServedModel(tmp_path_factory.mktemp("torchserve"), ["sentiment=sentiment.mar"], Ports(*free_ports(5)))
    server.start()
    try:
        yield server
    finally:
        server.stop()
