"""What both transports and both the sync and async clients share: turning arguments into requests,
answers into ``Explanation``s or errors, and the retry decision.

The gRPC convention: a ``Predictions`` call whose ``input`` map holds ``explain_request`` (a serialized
``attnserve.v1.ExplainRequest``) is answered with a serialized ``ExplainResponse``, whose
``error`` carries a per-request failure (TorchServe's gRPC path drops per-request statuses).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from attnserve_client.auth import TokenSource
from attnserve_client.errors import (
    AttnserveClientError,
    AuthError,
    ServerError,
    ServerUnavailableError,
    from_error_body,
    from_http,
)
from attnserve_client.explanation import Explanation
from attnserve_client.proto import explanation_pb2, inference_pb2

log = logging.getLogger("attnserve_client")

INPUT_KEY = "explain_request"
_PREDICTIONS = inference_pb2.DESCRIPTOR.services_by_name["InferenceAPIsService"].methods_by_name["Predictions"]
# The only RPC the SDK calls. StreamPredictions on a non-streaming handler kills the worker upstream.
PREDICTIONS_PATH = f"/{_PREDICTIONS.containing_service.full_name}/{_PREDICTIONS.name}"
DEFAULT_CONCURRENCY = 8
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0

Target = int | str | None
Options = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Call:
    """One request. ``methods=None``: the model's defaults; ``()``: prediction only. ``options``:
    cost options of sampling baselines by method, e.g. ``{"kernel_shap": {"samples": 200}}``."""

    text: str
    methods: tuple[str, ...] | None = None
    target: Target = None
    concepts: tuple[str, ...] | None = None
    options: dict[str, dict[str, int]] | None = None


def _names(value: Sequence[str] | None, argument: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"{argument} must be a list of names, not the string {value!r}")
    return tuple(value)


def make_calls(
    text_or_texts: str | Sequence[str],
    methods: Sequence[str] | None = None,
    target: Target = None,
    concepts: Sequence[str] | None = None,
    options: Options | None = None,
) -> tuple[list[Call], bool]:
    """The calls for the arguments, and whether one text (not a list) was given."""
    single = isinstance(text_or_texts, str)
    texts = [text_or_texts] if single else list(text_or_texts)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
    if isinstance(target, bool) or not isinstance(target, int | str | None):
        raise TypeError(f"target must be a label, a class index or None, got {target!r}")
    methods_, concepts_ = _names(methods, "methods"), _names(concepts, "concepts")
    options_ = None if options is None else {method: dict(chosen) for method, chosen in options.items()}
    return [Call(text, methods_, target, concepts_, options_) for text in texts], single


def rest_body(call: Call) -> dict[str, object]:
    """The JSON body of ``POST /predictions/{model}``; unset options are left out, not null."""
    body: dict[str, object] = {"text": call.text}
    if call.methods is not None:
        body["methods"] = list(call.methods)
    if call.target is not None:
        body["target"] = call.target
    if call.concepts is not None:
        body["concepts"] = list(call.concepts)
    if call.options is not None:
        body["options"] = call.options
    return body


def explain_request(call: Call) -> explanation_pb2.ExplainRequest:
    request = explanation_pb2.ExplainRequest(
        text=call.text,
        methods=call.methods or (),
        methods_given=call.methods is not None,
        concepts=call.concepts or (),
        options={
            method: explanation_pb2.MethodOptions(values=chosen) for method, chosen in (call.options or {}).items()
        },
    )
    if isinstance(call.target, str):
        request.target_label = call.target
    elif call.target is not None:
        request.target_index = call.target
    return request


def predictions_request(call: Call, model: str) -> inference_pb2.PredictionsRequest:
    return inference_pb2.PredictionsRequest(
        model_name=model, input={INPUT_KEY: explain_request(call).SerializeToString()}
    )


def _explanation(data: object, status: str) -> Explanation:
    try:
        return Explanation.from_dict(data)  # type: ignore[arg-type]
    except (KeyError, TypeError, AttributeError) as error:
        raise ServerError(f"the server's answer is not an explanation ({error!r})", status=status) from None


def parse_json(status_code: int, content: bytes) -> object:
    """A REST answer's JSON, or the mapped error raised."""
    if status_code != 200:
        raise from_http(status_code, content)
    try:
        return json.loads(content)
    except ValueError:
        raise ServerError(f"the server answered 200 with a body that is not JSON: {content[:200]!r}") from None


def parse_rest(status_code: int, content: bytes) -> Explanation:
    """A REST answer: the explanation, or the mapped error raised."""
    return _explanation(parse_json(status_code, content), "HTTP 200")


def parse_prediction(prediction: bytes) -> Explanation:
    """``PredictionResponse.prediction`` of an ``explain_request`` call: an ``ExplainResponse``."""
    try:
        response = explanation_pb2.ExplainResponse.FromString(prediction)
    except DecodeError:
        raise ServerError(f"the server's answer is not an ExplainResponse: {prediction[:200]!r}", status="OK") from None
    if response.HasField("error"):
        error = response.error
        raise from_error_body(error.code, error.message, error.field, "OK")
    data = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _explanation(data, "OK")


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: spreads clients that failed together over time."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Settings:
    model: str
    timeout: float
    retries: int
    tokens: TokenSource

    def after_failure(self, error: AttnserveClientError, attempt: int) -> float:
        """Seconds to wait before retrying, or raise: only an unavailable server is retried, never a
        request the server judged (4xx, bad input, auth), never a timeout."""
        if isinstance(error, AuthError) and error.status is not None:
            raise self.tokens.refused(error) from None
        if not isinstance(error, ServerUnavailableError) or attempt >= self.retries:
            raise error
        delay = backoff(attempt)
        log.warning("attempt %d/%d failed (%s); retrying in %.2f s", attempt + 1, self.retries + 1, error, delay)
        return delay
