"""A batch of text requests in, one response (or one error) per request out.

The batch shares one padded pass (``capture``) sized by the union of what its requests asked for;
each request then gets exactly its own methods. A bad request becomes an error in its own slot and
never touches the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from attnserve.capture import Capture, capture
from attnserve.errors import AttnserveError, InvalidInput
from attnserve.methods import OPTION_DEFAULTS, REGISTRY
from attnserve.methods.baselines import DEFAULT_MAX_FORWARD_PASSES, check_budget
from attnserve.probe import ProbeSettings
from attnserve.request import ExplainRequest, parse_options, parse_request
from attnserve.text import EncodedText, collate, encode_text

log = logging.getLogger(__name__)

Outcome = dict | AttnserveError


@dataclass
class BatchReport:
    """One batch's answers, plus what operators measure about it (the handler turns it into metrics)."""

    outcomes: list[Outcome | None]  # one per request, in order; None only while the batch runs
    requests: list[ExplainRequest | None]  # the validated request, None where it was rejected
    timings_s: dict[str, float] = field(default_factory=dict)  # preprocess, forward, backward, methods
    method_s: dict[str, float] = field(default_factory=dict)  # compute time of each method over the batch
    batch_size: int = 0  # requests that shared the forward pass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str


class TextExplainer:
    """Holds a loaded classifier and answers batches of raw request bodies.

    ``method_options`` overrides ``OPTION_DEFAULTS`` for requests that leave an option out, and
    ``max_forward_passes`` bounds what one request's baselines may cost (``baselines.forward_passes``);
    beyond it the request gets a 400 naming the option to lower.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        info: ModelInfo,
        max_length: int,
        default_methods: Sequence[str],
        method_options: Mapping[str, Mapping[str, int]] | None = None,
        max_forward_passes: int | None = None,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.info = info
        self.max_length = max_length
        self.default_methods = tuple(default_methods)
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.device = next(model.parameters()).device
        try:
            configured = parse_options(method_options, "method_options", list(OPTION_DEFAULTS))
        except InvalidInput as error:
            raise ValueError(f"{error.field}: {error.message}") from None
        self.option_defaults = {name: {**OPTION_DEFAULTS[name], **configured.get(name, {})} for name in OPTION_DEFAULTS}
        self.max_forward_passes = DEFAULT_MAX_FORWARD_PASSES if max_forward_passes is None else max_forward_passes
        if not isinstance(self.max_forward_passes, int) or self.max_forward_passes < 1:
            raise ValueError(f"max_forward_passes must be a positive integer, got {max_forward_passes!r}")

    def explain(self, bodies: Sequence[tuple[object, str | None]]) -> list[Outcome]:
        return self.explain_batch(bodies).outcomes

    def explain_batch(self, bodies: Sequence[tuple[object, str | None]]) -> BatchReport:
        """``bodies``: (body, content type) per request, as the server decoded them; a body that is
        already an ``AttnserveError`` (the transport could not even find one) is answered as is."""
        start = time.perf_counter()
        report = BatchReport(outcomes=[None] * len(bodies), requests=[None] * len(bodies))
        accepted: list[tuple[int, ExplainRequest, EncodedText]] = []
        for slot, (body, content_type) in enumerate(bodies):
            if isinstance(body, AttnserveError):
                report.outcomes[slot] = body
                continue
            try:
                request = parse_request(body, content_type, self.labels, self.default_methods)
                encoded = encode_text(self.tokenizer, request.text, self.max_length)
                request = self._resolve_options(request, len(encoded.ids))
                accepted.append((slot, request, encoded))
                report.requests[slot] = request
            except AttnserveError as error:
                report.outcomes[slot] = error
        if accepted:
            report.timings_s["preprocess"] = time.perf_counter() - start
            try:
                self._run(accepted, report)
            except Exception:  # one failed pass must not kill the worker; the batch gets 500s
                log.exception("explanation pass failed for a batch of %d", len(accepted))
                for slot, _, _ in accepted:
                    report.outcomes[slot] = AttnserveError("internal error while explaining; see server log")
        return report

    def _resolve_options(self, request: ExplainRequest, n: int) -> ExplainRequest:
        """The request with every option of the baselines it runs filled in, within the budget."""
        options = {
            name: {**self.option_defaults[name], **request.options.get(name, {})}
            for name in request.methods
            if name in OPTION_DEFAULTS
        }
        check_budget(options, n, self.max_forward_passes)
        return replace(request, options=options)

    def _run(self, accepted: list[tuple[int, ExplainRequest, EncodedText]], report: BatchReport) -> None:
        requests = [request for _, request, _ in accepted]
        inputs, players = collate(self.tokenizer, [encoded for _, _, encoded in accepted])
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        needs = {need for request in requests for name in request.methods for need in REGISTRY[name].needs}
        probe = ProbeSettings(self.tokenizer.mask_token_id, tuple(request.options for request in requests))
        result = capture(self.model, inputs, players.to(self.device), needs, [r.target for r in requests], probe)
        report.timings_s.update(result.timings_s)
        scores = {}
        for name in dict.fromkeys(name for request in requests for name in request.methods):
            start = time.perf_counter()
            scores[name] = REGISTRY[name].fn(result).cpu()
            report.method_s[name] = time.perf_counter() - start
        report.timings_s["methods"] = sum(report.method_s.values())
        probabilities = result.logits.softmax(-1).cpu()
        for row, (slot, request, encoded) in enumerate(accepted):
            report.outcomes[slot] = self._response(
                row, request, encoded, result, probabilities, scores, report.timings_s, len(accepted)
            )
        report.batch_size = len(accepted)

    def _response(
        self,
        row: int,
        request: ExplainRequest,
        encoded: EncodedText,
        result: Capture,
        probabilities: torch.Tensor,
        scores: dict[str, torch.Tensor],
        timings: dict[str, float],
        batch_size: int,
    ) -> dict:
        n = len(encoded.ids)
        attributions = {}
        for name in request.methods:
            per_token = scores[name][row, 1 : n + 1].double()
            attributions[name] = {
                "tokens": per_token.tolist(),
                "words": encoded.word_sums(per_token).tolist(),
            }
        return {
            "model": {"name": self.info.name, "version": self.info.version},
            "label": self.labels[int(probabilities[row].argmax())],
            "target": self.labels[int(result.targets[row])],
            "probabilities": {label: float(p) for label, p in zip(self.labels, probabilities[row], strict=True)},
            "tokens": [token.to_dict() for token in encoded.tokens],
            "words": [word.to_dict() for word in encoded.words],
            "truncated": encoded.truncated,
            "attributions": attributions,
            "batch_size": batch_size,
            "timings_s": timings,
        }
