"""The SDK's exceptions, and the one table per transport that maps a failure onto them.

Callers branch on the exception class, never on a transport's status: TorchServe answers a bad token
with HTTP 400 (REST) or PERMISSION_DENIED (gRPC) and an unknown model with 404 or INTERNAL, and both
become the same class here. Only ``ServerUnavailableError`` is worth retrying.
"""

from __future__ import annotations

import builtins
import json


class AttnserveClientError(Exception):
    """Root of every error the SDK raises. ``status`` is the transport's own status ("HTTP 400",
    "INVALID_ARGUMENT"), for logs only; ``None`` when the failure happened before any answer."""

    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class BadInputError(AttnserveClientError):
    """The request is wrong; ``field`` names the part at fault (e.g. "methods[1]"). Never retried."""

    code = "INVALID_INPUT"


class AuthError(AttnserveClientError):
    """No token, an unreadable key file, or a token the server refused."""

    code = "UNAUTHENTICATED"


class ModelNotFoundError(AttnserveClientError):
    """The server does not serve the requested model."""

    code = "NOT_FOUND"


class ServerError(AttnserveClientError):
    """The server failed on a valid request; retrying the same request is unlikely to help."""

    code = "INTERNAL"


class ServerUnavailableError(AttnserveClientError):
    """Unreachable, starting up, or overloaded (503 / UNAVAILABLE): retried with backoff."""

    code = "UNAVAILABLE"


class TimeoutError(AttnserveClientError, builtins.TimeoutError):
    """No answer within the client's timeout. Not retried: the server may still be working on it."""

    code = "DEADLINE_EXCEEDED"


# attnserve's own error codes (the "error" body on REST, ExplainResponse.error on gRPC).
BY_CODE: dict[str, type[AttnserveClientError]] = {
    cls.code: cls for cls in (BadInputError, AuthError, ModelNotFoundError, ServerUnavailableError, ServerError)
}

# REST: HTTP status -> class, when the body is not attnserve's error body.
HTTP_STATUS: dict[int, type[AttnserveClientError]] = {
    400: BadInputError,
    401: AuthError,
    403: AuthError,
    404: ModelNotFoundError,
    413: BadInputError,  # body above TorchServe's max_request_size
    502: ServerUnavailableError,  # a proxy or gateway in front found no healthy server
    503: ServerUnavailableError,
    504: ServerUnavailableError,
}
# TorchServe's own messages that say more than their status: a worker that died mid-batch is
# restarted, so the request is worth sending again, whatever its status (507 or 500 seen); a handler that
# raised (503) would fail again.
RESTARTING = "Worker died."
FAILED_HANDLER = "Prediction failed"

# gRPC: status code name -> class.
GRPC_STATUS: dict[str, type[AttnserveClientError]] = {
    "INVALID_ARGUMENT": BadInputError,
    "UNAUTHENTICATED": AuthError,
    "PERMISSION_DENIED": AuthError,
    "NOT_FOUND": ModelNotFoundError,
    "RESOURCE_EXHAUSTED": BadInputError,  # a message above a size limit
    "UNAVAILABLE": ServerUnavailableError,
    "DEADLINE_EXCEEDED": TimeoutError,
}


def from_error_body(code: str, message: str, field: str | None, status: str) -> AttnserveClientError:
    """attnserve's own ``{code, field, message}``, from either transport."""
    return BY_CODE.get(code, ServerError)(message, field=field or None, status=status)


def from_http(status_code: int, body: bytes) -> AttnserveClientError:
    """A non-200 REST answer: attnserve's error body first, then TorchServe's, then the status."""
    status = f"HTTP {status_code}"
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        return from_error_body(str(error.get("code")), str(error.get("message")), error.get("field"), status)
    message = body.decode("utf-8", "replace").strip() or f"HTTP {status_code}"
    if isinstance(payload, dict) and "message" in payload:  # TorchServe: {"code", "type", "message"}
        message = str(payload["message"])
        if payload.get("type") == "InvalidKeyException":
            return AuthError(message, status=status)
    if RESTARTING in message:
        return ServerUnavailableError(message, status=status)
    if FAILED_HANDLER in message:
        return ServerError(message, status=status)
    fallback = BadInputError if 400 <= status_code < 500 else ServerError
    return HTTP_STATUS.get(status_code, fallback)(message, status=status)


def from_grpc(code_name: str, details: str) -> AttnserveClientError:
    """A failed gRPC call; TorchServe reports an unknown model as INTERNAL "Model not found"."""
    if code_name == "INTERNAL" and "Model not found" in details:
        return ModelNotFoundError(details, status=code_name)
    if RESTARTING in details:
        return ServerUnavailableError(details, status=code_name)
    return GRPC_STATUS.get(code_name, ServerError)(details or code_name, status=code_name)
