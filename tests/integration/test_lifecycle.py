"""Stopping is clean: the ports close, the keys are gone, and a restart serves again with new keys."""

from __future__ import annotations

import socket

import httpx
import pytest

pytestmark = pytest.mark.integration


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_clean_stop_and_restart(torchserve) -> None:
    old_token = torchserve.token
    torchserve.stop()
    assert not port_open(torchserve.ports.inference_port)
    assert not port_open(torchserve.ports.grpc_inference_port)
    assert not torchserve.key_file.exists()
    torchserve.start()
    assert torchserve.token != old_token
    response = httpx.post(
        f"{torchserve.inference_url}/predictions/sentiment",
        json={"text": "back again", "methods": []},
        headers={"Authorization": f"Bearer {torchserve.token}"},
        timeout=60,
    )
    assert response.status_code == 200
