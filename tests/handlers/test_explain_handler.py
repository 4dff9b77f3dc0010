"""The TorchServe handler in-process, through TorchServe's own Context and its batch decoding
(ts.service.Service.retrieve_data_for_inference): one ``ExplainHandler`` class serves a tiny random BERT
(with random CAVs) and a tiny ViT, the modality coming from the model's ``handler:`` settings; every
request kind on both encodings (JSON, and the attnserve.v1 protos of the gRPC path)."""

from __future__ import annotations

import base64
import json

import pytest
import torch
from attnserve_protos import explanation_pb2
from ts.context import Context
from ts.service import Service

from handlers.explain_handler import ExplainHandler, select_device
from tests.conftest import CONCEPTS, IMAGE_LABELS, png_bytes
from tests.handlers.conftest import started


def handled(handler_and_context, bodies: list[tuple[str, object, str]]) -> tuple[list[str | bytes], Context]:
    """bodies: (parameter name, value as TorchServe decodes it, content type) per request."""
    handler, context = handler_and_context
    batch = [
        {
            "requestId": f"req-{i}".encode(),
            "parameters": [{"name": name, "value": value, "contentType": content_type}],
            "headers": [{"name": b"Authorization", "value": b"Bearer secret"}],
        }
        for i, (name, value, content_type) in enumerate(bodies)
    ]
    headers, input_batch, ids = Service.retrieve_data_for_inference(batch)
    context.request_ids, context.request_processor = ids, headers
    responses = handler.handle(input_batch, context)
    assert len(responses) == len(bodies)
    return responses, context


def run_batch(handler_and_context, bodies: list[tuple[str, object, str]]) -> list[tuple[int, dict, str]]:
    responses, context = handled(handler_and_context, bodies)
    return [
        (context.get_response_status(i)[0], json.loads(r), context.get_response_content_type(i))
        for i, r in enumerate(responses)
    ]


def test_one_handler_class_serves_both_modalities(handler_and_context, image_handler_and_context) -> None:
    assert type(handler_and_context[0]) is type(image_handler_and_context[0]) is ExplainHandler
    assert (handler_and_context[0].modality, image_handler_and_context[0].modality) == ("text", "image")


def test_mixed_batch_each_request_gets_what_it_asked(handler_and_context) -> None:
    results = run_batch(
        handler_and_context,
        [
            ("body", {"text": "A gorgeous, moving film.", "methods": []}, "application/json"),
            (
                "body",
                {"text": "Dull and lifeless.", "methods": ["grad_shapley_max_mutual", "shapley_cls"]},
                "application/json",
            ),
            ("body", "plain text uses the default set", "text/plain"),
            ("body", {"text": "x", "methods": ["shapely_cls"]}, "application/json"),
            ("data", b'{"text": "grpc style bytes", "methods": ["shapley_mutual"], "target": "negative"}', ""),
        ],
    )
    statuses = [status for status, _, _ in results]
    assert statuses == [200, 200, 200, 400, 200]
    assert all(content_type == "application/json" for _, _, content_type in results)
    bodies = [body for _, body, _ in results]
    assert bodies[0]["attributions"] == {}
    assert set(bodies[1]["attributions"]) == {"grad_shapley_max_mutual", "shapley_cls"}
    assert set(bodies[2]["attributions"]) == {"shapley_cls"}
    assert bodies[3] == {
        "error": {"code": "INVALID_INPUT", "field": "methods[0]", "message": bodies[3]["error"]["message"]}
    }
    assert "shapely_cls" in bodies[3]["error"]["message"]
    assert bodies[4]["target"] == "negative"
    assert {b["batch_size"] for b in bodies if "batch_size" in b} == {4}
    assert bodies[0]["model"] == {"name": "sentiment", "version": "0.1"}


@pytest.mark.parametrize(
    ("name", "value", "content_type", "field"),
    [
        ("body", b"{not json", "application/json", "body"),  # TorchServe forwards undecodable JSON as bytes
        ("body", b"\xff\xfe\xfa", "text/plain", "body"),  # ... and undecodable text likewise
        ("body", {"text": ""}, "application/json", "text"),
        ("body", {"text": ["a"]}, "application/json", "text"),
        ("body", {"text": "ok", "target": 9}, "application/json", "target"),
        ("body", {"text": "ok", "kind": "summarize"}, "application/json", "kind"),
        ("other", b"x", "", "body"),
    ],
)
def test_bad_input_is_a_400_for_that_request_only(handler_and_context, name, value, content_type, field) -> None:
    good = ("body", {"text": "Fine film.", "methods": ["shapley_cls"]}, "application/json")
    results = run_batch(handler_and_context, [good, (name, value, content_type), good])
    assert [status for status, _, _ in results] == [200, 400, 200]
    assert results[1][1]["error"]["field"] == field
    assert results[0][1]["attributions"] == results[2][1]["attributions"]


