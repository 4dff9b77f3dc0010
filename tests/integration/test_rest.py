"""The default archive served by the real TorchServe, over REST."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
import pytest

from attnserve.methods import REGISTRY
from attnserve.methods.registry import ATTRIBUTIONS
from deploy.launch import ROOT

pytestmark = pytest.mark.integration
SCHEMA = json.loads((ROOT / "docs" / "response.schema.json").read_text())


def post(server, body, content_type: str = "application/json", token: str | None = "use-server") -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {server.token if token == 'use-server' else token}"
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    return httpx.post(
        f"{server.inference_url}/predictions/{server.model}", content=content, headers=headers, timeout=60
    )


def test_prediction_with_all_shapley_methods(torchserve) -> None:
    text = "A gorgeous, moving film that never bores."
    response = post(torchserve, {"text": text, "methods": sorted(REGISTRY)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    jsonschema.validate(body, SCHEMA)
    assert body["label"] == "positive" and body["probabilities"]["positive"] > 0.8
    assert set(body["attributions"]) == {name for name, m in REGISTRY.items() if m.output == ATTRIBUTIONS}
    assert set(body["concepts"])  # tcav answers per concept, under "concepts"
    for scores in body["attributions"].values():
        assert len(scores["tokens"]) == len(body["tokens"]) and len(scores["words"]) == len(body["words"])
    assert [w["text"] for w in body["words"]][:3] == ["A", "gorgeous", ","]
    assert all(text[w["start"] : w["end"]] == w["text"] for w in body["words"])
    assert body["model"]["name"] == "sentiment" and "backward" in body["timings_s"]


def test_plain_text_body_gets_the_default_methods(torchserve) -> None:
    response = post(torchserve, b"Dull, lifeless and far too long.", "text/plain")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label"] == "negative"
    assert set(body["attributions"]) == {"amortized_shapley"}  # chosen by its evaluation (bundle.yaml)


def test_concurrent_requests_share_a_batch_and_keep_their_options(torchserve) -> None:
    options = [[], ["shapley_cls"], ["grad_shapley_mutual"], ["shapley_max_mutual", "grad_shapley_cls"]] * 4
    bodies = [{"text": f"Request number {i} about a fine film.", "methods": m} for i, m in enumerate(options)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda b: post(torchserve, b), bodies))
    assert [r.status_code for r in responses] == [200] * len(bodies)
    for body, response in zip(bodies, responses, strict=True):
        assert set(response.json()["attributions"]) == set(body["methods"])
    assert max(r.json()["batch_size"] for r in responses) > 1, "no two concurrent requests were batched"


BAD_INPUTS = [
    ("invalid JSON", b'{"text": "unterminated', "application/json", "body"),
    ("not UTF-8", b"\xff\xfe bad bytes", "text/plain", "body"),
    ("missing text", {"methods": ["shapley_cls"]}, "application/json", "text"),
    ("empty text", {"text": "  "}, "application/json", "text"),
    ("text of wrong type", {"text": 42}, "application/json", "text"),
    ("methods of wrong type", {"text": "ok", "methods": "shapley_cls"}, "application/json", "methods"),
    ("unknown method", {"text": "ok", "methods": ["shapley_cls", "lime"]}, "application/json", "methods[1]"),
    ("unknown target", {"text": "ok", "target": "neutral"}, "application/json", "target"),
    ("unknown field", {"text": "ok", "mehtods": []}, "application/json", "mehtods"),
]


@pytest.mark.parametrize(("case", "body", "content_type", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_400_naming_the_field(torchserve, case, body, content_type, field) -> None:
    response = post(torchserve, body, content_type)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["field"] == field and error["message"]


def test_bad_inputs_in_a_batch_spoil_nothing_else(torchserve) -> None:
    good = {"text": "Not bad, actually quite fun.", "methods": ["shapley_cls"]}
    work = [(good, "application/json", None)] * 6 + [(b, ct, f) for _, b, ct, f in BAD_INPUTS]
    with ThreadPoolExecutor(len(work)) as pool:
        responses = list(pool.map(lambda w: post(torchserve, w[0], w[1]), work))
    for (_, _, field), response in zip(work, responses, strict=True):
        assert response.status_code == (200 if field is None else 400), response.text
    reference = post(torchserve, good).json()["attributions"]  # the worker is alive and still right
    for response in responses[:6]:
        assert response.json()["attributions"]["shapley_cls"]["tokens"] == pytest.approx(
            reference["shapley_cls"]["tokens"], abs=1e-5
        )


def test_long_text_is_truncated_and_flagged(torchserve) -> None:
    response = post(torchserve, {"text": "a truly wonderful film " * 100, "methods": ["shapley_cls"]})
    assert response.status_code == 200
    body = response.json()
    assert body["truncated"] is True and len(body["tokens"]) == 126  # max_length 128 minus [CLS], [SEP]


@pytest.mark.parametrize("token", [None, "not-the-token"], ids=["no token", "wrong token"])
def test_requests_without_the_token_are_refused(torchserve, token) -> None:
    response = post(torchserve, {"text": "fine"}, token=token)
    assert response.status_code in (400, 401, 403)
    assert "Token Authorization failed" in response.text or "InvalidKey" in response.text
