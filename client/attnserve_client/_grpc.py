"""gRPC transport (grpcio): TorchServe's ``Predictions`` RPC carrying our ``ExplainRequest`` (input
``explain_request``) or ``GlobalConceptsRequest`` (input ``global_concepts_request``).

Only ``Predictions`` is bound: one request, one answer (the server answers ``StreamPredictions`` in one
message too, but TorchServe does not deliver errors on a stream). The token travels as ``authorization: Bearer``
metadata (TorchServe does not pass metadata on to the handler).

Message sizes: the client accepts and sends up to ``MAX_MESSAGE_BYTES`` (64 MiB), so the server's
limit is the one that applies: TorchServe's ``max_request_size`` (its gRPC inbound limit) and
``max_response_size``, both 6553500 bytes by default.
"""

from __future__ import annotations

import grpc
import grpc.aio
from attnserve_protos import inference_pb2

from attnserve_client._core import (
    PREDICTIONS_PATH,
    Call,
    GlobalCall,
    Settings,
    global_predictions_request,
    parse_global_prediction,
    parse_prediction,
    predictions_request,
)
from attnserve_client.errors import AttnserveClientError, from_grpc
from attnserve_client.explanation import Explanation
from attnserve_client.global_scores import GlobalScores

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Reconnect at least every 2 s (gRPC's default backs off to 2 min), so that our own retries find
    # a restarted server instead of a channel still waiting out its backoff.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
_BINDING = {
    "request_serializer": inference_pb2.PredictionsRequest.SerializeToString,
    "response_deserializer": inference_pb2.PredictionResponse.FromString,
}


def _metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def _failure(error: grpc.RpcError) -> AttnserveClientError:
    code = error.code()  # type: ignore[attr-defined]  # every RpcError raised by a call is also a grpc.Call
    return from_grpc(code.name if code else "UNKNOWN", error.details() or "")  # type: ignore[attr-defined]


class GrpcTransport:
    def __init__(self, target: str, settings: Settings) -> None:
        self.target = target
        self._settings = settings
        self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._predictions = self._channel.unary_unary(PREDICTIONS_PATH, **_BINDING)

    def _call(self, request: inference_pb2.PredictionsRequest, token: str | None) -> bytes:
        try:
            response = self._predictions(request, timeout=self._settings.timeout, metadata=_metadata(token))
        except grpc.RpcError as error:
            raise _failure(error) from None
        return response.prediction

    def send(self, call: Call, token: str | None) -> Explanation:
        return parse_prediction(self._call(predictions_request(call, self._settings.model), token), call)

    def send_global(self, call: GlobalCall, token: str | None) -> GlobalScores:
        request = global_predictions_request(call, self._settings.model)
        return parse_global_prediction(self._call(request, token))

    def close(self) -> None:
        self._channel.close()


class AsyncGrpcTransport:
    """The channel is opened on first use, inside the caller's event loop (grpc.aio binds to it)."""

    def __init__(self, target: str, settings: Settings) -> None:
        self.target = target
        self._settings = settings
        self._channel: grpc.aio.Channel | None = None

    async def _call(self, request: inference_pb2.PredictionsRequest, token: str | None) -> bytes:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        predictions = self._channel.unary_unary(PREDICTIONS_PATH, **_BINDING)
        try:
            response = await predictions(request, timeout=self._settings.timeout, metadata=_metadata(token))
        except grpc.RpcError as error:
            raise _failure(error) from None
        return response.prediction

    async def send(self, call: Call, token: str | None) -> Explanation:
        return parse_prediction(await self._call(predictions_request(call, self._settings.model), token), call)

    async def send_global(self, call: GlobalCall, token: str | None) -> GlobalScores:
        request = global_predictions_request(call, self._settings.model)
        return parse_global_prediction(await self._call(request, token))

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
