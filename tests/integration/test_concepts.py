"""Concept sensitivity (``tcav``) through the real TorchServe, from the CAVs packed in sentiment.mar."""

from __future__ import annotations

import math

import jsonschema
import pytest
from attnserve_client import Client

from tests.integration.test_rest import SCHEMA, post

pytestmark = pytest.mark.integration
TEXT = "This is not a good film, and the acting is not any better."
CONCEPTS = {"negation", "positive_words", "negative_words", "intensifiers", "sports"}


def test_tcav_answers_every_concept_and_layer(torchserve) -> None:
    response = post(torchserve, {"text": TEXT, "methods": ["tcav", "shapley_cls"]})
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, SCHEMA)
    assert set(body["concepts"]) == CONCEPTS and set(body["attributions"]) == {"shapley_cls"}
    for concept in body["concepts"].values():
        assert len(concept["cav_accuracy"]) == len(concept["layers"]) == 6
        assert all(0.5 < accuracy <= 1 for accuracy in concept["cav_accuracy"])
        for layer in concept["layers"]:
            assert len(layer["tokens"]) == len(body["tokens"]) and len(layer["words"]) == len(body["words"])
            assert layer["positive"] == (layer["sensitivity"] > 0)


def test_one_concept_over_both_transports(torchserve) -> None:
    answers = []
    for transport in ("rest", "grpc"):
        options = {"key_file": torchserve.key_file, "model": torchserve.model, "transport": transport}
        with Client(torchserve.inference_url, grpc_target=torchserve.grpc_target, **options) as client:
            answers.append(client.explain(TEXT, methods=["tcav"], concepts=["negation"]))
    rest, grpc = answers
    assert list(rest.concepts) == list(grpc.concepts) == ["negation"]
    for a, b in zip(rest.concepts["negation"].layers, grpc.concepts["negation"].layers, strict=True):
        assert math.isclose(a.sensitivity, b.sensitivity, rel_tol=1e-5, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"methods": ["tcav"], "concepts": ["negation", "stripes"]}, "concepts[1]"),
        ({"methods": ["shapley_cls"], "concepts": ["negation"]}, "concepts"),
    ],
)
def test_bad_concepts_are_400s_naming_the_field(torchserve, body: dict, field: str) -> None:
    response = post(torchserve, {"text": TEXT, **body})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
