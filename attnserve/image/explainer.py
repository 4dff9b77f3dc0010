"""The image modality's explainer: PNG/JPEG in, ViT patches as the players.

The image modality is this package: ``codec`` (limits, decoding, normalisation), ``game`` (the
black-patch game its attributions are measured and learned on) and this module (the ``Explainer``
protocol over them, and how an image model directory is loaded).

A request is the image's bytes (the default methods run) or a JSON object ``{"image": base64,
"methods", "target", "concepts"}``. Players are the patch tokens, in row-major order, after the
model's leading special tokens ([CLS] for ViT; [CLS] and the distillation token for DeiT);
the response says which grid they form (``"patches": {"grid": [rows, cols]}``) and gives each
method's scores as ``{"patches": [...]}``. Methods whose record does not list images (the perturbation
baselines: their masking replaces tokens with ``[MASK]``) are refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from attnserve.concepts.bank import CavBank
from attnserve.errors import InvalidInput
from attnserve.explain import DEFAULT_METHODS, Batch, Explainer, ModelInfo
from attnserve.image.codec import MAX_BYTES, MAX_PIXELS, DecodedImage, ImageSpec, decode_image
from attnserve.image.game import ImageGame
from attnserve.request import check_fields, parse_json, parse_settings

FIELDS = ("image", "methods", "target", "concepts")
LEADING_TOKENS = {"deit": 2}  # special tokens before the patches, by model type (ViT: its [CLS] alone)


@dataclass(frozen=True)
class ImageRequest:
    image: bytes
    methods: tuple[str, ...]
    target: int | None
    options: dict[str, dict[str, int]] = field(default_factory=dict)  # always empty: no baselines for images
    concepts: tuple[str, ...] = ()


class ImageExplainer(Explainer[DecodedImage]):
    """A ViT classifier; ``spec`` says how images are decoded and which limits a body must meet."""

    modality = "image"

    def __init__(
        self,
        model: nn.Module,
        spec: ImageSpec,
        info: ModelInfo,
        default_methods: Sequence[str],
        bank: CavBank | None = None,
        amortizer: nn.Module | None = None,
    ) -> None:
        super().__init__(model, info, default_methods, bank=bank, amortizer=amortizer)
        self.spec = spec
        self.leading = LEADING_TOKENS.get(getattr(model.config, "model_type", ""), 1)

    @classmethod
    def load(cls, model_dir: Path, settings: Mapping[str, Any], info: ModelInfo, device: str) -> ImageExplainer:
        from transformers import AutoModelForImageClassification

        model = AutoModelForImageClassification.from_pretrained(model_dir, attn_implementation="eager")
        model = model.to(device).eval()
        spec = ImageSpec.from_model_dir(
            model_dir,
            max_bytes=int(settings.get("max_image_bytes", MAX_BYTES)),
            max_pixels=int(settings.get("max_image_pixels", MAX_PIXELS)),
        )
        defaults = settings.get("default_methods", DEFAULT_METHODS)
        return cls(model, spec, info, defaults, **cls.resources(model_dir, model))

    def parse(self, body: object, content_type: str | None) -> ImageRequest:
        if isinstance(body, bytes | bytearray) and not _is_json(bytes(body), content_type):
            defaults = parse_settings({}, self.labels, self.default_methods, self.concepts, self.refused)
            return ImageRequest(bytes(body), **defaults)
        if isinstance(body, bytes | bytearray):
            body = parse_json(bytes(body))
        if not isinstance(body, Mapping):
            raise InvalidInput("body must be PNG/JPEG bytes or a JSON object with a base64 'image'", "body")
        check_fields(body, FIELDS, "image")
        settings = parse_settings(body, self.labels, self.default_methods, self.concepts, self.refused)
        return ImageRequest(_base64(body["image"]), **settings)

    def encode(self, request: ImageRequest) -> DecodedImage:
        return decode_image(request.image, self.spec)

    def players(self, item: DecodedImage) -> int:
        rows, cols = item.grid
        return rows * cols

    def collate(self, items: list[DecodedImage]) -> Batch:
        pixels = torch.stack([item.pixels for item in items])
        width = self.players(items[0]) + self.leading
        players = torch.ones((len(items), width), dtype=torch.bool)
        players[:, : self.leading] = False
        return Batch({"pixel_values": pixels}, players, torch.ones_like(players))

    def describe(self, item: DecodedImage) -> dict[str, Any]:
        return {"patches": {"grid": list(item.grid)}}

    def fold(self, item: DecodedImage, row: Tensor) -> dict[str, list[float]]:
        """Token leading + r·cols + c is patch (r, c); the leading special tokens are not listed."""
        return {"patches": row[self.leading : self.players(item) + self.leading].double().tolist()}

    def without(self, inputs: dict[str, Tensor], absent: Tensor) -> dict[str, Tensor]:
        """Absent patches are filled with black, as the image game fills them (row by row: a batch is a few)."""
        pixels = inputs["pixel_values"]
        present = ~absent[:, self.leading : self.leading + self.spec.grid[0] * self.spec.grid[1]]
        spec = self.spec
        rows = [
            ImageGame(self.model, pixels[i : i + 1], spec.grid, spec.patch_size, spec.black, 0).masked_pixels(
                present[i : i + 1]
            )
            for i in range(len(pixels))
        ]
        return {**inputs, "pixel_values": torch.cat(rows)}


def _is_json(raw: bytes, content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or raw.lstrip().startswith(b"{")


def _base64(value: object) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"'image' must be a base64 string, got {type(value).__name__}", "image")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:  # ValueError: characters outside ASCII
        raise InvalidInput(f"'image' is not valid base64: {error}", "image") from None
