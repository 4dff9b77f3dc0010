"""Attention-Shapley (arXiv 2508.08966 §2).

Games are defined on a matrix M over the players (tokens without [CLS]/[SEP]/padding); M is either
the attention averaged over all layers and heads, or its Grad-Att weighting A ⊙ ReLU(∂y/∂A) averaged
the same way. Every game has a closed form, O(n²) per input, checked against enumeration of all
coalitions in tests/engine/test_shapley.py.

- CLS game, v(S) = Σ_{i∈S} M[CLS, i]: additive, so φ_i = M[CLS, i].
- Mutual game, v(∅) = 0, v({i}) = M_ii, v(S) = Σ_{i<j∈S} w_ij for |S| ≥ 2, with w_ij = M_ij + M_ji.
  Split v into one game per pair (each partner gets w_ij / 2) and one "alone" game per player
  (M_ii when S = {i} exactly): player i gets M_ii/n from its own, and every other player j loses
  M_ii/(n(n−1)) (joining {i} as its second member). Hence
      φ_i = M_ii/n + ½ Σ_{j≠i} w_ij − Σ_{j≠i} M_jj / (n(n−1)).
- Max-Mutual game: the same with w_ij = max(M_ij, M_ji).

One player (n = 1): the game is v({i}) = M_ii, so φ_i = M_ii; the last term is an empty sum and is
taken as 0 (the paper's code divides by n(n−1) = 0 and returns NaN).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from attnserve.capture import ATTN, ATTN_GRAD
from attnserve.methods.registry import Method


def cls_game(m: Tensor, players: Tensor) -> Tensor:
    """m: [B, T, T], players: [B, T] bool -> φ: [B, T]."""
    return m[:, 0, :] * players


def _pairwise_game(m: Tensor, players: Tensor, w: Tensor) -> Tensor:
    p = players.to(m.dtype)
    n = p.sum(-1, keepdim=True)  # [B, 1]
    diag = torch.diagonal(m, dim1=-2, dim2=-1) * p  # M_ii at players
    w_players = w * p[:, :, None] * p[:, None, :]
    partners = w_players.sum(-1) - torch.diagonal(w_players, dim1=-2, dim2=-1)  # Σ_{j≠i} w_ij
    others_alone = diag.sum(-1, keepdim=True) - diag  # Σ_{j≠i} M_jj
    alone_share = diag / n.clamp(min=1)
    lost_share = others_alone / (n * (n - 1)).clamp(min=1)
    return (alone_share + 0.5 * partners - lost_share) * p


def mutual_game(m: Tensor, players: Tensor) -> Tensor:
    """m: [B, T, T], players: [B, T] bool -> φ: [B, T]; pair weight M_ij + M_ji."""
    return _pairwise_game(m, players, m + m.transpose(-1, -2))


def max_mutual_game(m: Tensor, players: Tensor) -> Tensor:
    """m: [B, T, T], players: [B, T] bool -> φ: [B, T]; pair weight max(M_ij, M_ji)."""
    return _pairwise_game(m, players, torch.maximum(m, m.transpose(-1, -2)))


def _method(name: str, need: str, game: Callable[[Tensor, Tensor], Tensor], summary: str) -> Method:
    return Method(name, frozenset({need}), lambda c, _context: game(getattr(c, need), c.players), False, summary)


_SOURCES = (("", ATTN, "mean attention"), ("grad_", ATTN_GRAD, "Grad-Att weights A ⊙ ReLU(∂y/∂A)"))
_GAMES = (
    ("cls", cls_game, "CLS game: the [CLS]-row weight of each token"),
    ("mutual", mutual_game, "Mutual game: pair value M_ij + M_ji"),
    ("max_mutual", max_mutual_game, "Max-Mutual game: pair value max(M_ij, M_ji)"),
)
METHODS = [
    _method(f"{prefix}shapley_{game_name}", need, game, f"{summary}, on {source}")
    for prefix, need, source in _SOURCES
    for game_name, game, summary in _GAMES
]
