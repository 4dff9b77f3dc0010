"""TorchServe entry point for every model, text or image: decode each request, let the engine answer
the batch, encode each answer. No maths here; everything else lives in the ``attnserve`` engine.

The modality is the model's: its bundle's ``handler:`` settings (packed in model-config.yaml, handed
over as ``context.model_yaml_config["handler"]``) name it, and ``attnserve.loading.load_explainer``
puts the explainer of that modality behind this one class.

Request kinds, on both transports:

- explain (the default): REST JSON ``{"text", ...}`` or ``{"image": base64, ...}``, plain text, or
  PNG/JPEG bytes; gRPC input ``explain_request`` (a serialized ``attnserve.v1.ExplainRequest``,
  answered with a serialized ``ExplainResponse``) or ``data`` (the REST body, answered with JSON);
- global concept scores: REST JSON ``{"kind": "global_concepts", "texts", "target", "concepts"?}``;
  gRPC input ``global_concepts_request`` (a serialized ``GlobalConceptsRequest``, answered with a
  serialized ``GlobalConceptsResponse``). A whole set, answered on its own pass, not one input of the
  explain batch. A body with ``texts`` but no ``kind`` is an explain request, and the explain parser
  refuses ``texts`` as an unknown field (the error says which kind to send).

Why not ``BaseHandler``: it decides predict-vs-explain for the whole batch from request 0 and raises
on one bad request, which fails every request in the batch. Here each request keeps its own kind,
options, status and body.
"""

from __future__ import annotations

import json
import logging
import uuid
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch

from attnserve.concepts.global_scores import global_scores, parse_global
from attnserve.errors import AttnserveError, InvalidInput
from attnserve.explain import Busy, Explainer, ModelInfo
from attnserve.loading import load_explainer
from attnserve.request import shown
from handlers.metrics import HandlerMetrics
from handlers.proto_codec import (
    GLOBAL_INPUT_KEY,
    INPUT_KEY,
    error_to_bytes,
    global_error_to_bytes,
    global_request_to_body,
    global_response_to_bytes,
    request_to_body,
    response_to_bytes,
)
from handlers.statuses import http_status

log = logging.getLogger(__name__)

# TorchServe's max_response_size (deploy/config.properties; a test keeps them equal): an answer above it
# kills the worker and fails its whole batch, so a longer one is refused here, for its own request only.
MAX_RESPONSE_BYTES = 6_553_500
REST_KEY = "body"  # where REST puts the body; a gRPC input map has its own keys ("data", INPUT_KEY, ...)
BODY_KEYS = (REST_KEY, "data")
# gRPC StreamPredictions reads this header of every answer and, where it is missing, throws in the
# frontend and restarts the worker (TorchServe 0.12, GRPCJob.response): "false" makes each answer the
# whole stream, one message. Unary Predictions ignores it; REST answers do not carry it.
STREAM_NEXT = "ts_stream_next"
KIND = "kind"  # the JSON key that names a request's kind
EXPLAIN, GLOBAL = "explain", "global_concepts"
KINDS = (EXPLAIN, GLOBAL)
JSON, EXPLAIN_PROTO, GLOBAL_PROTO = "json", "explain_proto", "global_proto"  # how an answer is encoded
GLOBAL_HINT = (
    '; global concept scores are a request kind of their own: send {"kind": "global_concepts", '
    '"texts": [...], "target": label} (gRPC: input "global_concepts_request")'
)


# The bundle's ``handler.precision``: "bfloat16" runs every pass of a batch (the capture, the methods, the
# perturbation baselines) under autocast, so matrix products run in bfloat16 and autocast keeps softmax,
# norms and reductions in float32. Meant for GPUs with bfloat16 units; docs/deploy.md states how far it
# moves the explanations (tests/handlers/test_precision.py measures it on the sentiment model).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


def precision_context(precision: str, device: torch.device) -> AbstractContextManager:
    """The context every pass of a batch runs in: autocast to ``precision`` on ``device``, or nothing."""
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def select_device(gpu_id: object) -> torch.device:
    """TorchServe gives each worker a ``gpu_id`` (None on CPU hosts); honour it, since plain workers
    see every GPU."""
    if gpu_id is not None and torch.cuda.is_available():
        return torch.device(f"cuda:{gpu_id}")
    return torch.device("cpu")


