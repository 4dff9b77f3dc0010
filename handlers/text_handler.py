"""TorchServe entry point for text classifiers: decode each request, let the engine explain the batch,
encode each answer. No maths here; everything else lives in the ``attnserve`` engine.

Why not ``BaseHandler``: it decides predict-vs-explain for the whole batch from request 0 and raises
on one bad request, which fails every request in the batch. Here each request keeps its own options,
status and body.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from attnserve.concepts.global_scores import global_scores, parse_global
from attnserve.errors import AttnserveError, InvalidInput
from attnserve.explain import Explainer, ModelInfo
from attnserve.loading import load_explainer
from handlers.metrics import HandlerMetrics
from handlers.proto_codec import INPUT_KEY, error_to_bytes, request_to_body, response_to_bytes

log = logging.getLogger(__name__)

BODY_KEYS = ("body", "data")  # REST puts the body under "body"; a gRPC input map under its own keys
# A gRPC input map may instead carry a serialized attnserve.v1.ExplainRequest under INPUT_KEY.
REASONS = {400: "Bad Request", 500: "Internal Server Error"}


def select_device(gpu_id: object) -> torch.device:
    """TorchServe gives each worker a ``gpu_id`` (None on CPU hosts); honour it, since plain workers
    see every GPU."""
    if gpu_id is not None and torch.cuda.is_available():
        return torch.device(f"cuda:{gpu_id}")
    return torch.device("cpu")


class TextExplainHandler:
    def __init__(self) -> None:
        self.explainer: Explainer | None = None
        self.metrics: HandlerMetrics | None = None
        self.initialized = False

    def initialize(self, context) -> None:
        """Load the archive's model through the shared loader, with the settings its bundle gave the
        packed model-config.yaml (modality, max length, default methods, option defaults, limits)."""
        properties = context.system_properties
        model_dir = Path(properties["model_dir"])
        settings = (context.model_yaml_config or {}).get("handler", {})
        device = select_device(properties.get("gpu_id"))
        version = str(json.loads((model_dir / "model_card.json").read_text())["version"])
        self.explainer = load_explainer(model_dir, settings, ModelInfo(context.model_name, version), device)
        # A TorchServe worker always passes its metrics cache; an in-process test may pass none.
        self.metrics = HandlerMetrics(context.metrics, context.model_name) if context.metrics else None
        self.initialized = True
        log.info("loaded %s v%s on %s", context.model_name, version, device)

    def handle(self, data: list[dict], context) -> list[str | bytes]:
        bodies = [self._body(i, row, context) for i, row in enumerate(data)]
        outcomes: list[dict | AttnserveError | None] = [self._global(body) for body, _ in bodies]
        rest = [i for i, outcome in enumerate(outcomes) if outcome is None]
        report = self.explainer.explain_batch([bodies[i] for i in rest])
        if self.metrics:
            self.metrics.record(report)
        for i, outcome in zip(rest, report.outcomes, strict=True):
            outcomes[i] = outcome
        rows = enumerate(zip(data, outcomes, strict=True))
        return [self._encode(i, outcome, INPUT_KEY in row, context) for i, (row, outcome) in rows]

    def _global(self, body: object) -> dict | AttnserveError | None:
        """A JSON body with ``"texts"`` asks for global TCAV scores over those inputs (one target class);
        answered on its own pass, since it is a whole set, not one input of the explain batch."""
        if isinstance(body, (bytes, bytearray)):
            try:
                body = json.loads(body)
            except ValueError:
                return None
        if not isinstance(body, dict) or "texts" not in body:
            return None
        if self.explainer.bank is None:
            return InvalidInput("this model ships no CAVs, so it has no global concept scores", "concepts")
        try:
            texts, target, names = parse_global(body, self.explainer.labels, self.explainer.concepts)
            return global_scores(self.explainer, texts, target, names)
        except AttnserveError as error:
            return error
        except Exception:  # one failed pass must not kill the worker
            log.exception("global concept scores failed")
            return AttnserveError("internal error while scoring concepts; see server log")

    @staticmethod
    def _encode(index: int, outcome: dict | AttnserveError, as_proto: bool, context) -> str | bytes:
        """JSON with its own HTTP status, or, for a proto request, an ExplainResponse that carries any
        error inside the message (TorchServe's gRPC path ignores per-request statuses)."""
        failed = isinstance(outcome, AttnserveError)
        if as_proto:
            context.set_response_content_type(index, "application/octet-stream")
            return error_to_bytes(outcome) if failed else response_to_bytes(outcome)
        context.set_response_content_type(index, "application/json")
        if failed:
            context.set_response_status(outcome.http_status, REASONS.get(outcome.http_status, "Error"), index)
            return json.dumps({"error": outcome.to_dict()})
        return json.dumps(outcome)

    @staticmethod
    def _body(index: int, row: dict, context) -> tuple[object, str | None]:
        """The request body and its content type, as TorchServe decoded them."""
        if INPUT_KEY in row:
            try:
                return request_to_body(row[INPUT_KEY]), None
            except InvalidInput as error:
                return error, None
        for key in BODY_KEYS:
            if row.get(key) is not None:
                headers = context.get_request_header(index, key) or {}
                content_type = headers.get("content-type") if isinstance(headers, dict) else None
                return row[key], content_type
        missing = InvalidInput(f"request has no body; send JSON or text (got fields {sorted(row)})", "body")
        return missing, None
