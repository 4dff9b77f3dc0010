"""The gRPC body codec: ``attnserve.v1`` protos <-> the JSON-like dicts the REST path uses.

The gRPC convention: a ``Predictions`` call whose ``input`` map has ``explain_request`` (a serialized
``ExplainRequest``) is answered with a serialized ``ExplainResponse``, one with
``global_concepts_request`` (a serialized ``GlobalConceptsRequest``) with a serialized
``GlobalConceptsResponse``; a per-request error travels in the response's ``error`` field, because
TorchServe's gRPC path ignores per-request statuses. A call with ``data`` (JSON, plain text or image
bytes) is answered with JSON, exactly like REST.

Pure: protobuf only (the generated ``attnserve_protos``, never the SDK), no TorchServe and no torch
here, so it is unit-tested without a server. The response converters are protobuf's own JSON mapping,
which rejects any key the proto lacks: a key added to a JSON response without a proto field fails
loudly (and in tests/client/test_proto_codec.py).
"""

from __future__ import annotations

import base64
from typing import Any

from attnserve_protos import explanation_pb2
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from attnserve.errors import AttnserveError, InvalidInput

INPUT_KEY = "explain_request"
GLOBAL_INPUT_KEY = "global_concepts_request"


def _parse(raw: object, message: type[Message], key: str) -> Any:
    if not isinstance(raw, bytes | bytearray):
        raise InvalidInput(f"{key!r} must be bytes, got {type(raw).__name__}", "body")
    try:
        return message.FromString(bytes(raw))
    except DecodeError as error:
        name = message.DESCRIPTOR.full_name
        raise InvalidInput(f"{key!r} is not a serialized {name}: {error}", "body") from None


def request_to_body(raw: bytes) -> dict[str, Any]:
    """A serialized ``ExplainRequest`` as the body dict the engine's parsers accept.

    A text request becomes ``{"text", ...}`` (``attnserve.request.parse_request``); a request with
    ``image`` bytes becomes ``{"image": base64 string, ...}``, what the image parser reads from a
    REST JSON body. Only what the caller set is carried over, so the engine judges it as it judges the
    REST body: an ``image`` sent to a text model, or a ``text`` sent beside an image to an image model,
    is an unknown field there too.
    """
    request = _parse(raw, explanation_pb2.ExplainRequest, INPUT_KEY)
    body: dict[str, Any] = {}
    if request.text or not request.image:
        body["text"] = request.text
    if request.image:
        body["image"] = base64.b64encode(request.image).decode("ascii")
    if request.methods or request.methods_given:
        body["methods"] = list(request.methods)
    target = request.WhichOneof("target")
    if target is not None:
        body["target"] = getattr(request, target)
    if request.concepts:
        body["concepts"] = list(request.concepts)
    if request.options:
        body["options"] = {method: dict(chosen.values) for method, chosen in request.options.items()}
    return body


def global_request_to_body(raw: bytes) -> dict[str, Any]:
    """A serialized ``GlobalConceptsRequest`` as the body ``attnserve.concepts.global_scores.parse_global``
    accepts (no ``concepts``: every concept of the model)."""
    request = _parse(raw, explanation_pb2.GlobalConceptsRequest, GLOBAL_INPUT_KEY)
    body: dict[str, Any] = {"texts": list(request.texts), "target": request.target}
    if request.concepts:
        body["concepts"] = list(request.concepts)
    return body


def response_to_bytes(response: dict[str, Any]) -> bytes:
    """A response dict from ``attnserve.explain`` (text or image) as a serialized ``ExplainResponse``."""
    return json_format.ParseDict(response, explanation_pb2.ExplainResponse()).SerializeToString()


def global_response_to_bytes(response: dict[str, Any]) -> bytes:
    """A response dict from ``attnserve.concepts.global_scores`` as a serialized ``GlobalConceptsResponse``
    (a null p-value or spread leaves its ``optional`` field unset)."""
    return json_format.ParseDict(response, explanation_pb2.GlobalConceptsResponse()).SerializeToString()


def _error(error: AttnserveError) -> Any:
    return explanation_pb2.Error(code=error.code, field=error.field or "", message=error.message)


def error_to_bytes(error: AttnserveError) -> bytes:
    """A per-request error as a serialized ``ExplainResponse`` with only ``error`` set."""
    return explanation_pb2.ExplainResponse(error=_error(error)).SerializeToString()


def global_error_to_bytes(error: AttnserveError) -> bytes:
    """A per-request error as a serialized ``GlobalConceptsResponse`` with only ``error`` set."""
    return explanation_pb2.GlobalConceptsResponse(error=_error(error)).SerializeToString()
