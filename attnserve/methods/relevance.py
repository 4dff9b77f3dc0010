"""Relevance accumulation over layers, read out at the [CLS] row (rollout: Abnar & Zuidema, arXiv
2005.00928; gradient relevancy: Chefer et al., arXiv 2103.15679; value-weighted: after arXiv 2308.10240).

All three share one recurrence, computed top-down as a row vector (v ← v·X_l from the last layer to
the first, O(L·T²)) instead of as the full T×T product (O(L·T³)); tests/engine/test_relevance.py
checks each against the full-matrix form.

- ``rollout`` (Abnar & Zuidema 2020): Â_l = ½·mean_h A_l + ½·I; R = Â_L ⋯ Â_1; scores = R[CLS].
- ``gae`` (Chefer et al. 2021, rule 5–6): Ā_l = mean_h (∇A_l ⊙ A_l)⁺, R ← R + Ā_l·R from R = I,
  i.e. R = (I + Ā_L) ⋯ (I + Ā_1); scores = R[CLS].
- ``weighted_relevance`` (after arXiv 2308.10240): the paper's exact rule could not be recovered (the
  digest §3.2), so this follows its stated idea, that gae accumulates every token's relevance with
  equal weight although "the importance of token values is usually different". An attention edge i←j
  moves the value vector v_j into token i, so what it carries is ‖A_ij · v_j W_O‖, not A_ij alone
  (Kobayashi et al. 2020). Each edge of gae's map is weighted by that norm, per head:
      Ā^w_l[i, j] = mean_h (∇A ⊙ A)⁺_{h,ij} · ‖v_j^h W_O^h‖ / mean_k ‖v_k^h W_O^h‖,
  normalised to mean 1 over the real tokens so that the residual term (I) and the mixing term keep
  gae's relative scale; R = (I + Ā^w_L) ⋯ (I + Ā^w_1). Whether it beats gae is measured by the
  evaluation harness, not assumed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnserve.capture import ATTN_GRAD_LAYERS, ATTN_LAYERS, VALUE_GRAD_LAYERS, Capture
from attnserve.methods.registry import Context, Method


def cls_row_product(layers: Tensor, players: Tensor, residual: float, mixing: float) -> Tensor:
    """Row 0 of ∏_l (residual·I + mixing·X_l), last layer leftmost. layers: [L, B, T, T] -> [B, T]."""
    row = torch.zeros(layers.shape[1:3], dtype=layers.dtype, device=layers.device)  # [B, T]
    row[:, 0] = 1.0
    for x in layers.flip(0):
        row = residual * row + mixing * torch.einsum("bi,bij->bj", row, x)
    return row * players


def rollout(c: Capture, _context: Context) -> Tensor:
    return cls_row_product(c.attn_layers, c.players, residual=0.5, mixing=0.5)


def gae(c: Capture, _context: Context) -> Tensor:
    return cls_row_product(c.attn_grad_layers, c.players, residual=1.0, mixing=1.0)


def weighted_relevance(c: Capture, _context: Context) -> Tensor:
    return cls_row_product(c.value_grad_layers, c.players, residual=1.0, mixing=1.0)


METHODS = [
    Method("rollout", frozenset({ATTN_LAYERS}), rollout, False, "attention rollout (Abnar & Zuidema 2020)"),
    Method("gae", frozenset({ATTN_GRAD_LAYERS}), gae, False, "gradient-weighted relevance (Chefer et al. 2021)"),
    Method(
        "weighted_relevance",
        frozenset({VALUE_GRAD_LAYERS}),
        weighted_relevance,
        False,
        "gae with each attention edge weighted by the norm of the value it carries (after arXiv 2308.10240)",
    ),
]
