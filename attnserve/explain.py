"""A batch of requests in, one response (or one error) per request out, whatever the modality.

The batch shares one padded pass (``capture``) sized by the union of what its requests asked for;
each request then gets exactly its own methods. A bad request becomes an error in its own slot and
never touches the others. A modality (text, images) supplies only its codec: how a body becomes a
request and model inputs, and how a row of per-token scores goes back to what its clients see.
"""

from __future__ import annotations

import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from torch import Tensor, nn

from attnserve.capture import Capture, capture
from attnserve.concepts.bank import FILE_NAME as CAVS_FILE
from attnserve.concepts.bank import CavBank, load_cavs
from attnserve.concepts.online import BatchConcepts
from attnserve.errors import AttnserveError, InvalidInput
from attnserve.methods import OPTION_DEFAULTS, REGISTRY
from attnserve.methods.amortized import find_amortizer
from attnserve.methods.registry import AMORTIZER, ATTRIBUTIONS, BANK, CONCEPTS, Context, Options
from attnserve.request import ExplainRequest, parse_options

log = logging.getLogger(__name__)

Outcome = dict | AttnserveError
DEFAULT_METHODS = ("gae",)  # a bundle that names none: relevance accumulation, one backward pass, faithful
DEFAULT_MAX_FORWARD_PASSES = 2000  # per request, over all the methods it runs that cost extra passes
# Why a model without a resource refuses the methods that require it (a 400 on the method's name).
MISSING = {
    AMORTIZER: "this model's archive has no learned explainer, so it cannot run {name}",
    BANK: "this model has no concept vectors (CAVs), so it cannot run {name}",
}
Item = TypeVar("Item")  # one request's encoded input (EncodedText, DecodedImage)


class Busy(AttnserveError):
    """This request's perturbation work does not fit in what its batch has left (the batch must finish
    inside TorchServe's worker timeout): it is refused unrun, and sending it again is the remedy."""

    code = "UNAVAILABLE"


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


@dataclass(frozen=True)
class Batch:
    """Collated model inputs; ``players`` [B, T]: the tokens methods attribute to; ``real`` [B, T]:
    every token that is not padding (what concept sensitivity averages over)."""

    inputs: dict[str, Tensor]
    players: Tensor
    real: Tensor


