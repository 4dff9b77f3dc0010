"""What a caller may hand over as an image: PNG/JPEG bytes, a path to such a file, or a PIL image
(encoded as PNG here; Pillow itself is never imported by the SDK outside the PNG views)."""

from __future__ import annotations

import io
import os
from pathlib import Path

ImageInput = bytes | bytearray | memoryview | str | os.PathLike | object  # object: a PIL.Image.Image


def is_image(value: object) -> bool:
    """Whether ``value`` is one image (as opposed to a list of them)."""
    return isinstance(value, bytes | bytearray | memoryview | str | os.PathLike) or _is_pil(value)


def _is_pil(value: object) -> bool:
    return callable(getattr(value, "save", None)) and hasattr(value, "mode") and hasattr(value, "size")


def image_bytes(image: object) -> bytes:
    """The encoded image: bytes as given, a file's bytes, or a PIL image saved as PNG."""
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
    elif isinstance(image, str | os.PathLike):
        data = Path(image).read_bytes()
    elif _is_pil(image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")  # type: ignore[attr-defined]
        data = buffer.getvalue()
    else:
        raise TypeError(f"an image must be bytes, a path or a PIL image, got {type(image).__name__}")
    if not data:
        raise ValueError("the image is empty (0 bytes)")
    return data
