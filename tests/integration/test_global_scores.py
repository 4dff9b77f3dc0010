"""Global TCAV scores through the real TorchServe (sentiment.mar's CAVs): the JSON route, the SDK and
the ``attnserve tcav`` command, on a handful of positive sentences."""

from __future__ import annotations

import jsonschema
import pytest
from attnserve_client import BadInputError, Client

from tests.integration.test_client_cli import attnserve
from tests.integration.test_rest import SCHEMA, post

pytestmark = pytest.mark.integration
TEXTS = [
    "A gorgeous, moving film.",
    "I loved every minute of it.",
    "The cast is wonderful and the script is sharp.",
    "A delight from start to finish.",
    "Funny, warm and beautifully shot.",
]


def test_route_answers_every_concept_layer_and_cav(torchserve) -> None:
    response = post(torchserve, {"texts": TEXTS, "target": "positive", "concepts": ["negation", "sports"]})
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, SCHEMA)
    assert body["target"] == "positive" and body["inputs"] == len(TEXTS)
    assert list(body["concepts"]) == ["negation", "sports"]
    for concept in body["concepts"].values():
        assert len(concept["layers"]) == 6
        for layer in concept["layers"]:
            assert len(layer["scores"]) == 20 and all(0 <= s <= 1 for s in layer["scores"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"texts": ["fine"] * 257, "target": "positive"}, "texts"),
        ({"texts": ["fine"], "target": "great"}, "target"),
        ({"texts": ["fine"], "target": "positive", "concepts": ["stripes"]}, "concepts"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(torchserve, body: dict, field: str) -> None:
    response = post(torchserve, body)
    assert response.status_code == 400, response.text
    jsonschema.validate(response.json(), SCHEMA)
    assert response.json()["error"]["field"] == field


def test_sdk_table_and_grpc_refusal(torchserve) -> None:
    with Client(torchserve.inference_url, key_file=torchserve.key_file) as client:
        scores = client.tcav_scores(TEXTS, "positive", ["negation"])
    assert list(scores.concepts) == ["negation"] and scores.inputs == len(TEXTS)
    assert scores.table().splitlines()[2].startswith("negation")
    grpc = Client(grpc_target=torchserve.grpc_target, transport="grpc", key_file=torchserve.key_file)
    with grpc, pytest.raises(BadInputError) as error:
        grpc.tcav_scores(TEXTS, "positive")
    assert error.value.field == "transport"


def test_cli_prints_the_table_and_writes_a_png(torchserve, tmp_path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    png = tmp_path / "tcav.png"
    result = attnserve(torchserve, "tcav", "--target=positive", "--texts-file", str(texts), "--png", str(png))
    assert result.returncode == 0, result.stderr
    assert "sentiment: target 'positive', 5 inputs" in result.stdout and "sports" in result.stdout
    assert png.read_bytes().startswith(b"\x89PNG")
    bad = attnserve(torchserve, "tcav", "--target=positive", "--texts-file", str(texts), "--concept", "stripes")
    assert bad.returncode == 1 and "(field: concepts)" in bad.stderr
