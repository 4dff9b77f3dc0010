"""The headroom diagnostic reads every order count off one stream of orders, as the teacher draws them:
its estimate at k orders is exactly the teacher's own estimate at k orders (same seed), so the table
compares the estimator the build uses, not a look-alike."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from bench.teacher_headroom import overlap, streamed, validation_items
from model_store.recipes.amortized import choose, load_settings, split
from model_store.recipes.bundles import discover
from model_store.recipes.shapley_targets import permutation_shapley


def toy_game(n: int = 7) -> SimpleNamespace:
    """A game with interactions: v(S) = Σ w_i + (x_0 x_1) + max over S of u_i, for S given as presence."""
    torch.manual_seed(0)
    w, u = torch.randn(n), torch.rand(n)

    def value(present: torch.Tensor) -> torch.Tensor:
        p = present.float()
        return p @ w + p[:, 0] * p[:, 1] + (p * u).max(1).values

    return SimpleNamespace(n=n, presence_probability=value)


def test_every_count_is_the_teachers_estimate_at_that_count() -> None:
    game = toy_game()
    found = streamed(game, [2, 6, 12], seed=5)
    for count, estimate in found.items():
        teacher = permutation_shapley(game.presence_probability, game.n, count, torch.Generator().manual_seed(5), 64)
        torch.testing.assert_close(estimate, teacher, atol=1e-6, rtol=1e-5)


def test_overlap_counts_the_reference_top_bin() -> None:
    reference = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0])
    assert overlap(reference, reference, 20) == 1.0
    assert overlap(-reference, reference, 20) == 0.0
    assert overlap(torch.tensor([5.0, 0, 0, 0, 0, 0, 0, 0, 0, 4.5]), reference, 20) == 0.5


def test_it_reads_the_builds_validation_inputs_never_a_training_one() -> None:
    """With extra inputs the validation share is cut from the first, full-order inputs, not from the end of
    the list: a diagnostic that cut its own would score inputs the network was trained on."""
    bundle = discover()["sentiment"]
    settings = load_settings(bundle)
    items = choose(bundle.recipe.training_items(), settings)
    training, validation = split(settings, len(items))
    assert settings.extra_inputs > 0
    found = validation_items("sentiment", 12)
    assert found == [items[i] for i in validation[:12].tolist()]
    assert not set(found) & {items[i] for i in training.tolist()}