class Explainer(ABC, Generic[Item]):
    """Holds a loaded classifier and answers batches of raw request bodies.

    ``method_options`` overrides ``OPTION_DEFAULTS`` for requests that leave an option out, and
    ``max_forward_passes`` bounds what one request's methods may cost beyond the shared pass (each
    record's ``cost``); beyond it the request gets a 400 naming the option to lower.
    ``max_batch_forward_passes`` (by default the same number) bounds a whole batch: a request whose
    cost would pass what its batch has left gets a 503 to send it again (``Busy``), so that no batch can
    outrun the worker's timeout, whichever requests it holds. ``bank``: the
    model's CAVs; ``amortizer``: its learned explainer. A method this modality cannot run, or whose
    required resource the model lacks, is refused with the reason (``refused``).
    """

    modality: str  # "text" or "image": which methods run (each record's ``modalities``)

    def __init__(
        self,
        model: nn.Module,
        info: ModelInfo,
        default_methods: Sequence[str],
        method_options: Mapping[str, Mapping[str, int]] | None = None,
        max_forward_passes: int | None = None,
        bank: CavBank | None = None,
        amortizer: nn.Module | None = None,
        max_batch_forward_passes: int | None = None,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.info = info
        self.default_methods = tuple(default_methods)
        self.bank = bank
        self.concepts = tuple(bank.concepts) if bank else ()
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.device = next(model.parameters()).device
        self.amortizer = amortizer.to(self.device) if amortizer is not None else None
        # Methods this model cannot run, with the reason a request naming one is told (request parsing).
        resources = {AMORTIZER: amortizer, BANK: bank}
        self.refused: dict[str, str] = {}
        for name, method in REGISTRY.items():
            if self.modality not in method.modalities:
                runs_on = " and ".join(sorted(method.modalities))
                self.refused[name] = f"{name} is not available for {self.modality} models: it runs on {runs_on} only"
            elif method.requires and resources[method.requires] is None:
                self.refused[name] = MISSING[method.requires].format(name=name)
        try:
            configured = parse_options(method_options, "method_options", list(OPTION_DEFAULTS))
        except InvalidInput as error:
            raise ValueError(f"{error.field}: {error.message}") from None
        self.option_defaults = {name: {**OPTION_DEFAULTS[name], **configured.get(name, {})} for name in OPTION_DEFAULTS}
        self.max_forward_passes = DEFAULT_MAX_FORWARD_PASSES if max_forward_passes is None else max_forward_passes
        if not isinstance(self.max_forward_passes, int) or self.max_forward_passes < 1:
            raise ValueError(f"max_forward_passes must be a positive integer, got {max_forward_passes!r}")
        self.max_batch_forward_passes = max_batch_forward_passes or self.max_forward_passes
        if (
            not isinstance(self.max_batch_forward_passes, int)
            or self.max_batch_forward_passes < self.max_forward_passes
        ):
            raise ValueError(
                f"max_batch_forward_passes must be an integer of at least max_forward_passes "
                f"({self.max_forward_passes}), got {max_batch_forward_passes!r}"
            )

    @classmethod
    @abstractmethod
    def load(cls, model_dir: Path, settings: Mapping[str, Any], info: ModelInfo, device: str) -> Explainer:
        """The checkpoint in ``model_dir`` with eager attention (sdpa returns no attention maps) on
        ``device``, behind this modality's explainer; ``settings``: the bundle's ``handler:`` section."""

    @staticmethod
    def resources(model_dir: Path, model: nn.Module) -> dict[str, Any]:
        """What a model directory may ship beside its checkpoint: ``cavs.pt`` (the concept vectors) and
        ``amortized.pt`` (the learned explainer, checked against ``model``); None where it ships none."""
        bank = load_cavs(model_dir / CAVS_FILE) if (model_dir / CAVS_FILE).is_file() else None
        return {"bank": bank, "amortizer": find_amortizer(model_dir, model)}

    @abstractmethod
    def parse(self, body: object, content_type: str | None) -> Any:
        """A validated request (``methods``, ``target``, ``options``, ``concepts`` and the input)."""

    @abstractmethod
    def encode(self, request: Any) -> Item:
        """The request's input, ready to collate; an unreadable input is an ``InvalidInput``."""

    @abstractmethod
    def players(self, item: Item) -> int:
        """How many tokens the item's attributions cover (what the baselines' budget counts)."""

    @abstractmethod
    def collate(self, items: list[Item]) -> Batch: ...

    @abstractmethod
    def describe(self, item: Item) -> dict[str, Any]:
        """The response keys that say what the attributions are aligned with (tokens and words, patches)."""

    @abstractmethod
    def fold(self, item: Item, row: Tensor) -> dict[str, list[float]]:
        """A row of per-position scores [T] as the response lists them, e.g. {"tokens", "words"}."""

    @abstractmethod
    def without(self, inputs: dict[str, Tensor], absent: Tensor) -> dict[str, Tensor]:
        """The collated ``inputs`` with the players ``absent`` ([B, T] bool) switched off as the masking
        game does: what a method that plays the game on the served batch runs the model on."""

    @property
    def mask_token_id(self) -> int | None:
        """What a perturbation puts in place of an absent token; None for a modality without tokens."""
        return None

    def explain(self, bodies: Sequence[tuple[object, str | None]]) -> list[Outcome]:
        return self.explain_batch(bodies).outcomes

    def explain_batch(self, bodies: Sequence[tuple[object, str | None]]) -> BatchReport:
        """``bodies``: (body, content type) per request, as the server decoded them; a body that is
        already an ``AttnserveError`` (the transport could not even find one) is answered as is."""
        start = time.perf_counter()
        report = BatchReport(outcomes=[None] * len(bodies), requests=[None] * len(bodies))
        accepted: list[tuple[int, Any, Item]] = []
        spent = 0  # the accepted requests' extra forward passes
        for slot, (body, content_type) in enumerate(bodies):
            if isinstance(body, AttnserveError):
                report.outcomes[slot] = body
                continue
            try:
                request = self.parse(body, content_type)
                item = self.encode(request)
                request, cost = self._resolve_options(request, self.players(item))
                if cost and spent + cost > self.max_batch_forward_passes:
                    raise Busy(
                        f"this request's methods cost {cost} forward passes and its batch has "
                        f"{self.max_batch_forward_passes - spent} of its {self.max_batch_forward_passes} left "
                        "(a batch must finish inside the worker's timeout); send it again (the SDK does)"
                    )
                spent += cost
                accepted.append((slot, request, item))
                report.requests[slot] = request
            except AttnserveError as error:
                report.outcomes[slot] = error
            except Exception:  # a bug reading this request: its own 500, never its batch-mates'
                incident = uuid.uuid4().hex[:12]
                log.exception("reading request %d of a batch failed (incident %s)", slot, incident)
                report.outcomes[slot] = AttnserveError(
                    f"internal error while reading this request (incident {incident}); see server log"
                )
        if accepted:
            report.timings_s["preprocess"] = time.perf_counter() - start
            try:
                self._run(accepted, report)
            except Exception:  # one failed pass must not kill the worker; the batch gets 500s
                log.exception("explanation pass failed for a batch of %d", len(accepted))
                for slot, _, _ in accepted:
                    report.outcomes[slot] = AttnserveError("internal error while explaining; see server log")
        return report

    def _resolve_options(self, request: Any, n: int) -> tuple[Any, int]:
        """The request with every option of the methods it runs filled in, and its cost in extra forward
        passes, within the per-request budget."""
        options = {
            name: {**self.option_defaults[name], **request.options.get(name, {})}
            for name in request.methods
            if name in OPTION_DEFAULTS
        }
        cost = check_budget(request.methods, options, n, self.max_forward_passes)
        return replace(request, options=options), cost

    def _run(self, accepted: list[tuple[int, Any, Item]], report: BatchReport) -> None:
        requests = [request for _, request, _ in accepted]
        batch = self.collate([item for _, _, item in accepted])
        inputs = {key: value.to(self.device) for key, value in batch.inputs.items()}
        methods = [REGISTRY[name] for name in dict.fromkeys(n for request in requests for n in request.methods)]
        names = tuple(dict.fromkeys(c for request in requests for c in request.concepts))
        concepts = BatchConcepts(self.bank, names) if names else None
        result = capture(
            self.model,
            inputs,
            batch.players.to(self.device),
            {need for method in methods for need in method.needs},
            [r.target for r in requests],
            concepts.settings() if concepts else None,
        )
        report.timings_s.update(result.timings_s)
        context = Context(
            model=self.model,
            inputs=inputs,
            real=batch.real.to(self.device),
            options=tuple(request.options for request in requests),
            mask_token_id=self.mask_token_id,
            amortizer=self.amortizer,
            without=partial(self.without, inputs),
            concepts=concepts,
        )
        scores = {}
        for method in methods:
            start = time.perf_counter()
            found = method.fn(result, context)
            scores[method.name] = found.cpu() if method.output == ATTRIBUTIONS else found
            report.method_s[method.name] = time.perf_counter() - start
        report.timings_s["methods"] = sum(report.method_s.values())
        probabilities = result.logits.softmax(-1).cpu()
        for row, (slot, request, item) in enumerate(accepted):
            response = self._response(row, request, item, result, probabilities, scores)
            for name in request.methods:
                if REGISTRY[name].output == CONCEPTS:
                    fold = partial(self.fold, item)
                    response[CONCEPTS] = concepts.response(scores[name], row, request.concepts, fold)
            report.outcomes[slot] = {**response, "batch_size": len(accepted), "timings_s": report.timings_s}
        report.batch_size = len(accepted)

    def _response(
        self,
        row: int,
        request: Any,
        item: Item,
        result: Capture,
        probabilities: Tensor,
        scores: dict[str, Tensor],
    ) -> dict:
        kept = [name for name in request.methods if REGISTRY[name].output == ATTRIBUTIONS]
        attributions = {name: self.fold(item, scores[name][row]) for name in kept}
        return {
            "model": {"name": self.info.name, "version": self.info.version},
            "label": self.labels[int(probabilities[row].argmax())],
            "target": self.labels[int(result.targets[row])],
            "probabilities": {label: float(p) for label, p in zip(self.labels, probabilities[row], strict=True)},
            **self.describe(item),
            "attributions": attributions,
        }


def check_budget(methods: Sequence[str], options: Options, n: int, limit: int) -> int:
    """The extra forward passes of a request's methods (each record's ``cost`` on n players); a 400
    naming the dearest method's option when they would exceed ``limit``."""
    costs = {name: REGISTRY[name].cost(options.get(name, {}), n) for name in methods if REGISTRY[name].cost}
    if sum(costs.values()) <= limit:
        return sum(costs.values())
    dearest = max(costs, key=costs.__getitem__)
    spent = ", ".join(f"{name} {cost}" for name, cost in costs.items())
    told = (
        f"this request would cost {sum(costs.values())} forward passes on {n} tokens ({spent}); the budget is {limit}"
    )
    if not REGISTRY[dearest].options:
        raise InvalidInput(f"{told} per request: drop {dearest} or send a shorter text", "methods")
    option = REGISTRY[dearest].options[0].name
    raise InvalidInput(
        f"{told} per request: lower {dearest}'s {option!r} or send a shorter text", f"options.{dearest}.{option}"
    )
