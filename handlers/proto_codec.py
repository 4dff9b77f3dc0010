"""The gRPC body codec: ``attnserve.v1`` protos <-> the JSON-like dicts the REST path uses.

The gRPC convention: a ``Predictions`` call whose ``input`` map has ``explain_request`` (a serialized
``ExplainRequest``) is answered with a serialized ``ExplainResponse``; a per-request error travels in
its ``error`` field, because TorchServe's gRPC path ignores per-request statuses. A call with
``data`` (JSON or plain text) is answered with JSON, exactly like REST.

Pure: protobuf only, no TorchServe and no torch here, so it is unit-tested without a server. The
response converter is protobuf's own JSON mapping, which rejects any key the proto lacks: a key added
to the JSON response without a proto field fails loudly (and in tests/client/test_proto_codec.py).
"""

from __future__ import annotations

from typing import Any

from attnserve_client.proto import explanation_pb2
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from attnserve.errors import AttnserveError, InvalidInput

INPUT_KEY = "explain_request"


def request_to_body(raw: bytes) -> dict[str, Any]:
    """A serialized ``ExplainRequest`` as the body dict ``attnserve.request.parse_request`` accepts.

    Only what the caller set is carried over, so the REST validator judges it the same way (an
    ``image`` or ``concepts`` sent to a text model is an unknown field there too).
    """
    if not isinstance(raw, bytes | bytearray):
        raise InvalidInput(f"{INPUT_KEY!r} must be bytes, got {type(raw).__name__}", "body")
    try:
        request = explanation_pb2.ExplainRequest.FromString(bytes(raw))
    except DecodeError as error:
        raise InvalidInput(f"{INPUT_KEY!r} is not a serialized attnserve.v1.ExplainRequest: {error}", "body") from None
    body: dict[str, Any] = {"text": request.text}
    if request.methods or request.methods_given:
        body["methods"] = list(request.methods)
    target = request.WhichOneof("target")
    if target is not None:
        body["target"] = getattr(request, target)
    if request.image:
        body["image"] = request.image
    if request.concepts:
        body["concepts"] = list(request.concepts)
    if request.options:
        body["options"] = {method: dict(chosen.values) for method, chosen in request.options.items()}
    return body


def response_to_bytes(response: dict[str, Any]) -> bytes:
    """A response dict from ``attnserve.explain`` as a serialized ``ExplainResponse``."""
    return json_format.ParseDict(response, explanation_pb2.ExplainResponse()).SerializeToString()


def error_to_bytes(error: AttnserveError) -> bytes:
    """A per-request error as a serialized ``ExplainResponse`` with only ``error`` set."""
    message = explanation_pb2.Error(code=error.code, field=error.field or "", message=error.message)
    return explanation_pb2.ExplainResponse(error=message).SerializeToString()
