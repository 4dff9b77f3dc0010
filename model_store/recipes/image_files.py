"""A user's folders of images (a packaged model's concept sets and learned-explainer inputs), read
exactly as the server reads a request's image, so that what a build learns from is what is served."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from attnserve.image.codec import ImageSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_files(folder: Path) -> list[Path]:
    """The PNG and JPEG files of a folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_files(files: list[Path], spec: ImageSpec) -> list[np.ndarray]:
    """Each file decoded and resized as the server decodes a request (uint8 at the model's input size);
    a file the server would refuse fails the build, named."""
    from attnserve.errors import InvalidInput
    from attnserve.image.codec import read_image

    images = []
    for path in files:
        try:
            images.append(read_image(path.read_bytes(), spec))
        except InvalidInput as error:
            raise ValueError(f"{path}: {error}") from None
    return images
