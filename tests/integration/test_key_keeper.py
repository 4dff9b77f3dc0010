"""A long-running server keeps answering: the key keeper that `make run` starts beside TorchServe renews
the inference key before it expires, and a client that reads the key file keeps working across it."""

from __future__ import annotations

import time

import httpx
import pytest
from attnserve_client import Client

pytestmark = pytest.mark.integration


def test_the_keeper_renews_the_key_and_a_client_reading_the_file_keeps_working(torchserve) -> None:
    old = torchserve.token
    with Client(torchserve.inference_url, model="sentiment", key_file=torchserve.key_file) as client:
        assert client.explain("A gorgeous, moving film.", methods=[]).label == "positive"
        # rotate_before above the key's whole life: the first check renews it, as one 50 minutes in would.
        keeper = torchserve.start_keeper(every=0.5, rotate_before=4000)
        try:
            deadline = time.monotonic() + 30
            while torchserve.token == old and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            torchserve.stop_keeper()
            keeper.wait(timeout=10)
        new = torchserve.token
        assert new != old
        ping = f"{torchserve.inference_url}/ping"
        assert httpx.get(ping, headers={"Authorization": f"Bearer {new}"}).status_code == 200
        assert httpx.get(ping, headers={"Authorization": f"Bearer {old}"}).status_code != 200
        assert client.explain("A gorgeous, moving film.", methods=[]).label == "positive"  # re-read the file
