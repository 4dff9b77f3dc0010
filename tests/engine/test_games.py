"""The masking games: a text game is the row the capture pass hands perturbation methods (so a method and
its evaluation play one game), and an image game fills exactly the absent patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnserve.capture import capture
from attnserve.image.codec import ImageSpec
from attnserve.image.game import image_game
from attnserve.probe import Probe, ProbeSettings
from attnserve.text.codec import collate, encode_text
from attnserve.text.game import text_game
from tests.conftest import make_tiny_vit

TEXT = "a thoughtful, funny and sometimes unbearably sad film that never once looks away"
SPEC = ImageSpec(height=30, width=30, mean=(0.25,), std=(0.5,), patch_size=4)  # a 7×7 grid and a 2-pixel margin


def test_text_game_is_the_row_the_capture_pass_gives(tiny_bert, tokenizer) -> None:
    inputs, players = collate(tokenizer, [encode_text(tokenizer, TEXT, 64)])
    settings = ProbeSettings(tokenizer.mask_token_id, ({},))
    targets = capture(tiny_bert, inputs, players, set()).targets  # what the baselines' probe starts from
    expected = Probe(tiny_bert, inputs, players, targets, settings).row(0)
    row = text_game(tiny_bert, tokenizer, TEXT, 64)
    assert row.inputs.keys() == expected.inputs.keys()
    assert all(torch.equal(row.inputs[key], expected.inputs[key]) for key in row.inputs)
    assert torch.equal(row.players, expected.players) and row.n == expected.n > 10
    assert row.target == expected.target and row.mask_token_id == tokenizer.mask_token_id
    assert row.model is tiny_bert


@pytest.fixture(scope="module")
def vit() -> torch.nn.Module:
    return make_tiny_vit(image_size=SPEC.height, patch_size=SPEC.patch_size, num_labels=3).eval()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (SPEC.height, SPEC.width), dtype=np.uint8)


def test_image_game_is_the_normalised_image_with_its_predicted_class(vit, image) -> None:
    row = image_game(vit, SPEC, image)
    pixels = (torch.from_numpy(image).float() / 255.0 - SPEC.mean[0]) / SPEC.std[0]
    assert row.pixels.shape == (1, 1, SPEC.height, SPEC.width) and torch.allclose(row.pixels[0, 0], pixels)
    with torch.inference_mode():
        probabilities = vit(pixel_values=row.pixels).logits.softmax(-1)[0]
    assert row.target == int(probabilities.argmax()) and row.n == 49 and row.grid == (7, 7)
    assert row.fill.flatten().tolist() == [(0.0 - SPEC.mean[0]) / SPEC.std[0]]  # black
    full = row.presence_probability(torch.ones(1, 49, dtype=torch.bool))
    assert full.shape == (1,) and float(full[0]) == pytest.approx(float(probabilities[row.target]), abs=1e-6)


def test_absent_patches_get_the_fill_and_present_ones_are_untouched(vit, image) -> None:
    row = image_game(vit, SPEC, image)
    present = torch.zeros(3, 49, dtype=torch.bool)
    present[1] = True
    present[2, 8] = True  # patch (1, 1): pixels 4..7 × 4..7
    none, every, one = row.masked_pixels(present)[:, 0]
    original = row.pixels[0, 0]
    assert torch.equal(every, original)
    assert torch.all(none[:28, :28] == row.fill)
    assert torch.equal(none[28:], original[28:]) and torch.equal(none[:, 28:], original[:, 28:])  # beyond the grid
    assert torch.equal(one[4:8, 4:8], original[4:8, 4:8]) and bool((original[4:8, 4:8] != row.fill).any())
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[4:8, 4:8] = False
    assert torch.all(one[:28, :28][outside] == row.fill)
    floats = row.masked_pixels(present.float())  # 0/1 floats mask as the bools do
    assert torch.equal(floats, row.masked_pixels(present))
