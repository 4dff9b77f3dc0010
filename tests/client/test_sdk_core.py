"""The shared core: arguments to requests, answers to explanations or errors, and when to retry."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest
from attnserve_client import AuthError, BadInputError, ServerError, ServerUnavailableError, TimeoutError
from attnserve_client._core import (
    BACKOFF_CAP_S,
    GLOBAL_INPUT_KEY,
    INPUT_KEY,
    Call,
    GlobalCall,
    Settings,
    backoff,
    explain_request,
    global_predictions_request,
    global_rest_body,
    make_calls,
    make_global_call,
    parse_prediction,
    parse_rest,
    predictions_request,
    rest_body,
)
from attnserve_client.auth import TokenSource
from attnserve_protos import explanation_pb2


def test_one_text_is_one_call_and_a_list_is_a_list() -> None:
    calls, single = make_calls("a", methods=("m",), target=0)
    assert single and calls == [Call("a", ("m",), 0, None)]
    calls, single = make_calls(["a", "b"], concepts=["c"])
    assert not single and [c.text for c in calls] == ["a", "b"] and calls[0].concepts == ("c",)


@pytest.mark.parametrize(
    "arguments",
    [{"text_or_texts": [1]}, {"methods": "shapley_cls"}, {"target": True}, {"target": 1.5}, {"concepts": "c"}],
    ids=["text not str", "methods as one string", "bool target", "float target", "concepts as one string"],
)
def test_wrong_argument_types_fail_before_any_request(arguments: dict) -> None:
    with pytest.raises(TypeError):
        make_calls(**{"text_or_texts": "a", **arguments})


def test_rest_body_leaves_unset_options_out() -> None:
    assert rest_body(Call("a")) == {"text": "a"}
    assert rest_body(Call("a", (), "negative", ("c",), {"kernel_shap": {"samples": 9}})) == {
        "text": "a",
        "methods": [],
        "target": "negative",
        "concepts": ["c"],
        "options": {"kernel_shap": {"samples": 9}},
    }


def test_the_proto_request_keeps_default_versus_none_and_label_versus_index() -> None:
    default, none = explain_request(Call("a")), explain_request(Call("a", ()))
    assert (list(default.methods), default.methods_given) == ([], False)
    assert (list(none.methods), none.methods_given) == ([], True)
    assert explain_request(Call("a", target="1")).WhichOneof("target") == "target_label"
    assert explain_request(Call("a", target=1)).target_index == 1
    assert explain_request(Call("a")).WhichOneof("target") is None
    options = explain_request(Call("a", options={"kernel_shap": {"samples": 9}})).options
    assert {method: dict(chosen.values) for method, chosen in options.items()} == {"kernel_shap": {"samples": 9}}


def test_the_predictions_request_carries_the_model_and_the_serialized_request() -> None:
    request = predictions_request(Call("a", ("m",)), "sentiment")
    assert request.model_name == "sentiment" and list(request.input) == [INPUT_KEY]
    assert explanation_pb2.ExplainRequest.FromString(request.input[INPUT_KEY]).methods == ["m"]


def test_parse_rest(response: dict) -> None:
    assert parse_rest(200, json.dumps(response).encode()).to_dict() == response
    with pytest.raises(ServerError, match="not JSON"):
        parse_rest(200, b"<html>")
    with pytest.raises(ServerError, match="not an explanation"):
        parse_rest(200, b'{"predictions": [1]}')
    error = {"error": {"code": "INVALID_INPUT", "field": "target", "message": "unknown target"}}
    with pytest.raises(BadInputError) as caught:
        parse_rest(400, json.dumps(error).encode())
    assert caught.value.field == "target"


def test_parse_prediction_rejects_what_is_not_an_explain_response() -> None:
    with pytest.raises(ServerError, match="not an ExplainResponse"):
        parse_prediction(b'{"label": "positive"}')


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap() -> None:
    for attempt in range(12):
        delay = backoff(attempt)
        assert min(BACKOFF_CAP_S, 0.25 * 2**attempt) / 2 <= delay <= min(BACKOFF_CAP_S, 0.25 * 2**attempt)


def settings(retries: int = 2, token: str | None = "t") -> Settings:
    return Settings(model="m", timeout=1.0, retries=retries, tokens=TokenSource(token=token, key_file=None))


def test_only_an_unavailable_server_is_retried_and_only_retries_times(caplog) -> None:
    unavailable = ServerUnavailableError("down", status="UNAVAILABLE")
    with caplog.at_level(logging.WARNING, "attnserve_client"):
        assert settings().after_failure(unavailable, 0) > 0
        assert settings().after_failure(unavailable, 1) > 0
        with pytest.raises(ServerUnavailableError):
            settings().after_failure(unavailable, 2)
    assert len(caplog.records) == 2
    for error in (BadInputError("x", status="HTTP 400"), ServerError("x"), TimeoutError("x")):
        with pytest.raises(type(error)):
            settings().after_failure(error, 0)


def test_a_refused_token_says_what_to_do(monkeypatch) -> None:
    monkeypatch.delenv("ATTNSERVE_TOKEN", raising=False)
    monkeypatch.delenv("ATTNSERVE_KEY_FILE", raising=False)
    refused = AuthError("Token Authorization failed", status="HTTP 400")
    with pytest.raises(AuthError, match="refused the given token"):
        settings().after_failure(refused, 0)
    with pytest.raises(AuthError, match="no token was sent: pass token="):
        settings(token=None).after_failure(refused, 0)
    local = AuthError("key file k not found")  # raised before any request: passed on unchanged
    with pytest.raises(AuthError) as caught:
        settings().after_failure(local, 0)
    assert caught.value is local


PNG = b"\x89PNG\r\n\x1a\n fake but non-empty"


def test_an_image_is_bytes_a_path_or_a_pil_image_and_a_list_is_a_list(tmp_path) -> None:
    (tmp_path / "shirt.png").write_bytes(PNG)
    for image in (PNG, bytearray(PNG), tmp_path / "shirt.png", str(tmp_path / "shirt.png")):
        calls, single = make_calls(image=image, methods=["gae"])
        assert single and calls == [Call(None, ("gae",), image=PNG)]
    calls, single = make_calls(image=[PNG, tmp_path / "shirt.png"], target="shoe")
    assert not single and [c.image for c in calls] == [PNG, PNG] and calls[0].target == "shoe"


def test_a_pil_image_is_sent_as_png() -> None:
    image_module = pytest.importorskip("PIL.Image")
    (call,), _ = make_calls(image=image_module.new("L", (4, 4), 128))
    assert image_module.open(io.BytesIO(call.image)).format == "PNG"


@pytest.mark.parametrize(
    "arguments",
    [{}, {"text_or_texts": "a", "image": PNG}, {"image": 3}, {"image": [PNG, 3]}],
    ids=["neither", "both", "not an image", "a list with a non-image"],
)
def test_exactly_one_of_texts_and_images(arguments: dict) -> None:
    with pytest.raises(TypeError):
        make_calls(**arguments)


def test_an_empty_image_fails_before_any_request() -> None:
    with pytest.raises(ValueError, match="empty"):
        make_calls(image=b"")


def test_an_image_travels_as_base64_json_and_as_proto_bytes() -> None:
    call = Call(None, ("gae",), "shoe", image=PNG)
    assert rest_body(call) == {"image": base64.b64encode(PNG).decode(), "methods": ["gae"], "target": "shoe"}
    request = explain_request(call)
    assert (request.image, request.text, list(request.methods)) == (PNG, "", ["gae"])


def test_global_scores_are_their_own_request_kind_on_both_transports() -> None:
    call = make_global_call(["a", "b"], "positive", ["negation"])
    assert call == GlobalCall(("a", "b"), "positive", ("negation",))
    assert global_rest_body(call) == {
        "kind": "global_concepts",
        "texts": ["a", "b"],
        "target": "positive",
        "concepts": ["negation"],
    }
    assert "concepts" not in global_rest_body(make_global_call(["a"], "positive"))
    request = global_predictions_request(call, "sentiment")
    assert request.model_name == "sentiment" and list(request.input) == [GLOBAL_INPUT_KEY]
    message = explanation_pb2.GlobalConceptsRequest.FromString(request.input[GLOBAL_INPUT_KEY])
    assert (list(message.texts), message.target, list(message.concepts)) == (["a", "b"], "positive", ["negation"])
    for texts, target in (("one string", "positive"), (["a"], 1)):
        with pytest.raises(TypeError):
            make_global_call(texts, target)  # type: ignore[arg-type]


def test_parse_rest_keeps_the_image_the_call_sent(image_response: dict) -> None:
    call = Call(None, image=PNG)
    explanation = parse_rest(200, json.dumps(image_response).encode(), call)
    assert explanation.image == PNG and explanation.grid == (2, 3) and explanation.to_dict() == image_response
