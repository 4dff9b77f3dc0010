"""The two mapping tables: each transport's failures land on the same exception classes."""

from __future__ import annotations

import builtins
import json

import pytest
from attnserve_client import (
    AttnserveClientError,
    AuthError,
    BadInputError,
    ModelNotFoundError,
    ServerError,
    ServerUnavailableError,
    TimeoutError,
)
from attnserve_client.errors import BY_CODE, from_error_body, from_grpc, from_http


def ours(code: str, field: str | None = None) -> bytes:
    return json.dumps({"error": {"code": code, "field": field, "message": f"{code} happened"}}).encode()


def torchserves(status: int, kind: str, message: str) -> bytes:
    return json.dumps({"code": status, "type": kind, "message": message}).encode()


REST = [
    ("our bad input", 400, ours("INVALID_INPUT", "methods[1]"), BadInputError, "methods[1]"),
    ("our internal error", 500, ours("INTERNAL"), ServerError, None),
    ("bad token", 400, torchserves(400, "InvalidKeyException", "Token Authorization failed"), AuthError, None),
    ("401", 401, b"", AuthError, None),
    ("unknown model", 404, torchserves(404, "ModelNotFoundException", "Model not found: x"), ModelNotFoundError, None),
    ("no worker", 503, torchserves(503, "ServiceUnavailableException", "no worker"), ServerUnavailableError, None),
    ("worker died", 500, torchserves(500, "InternalServerException", "Worker died."), ServerUnavailableError, None),
    ("handler raised", 503, torchserves(503, "InternalServerException", "Prediction failed"), ServerError, None),
    ("bad gateway", 502, b"<html>bad gateway</html>", ServerUnavailableError, None),
    ("gateway timeout", 504, b"", ServerUnavailableError, None),
    ("too large", 413, b"", BadInputError, None),
    ("other 4xx", 405, b"Method Not Allowed", BadInputError, None),
    ("other 5xx, not JSON", 507, b"<html>oom</html>", ServerError, None),
]


@pytest.mark.parametrize(("case", "status", "body", "kind", "field"), REST, ids=[case[0] for case in REST])
def test_rest_table(case: str, status: int, body: bytes, kind: type, field: str | None) -> None:
    error = from_http(status, body)
    assert type(error) is kind
    assert error.field == field and error.status == f"HTTP {status}" and error.message


def test_rest_keeps_the_servers_message() -> None:
    assert from_http(404, torchserves(404, "ModelNotFoundException", "Model not found: x")).message == (
        "Model not found: x"
    )
    assert from_http(400, ours("INVALID_INPUT", "text")).message == "INVALID_INPUT happened"


GRPC = [
    ("INVALID_ARGUMENT", "bad", BadInputError),
    ("PERMISSION_DENIED", "Token Authorization failed", AuthError),
    ("UNAUTHENTICATED", "", AuthError),
    ("INTERNAL", "Model not found: nope", ModelNotFoundError),
    ("INTERNAL", "Worker died.", ServerUnavailableError),  # restarted: worth sending again
    ("INTERNAL", "Prediction failed", ServerError),
    ("NOT_FOUND", "", ModelNotFoundError),
    ("UNAVAILABLE", "failed to connect", ServerUnavailableError),
    ("DEADLINE_EXCEEDED", "Deadline Exceeded", TimeoutError),
    ("RESOURCE_EXHAUSTED", "Received message larger than max", BadInputError),
    ("UNKNOWN", "?", ServerError),
]


@pytest.mark.parametrize(("code", "details", "kind"), GRPC, ids=[f"{c[0]}-{c[2].__name__}" for c in GRPC])
def test_grpc_table(code: str, details: str, kind: type) -> None:
    error = from_grpc(code, details)
    assert type(error) is kind and error.status == code and error.message == (details or code)


@pytest.mark.parametrize("kind", list(BY_CODE.values()), ids=list(BY_CODE))
def test_our_error_codes_raise_the_same_class_on_both_transports(kind: type[AttnserveClientError]) -> None:
    rest = from_http(400, ours(kind.code, "text"))
    grpc = from_error_body(kind.code, f"{kind.code} happened", "text", "OK")
    assert type(rest) is type(grpc) is kind
    assert (rest.field, rest.message) == (grpc.field, grpc.message)


def test_an_unknown_code_is_a_server_error_and_an_empty_field_is_none() -> None:
    error = from_error_body("SOMETHING_NEW", "m", "", "OK")
    assert type(error) is ServerError and error.field is None


def test_the_hierarchy() -> None:
    for kind in (AuthError, BadInputError, ModelNotFoundError, ServerError, ServerUnavailableError, TimeoutError):
        assert issubclass(kind, AttnserveClientError)
    assert issubclass(TimeoutError, builtins.TimeoutError)
