"""The key keeper's lifetime: TorchServe deletes key_file.json at stop, and the keeper then exits at once,
successfully (its renewal against a real server: tests/integration/test_key_keeper.py)."""

from __future__ import annotations

from datetime import timedelta

from deploy.keeper import keep


def test_the_key_keeper_ends_with_the_server(tmp_path) -> None:
    assert keep(tmp_path / "key_file.json", "http://127.0.0.1:1", "http://127.0.0.1:1", 0.01, timedelta(0), 1) == 0
