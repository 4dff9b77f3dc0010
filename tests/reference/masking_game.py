"""The [MASK] game of the baselines and the faithfulness protocol, written from its definition (used
only by tests): v(S) = softmax probability of the target class when the tokens outside S are [MASK]."""

from __future__ import annotations

import torch
from torch import nn

from tests.reference.shapley_bruteforce import Game


def masking_game(model: nn.Module, ids: list[int], special: tuple[int, int, int], target: int) -> Game:
    """ids: the player tokens; special: ([CLS], [SEP], [MASK]) ids."""
    cls_id, sep_id, mask_id = special

    def v(coalition: frozenset[int]) -> float:
        row = [cls_id, *(token if i in coalition else mask_id for i, token in enumerate(ids)), sep_id]
        input_ids = torch.tensor([row])
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits
        return float(logits.softmax(-1)[0, target])

    return v
