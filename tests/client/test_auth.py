"""Token sources: argument, environment, TorchServe's key file (re-read, survives its deletion)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from attnserve_client import AuthError
from attnserve_client._core import Settings
from attnserve_client.auth import TokenSource, read_inference_key


def key_file(path: Path, inference: str) -> Path:
    keys = {
        "management": {"key": "m-key", "expiration time": "2026-11-21T21:00:00Z"},
        "inference": {"key": inference, "expiration time": "2026-11-21T21:00:00Z"},
        "API": {"key": "api-key"},
    }
    path.write_text(json.dumps(keys))
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch) -> None:
    monkeypatch.delenv("ATTNSERVE_TOKEN", raising=False)
    monkeypatch.delenv("ATTNSERVE_KEY_FILE", raising=False)


def test_precedence_argument_then_key_file_then_environment(tmp_path: Path, monkeypatch) -> None:
    path = key_file(tmp_path / "key_file.json", "from-file")
    monkeypatch.setenv("ATTNSERVE_TOKEN", "from-env")
    assert TokenSource("from-arg", path).bearer() == "from-arg"
    assert TokenSource(key_file=path).bearer() == "from-file"
    assert TokenSource().bearer() == "from-env"
    monkeypatch.delenv("ATTNSERVE_TOKEN")
    monkeypatch.setenv("ATTNSERVE_KEY_FILE", str(path))
    assert TokenSource().bearer() == "from-file"
    monkeypatch.delenv("ATTNSERVE_KEY_FILE")
    assert TokenSource().bearer() is None


def test_a_key_file_is_reread_and_its_last_key_outlives_its_deletion(tmp_path: Path) -> None:
    path = key_file(tmp_path / "key_file.json", "first")
    source = TokenSource(key_file=path)
    assert source.bearer() == "first"
    path.unlink()  # TorchServe deletes it at stop
    assert source.bearer() == "first"
    key_file(path, "after-restart")
    assert source.bearer() == "after-restart"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found: TorchServe writes key_file.json"),
        ("{not json", "cannot read key file"),
        ('{"management": {"key": "m"}}', 'has no "inference" key'),
        ('{"inference": "flat"}', 'has no "inference" key'),
    ],
    ids=["missing", "not JSON", "no inference key", "wrong shape"],
)
def test_unusable_key_files_are_clear_auth_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "key_file.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AuthError, match=message):
        read_inference_key(path)
    with pytest.raises(AuthError, match=message):
        TokenSource(key_file=path).bearer()


def test_a_refused_key_that_the_file_has_since_replaced_is_retried_once_with_the_new_one(tmp_path: Path) -> None:
    path = key_file(tmp_path / "key_file.json", "old")
    settings = Settings(model="m", timeout=1.0, retries=0, tokens=TokenSource(key_file=path))
    refused = AuthError("Token Authorization failed", status="400")
    assert settings.tokens.bearer() == "old"
    with pytest.raises(AuthError, match="refused"):  # the file still holds the refused key: no retry
        settings.after_failure(refused, 0)
    key_file(path, "renewed")  # the keeper renewed it between our read and the server's check
    assert settings.after_failure(refused, 0) == 0.0
    assert settings.tokens.bearer() == "renewed"
    with pytest.raises(AuthError, match="refused"):  # refused again with the new key: that is final
        settings.after_failure(refused, 1)
    assert TokenSource("given").renewed() is False  # a given token is never swapped
