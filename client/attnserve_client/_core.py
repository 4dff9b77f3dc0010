"""What both transports and both the sync and async clients share: turning arguments into requests,
answers into ``Explanation``s or errors, and the retry decision.

The gRPC convention: a ``Predictions`` call whose ``input`` map holds ``explain_request`` (a serialized
``attnserve.v1.ExplainRequest``) is answered with a serialized ``ExplainResponse``, one holding
``global_concepts_request`` (a serialized ``GlobalConceptsRequest``) with a serialized
``GlobalConceptsResponse``; their ``error`` carries a per-request failure (TorchServe's gRPC path drops
per-request statuses). Over REST, global concept scores are the JSON body kind ``global_concepts``.
"""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnserve_protos import explanation_pb2, inference_pb2
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from attnserve_client._inputs import image_bytes, is_image
from attnserve_client.auth import TokenSource
from attnserve_client.errors import (
    AttnserveClientError,
    AuthError,
    ServerError,
    ServerUnavailableError,
    from_error_body,
    from_http,
)
from attnserve_client.explanation import PATCH_KEYS, TEXT_KEYS, Explanation
from attnserve_client.global_scores import GlobalScores

log = logging.getLogger("attnserve_client")

INPUT_KEY = "explain_request"
GLOBAL_INPUT_KEY = "global_concepts_request"
GLOBAL_KIND = "global_concepts"  # the REST body's "kind" for global concept scores
_PREDICTIONS = inference_pb2.DESCRIPTOR.services_by_name["InferenceAPIsService"].methods_by_name["Predictions"]
# The only RPC the SDK calls (TorchServe does not deliver a handler's errors on StreamPredictions).
PREDICTIONS_PATH = f"/{_PREDICTIONS.containing_service.full_name}/{_PREDICTIONS.name}"
DEFAULT_CONCURRENCY = 8
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0
DEFAULT_RETRIES = 8  # 0.25 + 0.5 + ... + 8 + 8 + 8 s, halved at worst by jitter: 16-32 s, past a worker restart
DEFAULT_TIMEOUT_S = 150.0  # per attempt: above the server's responseTimeout (120 s), so its answer comes first

Target = int | str | None
Options = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Call:
    """One request: a ``text`` or an ``image`` (encoded PNG/JPEG bytes). ``methods=None``: the model's
    defaults; ``()``: prediction only. ``options``: cost options of sampling baselines by method, e.g.
    ``{"kernel_shap": {"samples": 200}}``."""

    text: str | None = None
    methods: tuple[str, ...] | None = None
    target: Target = None
    concepts: tuple[str, ...] | None = None
    options: dict[str, dict[str, int]] | None = None
    image: bytes | None = None


@dataclass(frozen=True)
class GlobalCall:
    """One global-concepts request: TCAV scores of ``concepts`` (None: all the model ships) over
    ``texts``, inputs of class ``target`` (a label)."""

    texts: tuple[str, ...]
    target: str
    concepts: tuple[str, ...] | None = None


def _names(value: Sequence[str] | None, argument: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"{argument} must be a list of names, not the string {value!r}")
    return tuple(value)


def make_calls(
    text_or_texts: str | Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    target: Target = None,
    concepts: Sequence[str] | None = None,
    options: Options | None = None,
    image: object = None,
) -> tuple[list[Call], bool]:
    """The calls for the arguments, and whether one input (not a list) was given. Exactly one of
    ``text_or_texts`` and ``image`` (one image, or a list of them: bytes, paths or PIL images)."""
    if (text_or_texts is None) == (image is None):
        raise TypeError("give texts (text_or_texts) or images (image=), exactly one of the two")
    if isinstance(target, bool) or not isinstance(target, int | str | None):
        raise TypeError(f"target must be a label, a class index or None, got {target!r}")
    methods_, concepts_ = _names(methods, "methods"), _names(concepts, "concepts")
    options_ = None if options is None else {method: dict(chosen) for method, chosen in options.items()}
    if image is not None:
        single = is_image(image)
        images = [image] if single else list(image)  # type: ignore[call-overload]
        payloads = [image_bytes(one) for one in images]
        return [Call(None, methods_, target, concepts_, options_, image=data) for data in payloads], single
    single = isinstance(text_or_texts, str)
    texts = [text_or_texts] if single else list(text_or_texts)  # type: ignore[arg-type]
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings, got {type(text).__name__}")
    return [Call(text, methods_, target, concepts_, options_) for text in texts], single


def make_global_call(texts: Sequence[str], target: str, concepts: Sequence[str] | None = None) -> GlobalCall:
    if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
        raise TypeError("texts must be a list of strings")
    if not isinstance(target, str):
        raise TypeError(f"target must be a label, got {target!r}")
    return GlobalCall(tuple(texts), target, _names(concepts, "concepts"))


def rest_body(call: Call) -> dict[str, object]:
    """The JSON body of ``POST /predictions/{model}``; unset options are left out, not null. An image
    travels as base64 under ``"image"``."""
    image = None if call.image is None else base64.b64encode(call.image).decode("ascii")
    body: dict[str, object] = {"text": call.text} if image is None else {"image": image}
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
        text=call.text or "",
        image=call.image or b"",
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


