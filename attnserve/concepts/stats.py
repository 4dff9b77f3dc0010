"""Significance of TCAV scores across the K CAVs of a concept (Kim et al. 2018, arXiv 1711.11279 §3.2;
arXiv 2508.08966 §3).

A single CAV's score can be high by chance, so each concept has K CAVs, one per resampled counterpart
set, and its scores are tested as a sample:
- against 0.5 with a one-sample t-test: the paper's null for relative CAVs, where either direction
  is equally likely when the concept does not matter;
- against the scores of random-vs-random CAVs with Welch's two-sample t-test: the original TCAV null,
  valid for concept-vs-random CAVs too.
Spreads are sample standard deviations (ddof 1). With (near) zero spread a t statistic is undefined,
so the p-value is NaN (the authors' code does the same below 1e-8).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats
from torch import Tensor

from attnserve.concepts.bank import RANDOM

MIN_STD = 1e-8


@dataclass(frozen=True)
class Significance:
    """Per layer (or whatever leading dims the scores had) summary of one concept's K scores."""

    mean: np.ndarray
    std: np.ndarray
    p_vs_half: np.ndarray
    p_vs_random: np.ndarray | None  # None when no random scores were given

    def to_dict(self) -> dict[str, list[float | None]]:
        fields = {"mean": self.mean, "std": self.std, "p_vs_half": self.p_vs_half, "p_vs_random": self.p_vs_random}
        return {k: [None if np.isnan(x) else float(x) for x in np.ravel(v)] for k, v in fields.items() if v is not None}


def significance(scores: np.ndarray | Tensor, random_scores: np.ndarray | Tensor | None = None) -> Significance:
    """scores [..., K] of one concept (K ≥ 2), random_scores [..., R] -> tests along the last axis."""
    x = _array(scores)
    std = x.std(-1, ddof=1)
    with warnings.catch_warnings():  # flat samples warn about precision loss; their p-values become NaN below
        warnings.simplefilter("ignore", RuntimeWarning)
        p_half = np.where(std < MIN_STD, np.nan, stats.ttest_1samp(x, 0.5, axis=-1).pvalue)
        p_random = None
        if random_scores is not None:
            r = _array(random_scores)
            flat = np.maximum(std, r.std(-1, ddof=1)) < MIN_STD
            p_random = np.where(flat, np.nan, stats.ttest_ind(x, r, axis=-1, equal_var=False).pvalue)
    return Significance(mean=x.mean(-1), std=std, p_vs_half=p_half, p_vs_random=p_random)


def by_concept(scores: Tensor, owners: list[tuple[str, int]]) -> dict[str, Significance]:
    """scores [..., K] whose columns are ``owners`` (as from ``CavBank.stacked``) -> one summary per
    concept; columns owned by the random set, when present, are every concept's two-sample null."""
    columns: dict[str, list[int]] = {}
    for column, (name, _) in enumerate(owners):
        columns.setdefault(name, []).append(column)
    null = scores[..., columns.pop(RANDOM)] if RANDOM in columns else None
    return {name: significance(scores[..., idx], null) for name, idx in columns.items()}


def _array(values: np.ndarray | Tensor) -> np.ndarray:
    return values.detach().cpu().double().numpy() if isinstance(values, Tensor) else np.asarray(values, np.float64)
