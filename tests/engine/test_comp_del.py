"""Deletion comprehensiveness against a recomputation one shortened sequence at a time: the batched,
right-padded forward pass must score each deletion as the model scores that sequence alone."""

from __future__ import annotations

import pytest
import torch
from transformers import BertForSequenceClassification

from attnserve.faithfulness import PAPER_BINS, deleted_probabilities, faithfulness, top
from attnserve.text.game import text_game
from tests.conftest import make_tiny_bert

TEXT = "a thoughtful, funny and sometimes unbearably sad film that never once looks away"


@pytest.fixture(scope="module")
def row(tokenizer):
    """A tiny random BERT initialised 10× wider than usual: at the default scale its output barely moves
    with the input, and a 1e-6 agreement would not tell a faithful recomputation from a wrong one."""
    config = make_tiny_bert(tokenizer.vocab_size).config
    config.initializer_range = 0.2
    torch.manual_seed(1)
    model = BertForSequenceClassification(config).eval()
    return text_game(model, tokenizer, TEXT, 64)


def alone(row, keep: torch.Tensor) -> float:
    """The target probability of the row's tokens where ``keep``, as one unpadded sequence."""
    ids = row.inputs["input_ids"][:, keep]
    with torch.inference_mode():
        logits = row.model(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))
    return float(logits.logits.softmax(-1)[0, row.target])


def test_comp_del_matches_deleting_one_sequence_at_a_time(row) -> None:
    scores = torch.randn(row.n, generator=torch.Generator().manual_seed(3))
    positions = row.players.nonzero().squeeze(-1)
    full = alone(row, torch.ones_like(row.players))
    drops = []
    for percent in PAPER_BINS:
        keep = torch.ones_like(row.players)
        keep[positions[top(scores, percent)]] = False
        drops.append(full - alone(row, keep))
    expected = sum(drops) / (len(PAPER_BINS) + 1)
    assert row.n > 10 and max(map(abs, drops)) > 1e-2  # the bins shorten the text by different amounts and matter
    assert faithfulness(row, scores)["comp_del"] == pytest.approx(expected, abs=1e-6)


def test_k0_bin_deletes_nothing_and_scores_the_full_text(row) -> None:
    scores = torch.rand(row.n, generator=torch.Generator().manual_seed(4))
    probabilities = deleted_probabilities(row, scores, PAPER_BINS)
    assert PAPER_BINS[0] == 0 and probabilities.shape == (1 + len(PAPER_BINS),)
    full = float(row.presence_probability(torch.ones(1, row.n, dtype=torch.bool))[0])
    assert abs(float(probabilities[1]) - full) < 1e-6 and abs(float(probabilities[0]) - full) < 1e-6
