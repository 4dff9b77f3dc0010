"""Faithfulness of one ranking of one input's players, scored on its masking game (``attnserve.game.Game``):
the harness ranks every method with it and the archive build validates its learned explainer with it,
so both measure by one definition.

- Paper protocol (attention-Shapley, arXiv 2508.08966 §4.3): bins K = {0, 10, 20, 50} %,
  k_tok = ceil(n·k/100) top-ranked tokens (``torch.topk`` order), [MASK] replacement with [CLS]/[SEP]
  kept, p = softmax probability of the class predicted on the full text, divisor |K|+1:
      comp = Σ_k [p(x) − p(x without its top k)] / (|K|+1)        (higher is better)
      suff = Σ_k [p(x) − p(only its top k kept)] / (|K|+1)        (lower is better)
  At k = 0 comprehensiveness masks nothing (its term is 0) and sufficiency masks every token.
- ERASER AOPC (DeYoung et al. 2020): the same two sums over B = {1, 5, 10, 20, 50} %, divisor |B|+1,
  with the same ceil rule, so every bin masks at least one token.
- Deletion comprehensiveness ``comp_del``: the paper's comp with the top k word pieces *deleted* (the
  sequence shorter, every other token kept in order) instead of replaced by [MASK], so that a method
  is not rewarded for tracking how this model reacts to [MASK] alone. Image patches cannot be removed
  from the grid, so image rows have no ``comp_del``.

A ranking is by value, highest first: signed scores rank the evidence *for* the predicted class first;
unsigned scores (attention) rank importance whatever its direction.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from attnserve.game import Game
from attnserve.text.game import TextGame

PAPER_BINS = (0, 10, 20, 50)
AOPC_BINS = (1, 5, 10, 20, 50)


def top(scores: Tensor, percent: int) -> Tensor:
    """Indices of the ceil(n·percent/100) highest scores."""
    k = math.ceil(scores.numel() * percent / 100)
    return torch.topk(scores, k).indices


def faithfulness(row: Game, scores: Tensor) -> dict[str, float]:
    """scores: [n], one per player of ``row`` -> the masking metrics from one batched forward pass, and
    ``comp_del`` from a second one where the row is text."""
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
    metrics = {
        "comp": float(comp_drop[paper].sum()) / (len(PAPER_BINS) + 1),
        "suff": float(suff_drop[paper].sum()) / (len(PAPER_BINS) + 1),
        "aopc_comp": float(comp_drop[aopc].sum()) / (len(AOPC_BINS) + 1),
        "aopc_suff": float(suff_drop[aopc].sum()) / (len(AOPC_BINS) + 1),
    }
    if isinstance(row, TextGame):
        metrics["comp_del"] = deletion_comprehensiveness(row, scores)
    return metrics


def deletion_comprehensiveness(row: TextGame, scores: Tensor) -> float:
    """Σ_k [p(x) − p(x with its top k deleted)] / (|K|+1) over PAPER_BINS (higher is better)."""
    probabilities = deleted_probabilities(row, scores, PAPER_BINS)
    return float((probabilities[0] - probabilities[1:]).sum()) / (len(PAPER_BINS) + 1)


def deleted_probabilities(row: TextGame, scores: Tensor, bins: tuple[int, ...]) -> Tensor:
    """[1 + len(bins)] target probabilities (float64, CPU): the full text, then the text with each bin's
    top-ranked players deleted. The shortened sequences are right-padded into one batch; a padded
    position is unseen behind its zero attention mask, so each row scores as it would alone."""
    players = row.players.nonzero().squeeze(-1)
    keeps = [torch.ones_like(row.players)]
    for percent in bins:
        keep = torch.ones_like(row.players)
        keep[players[top(scores.float(), percent).to(players.device)]] = False
        keeps.append(keep)
    pad_id = getattr(row.model.config, "pad_token_id", None) or 0
    batch = {
        key: nn.utils.rnn.pad_sequence(
            [value[0, keep] for keep in keeps], batch_first=True, padding_value=pad_id if key == "input_ids" else 0
        )
        for key, value in row.inputs.items()
    }
    with torch.inference_mode():
        logits = row.model(**batch).logits
    return logits.float().softmax(-1)[:, row.target].double().cpu()
