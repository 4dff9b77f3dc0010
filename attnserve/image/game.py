"""The image masking game: one image, the class the model predicts for it as target, and the
target-class probability with absent patches filled with black pixels (the Fashion-MNIST background).

The faithfulness metrics (``attnserve.faithfulness``) and the build that trains the learned explainer
play it by this one definition. Only torch, numpy and the image codec are imported here: a build
stage's cache key hashes every repository module this one pulls in, so no capture or method code may
change that key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from attnserve.image.codec import ImageSpec, to_unit


@dataclass(frozen=True)
class ImageGame:
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


def image_game(model: nn.Module, spec: ImageSpec, image: np.ndarray) -> ImageGame:
    """image: uint8 [H, W] or [H, W, C], already at the model's input size -> the image as the model sees
    it, with its predicted class as target."""
    pixels = spec.normalise(to_unit(image))[None]  # as attnserve.image.codec.decode_image does
    with torch.inference_mode():
        target = int(model(pixel_values=pixels).logits.argmax(-1))
    return ImageGame(model, pixels, spec.grid, spec.patch_size, spec.black, target)
