"""The handler's proto codec against the SDK's side of the same convention: requests mean what the
equivalent REST body means, and every key of a real engine response (text, image, global concept
scores) has its proto field, so the proto3 JSON mapping of the message is the JSON response."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jsonschema
import pytest
from attnserve_client import BadInputError, GlobalScores, ServerError
from attnserve_client._core import GLOBAL_INPUT_KEY as CLIENT_GLOBAL_INPUT_KEY
from attnserve_client._core import INPUT_KEY as CLIENT_INPUT_KEY
from attnserve_client._core import (
    explain_request,
    explain_response_dict,
    global_request,
    global_response_dict,
    global_rest_body,
    make_calls,
    make_global_call,
    parse_global_prediction,
    parse_prediction,
    rest_body,
)
from attnserve_protos import explanation_pb2
from google.protobuf import json_format
from google.protobuf.json_format import ParseError

from attnserve.concepts.global_scores import global_scores, parse_global
from attnserve.errors import AttnserveError, InvalidInput
from attnserve.request import parse_request
from handlers.proto_codec import (
    GLOBAL_INPUT_KEY,
    INPUT_KEY,
    error_to_bytes,
    global_error_to_bytes,
    global_request_to_body,
    global_response_to_bytes,
    request_to_body,
    response_to_bytes,
)
from tests.conftest import CONCEPTS, IMAGE_CONCEPTS, png_bytes

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "response.schema.json").read_text())

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


def test_both_sides_agree_on_the_input_keys() -> None:
    assert INPUT_KEY == CLIENT_INPUT_KEY == "explain_request"
    assert GLOBAL_INPUT_KEY == CLIENT_GLOBAL_INPUT_KEY == "global_concepts_request"


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


IMAGE_CALLS = [
    {},
    {"methods": []},
    {"methods": ["gae"], "target": "shoe"},
    {"methods": ["tcav"], "concepts": ["dotted"]},
]


@pytest.mark.parametrize("options", IMAGE_CALLS, ids=[str(c) for c in IMAGE_CALLS])
def test_an_image_request_is_the_rest_json_body_of_an_image_model(image_explainer, options: dict) -> None:
    """``image`` bytes become ``"image"`` as base64 (what the image parser reads) and no ``"text"``."""
    png = png_bytes()
    (call,), _ = make_calls(image=png, **options)
    body = request_to_body(explain_request(call).SerializeToString())
    assert body == rest_body(call) and "text" not in body and base64.b64decode(body["image"]) == png
    parsed = image_explainer.parse(body, None)
    assert parsed == image_explainer.parse(rest_body(call), None) and parsed.image == png


def test_an_image_sent_to_a_text_model_is_still_an_unknown_field() -> None:
    raw = explanation_pb2.ExplainRequest(image=b"\x89PNG").SerializeToString()
    assert request_to_body(raw) == {"image": base64.b64encode(b"\x89PNG").decode()}
    with pytest.raises(InvalidInput) as caught:
        parse_request(request_to_body(raw), None, LABELS, DEFAULTS)
    assert caught.value.field == "image"


def test_text_beside_an_image_is_not_dropped_but_refused_by_the_image_model(image_explainer) -> None:
    raw = explanation_pb2.ExplainRequest(text="x", image=png_bytes()).SerializeToString()
    assert set(request_to_body(raw)) == {"text", "image"}
    with pytest.raises(InvalidInput) as caught:
        image_explainer.parse(request_to_body(raw), None)
    assert caught.value.field == "text"


@pytest.mark.parametrize("raw", [b'{"text": "json is not a proto"}', b"\xff\xfe\x00", "a str"])
def test_undecodable_requests_are_invalid_input_on_body(raw: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        request_to_body(raw)  # type: ignore[arg-type]
    assert caught.value.field == "body"


def _engine_response(explainer, methods: list[str]) -> dict:
    outcome = explainer.explain([({"text": "A gorgeous, moving film.", "methods": methods}, None)])[0]
    assert isinstance(outcome, dict), outcome
    return outcome


def _image_response(explainer, methods: list[str]) -> dict:
    body = {"image": base64.b64encode(png_bytes(seed=3)).decode(), "methods": methods}
    outcome = explainer.explain([(body, None)])[0]
    assert isinstance(outcome, dict), outcome
    return outcome


def _fields(message: type) -> set[str]:
    return set(message.DESCRIPTOR.fields_by_name)


def test_every_key_of_a_real_response_is_a_proto_field(concept_explainer) -> None:
    """A text response sets every field but the image layout's (and ``error``)."""
    response = _engine_response(concept_explainer, ["shapley_mutual", "grad_shapley_cls", "tcav"])
    assert set(response) == _fields(explanation_pb2.ExplainResponse) - {"error", "patches"}
    assert set(response["model"]) == _fields(explanation_pb2.ModelRef)
    assert (
        set(response["tokens"][0]) == set(response["words"][0]) == _fields(explanation_pb2.Span) - {"cut"}
    )  # cut words only
    for scores in response["attributions"].values():
        assert set(scores) == _fields(explanation_pb2.Attribution) - {"patches"}
    for concept in response["concepts"].values():
        assert set(concept) == _fields(explanation_pb2.Concept)
        for layer in concept["layers"]:
            assert set(layer) == _fields(explanation_pb2.ConceptLayer) - {"patches"}


