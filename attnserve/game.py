"""What a masking game is, whatever the modality: the contract between a modality's game
(``attnserve.text.game.TextGame``: tokens replaced by [MASK]; ``attnserve.image.game.ImageGame``: patches
filled with black) and the code that plays it (the faithfulness metrics, the Shapley teacher of the
learned explainer, the harness). A new modality supplies one class with these members.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor, nn


class Game(Protocol):
    """One input and the class the model predicts for it; its players are indexed 0..n-1."""

    model: nn.Module
    target: int

    @property
    def n(self) -> int:
        """How many players (tokens, patches) the input has."""

    @property
    def players(self) -> Tensor:
        """[t] bool over the model's positions: which are players (for the device and text deletion)."""

    def presence_probability(self, present: Tensor) -> Tensor:
        """present: [k, n] (bool, or 0/1 floats) -> the target-class probability [k], absent players masked."""
