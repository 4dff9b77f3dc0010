"""Global TCAV scores through the real TorchServe (sentiment.mar's CAVs): the request kind
``global_concepts`` over REST (a JSON body) and gRPC (``global_concepts_request``), the sync and async
SDK on both, and the ``attnserve tcav`` command, on a handful of positive sentences."""

from __future__ import annotations

import asyncio
import math

import jsonschema
import pytest
from attnserve_client import AsyncClient, BadInputError, Client, GlobalScores

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


KIND = {"kind": "global_concepts"}


def test_route_answers_every_concept_layer_and_cav(torchserve) -> None:
    response = post(torchserve, {**KIND, "texts": TEXTS, "target": "positive", "concepts": ["negation", "sports"]})
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
        ({**KIND, "texts": ["fine"] * 257, "target": "positive"}, "texts"),
        ({**KIND, "texts": ["fine"], "target": "great"}, "target"),
        ({**KIND, "texts": ["fine"], "target": "positive", "concepts": ["stripes"]}, "concepts"),
        ({"kind": "global", "texts": ["fine"], "target": "positive"}, "kind"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(torchserve, body: dict, field: str) -> None:
    response = post(torchserve, body)
    assert response.status_code == 400, response.text
    jsonschema.validate(response.json(), SCHEMA)
    assert response.json()["error"]["field"] == field


def test_texts_without_a_kind_is_an_explain_request_refused_on_texts(torchserve) -> None:
    """No sniffing: a body with ``texts`` and no ``kind`` goes to the explain parser, which names the field
    it does not know, and the message says which kind to send."""
    response = post(torchserve, {"texts": TEXTS, "target": "positive"})
    assert response.status_code == 400, response.text
    jsonschema.validate(response.json(), SCHEMA)
    error = response.json()["error"]
    assert error["field"] == "texts" and "unknown field 'texts'" in error["message"]
    assert '"kind": "global_concepts"' in error["message"]


def connect(server, transport: str, client_class: type = Client):
    return client_class(
        server.inference_url, grpc_target=server.grpc_target, transport=transport, key_file=server.key_file
    )


def assert_same(a: GlobalScores, b: GlobalScores) -> None:
    assert (a.model, a.target, a.inputs) == (b.model, b.target, b.inputs)
    assert sorted(a.concepts) == sorted(b.concepts)
    for name, layers in a.concepts.items():
        for mine, theirs in zip(layers, b.concepts[name], strict=True):
            assert mine.layer == theirs.layer and mine.scores == pytest.approx(theirs.scores, abs=1e-6)
            for key in ("score_mean", "score_std", "p_vs_half", "p_vs_random", "cav_accuracy"):
                x, y = getattr(mine, key), getattr(theirs, key)
                assert (x is None) == (y is None) and (x is None or math.isclose(x, y, abs_tol=1e-6)), key


def test_sdk_table_over_rest_and_grpc_sync_and_async(torchserve) -> None:
    """The same scores whichever transport and client carried them (gRPC: GlobalConceptsResponse)."""
    with connect(torchserve, "rest") as rest, connect(torchserve, "grpc") as grpc:
        over_rest = rest.tcav_scores(TEXTS, "positive", ["negation", "sports"])
        over_grpc = grpc.tcav_scores(TEXTS, "positive", ["negation", "sports"])
        every = grpc.tcav_scores(TEXTS, "positive")
    assert list(over_rest.concepts) == ["negation", "sports"] and over_rest.inputs == len(TEXTS)
    assert over_rest.table().splitlines()[2].startswith("negation")
    assert_same(over_rest, over_grpc)
    assert {"negation", "sports"} <= set(every.concepts) and len(every.concepts["sports"]) == 6

    async def run() -> list[GlobalScores]:
        async with connect(torchserve, "rest", AsyncClient) as rest, connect(torchserve, "grpc", AsyncClient) as grpc:
            return list(
                await asyncio.gather(
                    rest.tcav_scores(TEXTS, "positive", ["negation", "sports"]),
                    grpc.tcav_scores(TEXTS, "positive", ["negation", "sports"]),
                )
            )

    for scores in asyncio.run(run()):
        assert_same(over_rest, scores)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_sdk_bad_global_requests_raise_naming_the_field(torchserve, transport: str) -> None:
    with connect(torchserve, transport) as client, pytest.raises(BadInputError) as caught:
        client.tcav_scores(TEXTS, "great")
    assert caught.value.field == "target"

    async def run() -> None:
        async with connect(torchserve, transport, AsyncClient) as client:
            await client.tcav_scores(TEXTS, "positive", ["stripes"])

    with pytest.raises(BadInputError) as caught:
        asyncio.run(run())
    assert caught.value.field == "concepts"


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