def global_rest_body(call: GlobalCall) -> dict[str, object]:
    """The JSON body of a global-concepts request: its own ``kind``, beside the explain bodies."""
    body: dict[str, object] = {"kind": GLOBAL_KIND, "texts": list(call.texts), "target": call.target}
    if call.concepts is not None:
        body["concepts"] = list(call.concepts)
    return body


def global_request(call: GlobalCall) -> explanation_pb2.GlobalConceptsRequest:
    return explanation_pb2.GlobalConceptsRequest(texts=call.texts, target=call.target, concepts=call.concepts or ())


def global_predictions_request(call: GlobalCall, model: str) -> inference_pb2.PredictionsRequest:
    return inference_pb2.PredictionsRequest(
        model_name=model, input={GLOBAL_INPUT_KEY: global_request(call).SerializeToString()}
    )


def _explanation(data: object, status: str, call: Call | None = None) -> Explanation:
    try:
        return Explanation.from_dict(data, image=call.image if call else None)  # type: ignore[arg-type]
    except (KeyError, TypeError, AttributeError) as error:
        raise ServerError(f"the server's answer is not an explanation ({error!r})", status=status) from None


def _global_scores(data: object, status: str) -> GlobalScores:
    try:
        return GlobalScores.from_dict(data)
    except ServerError as error:
        raise ServerError(error.message, status=status) from None


def explain_response_dict(response: explanation_pb2.ExplainResponse) -> dict[str, Any]:
    """An ``ExplainResponse`` as the JSON response it carries: protobuf's JSON mapping with proto field
    names, keeping the fields proto3 cannot tell from unset (``truncated: false``, empty lists), less
    the fields of the layout the model does not use (an image model sets ``patches``)."""
    data = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    data.pop("error", None)
    image = response.HasField("patches")
    if image:
        for key in ("tokens", "words", "truncated"):
            data.pop(key, None)
    absent = TEXT_KEYS if image else PATCH_KEYS
    if not data.get("concepts"):
        data.pop("concepts", None)
    scored = [*data.get("attributions", {}).values()]
    scored += [layer for concept in data.get("concepts", {}).values() for layer in concept.get("layers", [])]
    for scores in scored:
        for key in absent:
            scores.pop(key, None)
    return data


NULLABLE = ("score_std", "p_vs_half", "p_vs_random")  # proto3 optional: unset is the JSON's null


def global_response_dict(response: explanation_pb2.GlobalConceptsResponse) -> dict[str, Any]:
    """A ``GlobalConceptsResponse`` as the JSON response it carries (an unset optional is null)."""
    data = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    data.pop("error", None)
    for concept in data.get("concepts", {}).values():
        for layer in concept.get("layers", []):
            for key in NULLABLE:
                layer.setdefault(key, None)
    return data


def parse_json(status_code: int, content: bytes) -> object:
    """A REST answer's JSON, or the mapped error raised."""
    if status_code != 200:
        raise from_http(status_code, content)
    try:
        return json.loads(content)
    except ValueError:
        raise ServerError(f"the server answered 200 with a body that is not JSON: {content[:200]!r}") from None


def parse_rest(status_code: int, content: bytes, call: Call | None = None) -> Explanation:
    """A REST answer: the explanation, or the mapped error raised."""
    return _explanation(parse_json(status_code, content), "HTTP 200", call)


def parse_global_rest(status_code: int, content: bytes) -> GlobalScores:
    """A REST answer to a global-concepts request: the scores, or the mapped error raised."""
    return _global_scores(parse_json(status_code, content), "HTTP 200")


def _message(prediction: bytes, kind: type) -> Any:
    try:
        response = kind.FromString(prediction)
    except DecodeError:
        name = kind.DESCRIPTOR.name
        article = "an" if name[0] in "AEIOU" else "a"
        raise ServerError(f"the server's answer is not {article} {name}: {prediction[:200]!r}", status="OK") from None
    if response.HasField("error"):
        error = response.error
        raise from_error_body(error.code, error.message, error.field, "OK")
    return response


def parse_prediction(prediction: bytes, call: Call | None = None) -> Explanation:
    """``PredictionResponse.prediction`` of an ``explain_request`` call: an ``ExplainResponse``."""
    response = _message(prediction, explanation_pb2.ExplainResponse)
    return _explanation(explain_response_dict(response), "OK", call)


def parse_global_prediction(prediction: bytes) -> GlobalScores:
    """``PredictionResponse.prediction`` of a ``global_concepts_request`` call: a ``GlobalConceptsResponse``."""
    response = _message(prediction, explanation_pb2.GlobalConceptsResponse)
    return _global_scores(global_response_dict(response), "OK")


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
        request the server judged (4xx, bad input, auth), never a timeout; except an auth refusal of
        a key the key file has since replaced, which is retried at once with the new key."""
        if isinstance(error, AuthError) and error.status is not None:
            if self.tokens.renewed():  # refused the key the server has just replaced: once more, with the new one
                log.warning("the server refused %s, which has just been renewed; retrying", self.tokens.describe())
                return 0.0
            raise self.tokens.refused(error) from None
        if not isinstance(error, ServerUnavailableError) or attempt >= self.retries:
            raise error
        delay = backoff(attempt)
        log.warning("attempt %d/%d failed (%s); retrying in %.2f s", attempt + 1, self.retries + 1, error, delay)
        return delay
