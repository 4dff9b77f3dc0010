"""Significance of TCAV scores: a concept built from the class's own examples is significant, a random
one is not, end to end from CAV training (scikit-learn) through sensitivities to the tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnserve.concepts.bank import RANDOM
from attnserve.concepts.stats import by_concept, significance
from attnserve.concepts.tcav import attention_weighted, sensitivity, tcav_scores
from model_store.recipes.cav import CavConfig, random_cavs, train_cavs

DIM, TOKENS, INPUTS = 16, 6, 200


@pytest.fixture(scope="module")
def world() -> dict[str, torch.Tensor]:
    """One layer. Examples of class k sit along u; the target logit grows along u, so its gradient is u
    plus per-token noise. Activations are [N, 1, D] as cav.train_cavs expects."""
    g = torch.Generator().manual_seed(0)
    u = torch.nn.functional.normalize(torch.randn(DIM, generator=g), dim=0)
    return {
        "class_examples": (3 * u + torch.randn(150, DIM, generator=g))[:, None],
        "others": torch.randn(600, DIM, generator=g)[:, None],
        "grads": (u + 1.5 * torch.randn(INPUTS, TOKENS, DIM, generator=g))[None],  # [L=1, N, T, D]
        "attn": torch.distributions.Dirichlet(torch.ones(TOKENS)).sample((1, INPUTS)),  # [1, N, T]
    }


def scores_of(world: dict[str, torch.Tensor], cavs: torch.Tensor) -> torch.Tensor:
    """cavs [K, 1, D] -> TCAV scores [1, K] over the class's inputs."""
    mask = torch.ones(INPUTS, TOKENS, dtype=torch.bool)
    return tcav_scores(sensitivity(world["grads"], world["attn"], mask, cavs.transpose(0, 1)).score)


def test_own_class_concept_is_significant_and_random_concept_is_not(world: dict[str, torch.Tensor]) -> None:
    config = CavConfig(cavs=20, test_fraction=0.3, seed=1)
    concept, accuracy = train_cavs(world["class_examples"], world["others"], config, "own class")
    assert accuracy.mean() > 0.85
    baseline, _ = random_cavs(world["others"], 150, config)
    unrelated, _ = random_cavs(world["others"], 150, CavConfig(cavs=20, test_fraction=0.3, seed=99))
    concept_scores, baseline_scores, unrelated_scores = (scores_of(world, c) for c in (concept, baseline, unrelated))
    assert concept_scores.min() >= 0 and concept_scores.max() <= 1

    own = significance(concept_scores, baseline_scores)
    assert own.mean[0] > 0.8
    assert own.p_vs_half[0] < 1e-6 and own.p_vs_random[0] < 1e-3
    random_one = significance(unrelated_scores, baseline_scores)
    assert random_one.p_vs_half[0] > 0.05 and random_one.p_vs_random[0] > 0.05


def test_by_concept_uses_the_random_columns_as_the_null() -> None:
    scores = torch.tensor([[0.9, 0.95, 0.85, 0.5, 0.4, 0.6, 0.55]])  # [L=1, K=7]
    owners = [("a", 0), ("a", 1), ("a", 2), (RANDOM, 0), (RANDOM, 1), (RANDOM, 2), (RANDOM, 3)]
    result = by_concept(scores, owners)
    assert list(result) == ["a"]
    expected = significance(scores[:, :3], scores[:, 3:])
    np.testing.assert_allclose(result["a"].p_vs_random, expected.p_vs_random)
    assert result["a"].to_dict()["mean"] == pytest.approx([0.9])


def test_constant_scores_give_nan_p_values_not_errors() -> None:
    result = significance(np.ones((2, 5)), np.ones((2, 5)))
    assert np.isnan(result.p_vs_half).all() and np.isnan(result.p_vs_random).all()
    assert result.to_dict()["p_vs_half"] == [None, None]
    assert result.mean.tolist() == [1.0, 1.0] and result.std.tolist() == [0.0, 0.0]


def test_scores_follow_the_sign_of_the_sensitivity() -> None:
    d = torch.tensor([[[1.0], [1.0]], [[-1.0], [-1.0]], [[2.0], [-1.0]]])  # [N=3, T=2, K=1]
    score = attention_weighted(d, torch.tensor([[0.5, 0.5]] * 3), torch.ones(3, 2, dtype=torch.bool)).score
    assert tcav_scores(score).item() == pytest.approx(2 / 3)
