"""One error model for the engine, the handler, both transports and the SDK.

An error carries a transport-neutral ``code`` (UPPER_SNAKE), the request ``field`` it is about, and a
human message. The serving layer maps ``code`` to an HTTP status (handlers/statuses.py); gRPC answers
carry the code itself. The engine never knows which transport it serves.
"""

from __future__ import annotations


class AttnserveError(Exception):
    """Root of every error the service reports to a caller."""

    code = "INTERNAL"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "field": self.field, "message": self.message}


class InvalidInput(AttnserveError):
    """The request itself is wrong; retrying it unchanged cannot succeed."""

    code = "INVALID_INPUT"
