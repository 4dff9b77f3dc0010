"""The method record: everything the engine, the request parser, the budget, the metrics and the
evaluation harness know about a method, in one place. A method's name is its registry key, JSON key,
proto map key, SDK argument, metrics label and test id alike.

Adding a method is one ``Method`` in one module of this package (listed in ``attnserve.methods``),
plus its tests: nothing else in the engine knows methods by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from attnserve.capture import Capture
from attnserve.concepts.online import BatchConcepts

TEXT, IMAGE = "text", "image"
ATTRIBUTIONS, CONCEPTS = "attributions", "concepts"  # where a method's answer goes in a response
AMORTIZER, BANK = "amortizer", "bank"  # per-model resources a method may require

Options = Mapping[str, Mapping[str, int]]  # method name -> its options, e.g. {"kernel_shap": {"samples": 200}}


@dataclass(frozen=True)
class Option:
    """A positive integer a request may set; ``maximum`` is its hard cap (the request budget caps the
    sum of every baseline's cost on top)."""

    name: str
    default: int
    maximum: int
    summary: str


@dataclass(frozen=True)
class Context:
    """What a method reads besides the pass's tensors: the model and its per-model resources, and the
    batch's per-request settings. Built by the explainer for each batch."""

    model: nn.Module
    inputs: dict[str, Tensor]  # the padded batch as the pass ran it, [B, T] each
    real: Tensor  # [B, T] bool: every token that is not padding
    options: tuple[Options, ...]  # per row: the methods that row runs that take options, resolved
    mask_token_id: int | None = None  # text: what a perturbation puts in place of an absent token
    amortizer: nn.Module | None = None  # the model's learned explainer (``attnserve.methods.amortized``)
    # The batch's inputs with the players a [B, T] bool mask names made absent, as the masking game does
    # ([MASK] tokens, black patches): for a method that runs the model again on part of its input.
    without: Callable[[Tensor], dict[str, Tensor]] | None = None
    concepts: BatchConcepts | None = None  # the CAVs of the concepts the batch asked for


@dataclass(frozen=True)
class Method:
    """A function of the shared capture and the batch's context, plus what it needs and costs.

    ``fn`` returns, for ``output`` == ATTRIBUTIONS, [B, T] scores, zero outside ``capture.players``
    (``signed``: whether the sign carries meaning, evidence for / against the target, or the scores are
    unsigned importances); for CONCEPTS, what ``BatchConcepts.response`` folds per concept and layer.
    ``needs``: what the capture pass must collect for it. ``cost(options, n)``: forward passes over one
    input of n players beyond the shared pass (None: nothing beyond it). ``requires``: the per-model
    resource without which a model refuses it (AMORTIZER, BANK).
    """

    name: str
    needs: frozenset[str]
    fn: Callable[[Capture, Context], object]
    signed: bool
    summary: str
    modalities: frozenset[str] = frozenset({TEXT, IMAGE})
    options: tuple[Option, ...] = ()
    cost: Callable[[Mapping[str, int], int], int] | None = None
    output: str = ATTRIBUTIONS
    requires: str | None = None

    @property
    def option_defaults(self) -> dict[str, int]:
        return {option.name: option.default for option in self.options}

    def option(self, name: str) -> Option | None:
        return next((option for option in self.options if option.name == name), None)


def build_registry(*groups: list[Method]) -> dict[str, Method]:
    registry: dict[str, Method] = {}
    for method in (m for group in groups for m in group):
        if method.name in registry:
            raise ValueError(f"method {method.name!r} registered twice")
        if method.cost is None and method.options:
            raise ValueError(f"method {method.name!r} takes options but declares no cost")
        registry[method.name] = method
    return registry
