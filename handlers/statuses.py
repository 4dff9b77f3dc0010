"""The one table from the engine's error codes (attnserve/errors.py) to HTTP statuses. gRPC answers
carry the code itself inside the response message (TorchServe's gRPC path ignores per-request
statuses), so this is the only place a status number is chosen."""

from __future__ import annotations

from attnserve.errors import AttnserveError

HTTP = {
    "INVALID_INPUT": (400, "Bad Request"),
    "UNAVAILABLE": (503, "Service Unavailable"),  # not now: its batch's budget was spent (explain.Busy)
    "INTERNAL": (500, "Internal Server Error"),
}


def http_status(error: AttnserveError) -> tuple[int, str]:
    """(status, reason phrase) of ``error``; a code without a row is an internal error."""
    return HTTP.get(error.code, HTTP["INTERNAL"])
