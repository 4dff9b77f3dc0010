"""A model whose right explanation is known (used only by tests): its output depends on one token only,
so ranking that token first must reach the most a faithfulness metric allows."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from tests.conftest import LABELS

FILLER = "the film runs long and the cast walks through scenes while the score hums along quietly"
WORD = "great"  # the token the model reads


class OneTokenModel(nn.Module):
    """Positive, with probability σ(40) ≈ 1, exactly when ``token`` is present; negative otherwise."""

    def __init__(self, token: int) -> None:
        super().__init__()
        self.token = token
        self.scale = nn.Parameter(torch.tensor(20.0), requires_grad=False)
        self.config = SimpleNamespace(id2label=dict(enumerate(LABELS)), num_labels=len(LABELS))

    def forward(self, input_ids, **_inputs) -> SimpleNamespace:
        sign = (input_ids == self.token).any(-1).float() * 2 - 1
        return SimpleNamespace(logits=torch.stack([-sign, sign], -1) * self.scale)


def texts() -> list[str]:
    """The filler with ``WORD`` put in at 8 different places (18 tokens each)."""
    words = FILLER.split()
    return [" ".join([*words[:cut], WORD, *words[cut:]]) for cut in range(0, 16, 2)]