def test_long_text_is_truncated_and_flagged(handler_and_context) -> None:
    ((status, body, _),) = run_batch(handler_and_context, [("body", "word " * 200, "text/plain")])
    assert status == 200 and body["truncated"] is True and len(body["tokens"]) == 30


def test_device_follows_the_gpu_id_torchserve_assigns(monkeypatch) -> None:
    assert select_device(None).type == "cpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert str(select_device(1)) == "cuda:1"


def test_torch_threads_caps_the_worker_and_bad_values_stop_it_at_start(model_dir) -> None:
    before = torch.get_num_threads()
    try:
        handler, context = started("capped", model_dir, {"max_length": 32, "torch_threads": 1})
        assert torch.get_num_threads() == 1
        ((status, _, _),) = run_batch((handler, context), [("body", "A fine film.", "text/plain")])
        assert status == 200
    finally:
        torch.set_num_threads(before)
    for bad in (0, "2", 1.5, True):
        with pytest.raises(ValueError, match=r"handler\.torch_threads is .*at least 1"):
            started("capped", model_dir, {"torch_threads": bad})


def test_proto_requests_get_proto_responses_with_errors_inside(handler_and_context) -> None:
    good = explanation_pb2.ExplainRequest(text="Fine film.", methods=["shapley_cls"], methods_given=True)
    bad = explanation_pb2.ExplainRequest(text="Fine film.", methods=["nope"], methods_given=True)
    image = explanation_pb2.ExplainRequest(image=png_bytes())
    bodies = [(good, ""), (bad, ""), (image, "")]
    raw = [("explain_request", message.SerializeToString(), c) for message, c in bodies]
    raw.append(("explain_request", b"\xff\xff not a proto", ""))
    responses, context = handled(handler_and_context, raw)
    ok, unknown, image_to_text, undecodable = (explanation_pb2.ExplainResponse.FromString(r) for r in responses)
    assert ok.label in ("negative", "positive") and list(ok.attributions) == ["shapley_cls"] and not ok.error.code
    assert unknown.error.code == "INVALID_INPUT" and unknown.error.field == "methods[0]"
    assert image_to_text.error.code == "INVALID_INPUT" and image_to_text.error.field == "image"
    assert undecodable.error.code == "INVALID_INPUT" and undecodable.error.field == "body"
    assert context.get_response_content_type(0) == "application/octet-stream"


# --- images ------------------------------------------------------------------------------------------


def test_image_bytes_json_and_proto_requests_get_patches(image_handler_and_context) -> None:
    png = png_bytes(seed=1)
    encoded = base64.b64encode(png).decode()
    proto = explanation_pb2.ExplainRequest(image=png, methods=["gae"], methods_given=True)
    responses, context = handled(
        image_handler_and_context,
        [
            ("body", png, "image/png"),
            ("body", {"image": encoded, "methods": ["gae"]}, "application/json"),
            ("explain_request", proto.SerializeToString(), ""),
            ("body", {"text": "not for an image model"}, "application/json"),
        ],
    )
    raw_png, as_json, as_proto, text = responses
    assert [context.get_response_status(i)[0] for i in range(4)] == [200, 200, 200, 400]
    raw_png, as_json, text = json.loads(raw_png), json.loads(as_json), json.loads(text)
    assert raw_png["patches"] == as_json["patches"] == {"grid": [7, 7]}
    assert set(raw_png["attributions"]) == {"shapley_mutual"} and raw_png["model"]["version"] == "0.2"
    assert set(raw_png["probabilities"]) == set(IMAGE_LABELS)
    message = explanation_pb2.ExplainResponse.FromString(as_proto)
    assert context.get_response_content_type(2) == "application/octet-stream" and not message.error.code
    assert list(message.patches.grid) == [7, 7] and not message.tokens
    assert list(message.attributions["gae"].patches) == pytest.approx(as_json["attributions"]["gae"]["patches"])
    assert text["error"]["field"] == "text"


