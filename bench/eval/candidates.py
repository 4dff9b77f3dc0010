"""What the harness ranks tokens with: every served method (through the same ``TextExplainer.explain``
call a server makes, batch size 1), a seeded random ranking, and shap's Partition explainer as an
external reference where shap is installed."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from attnserve.explain import Explainer
from attnserve.methods import REGISTRY
from attnserve.methods.registry import ATTRIBUTIONS
from bench.eval.models import EvalModel, ImageEvalModel

Subject = EvalModel | ImageEvalModel

RANDOM = "random"
PARTITION = "shap_partition"
SCORED = tuple(name for name, m in REGISTRY.items() if m.output == ATTRIBUTIONS)  # per-token methods
NAMES = (*SCORED, RANDOM, PARTITION)  # what ``--methods`` may name


@dataclass(frozen=True)
class Candidate:
    name: str
    signed: bool
    timed: bool  # False for the random ranking: a reference point, not a method with a cost
    explain: Callable[[str, int], Tensor]  # (text, its index in the run) -> one score per token


def served(subject: Subject, explainer: Explainer, name: str, options: dict[str, dict[str, int]]) -> Candidate:
    body = {"methods": [name]} | ({"options": {name: options[name]}} if name in options else {})

    def explain(text: str, _index: int) -> Tensor:
        (response,) = explainer.explain([(body | subject.body(text), None)])
        return torch.tensor(response["attributions"][name][subject.scores_field])

    return Candidate(name, REGISTRY[name].signed, True, explain)


def random_ranking(subject: Subject, seed: int) -> Candidate:
    def explain(text: str, index: int) -> Tensor:
        return torch.rand(subject.n_tokens(text), generator=torch.Generator().manual_seed(seed + index))

    return Candidate(RANDOM, False, False, explain)


def contiguous_tree(n: int) -> np.ndarray:
    """A balanced hierarchy of adjacent token spans, in scipy linkage form [(left, right, height, size)]."""
    nodes = [(i, 1) for i in range(n)]
    links: list[list[float]] = []
    while len(nodes) > 1:
        merged = []
        for (left, left_size), (right, right_size) in zip(nodes[::2], nodes[1::2], strict=False):
            links.append([left, right, len(links) + 1, left_size + right_size])
            merged.append((n + len(links) - 1, left_size + right_size))
        nodes = merged + nodes[len(nodes) - len(nodes) % 2 :]
    return np.array(links, dtype=float).reshape(-1, 4)


def shap_partition(subject: EvalModel, max_evals: int) -> Candidate | None:
    """shap's Partition explainer (Owen values over ``contiguous_tree``) on the same [MASK] game as the
    served baselines. shap's Text masker is not used: it re-tokenises strings with "[MASK]" pasted in,
    so masked word pieces would no longer line up with the model's tokens. None without shap."""
    try:
        import shap
    except ImportError:
        return None

    def explain(text: str, _index: int) -> Tensor:
        row = subject.row(text)  # timed, like the capture pass of a served method
        n = row.n
        if n == 1:
            return row.masking_gap()

        def game(present: np.ndarray) -> np.ndarray:
            return row.presence_probability(torch.from_numpy(present > 0.5)).numpy()

        masker = shap.maskers.Partition(np.zeros((1, n)), clustering=contiguous_tree(n))
        values = shap.explainers.Partition(game, masker)(np.ones((1, n)), max_evals=max_evals, silent=True).values
        return torch.from_numpy(values[0]).float()

    return Candidate(PARTITION, True, True, explain)


def candidates(
    subject: Subject, explainer: Explainer, options: dict, partition_evals: int, methods: Collection[str] = NAMES
) -> list[Candidate]:
    """Of ``methods``: every registry method the model's explainer serves, the random ranking, and shap
    Partition where it is installed (text models only: for images it would stand for the refused
    perturbation baselines)."""
    runs = [name for name in SCORED if name in methods and name not in explainer.refused]
    chosen = [served(subject, explainer, name, options) for name in runs]
    if RANDOM in methods:
        chosen.append(random_ranking(subject, seed=0))
    partition = (
        shap_partition(subject, partition_evals) if PARTITION in methods and isinstance(subject, EvalModel) else None
    )
    return chosen + ([partition] if partition else [])
