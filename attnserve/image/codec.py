"""Image bytes in, a ViT-ready tensor out, with every limit checked before the expensive decode.

Accepted: PNG and JPEG only. Limits, each a 400 naming the field ``image``: the byte size, then the
pixel count read from the header (``Image.open`` is lazy: nothing is decompressed until ``load``), so
a small file that claims a huge canvas (a decompression bomb) is refused before any memory is spent on
it. Pillow's own guard (``Image.MAX_IMAGE_PIXELS``, 89 M by default) also fires inside ``open`` for
absurd headers; its warning is turned into an error and reported the same way. The global is not
changed: our own limit is lower and applies first, and a library should not reconfigure Pillow for
the whole process.

Preprocessing, as the model was trained (model_store/recipes/fashion.py; ``preprocessor_config.json``):
EXIF orientation applied; transparent pixels composited onto black (the Fashion-MNIST background);
converted to the model's channels (``num_channels`` in its config: 1 is grayscale, Pillow mode L,
ITU-R 601-2 luma; 3 is RGB); resized to the model's input size with bilinear filtering (antialiased when
shrinking) without keeping the aspect ratio, as ViTImageProcessor does; scaled to [0, 1] and normalised
with the model's per-channel mean and std. Colours are not inverted: a dark garment on a light
background is outside what the shipped fashion model saw in training.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from attnserve.errors import InvalidInput

FIELD = "image"
FORMATS = ("PNG", "JPEG")
MAX_BYTES = 5_000_000
MAX_PIXELS = 16_000_000  # 4000 × 4000: a phone photo passes, a decompression bomb does not
_OTHER_FORMATS = {b"GIF8": "GIF", b"BM": "BMP", b"II*\0": "TIFF", b"MM\0*": "TIFF", b"RIFF": "WEBP"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)


@dataclass(frozen=True)
class ImageSpec:
    """What the model expects and what the server accepts."""

    height: int
    width: int
    mean: tuple[float, ...]  # one per channel
    std: tuple[float, ...]
    patch_size: int
    max_bytes: int = MAX_BYTES
    max_pixels: int = MAX_PIXELS

    @classmethod
    def from_model_dir(cls, model_dir: Path, **limits: int) -> ImageSpec:
        """Input size and normalisation from ``preprocessor_config.json``, channels and patch size from
        ``config.json``. A single mean or std is applied to every channel."""
        processor = json.loads((model_dir / "preprocessor_config.json").read_text())
        config = json.loads((model_dir / "config.json").read_text())
        channels = int(config.get("num_channels", 3))
        if channels not in (1, 3):
            raise ValueError(f"{model_dir}: {channels} input channels; images are read as grayscale (1) or RGB (3)")
        mean, std = (_per_channel(processor[key], channels, key) for key in ("image_mean", "image_std"))
        size = processor["size"]
        if "height" not in size:  # {"shortest_edge": n}: a square input of that side
            size = {"height": size["shortest_edge"], "width": size["shortest_edge"]}
        return cls(size["height"], size["width"], mean, std, config["patch_size"], **limits)

    @property
    def channels(self) -> int:
        return len(self.mean)

    def normalise(self, pixels: Tensor) -> Tensor:
        """[..., C, H, W] in [0, 1] -> what the model reads."""
        shape = (-1, 1, 1)
        return (pixels - torch.tensor(self.mean).view(shape)) / torch.tensor(self.std).view(shape)

    @property
    def black(self) -> Tensor:
        """A black pixel as the model reads it, [C, 1, 1]: the fill of an absent patch."""
        return self.normalise(torch.zeros(self.channels, 1, 1))

    @property
    def grid(self) -> tuple[int, int]:
        """Patch rows × columns; token 1 + r·cols + c of the ViT is patch (r, c), token 0 is [CLS]."""
        return self.height // self.patch_size, self.width // self.patch_size


@dataclass(frozen=True)
class DecodedImage:
    pixels: Tensor  # [C, H, W] float32, normalised; stack to [B, C, H, W] for the model
    grid: tuple[int, int]  # patch rows, columns
    original_size: tuple[int, int]  # width, height as sent
    format: str  # "PNG" or "JPEG"


def decode_image(data: object, spec: ImageSpec) -> DecodedImage:
    """Validate, decode and preprocess one image; every failure is an ``InvalidInput`` on ``image``."""
    image, original_size, format_ = _read(data, spec)
    return DecodedImage(spec.normalise(to_unit(image)), spec.grid, original_size, format_)


def read_image(data: object, spec: ImageSpec) -> np.ndarray:
    """The image as decode_image reads it, before normalisation: uint8 [H, W] or [H, W, C] at the
    model's input size (how a build reads a user's image files, exactly as the server would)."""
    return _read(data, spec)[0]


def _read(data: object, spec: ImageSpec) -> tuple[np.ndarray, tuple[int, int], str]:
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes) or not data:
        raise InvalidInput("expected the bytes of a PNG or JPEG image", FIELD)
    if len(data) > spec.max_bytes:
        raise InvalidInput(f"image is {len(data)} bytes; the limit is {spec.max_bytes}", FIELD)
    image = _open(data)
    width, height = image.size
    if width * height > spec.max_pixels:
        raise InvalidInput(f"image is {width}×{height} pixels; the limit is {spec.max_pixels} pixels", FIELD)
    mode = "L" if spec.channels == 1 else "RGB"
    if image.format == "JPEG":
        image.draft(mode, (spec.width, spec.height))  # let libjpeg decode at a reduced scale: far less work
    try:
        image.load()
    except _DECODE_ERRORS as e:
        raise InvalidInput(f"image data is corrupt or truncated ({e})", FIELD) from None
    resized = _on_black(image).convert(mode).resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    return np.asarray(resized), (width, height), image.format


def to_unit(image: np.ndarray) -> Tensor:
    """uint8 [H, W] (grayscale) or [H, W, C] -> float32 [C, H, W] in [0, 1]."""
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32).copy()) / 255.0
    return pixels[None] if pixels.dim() == 2 else pixels.permute(2, 0, 1)


def _per_channel(values: float | list[float], channels: int, key: str) -> tuple[float, ...]:
    values = [values] if isinstance(values, int | float) else list(values)
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise ValueError(f"preprocessor_config.json: {key} has {len(values)} values for {channels} channels")
    return tuple(float(v) for v in values)


def _open(data: bytes) -> Image.Image:
    """Read only the header; refuse other formats by name so the client knows what to send instead."""
    other = next((name for magic, name in _OTHER_FORMATS.items() if data.startswith(magic)), None)
    if other:
        raise InvalidInput(f"unsupported image format {other}; send PNG or JPEG", FIELD)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise InvalidInput(f"image dimensions are too large ({e})", FIELD) from None
    except _DECODE_ERRORS:
        raise InvalidInput("not a PNG or JPEG image (or its header is corrupt)", FIELD) from None


def _on_black(image: Image.Image) -> Image.Image:
    """EXIF orientation applied, transparency composited onto black."""
    image = ImageOps.exif_transpose(image)
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return image
