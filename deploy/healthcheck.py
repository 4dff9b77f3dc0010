"""The container's health check, which also keeps TorchServe's inference key from expiring.

TorchServe's /ping needs the inference key, and that key expires 60 minutes after TorchServe made it
(keys cannot be preset or made permanent). So each check reads key_file.json from the server's working
directory, asks the management API for a new inference key (with the API key, which never expires)
once the current one expires within ``ROTATE_BEFORE``, then pings. TorchServe rewrites key_file.json
when it makes a key, so clients that re-read that file before each call (the SDK with
``ATTNSERVE_KEY_FILE``) keep working across rotations and restarts.

key_file.json also holds the management key and the API key, which never expires and makes new keys:
clients must never see it. With ``--client-key-file`` each check also writes the inference key alone,
in the same format, to that path (the volume clients mount), replacing it atomically when it changes.

Run inside the container: ``python -m deploy.healthcheck [--client-key-file PATH]``; exit status 0
means healthy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROTATE_BEFORE = timedelta(minutes=10)


def call(url: str, key: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def expires_at(entry: dict) -> datetime:
    """TorchServe writes nanoseconds (``2026-11-21T21:48:26.830576419Z``); seconds are precise enough."""
    return datetime.fromisoformat(entry["expiration time"].split(".")[0]).replace(tzinfo=UTC)


def check(
    key_file: Path,
    inference_url: str,
    management_url: str,
    now: datetime,
    rotate_before: timedelta = ROTATE_BEFORE,
    client_key_file: Path | None = None,
) -> str | None:
    """``None`` when healthy, else what is wrong; the inference key is renewed first when it expires
    within ``rotate_before``, then published to ``client_key_file`` when one is given."""
    if not key_file.exists():
        return f"{key_file} not written yet (TorchServe still starting)"
    keys = json.loads(key_file.read_text())
    if expires_at(keys["inference"]) - now < rotate_before:
        status, body = call(f"{management_url}/token?type=inference", keys["API"]["key"], "POST")
        if status != 200:
            return f"inference key rotation refused: HTTP {status} {body}"
        keys = json.loads(key_file.read_text())
    if client_key_file is not None:
        publish(keys, client_key_file)
    status, body = call(f"{inference_url}/ping", keys["inference"]["key"])
    return None if status == 200 and "Healthy" in body else f"ping: HTTP {status} {body}"


def publish(keys: dict, client_key_file: Path) -> None:
    """Write ``{"inference": ...}`` alone to ``client_key_file`` (world-readable: it is what clients are
    meant to read), through a rename so that a client never reads half a file; unchanged, it is left."""
    text = json.dumps({"inference": keys["inference"]}, indent=2) + "\n"
    if client_key_file.is_file() and client_key_file.read_text() == text:
        return
    partial = client_key_file.with_name(f".{client_key_file.name}.{os.getpid()}")
    partial.write_text(text)
    partial.chmod(0o644)
    os.replace(partial, client_key_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key-file", type=Path, default=Path("key_file.json"))
    parser.add_argument("--inference-url", default="http://127.0.0.1:8080")
    parser.add_argument("--management-url", default="http://127.0.0.1:8081")
    parser.add_argument("--client-key-file", type=Path, help="where to publish the inference key alone")
    args = parser.parse_args(argv)
    try:
        now = datetime.now(UTC)
        problem = check(
            args.key_file, args.inference_url, args.management_url, now, client_key_file=args.client_key_file
        )
    except (OSError, ValueError, KeyError) as error:
        problem = f"{type(error).__name__}: {error}"
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