class ExplainHandler:
    def __init__(self) -> None:
        self.explainer: Explainer | None = None
        self.metrics: HandlerMetrics | None = None
        self.max_response_bytes = MAX_RESPONSE_BYTES
        self.precision = "float32"  # the bundle's handler.precision (PRECISIONS)
        self.initialized = False

    def initialize(self, context) -> None:
        """Load the archive's model through the shared loader, with the settings its bundle gave the
        packed model-config.yaml (modality, max length, default methods, option defaults, limits)."""
        properties = context.system_properties
        model_dir = Path(properties["model_dir"])
        settings = (context.model_yaml_config or {}).get("handler", {})
        device = select_device(properties.get("gpu_id"))
        precision = settings.get("precision", "float32")
        if precision not in PRECISIONS:
            raise ValueError(f"handler.precision is {precision!r}; known: {', '.join(PRECISIONS)}")
        self.precision = precision
        threads = settings.get("torch_threads")
        if threads is not None:
            if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
                raise ValueError(f"handler.torch_threads is {threads!r}; a whole number of threads, at least 1")
            # Every worker's torch otherwise takes every core: several busy models on one host then run
            # more threads than cores (bench/contention.py measures what a cap costs and buys).
            torch.set_num_threads(threads)
        version = str(json.loads((model_dir / "model_card.json").read_text())["version"])
        self.explainer = load_explainer(model_dir, settings, ModelInfo(context.model_name, version), device)
        self.max_response_bytes = int(settings.get("max_response_bytes", MAX_RESPONSE_BYTES))
        # A TorchServe worker always passes its metrics cache; an in-process test may pass none.
        self.metrics = HandlerMetrics(context.metrics, context.model_name) if context.metrics else None
        self.initialized = True
        log.info("loaded %s (%s) v%s on %s, %s", context.model_name, self.modality, version, device, precision)

    @property
    def modality(self) -> str:
        """The served model's modality ("text" or "image"): its explainer's, as the bundle set it."""
        return self.explainer.modality

    def handle(self, data: list[dict], context) -> list[str | bytes]:
        with precision_context(self.precision, self.explainer.device):
            return self._handle(data, context)

    def _handle(self, data: list[dict], context) -> list[str | bytes]:
        routed = [self._routed(i, row, context) for i, row in enumerate(data)]
        outcomes: list[dict | AttnserveError | None] = [None] * len(data)
        explain, scored = [], False  # whether a global set has been scored in this batch
        for i, (kind, body, _, _) in enumerate(routed):
            if kind != GLOBAL:
                explain.append(i)
            elif isinstance(body, AttnserveError):
                outcomes[i] = body
            else:
                outcomes[i] = self._global(body, busy=scored)
                scored = scored or isinstance(outcomes[i], dict)
        report = self.explainer.explain_batch([(routed[i][1], routed[i][2]) for i in explain])
        if self.metrics:
            self.metrics.record(report)
        for i, outcome in zip(explain, report.outcomes, strict=True):
            outcomes[i] = _hinted(outcome)
        for i, row in enumerate(data):
            if REST_KEY not in row:  # a gRPC call: if it came by StreamPredictions, this answer ends it
                context.set_response_header(i, STREAM_NEXT, "false")
        return [self._encoded(i, outcome, routed[i][3], context) for i, outcome in enumerate(outcomes)]

    def _routed(self, index: int, row: dict, context) -> tuple[str, object, str | None, str]:
        """``_route``, where a failure of ours becomes this request's own 500, never its batch's."""
        try:
            return self._route(index, row, context)
        except Exception:
            return EXPLAIN, _incident("routing", index), None, EXPLAIN_PROTO if INPUT_KEY in row else JSON

    def _encoded(self, index: int, outcome: dict | AttnserveError, encoding: str, context) -> str | bytes:
        """``_encode``, where an answer that cannot be encoded becomes this request's own 500, and one
        above the server's response limit this request's own 400."""
        try:
            encoded = self._encode(index, outcome, encoding, context)
        except Exception:
            return self._encode(index, _incident("encoding the answer to", index), encoding, context)
        size = len(encoded.encode() if isinstance(encoded, str) else encoded)
        if size <= self.max_response_bytes:
            return encoded
        too_large = InvalidInput(
            f"the answer would be {size} bytes, over this server's limit of {self.max_response_bytes}: "
            "send a shorter input or ask for fewer methods",
            "body",
        )
        return self._encode(index, too_large, encoding, context)

    def _route(self, index: int, row: dict, context) -> tuple[str, object, str | None, str]:
        """(kind, body or the error it already is, content type, answer encoding) of one request."""
        if INPUT_KEY in row:
            try:
                return EXPLAIN, request_to_body(row[INPUT_KEY]), None, EXPLAIN_PROTO
            except InvalidInput as error:
                return EXPLAIN, error, None, EXPLAIN_PROTO
        if GLOBAL_INPUT_KEY in row:
            try:
                return GLOBAL, global_request_to_body(row[GLOBAL_INPUT_KEY]), None, GLOBAL_PROTO
            except InvalidInput as error:
                return GLOBAL, error, None, GLOBAL_PROTO
        for key in BODY_KEYS:
            if row.get(key) is not None:
                headers = context.get_request_header(index, key) or {}
                content_type = headers.get("content-type") if isinstance(headers, dict) else None
                kind, body = _kind(row[key], content_type)
                return kind, body, content_type, JSON
        got = shown(sorted(map(str, row)))  # a client names the inputs (form fields, gRPC input keys)
        missing = InvalidInput(f"request has no body; send JSON or text (got inputs {got})", "body")
        return EXPLAIN, missing, None, JSON

    def _global(self, body: dict, busy: bool) -> dict | AttnserveError:
        """Global TCAV scores over a set of texts (one target class), on a pass of its own; ``busy``: the
        batch has scored a set already, and one set (up to 256 texts' forward and backward passes) per
        batch keeps it inside the worker's timeout, so a valid second set is told to come again."""
        if self.modality != "text":
            return InvalidInput(
                f"global concept scores are served for text models; this is an {self.modality} model", KIND
            )
        if self.explainer.bank is None:
            return InvalidInput("this model ships no CAVs, so it has no global concept scores", "concepts")
        try:
            texts, target, names = parse_global(body, self.explainer.labels, self.explainer.concepts)
            if busy:
                return Busy("this batch already scores one set of texts; send it again (the SDK does)")
            return global_scores(self.explainer, texts, target, names)
        except AttnserveError as error:
            return error
        except Exception:  # one failed pass must not kill the worker
            log.exception("global concept scores failed")
            return AttnserveError("internal error while scoring concepts; see server log")

    @staticmethod
    def _encode(index: int, outcome: dict | AttnserveError, encoding: str, context) -> str | bytes:
        """JSON with its own HTTP status, or, for a proto request, the response message of its kind,
        which carries any error inside (TorchServe's gRPC path ignores per-request statuses)."""
        failed = isinstance(outcome, AttnserveError)
        if encoding == EXPLAIN_PROTO:
            context.set_response_content_type(index, "application/octet-stream")
            return error_to_bytes(outcome) if failed else response_to_bytes(outcome)
        if encoding == GLOBAL_PROTO:
            context.set_response_content_type(index, "application/octet-stream")
            return global_error_to_bytes(outcome) if failed else global_response_to_bytes(outcome)
        context.set_response_content_type(index, "application/json")
        if failed:
            context.set_response_status(*http_status(outcome), index)
            return json.dumps({"error": outcome.to_dict()})
        return json.dumps(outcome)


