"""The faithfulness metrics where the answer is known: a model whose output depends on one token only.

Ranking that token first must reach the most the protocol allows: with the k = 0 bin contributing
nothing, comp ≤ (|K|−1)/(|K|+1)·p(x), and the model drops p to 0 once the token is masked.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnserve.faithfulness import AOPC_BINS, PAPER_BINS, faithfulness, top
from attnserve.image.codec import ImageSpec
from attnserve.image.game import image_game
from attnserve.text.codec import encode_text
from attnserve.text.game import text_game
from tests.conftest import make_tiny_vit
from tests.reference.one_token import WORD, OneTokenModel, texts


def test_ranking_the_token_first_reaches_the_protocol_maximum(tokenizer) -> None:
    token = tokenizer.convert_tokens_to_ids(WORD)
    text = texts()[3]
    row = text_game(OneTokenModel(token).eval(), tokenizer, text, 64)
    assert row.target == 1 and row.n == 18
    oracle = (torch.tensor(encode_text(tokenizer, text, 64).ids) == token).float()
    metrics = faithfulness(row, oracle)
    assert metrics["comp"] == pytest.approx((len(PAPER_BINS) - 1) / (len(PAPER_BINS) + 1), abs=1e-6)
    assert metrics["aopc_comp"] == pytest.approx(len(AOPC_BINS) / (len(AOPC_BINS) + 1), abs=1e-6)
    assert metrics["suff"] == pytest.approx(1 / (len(PAPER_BINS) + 1), abs=1e-6)  # only k = 0 masks it
    assert metrics["aopc_suff"] == pytest.approx(0, abs=1e-6)
    assert metrics["comp_del"] == pytest.approx(metrics["comp"], abs=1e-6)  # deleting it drops p to 0 too


def test_bins_take_the_ceiling_of_their_share() -> None:
    scores = torch.arange(30.0)
    assert [len(top(scores, k)) for k in (0, 1, 5, 10, 20, 50)] == [0, 1, 2, 3, 6, 15]
    assert top(scores, 10).tolist() == [29, 28, 27]


def test_an_image_game_gives_the_masking_metrics_and_no_deletion() -> None:
    """Patches cannot be deleted from the grid: an image row has no comp_del, not a made-up one."""
    spec = ImageSpec(height=8, width=8, mean=(0.5,), std=(0.5,), patch_size=4)
    vit = make_tiny_vit(image_size=8, patch_size=4, num_labels=3).eval()
    image = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    metrics = faithfulness(image_game(vit, spec, image), torch.tensor([0.4, 0.1, 0.3, 0.2]))
    assert set(metrics) == {"comp", "suff", "aopc_comp", "aopc_suff"}
