"""Slow, definition-level Shapley values, used only to check the closed forms.

φ_i = Σ_{S ⊆ N\\{i}} |S|! (n−|S|−1)! / n! · (v(S ∪ {i}) − v(S)), by enumerating every coalition.
The games are written straight from their definitions (arXiv 2508.08966 §2.2), not from the
closed forms they check.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import factorial

import numpy as np

Game = Callable[[frozenset[int]], float]


def shapley_values(n: int, v: Game) -> np.ndarray:
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = factorial(size) * factorial(n - size - 1) / factorial(n)
            for coalition in combinations(others, size):
                s = frozenset(coalition)
                phi[i] += weight * (v(s | {i}) - v(s))
    return phi


def cls_game(m: np.ndarray) -> Game:
    """m: player block with the [CLS] row prepended at index 0 of the full matrix; players 1..n."""
    return lambda s: sum(m[0, i + 1] for i in s)


def pairwise_game(m: np.ndarray, pair: Callable[[float, float], float]) -> Game:
    def v(s: frozenset[int]) -> float:
        members = sorted(s)
        if len(members) == 1:
            i = members[0] + 1
            return m[i, i]
        return sum(pair(m[i + 1, j + 1], m[j + 1, i + 1]) for i, j in combinations(members, 2))

    return v


def mutual_game(m: np.ndarray) -> Game:
    return pairwise_game(m, lambda a, b: a + b)


def max_mutual_game(m: np.ndarray) -> Game:
    return pairwise_game(m, max)