def _kind(body: object, content_type: str | None) -> tuple[str, object]:
    """The kind a REST (or gRPC ``data``) body names, and the body the engine gets: a JSON object, decoded
    here once (without its ``"kind"``); anything else (text, image bytes, JSON that is no object or does
    not decode) is an explain body, passed on as it came, for the engine to read or refuse."""
    decoded = body
    if isinstance(body, bytes | bytearray) and _looks_like_json(bytes(body), content_type):
        try:
            decoded = json.loads(bytes(body))
        except (ValueError, RecursionError):  # the engine's parser reports it, naming the body
            return EXPLAIN, body
    if not isinstance(decoded, dict):
        return EXPLAIN, body
    if KIND not in decoded:
        return EXPLAIN, decoded
    kind = decoded[KIND]
    rest = {key: value for key, value in decoded.items() if key != KIND}
    if kind not in KINDS:
        accepted = ", ".join(repr(k) for k in KINDS)
        return EXPLAIN, InvalidInput(f"unknown request kind {shown(kind)}; accepted kinds: {accepted}", KIND)
    return kind, rest


def _incident(step: str, index: int) -> AttnserveError:
    """A request's own 500 for a failure of ours, logged with an id the client is given."""
    incident = uuid.uuid4().hex[:12]
    log.exception("%s request %d of a batch failed (incident %s)", step, index, incident)
    return AttnserveError(f"internal error while {step} this request (incident {incident}); see server log")


def _looks_like_json(raw: bytes, content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (not media.startswith(("text/", "image/")) and raw.lstrip()[:1] == b"{")


def _hinted(outcome: dict | AttnserveError | None) -> dict | AttnserveError | None:
    """An explain body refused for ``texts`` gets told about the global-concepts kind."""
    if isinstance(outcome, InvalidInput) and outcome.field == "texts" and GLOBAL_HINT not in outcome.message:
        return InvalidInput(outcome.message + GLOBAL_HINT, outcome.field)
    return outcome
