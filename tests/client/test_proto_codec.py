"""The handler's proto codec against the SDK's side of the same convention: requests mean what the
equivalent REST body means, and every key of a real engine response has its proto field."""

from __future__ import annotations

import pytest
from attnserve_client import BadInputError, ServerError
from attnserve_client._core import INPUT_KEY as CLIENT_INPUT_KEY
from attnserve_client._core import explain_request, make_calls, parse_prediction, rest_body
from attnserve_client.proto import explanation_pb2
from google.protobuf.json_format import ParseError

from attnserve.errors import AttnserveError, InvalidInput
from attnserve.request import parse_request
from handlers.proto_codec import INPUT_KEY, error_to_bytes, request_to_body, response_to_bytes

LABELS = ["negative", "positive"]
DEFAULTS = ["shapley_mutual", "grad_shapley_mutual"]
CALLS = [
    {},
    {"methods": []},
    {"methods": ["shapley_cls", "grad_shapley_mutual"]},
    {"target": "negative"},
    {"target": 1, "methods": ["shapley_cls"]},
    {"target": "1"},  # a label that looks like an index: not a class index
    {"methods": ["lime"]},
    {"concepts": ["stripes"]},
    {"methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 50}}},
    {"methods": ["shapley_cls"], "options": {"kernel_shap": {"samples": 50}}},  # options for a method not run
    {"options": {"shapley_cls": {"steps": 2}}},
]


def test_both_sides_agree_on_the_input_key() -> None:
    assert INPUT_KEY == CLIENT_INPUT_KEY == "explain_request"


@pytest.mark.parametrize("options", CALLS, ids=[str(c) for c in CALLS])
def test_a_proto_request_means_what_its_rest_body_means(options: dict) -> None:
    (call,), _ = make_calls("A fine film.", **options)
    body = request_to_body(explain_request(call).SerializeToString())
    assert body == rest_body(call)

    def outcome(request_body: dict) -> object:
        try:
            return parse_request(request_body, None, LABELS, DEFAULTS)
        except AttnserveError as error:
            return error.to_dict()

    assert outcome(body) == outcome(rest_body(call))


def test_image_bytes_reach_the_validator_as_their_own_field() -> None:
    raw = explanation_pb2.ExplainRequest(text="x", image=b"\x89PNG").SerializeToString()
    assert request_to_body(raw) == {"text": "x", "image": b"\x89PNG"}
    with pytest.raises(InvalidInput) as caught:
        parse_request(request_to_body(raw), None, LABELS, DEFAULTS)
    assert caught.value.field == "image"


@pytest.mark.parametrize("raw", [b'{"text": "json is not a proto"}', b"\xff\xfe\x00", "a str"])
def test_undecodable_requests_are_invalid_input_on_body(raw: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        request_to_body(raw)  # type: ignore[arg-type]
    assert caught.value.field == "body"


def _engine_response(explainer, methods: list[str]) -> dict:
    outcome = explainer.explain([({"text": "A gorgeous, moving film.", "methods": methods}, None)])[0]
    assert isinstance(outcome, dict), outcome
    return outcome


def test_every_key_of_a_real_response_is_a_proto_field(concept_explainer) -> None:
    response = _engine_response(concept_explainer, ["shapley_mutual", "grad_shapley_cls", "tcav"])
    fields = explanation_pb2.ExplainResponse.DESCRIPTOR.fields_by_name
    assert set(response) == set(fields) - {"error"}
    assert set(response["model"]) == set(explanation_pb2.ModelRef.DESCRIPTOR.fields_by_name)
    span = set(explanation_pb2.Span.DESCRIPTOR.fields_by_name)
    assert set(response["tokens"][0]) == set(response["words"][0]) == span
    for scores in response["attributions"].values():
        assert set(scores) == set(explanation_pb2.Attribution.DESCRIPTOR.fields_by_name)
    for concept in response["concepts"].values():
        assert set(concept) == set(explanation_pb2.Concept.DESCRIPTOR.fields_by_name)
        for layer in concept["layers"]:
            assert set(layer) == set(explanation_pb2.ConceptLayer.DESCRIPTOR.fields_by_name)


@pytest.mark.parametrize(
    "methods",
    [["shapley_mutual", "grad_shapley_cls"], ["tcav", "shapley_cls"], []],
    ids=["explain", "concepts", "predict"],
)
def test_a_real_response_survives_the_proto_round_trip_exactly(concept_explainer, methods: list[str]) -> None:
    response = _engine_response(concept_explainer, methods)
    assert parse_prediction(response_to_bytes(response)).to_dict() == response


def test_a_response_key_the_proto_lacks_fails_loudly(response: dict) -> None:
    with pytest.raises(ParseError):
        response_to_bytes({**response, "heatmap": {}})


def test_errors_travel_in_the_response_and_raise_the_same_classes_as_rest() -> None:
    with pytest.raises(BadInputError) as caught:
        parse_prediction(error_to_bytes(InvalidInput("unknown method 'lime'", "methods[0]")))
    assert (caught.value.field, caught.value.message) == ("methods[0]", "unknown method 'lime'")
    with pytest.raises(ServerError) as failed:
        parse_prediction(error_to_bytes(AttnserveError("internal error while explaining")))
    assert failed.value.field is None