def test_an_image_proto_request_with_an_error_answers_inside_the_message(image_handler_and_context) -> None:
    bad = explanation_pb2.ExplainRequest(image=b"plainly not an image")
    baseline = explanation_pb2.ExplainRequest(image=png_bytes(), methods=["kernel_shap"], methods_given=True)
    responses, _ = handled(
        image_handler_and_context,
        [("explain_request", bad.SerializeToString(), ""), ("explain_request", baseline.SerializeToString(), "")],
    )
    first, second = (explanation_pb2.ExplainResponse.FromString(r) for r in responses)
    assert (first.error.field, second.error.field) == ("image", "methods[0]")


# --- global concept scores: a request kind of their own ------------------------------------------------

TEXTS = ["A fine film.", "Dull and far too long.", "Moving, if uneven."]


def test_the_global_kind_answers_scores_beside_explanations_one_set_per_batch(handler_and_context) -> None:
    results = run_batch(
        handler_and_context,
        [
            ("body", {"kind": "global_concepts", "texts": TEXTS, "target": "positive"}, "application/json"),
            ("body", {"text": "Fine film.", "methods": ["shapley_cls"]}, "application/json"),
            ("body", json.dumps({"kind": "explain", "text": "Fine film."}).encode(), "application/json"),
            ("data", json.dumps({"kind": "global_concepts", "texts": TEXTS, "target": "negative"}).encode(), ""),
        ],
    )
    assert [status for status, _, _ in results] == [200, 200, 200, 503]
    scores, explained, explicit, second_set = (body for _, body, _ in results)
    assert scores["target"] == "positive" and scores["inputs"] == 3 and list(scores["concepts"]) == CONCEPTS
    assert explained["batch_size"] == explicit["batch_size"] == 2 and set(explicit["attributions"]) == {"shapley_cls"}
    # One set per batch keeps a batch inside the worker's timeout; the second is told to come again.
    assert second_set["error"]["code"] == "UNAVAILABLE" and "send it again" in second_set["error"]["message"]
    again = ("data", json.dumps({"kind": "global_concepts", "texts": TEXTS, "target": "negative"}).encode(), "")
    ((status, over_data, _),) = run_batch(handler_and_context, [again])
    assert status == 200 and over_data["target"] == "negative"


def test_texts_without_a_kind_is_an_explain_body_refused_on_texts(handler_and_context) -> None:
    ((status, body, _),) = run_batch(
        handler_and_context, [("body", {"texts": TEXTS, "target": "positive"}, "application/json")]
    )
    assert status == 400 and body["error"]["field"] == "texts"
    message = body["error"]["message"]
    assert "unknown field 'texts'" in message and '"kind": "global_concepts"' in message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "global_concepts", "texts": [], "target": "positive"}, "texts"),
        ({"kind": "global_concepts", "texts": TEXTS, "target": "great"}, "target"),
        ({"kind": "global_concepts", "texts": TEXTS, "target": "positive", "concepts": ["x"]}, "concepts"),
        ({"kind": "global_concepts", "texts": TEXTS, "target": "positive", "text": "x"}, "text"),
    ],
)
def test_bad_global_requests_are_400s_naming_the_field(handler_and_context, body: dict, field: str) -> None:
    ((status, answer, _),) = run_batch(handler_and_context, [("body", body, "application/json")])
    assert status == 400 and answer["error"]["field"] == field


def test_the_global_proto_kind_answers_a_global_concepts_response(handler_and_context) -> None:
    good = explanation_pb2.GlobalConceptsRequest(texts=TEXTS, target="positive", concepts=["sports"])
    bad = explanation_pb2.GlobalConceptsRequest(texts=TEXTS, target="great")
    responses, context = handled(
        handler_and_context,
        [
            ("global_concepts_request", good.SerializeToString(), ""),
            ("global_concepts_request", bad.SerializeToString(), ""),
            ("global_concepts_request", b"\xff\xff not a proto", ""),
        ],
    )
    ok, wrong, undecodable = (explanation_pb2.GlobalConceptsResponse.FromString(r) for r in responses)
    assert context.get_response_content_type(0) == "application/octet-stream"
    assert not ok.error.code and ok.target == "positive" and ok.inputs == 3 and list(ok.concepts) == ["sports"]
    assert len(ok.concepts["sports"].layers) == 2 and len(ok.concepts["sports"].layers[0].scores) == 3
    assert (wrong.error.code, wrong.error.field) == ("INVALID_INPUT", "target")
    assert undecodable.error.field == "body"


def test_an_image_model_refuses_the_global_kind(image_handler_and_context) -> None:
    body = {"kind": "global_concepts", "texts": TEXTS, "target": "shoe"}
    results = run_batch(image_handler_and_context, [("body", body, "application/json")])
    assert results[0][0] == 400 and results[0][1]["error"]["field"] == "kind"
