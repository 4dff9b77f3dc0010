"""amortized_shapley's serving half: the hidden states it reads, its values (per target, zero outside the
players, batched = alone), the stored network's format, and the clear refusal on a model that ships none."""

from __future__ import annotations

import pytest
import torch

from attnserve.capture import capture
from attnserve.explain import ModelInfo
from attnserve.methods.amortized import FILE_NAME, NEEDS, as_stored, find_amortizer, save_amortizer
from attnserve.text.codec import collate, encode_text
from attnserve.text.explainer import TextExplainer
from tests.conftest import make_amortizer, make_tiny_bert

TEXTS = ["Not bad, actually quite fun.", "A dull, plodding mess."]


def test_hidden_is_the_last_blocks_output(tiny_bert, tokenizer) -> None:
    inputs, players = collate(tokenizer, [encode_text(tokenizer, t, 64) for t in TEXTS])
    c = capture(tiny_bert, inputs, players, NEEDS)
    expected = tiny_bert(**inputs, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(c.hidden, expected, atol=1e-6, rtol=1e-5)
    assert c.timings_s.keys() == {"forward"}  # one forward pass: no backward pass is run for it


def test_values_are_per_target_zero_outside_players_and_the_same_batched(tiny_bert, tokenizer) -> None:
    head = make_amortizer(tiny_bert, seed=1)
    encoded = [encode_text(tokenizer, t, 64) for t in TEXTS]
    inputs, players = collate(tokenizer, encoded)
    real = inputs["attention_mask"].bool()
    c = capture(tiny_bert, inputs, players, NEEDS)
    values = head(c.hidden, real, players, c.targets)
    assert (values[~players] == 0).all() and (values[players] != 0).all()
    other = head(c.hidden, real, players, 1 - c.targets)
    assert not torch.allclose(values[players], other[players])  # each class has its own column
    for row, item in enumerate(encoded):  # alone, without the other row's padding
        alone_inputs, alone_players = collate(tokenizer, [item])
        alone = capture(tiny_bert, alone_inputs, alone_players, NEEDS)
        mine = head(alone.hidden, alone_inputs["attention_mask"].bool(), alone_players, c.targets[row : row + 1])
        torch.testing.assert_close(mine[0], values[row, : mine.shape[1]], atol=1e-5, rtol=1e-4)


def test_stored_network_round_trips_and_checks_the_model(tmp_path, tiny_bert, tokenizer) -> None:
    head = make_amortizer(tiny_bert, seed=3)
    save_amortizer(head, tmp_path / FILE_NAME, {"note": "test"})
    stored = torch.load(tmp_path / FILE_NAME, weights_only=True)["state"]
    assert {value.dtype for value in stored.values()} == {torch.float16}  # half the bytes in every release set
    loaded = find_amortizer(tmp_path, tiny_bert)
    rounded = as_stored(head)  # what a build validates: the weights as the file keeps them
    for key, value in rounded.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value) and value.dtype == torch.float32
    assert loaded.meta == {"note": "test"}

    wider = make_tiny_bert(tokenizer.vocab_size, num_labels=3)
    with pytest.raises(ValueError, match="do not match"):
        find_amortizer(tmp_path, wider)
    assert find_amortizer(tmp_path / "elsewhere", tiny_bert) is None


def test_a_model_without_one_refuses_the_method_by_name(tiny_bert, tokenizer) -> None:
    bare = TextExplainer(tiny_bert, tokenizer, ModelInfo("bare", "0"), 64, ["shapley_mutual"])
    body = {"text": TEXTS[0], "methods": ["gae", "amortized_shapley"]}
    (outcome,) = bare.explain([(body, None)])
    assert outcome.code == "INVALID_INPUT" and outcome.field == "methods[1]"
    assert "amortized_shapley" in outcome.message
