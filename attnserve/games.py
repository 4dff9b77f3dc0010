"""The masking games an explainer is trained and evaluated on: one input, the class the model predicts
for it as target, and ``presence_probability(present [k, n]) -> [k]``, the target-class probability
with the absent players masked. Text masks tokens with [MASK] (``attnserve.probe.Row``, the same game
the perturbation baselines play); images fill patches with black pixels (``PatchRow``).

They live in the engine so that the archive build, which trains the learned explainer on these games,
and the harness, which scores every method on them, play the same game without importing each other.
Only torch, numpy and the engine's input modules are imported here: a build cache key hashes every
repo module this one pulls in, so no capture or method code may change that key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from attnserve.image import ImageSpec, to_unit
from attnserve.probe import Row
from attnserve.text import collate, encode_text

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class PatchRow:
    """One image and its predicted class; players are the patches in row-major order. An absent patch's
    pixels are set to ``fill`` (the normalised value of a black pixel, [C, 1, 1])."""

    model: nn.Module
    pixels: Tensor  # [1, C, H, W], normalised
    grid: tuple[int, int]
    patch_size: int
    fill: Tensor
    target: int

    @property
    def n(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def players(self) -> Tensor:
        return torch.ones(self.n, dtype=torch.bool, device=self.pixels.device)

    def masked_pixels(self, present: Tensor) -> Tensor:
        """present: [k, n] (bool, or 0/1 floats) -> pixel_values [k, C, H, W], absent patches filled."""
        rows, cols = self.grid
        keep = present.bool().reshape(-1, 1, rows, cols)
        keep = keep.repeat_interleave(self.patch_size, 2).repeat_interleave(self.patch_size, 3)
        height, width = rows * self.patch_size, cols * self.patch_size
        margin = (0, self.pixels.shape[-1] - width, 0, self.pixels.shape[-2] - height)  # pixels beyond the grid
        keep = nn.functional.pad(keep, margin, value=True)
        return torch.where(keep, self.pixels, self.fill.to(self.pixels))

    def presence_probability(self, present: Tensor) -> Tensor:
        """present: [k, n] -> target-class probability [k] with the absent patches filled."""
        with torch.inference_mode():
            logits = self.model(pixel_values=self.masked_pixels(present)).logits
        return logits.float().softmax(-1)[:, self.target]


def text_game(model: nn.Module, tokenizer: PreTrainedTokenizerBase, text: str, max_length: int) -> Row:
    """``text`` encoded as the served explainer encodes it (so its players are the tokens a response
    scores), with the class the model predicts on the full text as target."""
    inputs, players = collate(tokenizer, [encode_text(tokenizer, text, max_length)])
    device = next(model.parameters()).device
    inputs = {key: value.to(device) for key, value in inputs.items()}
    with torch.inference_mode():
        target = int(model(**inputs).logits.argmax(-1))
    return Row(model, inputs, players[0].to(device), target, tokenizer.mask_token_id)


def image_game(model: nn.Module, spec: ImageSpec, image: np.ndarray) -> PatchRow:
    """image: uint8 [H, W] or [H, W, C], already at the model's input size -> the image as the model sees
    it, with its predicted class as target."""
    pixels = spec.normalise(to_unit(image))[None]  # as attnserve.image.decode_image does
    with torch.inference_mode():
        target = int(model(pixel_values=pixels).logits.argmax(-1))
    return PatchRow(model, pixels, spec.grid, spec.patch_size, spec.black, target)
