"""The container health check against the real TorchServe: healthy with the current key, and near the
key's expiry it has TorchServe make a new inference key (rewriting key_file.json) and stays healthy."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from attnserve_client import Client

from deploy.healthcheck import ROTATE_BEFORE, check, expires_at

pytestmark = pytest.mark.integration


def run_check(server, now: datetime) -> str | None:
    return check(server.key_file, server.inference_url, server.management_url, now)


def test_healthy_with_the_current_key(torchserve) -> None:
    before = torchserve.token
    assert run_check(torchserve, datetime.now(UTC)) is None
    assert torchserve.token == before  # far from expiry: nothing rotated


def test_rotates_the_inference_key_before_it_expires(torchserve) -> None:
    old = torchserve.token
    expiry = expires_at(json.loads(torchserve.key_file.read_text())["inference"])
    assert run_check(torchserve, expiry - ROTATE_BEFORE / 2) is None
    new = torchserve.token
    assert new != old
    ping = f"{torchserve.inference_url}/ping"
    assert httpx.get(ping, headers={"Authorization": f"Bearer {new}"}).status_code == 200
    assert httpx.get(ping, headers={"Authorization": f"Bearer {old}"}).status_code != 200


def test_unhealthy_without_a_key_file(torchserve, tmp_path) -> None:
    problem = check(tmp_path / "key_file.json", torchserve.inference_url, torchserve.management_url, datetime.now(UTC))
    assert problem and "not written yet" in problem


def test_publishes_the_inference_key_alone_for_clients(torchserve, tmp_path) -> None:
    published = tmp_path / "key_file.json"
    now = datetime.now(UTC)
    assert (
        check(torchserve.key_file, torchserve.inference_url, torchserve.management_url, now, client_key_file=published)
        is None
    )
    assert json.loads(published.read_text()) == {"inference": json.loads(torchserve.key_file.read_text())["inference"]}
    with Client(torchserve.inference_url, model="sentiment", key_file=published) as client:
        assert client.explain("A gorgeous, moving film.", methods=[]).label == "positive"
