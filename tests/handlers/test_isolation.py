"""No request can hurt another: hostile inputs that once raised out of the handler (and so failed their
whole batch in TorchServe 0.12) each get their own 400 naming the field, with a bounded message, and
a bug of ours while reading one request is that request's own 500. Every hostile request here shares
its batch with a valid one, which must be answered as if it were alone."""

from __future__ import annotations

import base64
import json

import jsonschema
import pytest
from attnserve_client._core import explain_response_dict
from attnserve_protos import explanation_pb2

from attnserve.text.explainer import WORD_CHARS
from deploy.launch import ROOT
from handlers.explain_handler import MAX_RESPONSE_BYTES
from handlers.proto_codec import response_to_bytes
from tests.deploy.conftest import parse_properties
from tests.handlers.conftest import started
from tests.handlers.test_explain_handler import handled, run_batch

JSON = "application/json"
SCHEMA = json.loads((ROOT / "docs" / "response.schema.json").read_text())
VALID = ("body", {"text": "A gorgeous, moving film.", "methods": ["shapley_cls"]}, JSON)
DEEP = b'{"text": "a", "methods": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # TorchServe forwards it undecoded
HOSTILE = [
    ("lone surrogate", ("body", {"text": "a \ud800 b"}, JSON), "text"),
    ("deep nesting", ("body", DEEP, JSON), "body"),
    ("a 5,000-digit target", ("body", {"text": "a", "target": 10**5000}, JSON), "target"),
    ("a 5,000-digit number in raw JSON", ("data", b'{"text": "a", "target": ' + b"9" * 5000 + b"}", ""), "body"),
    (
        "an option above its cap",
        ("body", {"text": "a", "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 10**9}}}, JSON),
        "options.kernel_shap.samples",
    ),
    ("a megabyte field name", ("body", {"text": "a", "x" * 1_000_000: 1}, JSON), "x" * 79 + "…"),
    ("a megabyte kind", ("body", {"kind": "k" * 1_000_000, "text": "a"}, JSON), "kind"),
    ("an image for a text model", ("body", {"text": "a", "image": "AAAA"}, JSON), "image"),
]


@pytest.mark.parametrize(("case", "body", "field"), HOSTILE, ids=[case for case, _, _ in HOSTILE])
def test_a_hostile_text_request_gets_its_own_400_and_its_batch_mates_their_answers(
    handler_and_context, case: str, body: tuple, field: str
) -> None:
    (status, answer, _), (mate_status, mate, _) = run_batch(handler_and_context, [body, VALID])
    assert status == 400, (case, answer)
    assert answer["error"]["field"] == field and len(answer["error"]["message"]) < 1000
    assert mate_status == 200 and mate["label"] and len(mate["attributions"]["shapley_cls"]["tokens"]) == 6


def test_a_non_ascii_base64_image_is_a_400_on_image(image_handler_and_context) -> None:
    good = base64.b64encode(b"not even an image").decode()
    results = run_batch(
        image_handler_and_context, [("body", {"image": "é" * 64}, JSON), ("body", {"image": good}, JSON)]
    )
    assert [(status, answer["error"]["field"]) for status, answer, _ in results] == [(400, "image"), (400, "image")]


def test_a_bug_while_reading_one_request_is_its_own_500(handler_and_context, monkeypatch) -> None:
    explainer = handler_and_context[0].explainer
    encode = explainer.encode

    def flaky(request):
        if request.text == "boom":
            raise RuntimeError("a bug of ours, triggered by this input")
        return encode(request)

    monkeypatch.setattr(explainer, "encode", flaky)
    (status, answer, _), (mate_status, _, _) = run_batch(handler_and_context, [("body", {"text": "boom"}, JSON), VALID])
    assert status == 500 and "incident" in answer["error"]["message"] and answer["error"]["code"] == "INTERNAL"
    assert mate_status == 200


def test_an_answer_over_the_response_limit_is_its_own_400_not_a_dead_worker(model_dir) -> None:
    """TorchServe kills the worker (and fails the batch) for an answer above max_response_size."""
    small = started("sentiment", model_dir, {"max_length": 64, "max_response_bytes": 6000})
    long = ("body", {"text": " ".join(["word"] * 60), "methods": ["shapley_cls", "gae", "rollout"]}, JSON)
    (status, answer, _), (mate_status, _, _) = run_batch(small, [long, VALID])
    assert status == 400 and answer["error"]["field"] == "body" and "limit of 6000" in answer["error"]["message"]
    assert mate_status == 200


def test_the_handler_knows_the_servers_response_limit() -> None:
    for config in (ROOT / "deploy" / "config.properties", ROOT / "deploy" / "kserve" / "config.properties"):
        assert int(parse_properties(config.read_text())["max_response_size"]) == MAX_RESPONSE_BYTES, config


def test_a_giant_word_comes_back_cut_and_flagged_over_both_transports(handler_and_context) -> None:
    """A 1 MB body is read only as far as the model could keep, and a 1,500-character "word" in it (one
    [UNK]) is echoed in ``words`` cut to WORD_CHARS, with ``cut: true``: the answer stays small."""
    giant = "x" * 1500
    body = ("body", {"text": f"dull {giant} film " + "so " * 330_000, "methods": ["gae"]}, JSON)
    responses, context = handled(handler_and_context, [body, VALID])
    assert [context.get_response_status(i)[0] for i in range(2)] == [200, 200]
    answer = json.loads(responses[0])
    assert answer["truncated"] and len(responses[0]) < 10_000
    assert answer["words"][0] == {"text": "dull", "start": 0, "end": 4}
    cut = answer["words"][1]
    assert cut == {"text": "x" * WORD_CHARS, "start": 5, "end": cut["end"], "cut": True} and cut["end"] == 1505
    jsonschema.validate(answer, SCHEMA)
    sent = explanation_pb2.ExplainResponse.FromString(response_to_bytes(answer))
    assert sent.words[1].cut and not sent.words[0].HasField("cut")
    assert explain_response_dict(sent)["words"] == answer["words"]
