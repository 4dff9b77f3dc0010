"""Full-matrix relevance accumulation, straight from the papers' recurrences (used only by tests)."""

from __future__ import annotations

import torch
from torch import Tensor


def rollout_full(attn_layers: Tensor) -> Tensor:
    """attn_layers: [L, B, T, T] head means. Ã_1 = Â_1, Ã_l = Â_l·Ã_{l-1}; returns all rows [B, T, T]."""
    eye = torch.eye(attn_layers.shape[-1], dtype=attn_layers.dtype)
    result = eye.expand_as(attn_layers[0]).clone()
    for a in attn_layers:
        result = (0.5 * a + 0.5 * eye) @ result
    return result


def accumulate_full(maps: Tensor) -> Tensor:
    """Chefer rule 6 from R = I: R ← R + Ā_l·R, layer by layer bottom-up; returns R [B, T, T]."""
    eye = torch.eye(maps.shape[-1], dtype=maps.dtype)
    relevance = eye.expand_as(maps[0]).clone()
    for a in maps:
        relevance = relevance + a @ relevance
    return relevance
