"""gRPC ``StreamPredictions`` answers in one message and leaves the worker alone. TorchServe 0.12's
frontend reads the ``ts_stream_next`` header of a streamed answer and, without it, throws and restarts
the worker ("Worker died." for its whole batch); the handler sets it on every gRPC answer."""

from __future__ import annotations

import grpc
import pytest
from attnserve_client._core import PREDICTIONS_PATH
from attnserve_protos import explanation_pb2, inference_pb2

from tests.integration.test_worker_restart import worker_of

pytestmark = pytest.mark.integration

STREAM_PATH = PREDICTIONS_PATH.replace("/Predictions", "/StreamPredictions")


def test_stream_predictions_answers_once_and_the_worker_lives(torchserve) -> None:
    worker = worker_of(torchserve, "sentiment")
    request = explanation_pb2.ExplainRequest(text="A gorgeous, moving film.", methods=["gae"])
    call = inference_pb2.PredictionsRequest(
        model_name="sentiment", input={"explain_request": request.SerializeToString()}
    )
    metadata = (("authorization", f"Bearer {torchserve.token}"),)
    with grpc.insecure_channel(torchserve.grpc_target) as channel:
        stream = channel.unary_stream(
            STREAM_PATH,
            request_serializer=inference_pb2.PredictionsRequest.SerializeToString,
            response_deserializer=inference_pb2.PredictionResponse.FromString,
        )
        answers = list(stream(call, metadata=metadata, timeout=60))
    assert len(answers) == 1
    response = explanation_pb2.ExplainResponse.FromString(answers[0].prediction)
    assert response.label == "positive" and len(response.attributions["gae"].words) == 6
    assert worker_of(torchserve, "sentiment") == worker  # the same worker still serves
