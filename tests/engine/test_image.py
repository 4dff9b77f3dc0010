"""Image decoding: preprocessing as the fashion model was trained, and a clear 400 for every bad input."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnserve.errors import InvalidInput
from attnserve.image.codec import ImageSpec, decode_image

SPEC = ImageSpec(height=28, width=28, mean=(0.5,), std=(0.5,), patch_size=4)


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR claims another size (CRC fixed, so only the size check can object)."""
    data = bytearray(encode(Image.new("L", (1, 1))))
    ihdr = 8 + 8  # signature, then chunk length + type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13])))
    return bytes(data)


def rejected(data: object, spec: ImageSpec = SPEC) -> str:
    with pytest.raises(InvalidInput) as info:
        decode_image(data, spec)
    assert info.value.field == "image" and info.value.code == "INVALID_INPUT"
    return info.value.message


def test_png_is_grayscaled_resized_and_normalised() -> None:
    rgb = np.zeros((56, 84, 3), np.uint8)
    rgb[:, :42] = (255, 255, 255)
    decoded = decode_image(encode(Image.fromarray(rgb)), SPEC)
    assert decoded.pixels.shape == (1, 28, 28) and decoded.pixels.dtype == torch.float32
    assert decoded.grid == (7, 7) and decoded.original_size == (84, 56) and decoded.format == "PNG"
    assert decoded.pixels[0, :, :10].eq(1).all() and decoded.pixels[0, :, -10:].eq(-1).all()


def test_jpeg_is_accepted_from_bytearray() -> None:
    image = Image.fromarray(np.full((28, 28), 128, np.uint8))
    decoded = decode_image(bytearray(encode(image, "JPEG", quality=95)), SPEC)
    assert decoded.format == "JPEG"
    assert decoded.pixels.sub(128 / 255 * 2 - 1).abs().max() < 0.05


def test_transparent_pixels_become_background_black() -> None:
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, but fully transparent on the left half
    rgba[:, 14:, 3] = 255
    pixels = decode_image(encode(Image.fromarray(rgba)), SPEC).pixels[0]
    assert pixels[:, :13].eq(-1).all() and pixels[:, 15:].eq(1).all()


def test_spec_is_read_from_a_model_dir(tmp_path: Path) -> None:
    processor = {"size": {"height": 28, "width": 28}, "image_mean": [0.5], "image_std": [0.5]}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    (tmp_path / "config.json").write_text(json.dumps({"patch_size": 4, "num_channels": 1}))
    assert ImageSpec.from_model_dir(tmp_path, max_bytes=10) == ImageSpec(28, 28, (0.5,), (0.5,), 4, max_bytes=10)


def test_an_rgb_model_reads_three_normalised_channels(tmp_path: Path) -> None:
    """ViT's default: three channels, a mean and std each (one value is broadcast to all three)."""
    processor = {"size": {"shortest_edge": 8}, "image_mean": [0.5, 0.25, 0.0], "image_std": 0.5}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    (tmp_path / "config.json").write_text(json.dumps({"patch_size": 4}))
    spec = ImageSpec.from_model_dir(tmp_path)
    assert (spec.channels, spec.grid, spec.std) == (3, (2, 2), (0.5, 0.5, 0.5))
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    pixels = decode_image(encode(Image.fromarray(red)), spec).pixels
    assert pixels.shape == (3, 8, 8)
    assert torch.allclose(pixels[:, 0, 0], torch.tensor([1.0, -0.5, 0.0]))
    assert torch.allclose(spec.black.flatten(), torch.tensor([-1.0, -0.5, 0.0]))


def test_a_processor_for_other_channels_is_refused(tmp_path: Path) -> None:
    processor = {"size": {"height": 8, "width": 8}, "image_mean": [0.5, 0.5], "image_std": [0.5]}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(processor))
    (tmp_path / "config.json").write_text(json.dumps({"patch_size": 4}))
    with pytest.raises(ValueError, match="2 values for 3 channels"):
        ImageSpec.from_model_dir(tmp_path)


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    assert "too large" in rejected(png_claiming(100_000, 100_000))  # Pillow's own guard, inside open
    assert "5000×5000 pixels" in rejected(png_claiming(5000, 5000))  # ours, below Pillow's threshold


def test_pixel_limit_is_configurable() -> None:
    small = ImageSpec(28, 28, (0.5,), (0.5,), 4, max_pixels=100)
    assert "limit is 100 pixels" in rejected(encode(Image.new("L", (11, 10))), small)


def test_too_many_bytes() -> None:
    assert "limit is 100" in rejected(b"\x89PNG" + b"\0" * 200, ImageSpec(28, 28, (0.5,), (0.5,), 4, max_bytes=100))


def test_truncated_png() -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    data = encode(noisy)
    assert "corrupt or truncated" in rejected(data[: len(data) // 2])


def test_unsupported_formats_are_named() -> None:
    assert "unsupported image format GIF" in rejected(encode(Image.new("L", (4, 4)), "GIF"))
    assert "unsupported image format BMP" in rejected(encode(Image.new("L", (4, 4)), "BMP"))


@pytest.mark.parametrize("data", [b"hello, not an image", b"\x89PNG\r\n\x1a\n garbage", b"", "a string", None])
def test_non_image_input(data: object) -> None:
    rejected(data)
