"""CAV training: unit vectors that point at the concept, honest held-out accuracy, and one mean per
example that ignores padding."""

from __future__ import annotations

import torch

from model_store.recipes.cav import CavConfig, mean_hidden_states, random_cavs, train_cavs

CONFIG = CavConfig(cavs=4, test_fraction=0.3, seed=0)


def blobs(direction: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """[n, L=2, D] examples shifted along ``direction`` at layer 1 only; layer 0 is pure noise."""
    x = torch.randn(n, 2, direction.numel(), generator=torch.Generator().manual_seed(seed))
    x[:, 1] += direction
    return x


def test_cavs_point_at_the_concept_where_it_is_separable() -> None:
    direction = torch.zeros(12)
    direction[3] = 4.0
    vectors, accuracy = train_cavs(blobs(direction, 60, 1), blobs(torch.zeros(12), 200, 2), CONFIG, "c")
    assert vectors.shape == (4, 2, 12) and accuracy.shape == (4, 2)
    torch.testing.assert_close(vectors.norm(dim=-1), torch.ones(4, 2))
    assert accuracy[:, 1].min() > 0.9 and vectors[:, 1, 3].min() > 0.9  # layer 1: separable, aligned with +e3
    assert accuracy[:, 0].mean() < 0.75  # layer 0: nothing to find


def test_each_cav_draws_its_own_counterparts() -> None:
    vectors, _ = train_cavs(blobs(torch.ones(12), 30, 1), blobs(torch.zeros(12), 300, 2), CONFIG, "c")
    assert not torch.allclose(vectors[0], vectors[1])
    again, _ = train_cavs(blobs(torch.ones(12), 30, 1), blobs(torch.zeros(12), 300, 2), CONFIG, "c")
    torch.testing.assert_close(vectors, again)  # seeded


def test_random_cavs_find_nothing() -> None:
    _, accuracy = random_cavs(blobs(torch.zeros(12), 400, 3), 100, CONFIG)
    assert 0.3 < accuracy.mean() < 0.7


def test_mean_hidden_states_skips_embeddings_and_padding(tiny_bert, tokenizer) -> None:
    short = tokenizer(["a fine film"], return_tensors="pt")
    padded = tokenizer(["a fine film", "a much longer sentence than the first one"], padding=True, return_tensors="pt")
    one = mean_hidden_states(tiny_bert, [(dict(short), short["attention_mask"])])
    two = mean_hidden_states(tiny_bert, [(dict(padded), padded["attention_mask"])])
    assert one.shape == (1, 2, 32) and two.shape == (2, 2, 32)
    torch.testing.assert_close(two[0], one[0], atol=1e-5, rtol=1e-5)
    hidden = tiny_bert(**short, output_hidden_states=True).hidden_states
    torch.testing.assert_close(one[0, 1], hidden[2][0].mean(0), atol=1e-6, rtol=1e-6)
