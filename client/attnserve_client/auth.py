"""Where the inference token comes from: an argument, ``ATTNSERVE_TOKEN``, or TorchServe's key file.

TorchServe writes fresh keys to ``key_file.json`` (in its working directory) at every start and they
expire after 60 minutes unless renewed, so a key file is re-read before every attempt: a client pointed
at the file keeps working across a server restart and a key renewal (a request refused with a key the
file no longer holds is sent once more with the new one). While the server is down the file is gone; the last key read
is used meanwhile (the call fails to connect and is retried anyway).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from attnserve_client.errors import AuthError

TOKEN_ENV = "ATTNSERVE_TOKEN"
KEY_FILE_ENV = "ATTNSERVE_KEY_FILE"
HOW_TO = f"pass token= or key_file= (CLI: --token / --key-file), or set {TOKEN_ENV} or {KEY_FILE_ENV}"


class TokenSource:
    """The bearer token for each attempt. Precedence: ``token``, ``key_file``, then the environment."""

    def __init__(self, token: str | None = None, key_file: str | os.PathLike | None = None) -> None:
        token = token or (None if key_file else os.environ.get(TOKEN_ENV))
        key_file = key_file or (None if token else os.environ.get(KEY_FILE_ENV))
        self._token = token
        self._key_file = Path(key_file) if key_file else None
        self._last_read: str | None = None

    def describe(self) -> str:
        if self._token:
            return "the given token"
        if self._key_file:
            return f'the "inference" key of {self._key_file}'
        return "no token"

    def bearer(self) -> str | None:
        """The token to send now, or ``None`` when none was configured (a server without token auth)."""
        if self._token or not self._key_file:
            return self._token
        try:
            self._last_read = read_inference_key(self._key_file)
        except AuthError:
            if self._last_read is None:
                raise
        return self._last_read

    def renewed(self) -> bool:
        """Whether the key file now holds another key than the one last sent: the server renewed it in
        between (deploy/keeper.py, the container's health check), so one more try can succeed."""
        if self._token or not self._key_file or self._last_read is None:
            return False
        try:
            return read_inference_key(self._key_file) != self._last_read
        except AuthError:
            return False

    def refused(self, error: AuthError) -> AuthError:
        """The server's refusal, plus what the caller can do about it."""
        if self._token or self._key_file:
            hint = f"the server refused {self.describe()}; TorchServe makes new keys at every start (60 min expiry)"
        else:
            hint = f"no token was sent: {HOW_TO}"
        return AuthError(f"{error.message} ({hint})", status=error.status)


def read_inference_key(path: Path) -> str:
    """The "inference" key of a TorchServe ``key_file.json``."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AuthError(
            f"key file {path} not found: TorchServe writes key_file.json in its working directory at start "
            "and deletes it at stop"
        ) from None
    except (OSError, ValueError) as error:
        raise AuthError(f"cannot read key file {path}: {error}") from None
    entry = data.get("inference") if isinstance(data, dict) else None
    key = entry.get("key") if isinstance(entry, dict) else None
    if not isinstance(key, str) or not key:
        raise AuthError(f'key file {path} has no "inference" key (expected {{"inference": {{"key": ...}}}})')
    return key
