"""Generated texture concepts: the model's input size, seeded, and each texture what it claims to be."""

from __future__ import annotations

import numpy as np
import pytest

from model_store.recipes.concepts_image import TEXTURES, generate, noise


@pytest.mark.parametrize("name", [*TEXTURES, "noise"])
def test_images_are_seeded_uint8_at_input_size(name: str) -> None:
    texture = TEXTURES.get(name, noise)
    images, params = generate(texture, 8, np.random.default_rng(0))
    assert images.shape == (8, 28, 28) and images.dtype == np.uint8 and len(params) == 8
    again, _ = generate(texture, 8, np.random.default_rng(0))
    np.testing.assert_array_equal(images, again)
    assert len({image.tobytes() for image in images}) == 8  # every image drawn with its own parameters


def test_textures_differ_in_the_way_their_names_say() -> None:
    rng = np.random.default_rng(1)
    solid, _ = generate(TEXTURES["solid"], 50, rng)
    striped, _ = generate(TEXTURES["striped"], 50, rng)
    assert solid.std(axis=(1, 2)).max() < 12  # one gray level and faint noise
    assert striped.std(axis=(1, 2)).min() > 25  # contrast ≥ 0.4 of the range, half the pixels each side

    def structure(images: np.ndarray) -> float:
        """Mean |difference| between neighbouring pixels: high for periodic patterns, low for solid."""
        x = images.astype(float)
        return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean())

    assert structure(solid) < 20 < min(structure(generate(TEXTURES[n], 50, rng)[0]) for n in ("striped", "zigzag"))
