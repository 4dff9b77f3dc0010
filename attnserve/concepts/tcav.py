"""Attention-weighted TCAV (arXiv 2508.08966 §3).

For a layer l, target class k and unit CAV v (all pure tensor maths; the caller's pass supplies g and a):
- g_t = ∂ f_k(x) / ∂ h_t^l: gradient of the target logit at token t of the residual stream after block l;
- d_t = g_t · v: the token's directional derivative along the concept;
- a_t: the [CLS] row of block l's attention, mean over heads (a_0, [CLS] to itself, included);
- d̃ = d · ‖a‖ / (‖d‖ + ε): d rescaled to the norm of a. The authors' code has ``‖a‖/‖d‖ + ε``; the ε
  is meant to guard the division, so it sits in the denominator here;
- s_t = a_t · d̃_t, the per-token contribution drawn as a heatmap;
- S(x) = mean of s_t over the valid tokens, the input's sensitivity; TCAV score = share of inputs with S > 0.

Norms and the mean run over ``mask`` only. The paper averages over every token of the image, [CLS]
included; for text pass the real tokens ([CLS], words, [SEP]) so padding never counts. a ≥ 0 and the
rescale factor is positive, so sign(S) = sign(Σ_t a_t d_t): the rescale shapes heatmaps, not scores.

Shapes: leading dims ``...`` are free (typically layers L), so one call serves every layer and every
CAV at once: grads [..., B, T, D], cls_attn [..., B, T], mask [B, T], cavs [..., K, D].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

EPS = 1e-8


@dataclass(frozen=True)
class Sensitivity:
    derivative: Tensor  # d [..., B, T, K]
    tokens: Tensor  # s [..., B, T, K], zero outside mask
    score: Tensor  # S [..., B, K]


def directional_derivatives(grads: Tensor, cavs: Tensor) -> Tensor:
    """grads [..., B, T, D], cavs [..., K, D] -> d [..., B, T, K]."""
    return torch.einsum("...btd,...kd->...btk", grads, cavs.to(grads.dtype))


def attention_weighted(derivative: Tensor, cls_attn: Tensor, mask: Tensor, eps: float = EPS) -> Sensitivity:
    """derivative [..., B, T, K], cls_attn [..., B, T], mask [B, T] bool -> s and S (see module docstring)."""
    valid = mask.to(derivative.dtype)[..., None]  # [B, T, 1]
    d = derivative * valid
    a = (cls_attn.to(derivative.dtype) * valid[..., 0])[..., None]  # [..., B, T, 1]
    scale = a.norm(dim=-2, keepdim=True) / (d.norm(dim=-2, keepdim=True) + eps)  # [..., B, 1, K]
    tokens = a * d * scale
    score = tokens.sum(-2) / valid.sum(-2).clamp(min=1)
    return Sensitivity(derivative=d, tokens=tokens, score=score)


def sensitivity(grads: Tensor, cls_attn: Tensor, mask: Tensor, cavs: Tensor, eps: float = EPS) -> Sensitivity:
    """Both steps at once: gradients and attention of the captured layers against every CAV."""
    return attention_weighted(directional_derivatives(grads, cavs), cls_attn, mask, eps)


def tcav_scores(score: Tensor) -> Tensor:
    """S [..., N, K] over N inputs of one target class -> TCAV score per CAV [..., K], in [0, 1]."""
    return (score > 0).to(torch.float32).mean(-2)
