"""amortized_shapley's serving half: the hidden states it reads, its values (per target, zero outside the
players, batched = alone), the networks' mean and the subgame pass against a row-by-row reading of their
definitions, the stored format, and the clear refusal on a model that ships none."""

from __future__ import annotations

import pytest
import torch

from attnserve.capture import capture
from attnserve.explain import ModelInfo
from attnserve.methods.amortized import (
    FILE_NAME,
    NAME,
    NEEDS,
    Amortizer,
    as_stored,
    find_amortizer,
    rerank,
    save_amortizer,
    top_share,
)
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
    assert len(head.networks) == 2
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


def test_stored_networks_round_trip_and_check_the_model(tmp_path, tiny_bert, tokenizer) -> None:
    head = make_amortizer(tiny_bert, seed=3, networks=3, subgame=0.25)
    save_amortizer(head, tmp_path / FILE_NAME, {"note": "test"})
    stored = torch.load(tmp_path / FILE_NAME, weights_only=True)["networks"]
    # half the bytes in every release set
    assert {value.dtype for network in stored for value in network["state"].values()} == {torch.float16}
    loaded = find_amortizer(tmp_path, tiny_bert)
    assert [n.config for n in loaded.networks] == [n.config for n in head.networks] and loaded.subgame == 0.25
    for network in head.networks:
        as_stored(network)  # what a build validates: the weights as the file keeps them
    for key, value in head.state_dict().items():
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


def test_the_mean_of_the_networks_is_the_estimate(tiny_bert, tokenizer) -> None:
    both = make_amortizer(tiny_bert, seed=5)
    inputs, players = collate(tokenizer, [encode_text(tokenizer, t, 64) for t in TEXTS])
    real = inputs["attention_mask"].bool()
    c = capture(tiny_bert, inputs, players, NEEDS)
    each = [Amortizer([network])(c.hidden, real, players, c.targets) for network in both.networks]
    torch.testing.assert_close(both(c.hidden, real, players, c.targets), (each[0] + each[1]) / 2)
    with pytest.raises(ValueError, match="subgame must be a share"):
        Amortizer(list(both.networks), 1.0)


def test_top_share_takes_the_ceiling_of_each_rows_players() -> None:
    players = torch.tensor([[False, True, True, True, True, False], [False, True, False, False, False, False]])
    values = torch.tensor([[9.0, 0.1, 0.5, -0.2, 0.3, 9.0], [9.0, -1.0, 0.0, 0.0, 0.0, 0.0]])
    top = top_share(values, players, 0.3)  # ceil(0.3 · 4) = 2 of the first row, ceil(0.3 · 1) = 1 of the second
    assert top.tolist() == [[False, False, True, False, True, False], [False, True, False, False, False, False]]
    thirty = torch.ones(1, 30, dtype=torch.bool)
    assert int(top_share(torch.randn(1, 30), thirty, 0.1).sum()) == 3  # not 4: 0.1 · 30 in floating point


def _rerank_by_its_definition(full: list[float], sub: list[float], top: list[int]) -> list[float]:
    """One row, read off the docstring with plain Python: the rest by the mean of the two standardised
    passes in the full pass's units, the top kept in order and lifted above the rest where needed."""
    rest = [i for i in range(len(full)) if i not in top]

    def z(x: list[float]) -> list[float]:
        mean = sum(x[i] for i in rest) / len(rest)
        std = (sum((x[i] - mean) ** 2 for i in rest) / len(rest)) ** 0.5
        return [(v - mean) / std for v in x]

    mean = sum(full[i] for i in rest) / len(rest)
    std = (sum((full[i] - mean) ** 2 for i in rest) / len(rest)) ** 0.5
    out = [mean + std * 0.5 * (a + b) for a, b in zip(z(full), z(sub), strict=True)]
    gap = max(out[i] for i in rest) - min(full[i] for i in top)
    lift = gap + 1e-6 * std if gap >= 0 else 0.0
    return [full[i] + lift if i in top else out[i] for i in range(len(full))]


def test_rerank_keeps_the_top_first_and_orders_the_rest_by_both_passes() -> None:
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        n = int(torch.randint(3, 12, (1,), generator=generator))
        full, sub = torch.randn(2, n, generator=generator, dtype=torch.float64)
        k = -(-n // 10)
        top = full.argsort(descending=True)[:k].tolist()
        mask = torch.zeros(n, dtype=torch.bool)
        mask[top] = True
        players = torch.ones(n, dtype=torch.bool)
        got = rerank(full[None], sub[None], mask[None], players[None])[0]
        expected = _rerank_by_its_definition(full.tolist(), sub.tolist(), top)
        torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
        assert got[mask].min() > got[~mask].max()  # the top share stays first
    # a row of one player has no rest: its value is the full pass's
    one = rerank(
        torch.tensor([[0.0, 0.4]]),
        torch.tensor([[0.0, 9.0]]),
        torch.tensor([[False, True]]),
        torch.tensor([[False, True]]),
    )
    assert torch.equal(one, torch.tensor([[0.0, 0.4]]))


def test_the_subgame_pass_is_the_networks_on_the_input_without_its_top_share(explainer, tiny_bert, tokenizer) -> None:
    amortizer = explainer.amortizer
    assert amortizer.subgame > 0
    text = "An utterly charming, funny and moving film with a great cast."
    (outcome,) = explainer.explain([({"text": text, "methods": [NAME]}, None)])
    served = torch.tensor(outcome["attributions"][NAME]["tokens"], dtype=torch.float64)
    inputs, players = collate(tokenizer, [encode_text(tokenizer, text, 64)])
    real = inputs["attention_mask"].bool()
    c = capture(tiny_bert, inputs, players, NEEDS)
    full = amortizer(c.hidden, real, players, c.targets)
    top = top_share(full, players, amortizer.subgame)
    masked = inputs["input_ids"].clone()
    masked[top] = tokenizer.mask_token_id  # the masking game: [MASK] in place of the top tokens
    again = capture(tiny_bert, {**inputs, "input_ids": masked}, players, NEEDS, c.targets.tolist())
    sub = amortizer(again.hidden, real, players, c.targets)
    expected = rerank(full, sub, top, players)[0, 1 : players.sum() + 1]
    torch.testing.assert_close(served, expected.double(), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(served, full[0, 1 : players.sum() + 1].double(), atol=1e-4)  # the pass changed it
