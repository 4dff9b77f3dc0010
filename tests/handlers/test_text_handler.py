"""The TorchServe handler in-process, on a tiny random BERT, through TorchServe's own Context and its
batch decoding (ts.service.Service.retrieve_data_for_inference)."""

from __future__ import annotations

import json

import pytest
from ts.context import Context
from ts.service import Service

from handlers.text_handler import TextExplainHandler


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_bert, tokenizer):
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_bert.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "model_card.json").write_text(json.dumps({"version": "0.1"}))
    return path


@pytest.fixture(scope="module")
def handler_and_context(model_dir):
    config = {"handler": {"max_length": 32, "default_methods": ["shapley_cls"]}}
    context = Context("sentiment", str(model_dir), {}, 8, None, "0.12.0", model_yaml_config=config)
    handler = TextExplainHandler()
    handler.initialize(context)
    return handler, context


def run_batch(handler_and_context, bodies: list[tuple[str, object, str]]) -> list[tuple[int, dict, str]]:
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
    return [
        (context.get_response_status(i)[0], json.loads(r), context.get_response_content_type(i))
        for i, r in enumerate(responses)
    ]


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
    from handlers.text_handler import select_device

    assert select_device(None).type == "cpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert str(select_device(1)) == "cuda:1"


def test_proto_requests_get_proto_responses_with_errors_inside(handler_and_context) -> None:
    from attnserve_client.proto import explanation_pb2

    handler, context = handler_and_context
    good = explanation_pb2.ExplainRequest(text="Fine film.", methods=["shapley_cls"], methods_given=True)
    bad = explanation_pb2.ExplainRequest(text="Fine film.", methods=["nope"], methods_given=True)
    bodies = [("explain_request", good.SerializeToString(), ""), ("explain_request", bad.SerializeToString(), "")]
    bodies.append(("explain_request", b"\xff\xff not a proto", ""))
    batch = [
        {"requestId": f"p-{i}".encode(), "parameters": [{"name": n, "value": v, "contentType": c}], "headers": []}
        for i, (n, v, c) in enumerate(bodies)
    ]
    headers, input_batch, ids = Service.retrieve_data_for_inference(batch)
    context.request_ids, context.request_processor = ids, headers
    ok, unknown, undecodable = (
        explanation_pb2.ExplainResponse.FromString(r) for r in handler.handle(input_batch, context)
    )
    assert ok.label in ("negative", "positive") and list(ok.attributions) == ["shapley_cls"] and not ok.error.code
    assert unknown.error.code == "INVALID_INPUT" and unknown.error.field == "methods[0]"
    assert undecodable.error.code == "INVALID_INPUT" and undecodable.error.field == "body"
    assert context.get_response_content_type(0) == "application/octet-stream"
