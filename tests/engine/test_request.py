"""Request validation: every rejection is an InvalidInput naming the field at fault."""

from __future__ import annotations

import pytest

from attnserve.errors import InvalidInput
from attnserve.request import ExplainRequest, parse_request

LABELS = ["negative", "positive"]
DEFAULT = ("shapley_mutual",)


def parse(body, content_type=None) -> ExplainRequest:
    return parse_request(body, content_type, LABELS, DEFAULT)


def test_json_object() -> None:
    request = parse({"text": "fine", "methods": ["shapley_cls", "shapley_cls", "grad_shapley_cls"], "target": 1})
    assert request == ExplainRequest("fine", ("shapley_cls", "grad_shapley_cls"), 1)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("plain words", "text/plain", ExplainRequest("plain words", DEFAULT, None)),
        (b"plain bytes", None, ExplainRequest("plain bytes", DEFAULT, None)),
        (b'{"text": "json bytes", "methods": []}', None, ExplainRequest("json bytes", (), None)),
        (b'{"not json"', "text/plain", ExplainRequest('{"not json"', DEFAULT, None)),
        ({"text": "x", "target": "negative"}, None, ExplainRequest("x", DEFAULT, 0)),
        ({"text": "x", "methods": None}, None, ExplainRequest("x", DEFAULT, None)),
    ],
)
def test_accepted_forms(body, content_type, expected) -> None:
    assert parse(body, content_type) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "field", "message"),
    [
        (b"{bad json", "application/json", "body", "not valid JSON"),
        (b"{bad json", None, "body", "not valid JSON"),
        (b"\xff\xfe text", None, "body", "not valid UTF-8"),
        ([1, 2], None, "body", "JSON object or plain text"),
        ({}, None, "text", "missing required field 'text'"),
        ({"text": ""}, None, "text", "empty"),
        ({"text": "   \n"}, None, "text", "empty"),
        ({"text": 5}, None, "text", "must be a string"),
        ({"text": "x", "methods": "shapley_cls"}, None, "methods", "must be a list"),
        ({"text": "x", "methods": ["shapley_cls", "shapely_cls"]}, None, "methods[1]", "unknown method 'shapely_cls'"),
        ({"text": "x", "methods": [3]}, None, "methods[0]", "unknown method 3"),
        ({"text": "x", "target": 2}, None, "target", "class index 0..1"),
        ({"text": "x", "target": True}, None, "target", "label"),
        ({"text": "x", "target": "neutral"}, None, "target", "label"),
        ({"text": "x", "method": ["shapley_cls"]}, None, "method", "unknown field 'method'"),
    ],
)
def test_rejections_name_the_field(body, content_type, field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse(body, content_type)
    assert caught.value.field == field
    assert caught.value.to_dict()["code"] == "INVALID_INPUT"


def test_unknown_method_lists_the_available_ones() -> None:
    with pytest.raises(InvalidInput, match="available: shapley_cls, shapley_mutual"):
        parse({"text": "x", "methods": ["nope"]})