def test_every_key_of_a_real_image_response_is_a_proto_field(image_explainer) -> None:
    """An image response sets the patch layout instead of tokens, words and truncated."""
    response = _image_response(image_explainer, ["shapley_mutual", "gae", "tcav"])
    text_layout = {"tokens", "words", "truncated"}
    assert set(response) == _fields(explanation_pb2.ExplainResponse) - {"error"} - text_layout
    assert set(response["patches"]) == _fields(explanation_pb2.PatchGrid) and response["patches"]["grid"] == [7, 7]
    for scores in response["attributions"].values():
        assert set(scores) == {"patches"} and len(scores["patches"]) == 49
    assert set(response["concepts"]) == set(IMAGE_CONCEPTS)
    for concept in response["concepts"].values():
        for layer in concept["layers"]:
            assert set(layer) == _fields(explanation_pb2.ConceptLayer) - {"tokens", "words"}
            assert len(layer["patches"]) == 49


@pytest.mark.parametrize(
    "methods",
    [["shapley_mutual", "grad_shapley_cls"], ["tcav", "shapley_cls"], []],
    ids=["explain", "concepts", "predict"],
)
def test_a_real_response_survives_the_proto_round_trip_exactly(concept_explainer, methods: list[str]) -> None:
    response = _engine_response(concept_explainer, methods)
    assert parse_prediction(response_to_bytes(response)).to_dict() == response


@pytest.mark.parametrize(
    "methods",
    [["shapley_mutual", "grad_shapley_cls", "rollout"], ["tcav", "shapley_cls"], []],
    ids=["explain", "concepts", "predict"],
)
def test_the_json_mapping_of_an_image_response_is_the_json_response(image_explainer, methods: list[str]) -> None:
    response = _image_response(image_explainer, methods)
    message = explanation_pb2.ExplainResponse.FromString(response_to_bytes(response))
    assert message.HasField("patches") and list(message.patches.grid) == [7, 7]
    assert explain_response_dict(message) == response
    # protobuf's plain mapping too, for what proto3 can tell from unset (it omits false and empty values)
    plain = json_format.MessageToDict(message, preserving_proto_field_name=True)
    assert plain["patches"] == response["patches"] and plain.get("attributions", {}) == response["attributions"]
    assert not {"tokens", "words", "truncated"} & set(plain)
    explanation = parse_prediction(message.SerializeToString())
    assert explanation.to_dict() == response and explanation.grid == (7, 7)


def test_a_text_response_keeps_false_and_empty_values_in_the_mapping(concept_explainer) -> None:
    response = _engine_response(concept_explainer, [])
    message = explanation_pb2.ExplainResponse.FromString(response_to_bytes(response))
    assert not message.HasField("patches")
    mapped = explain_response_dict(message)
    assert mapped == response and mapped["truncated"] is False and mapped["attributions"] == {}


def test_a_global_request_means_what_its_rest_body_means(concept_explainer) -> None:
    for concepts in (None, ["sports", "negation"]):
        call = make_global_call(["A fine film.", "Dull."], "positive", concepts)
        body = global_request_to_body(global_request(call).SerializeToString())
        rest = global_rest_body(call)
        assert rest.pop("kind") == "global_concepts" and body == rest
        expected = list(concepts or CONCEPTS)
        assert parse_global(body, concept_explainer.labels, concept_explainer.concepts)[2] == expected


