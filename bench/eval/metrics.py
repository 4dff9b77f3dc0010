"""Faithfulness of one ranking of one text's tokens, by masking them with [MASK].

- Paper protocol (attention-Shapley, shared/research/paper1.md §4.3): bins K = {0, 10, 20, 50} %,
  k_tok = ceil(n·k/100) top-ranked tokens (``torch.topk`` order), [MASK] replacement with [CLS]/[SEP]
  kept, p = softmax probability of the class predicted on the full text, divisor |K|+1:
      comp = Σ_k [p(x) − p(x without its top k)] / (|K|+1)        (higher is better)
      suff = Σ_k [p(x) − p(only its top k kept)] / (|K|+1)        (lower is better)
  At k = 0 comprehensiveness masks nothing (its term is 0) and sufficiency masks every token.
- ERASER AOPC (DeYoung et al. 2020): the same two sums over B = {1, 5, 10, 20, 50} %, divisor |B|+1,
  with the same ceil rule, so every bin masks at least one token.

A ranking is by value, highest first: signed scores rank the evidence *for* the predicted class first;
unsigned scores (attention) rank importance whatever its direction.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from attnserve.probe import Row

PAPER_BINS = (0, 10, 20, 50)
AOPC_BINS = (1, 5, 10, 20, 50)
METRICS = ("comp", "suff", "aopc_comp", "aopc_suff")


def top(scores: Tensor, percent: int) -> Tensor:
    """Indices of the ceil(n·percent/100) highest scores."""
    k = math.ceil(scores.numel() * percent / 100)
    return torch.topk(scores, k).indices


def faithfulness(row: Row, scores: Tensor) -> dict[str, float]:
    """scores: [n], one per player of ``row`` -> the four metrics, from one batched forward pass."""
    bins = (*PAPER_BINS, *AOPC_BINS)
    removed = torch.ones(len(bins), row.n, dtype=torch.bool)
    kept = torch.zeros(len(bins), row.n, dtype=torch.bool)
    for i, percent in enumerate(bins):
        chosen = top(scores.float(), percent)
        removed[i, chosen] = False
        kept[i, chosen] = True
    full = torch.ones(1, row.n, dtype=torch.bool)
    probabilities = row.presence_probability(torch.cat([full, removed, kept]).to(row.players.device)).double().cpu()
    drop = probabilities[0] - probabilities[1:]
    comp_drop, suff_drop = drop[: len(bins)], drop[len(bins) :]
    paper, aopc = slice(0, len(PAPER_BINS)), slice(len(PAPER_BINS), len(bins))
    return {
        "comp": float(comp_drop[paper].sum()) / (len(PAPER_BINS) + 1),
        "suff": float(suff_drop[paper].sum()) / (len(PAPER_BINS) + 1),
        "aopc_comp": float(comp_drop[aopc].sum()) / (len(AOPC_BINS) + 1),
        "aopc_suff": float(suff_drop[aopc].sum()) / (len(AOPC_BINS) + 1),
    }
