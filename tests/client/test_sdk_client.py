"""The clients' real transports against a port where nothing listens: connection failures become
``ServerUnavailableError`` after ``retries`` retries, on both transports, sync and async, for every
request kind; and the async client has every method of the sync one. (Everything that needs an answer
is in tests/integration/test_client_*.py, against the real TorchServe.)"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import sys

import pytest
from attnserve_client import AsyncClient, Client, ServerUnavailableError
from attnserve_client._progress import Progress


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def options(port: int, transport: str) -> dict:
    return {
        "url": f"http://127.0.0.1:{port}",
        "grpc_target": f"127.0.0.1:{port}",
        "transport": transport,
        "token": "t",
        "timeout": 5.0,
        "retries": 2,
    }


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_sync_retries_an_unreachable_server_then_gives_up(closed_port: int, transport: str, caplog) -> None:
    client = Client(**options(closed_port, transport))
    with caplog.at_level(logging.WARNING, "attnserve_client"), client, pytest.raises(ServerUnavailableError):
        client.explain("a text")
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_async_retries_an_unreachable_server_then_gives_up(closed_port: int, transport: str, caplog) -> None:
    async def run() -> None:
        async with AsyncClient(**options(closed_port, transport)) as client:
            await client.predict(["a", "b"])

    with caplog.at_level(logging.WARNING, "attnserve_client"), pytest.raises(ServerUnavailableError):
        asyncio.run(run())
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) >= 2


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="'rest' or 'grpc'"):
        Client(transport="http")  # type: ignore[arg-type]


def test_progress_falls_back_to_a_stderr_counter_without_tqdm(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with Progress(3, enabled=True) as bar:
        for _ in range(3):
            bar.update()
    assert capsys.readouterr().err.endswith("explained 3/3\n")
    with Progress(3, enabled=False) as bar:
        bar.update()
    assert capsys.readouterr().err == ""


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_")
    }


def test_the_async_client_has_every_method_of_the_sync_one_with_the_same_parameters() -> None:
    sync, awaited = public_methods(Client), public_methods(AsyncClient)
    assert set(sync) == set(awaited) and {"explain", "predict", "explain_many", "tcav_scores", "close"} <= set(sync)
    for name, signature in sync.items():
        assert list(awaited[name].parameters.values()) == list(signature.parameters.values()), name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
    assert Client.model.fget and AsyncClient.model.fget  # type: ignore[attr-defined]


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_tcav_scores_retry_on_both_transports_sync_and_async(closed_port: int, transport: str, caplog) -> None:
    """gRPC is no longer refused: the global-concepts kind travels on both, with the same retries."""
    client = Client(**options(closed_port, transport))
    with caplog.at_level(logging.WARNING, "attnserve_client"), client, pytest.raises(ServerUnavailableError):
        client.tcav_scores(["a"], "positive")

    async def run() -> None:
        async with AsyncClient(**options(closed_port, transport)) as client:
            await client.tcav_scores(["a"], "positive", ["negation"])

    with caplog.at_level(logging.WARNING, "attnserve_client"), pytest.raises(ServerUnavailableError):
        asyncio.run(run())
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 4


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_an_image_request_is_sent_on_both_transports(closed_port: int, transport: str) -> None:
    with Client(**options(closed_port, transport) | {"retries": 0}) as client, pytest.raises(ServerUnavailableError):
        client.explain(image=b"\x89PNG not really", methods=["gae"])