def test_a_real_global_response_survives_the_proto_round_trip_exactly(concept_explainer) -> None:
    response = global_scores(concept_explainer, ["A fine film.", "Dull and long.", "Moving."], 1, ["negation"])
    fields = _fields(explanation_pb2.GlobalConceptLayer)
    assert set(response) == _fields(explanation_pb2.GlobalConceptsResponse) - {"error"}
    assert all(set(layer) == fields for layer in response["concepts"]["negation"]["layers"])
    message = explanation_pb2.GlobalConceptsResponse.FromString(global_response_to_bytes(response))
    assert global_response_dict(message) == response
    scores = parse_global_prediction(message.SerializeToString())
    assert scores == GlobalScores.from_dict(response) and scores.inputs == 3


def test_a_null_p_value_travels_as_an_unset_optional() -> None:
    layer = {"layer": 0, "score_mean": 1.0, "score_std": 0.0, "scores": [1.0, 1.0], "p_vs_half": None}
    layer |= {"p_vs_random": None, "cav_accuracy": 0.75}
    response = {"model": {"name": "m", "version": "1"}, "target": "positive", "inputs": 2}
    response["concepts"] = {"negation": {"layers": [layer]}}
    message = explanation_pb2.GlobalConceptsResponse.FromString(global_response_to_bytes(response))
    assert not message.concepts["negation"].layers[0].HasField("p_vs_half")
    assert message.concepts["negation"].layers[0].HasField("score_std")  # 0.0, set: not null
    assert global_response_dict(message) == response


def test_undecodable_global_requests_are_invalid_input_on_body() -> None:
    with pytest.raises(InvalidInput) as caught:
        global_request_to_body(b"\xff\xff not a proto")
    assert caught.value.field == "body" and "GlobalConceptsRequest" in caught.value.message


def test_global_errors_travel_in_the_response() -> None:
    with pytest.raises(BadInputError) as caught:
        parse_global_prediction(global_error_to_bytes(InvalidInput("target must be one of ...", "target")))
    assert caught.value.field == "target"


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


def test_the_response_schema_names_the_proto_fields() -> None:
    """docs/response.schema.json describes both responses, key for key with their messages."""
    defs = SCHEMA["$defs"]
    explanation, global_scores_ = defs["explanation"]["properties"], defs["global_scores"]["properties"]
    assert set(explanation) == _fields(explanation_pb2.ExplainResponse) - {"error"}
    assert set(explanation["patches"]["properties"]) == _fields(explanation_pb2.PatchGrid)
    attribution = explanation["attributions"]["additionalProperties"]["properties"]
    assert set(attribution) == _fields(explanation_pb2.Attribution)
    layer = explanation["concepts"]["additionalProperties"]["properties"]["layers"]["items"]["properties"]
    assert set(layer) == _fields(explanation_pb2.ConceptLayer)
    assert set(global_scores_) == _fields(explanation_pb2.GlobalConceptsResponse) - {"error"}
    layer = global_scores_["concepts"]["additionalProperties"]["properties"]["layers"]["items"]["properties"]
    assert set(layer) == _fields(explanation_pb2.GlobalConceptLayer)
    nullable = {name for name, spec in layer.items() if "null" in spec.get("type", [])}
    optional = {f.name for f in explanation_pb2.GlobalConceptLayer.DESCRIPTOR.fields if f.has_presence}
    assert nullable == optional == {"score_std", "p_vs_half", "p_vs_random"}


def test_real_responses_of_every_kind_validate_against_the_schema(concept_explainer, image_explainer) -> None:
    text = _engine_response(concept_explainer, ["shapley_mutual", "tcav"])
    image = _image_response(image_explainer, ["shapley_mutual", "tcav"])
    scores = global_scores(concept_explainer, ["A fine film.", "Dull."], 1, ["negation", "sports"])
    for response in (text, image, scores):
        jsonschema.validate(response, SCHEMA)
    explanation = {**SCHEMA, "oneOf": [{"$ref": "#/$defs/explanation"}]}
    with pytest.raises(jsonschema.ValidationError):  # the layouts do not mix
        jsonschema.validate({**image, "tokens": text["tokens"]}, explanation)
