"""A self-test of an explainer on a model it has never seen: what packaging a user's model runs before it
writes anything, so that a model the engine cannot explain faithfully is refused, not served.

Three checks, on a sample input of the model's modality:
1. every method the explainer serves answers with finite scores aligned with the players it reports;
2. batched = unbatched: two inputs explained together get the scores they get alone (padding and
   batching change nothing);
3. the attention-Shapley closed forms equal the Shapley values computed by enumerating every coalition
   of the first few players, on the model's own mean attention matrix (the games' definitions, arXiv
   2508.08966 §2.2, written out here independently of the closed forms).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations

import torch
from torch import Tensor

from attnserve.capture import ATTN, capture
from attnserve.explain import Explainer
from attnserve.methods import METHOD_NAMES
from attnserve.methods.shapley import cls_game, max_mutual_game, mutual_game

# Cheap settings of the perturbation baselines: the test checks that they run and align, not how well.
CHEAP_OPTIONS = {
    "integrated_gradients": {"steps": 8},
    "kernel_shap": {"samples": 64},
    "shapley_sampling": {"permutations": 2},
}
ENUMERATED_PLAYERS = 6  # 2^6 coalitions per player and game
TOLERANCE = 1e-4


class SelfTestError(RuntimeError):
    """The model failed a check; the message names what failed."""


def served_methods(explainer: Explainer) -> list[str]:
    """Every method the explainer would run for a request: all but those it refuses (another modality's,
    or one needing an artefact the model lacks)."""
    return [name for name in METHOD_NAMES if name not in explainer.refused]


class _Failures(logging.Handler):
    """The exceptions the explainer logs: a served error says only "see server log", the test says why."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.found.append(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")


def run(explainer: Explainer, bodies: Sequence[Mapping]) -> list[dict]:
    """Each body explained with every served method, in one batch; a refusal or error fails the test."""
    methods = served_methods(explainer)
    options = {k: v for k, v in CHEAP_OPTIONS.items() if k in methods}
    extra = {"options": options} if options else {}  # image requests take no options: no baselines there
    requests = [({**body, "methods": methods, **extra}, "application/json") for body in bodies]
    failures, logger = _Failures(), logging.getLogger("attnserve")
    logger.addHandler(failures)
    try:
        outcomes = explainer.explain_batch(requests).outcomes
    finally:
        logger.removeHandler(failures)
    for outcome in outcomes:
        if not isinstance(outcome, dict):
            raise SelfTestError(failures.found[-1] if failures.found else outcome.message)
    return outcomes


def check_finite_and_aligned(outcome: dict) -> None:
    players = len(outcome["tokens"]) if "tokens" in outcome else math.prod(outcome["patches"]["grid"])
    for name, scores in outcome["attributions"].items():
        for unit, values in scores.items():
            expected = len(outcome["words"]) if unit == "words" else players
            if len(values) != expected:
                raise SelfTestError(f"{name} gave {len(values)} {unit} scores for {expected} {unit}")
            if not all(math.isfinite(v) for v in values):
                raise SelfTestError(f"{name} gave non-finite {unit} scores")


def check_batched_equals_unbatched(explainer: Explainer, bodies: Sequence[Mapping]) -> None:
    together = run(explainer, bodies)
    for body, batched in zip(bodies, together, strict=True):
        (alone,) = run(explainer, [body])
        for name, scores in alone["attributions"].items():
            for unit, values in scores.items():
                gap = max(
                    (abs(a - b) for a, b in zip(values, batched["attributions"][name][unit], strict=True)), default=0
                )
                if gap > TOLERANCE * max(1.0, max(map(abs, values), default=0)):
                    raise SelfTestError(f"{name} changes by {gap:.2e} when its input shares a batch (padding leaks)")


def shapley_by_enumeration(n: int, value: Callable[[frozenset[int]], float]) -> list[float]:
    phi = [0.0] * n
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for coalition in combinations(others, size):
                phi[i] += weight * (value(frozenset(coalition) | {i}) - value(frozenset(coalition)))
    return phi


def games(m: Tensor, index: list[int]) -> dict[str, Callable[[frozenset[int]], float]]:
    """The three games on matrix ``m`` over the players at positions ``index``, from their definitions."""

    def pairwise(pair: Callable[[float, float], float]) -> Callable[[frozenset[int]], float]:
        def value(s: frozenset[int]) -> float:
            members = [index[k] for k in sorted(s)]
            if len(members) == 1:
                return float(m[members[0], members[0]])
            return sum(pair(float(m[i, j]), float(m[j, i])) for i, j in combinations(members, 2))

        return value

    return {
        "shapley_cls": lambda s: sum(float(m[0, index[k]]) for k in s),
        "shapley_mutual": pairwise(lambda a, b: a + b),
        "shapley_max_mutual": pairwise(max),
    }


def check_closed_forms(explainer: Explainer, body: Mapping) -> None:
    """The closed forms on the model's own attention, restricted to its first few players, against
    enumeration of every coalition of those players."""
    encoded = explainer.encode(explainer.parse(dict(body), None))
    batch = explainer.collate([encoded])
    found = capture(explainer.model, batch.inputs, batch.players, {ATTN})
    m = found.attn[0].double().cpu()
    positions = batch.players[0].nonzero().flatten().tolist()[:ENUMERATED_PLAYERS]
    players = torch.zeros_like(batch.players[:1], device="cpu")
    players[0, positions] = True
    closed = {"shapley_cls": cls_game, "shapley_mutual": mutual_game, "shapley_max_mutual": max_mutual_game}
    for name, value in games(m, positions).items():
        exact = shapley_by_enumeration(len(positions), value)
        fast = closed[name](m[None], players)[0, positions].tolist()
        gap = max(abs(a - b) for a, b in zip(exact, fast, strict=True))
        if gap > 1e-9:
            raise SelfTestError(f"{name}'s closed form is {gap:.2e} off enumeration on this model's attention")


def self_test(explainer: Explainer, bodies: Sequence[Mapping]) -> None:
    """Raise SelfTestError naming the first failed check; ``bodies`` are two request bodies of the model's
    modality, the first short enough for its players to be enumerated."""
    for outcome in run(explainer, bodies):
        check_finite_and_aligned(outcome)
    check_batched_equals_unbatched(explainer, bodies)
    check_closed_forms(explainer, bodies[0])
