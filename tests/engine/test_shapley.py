"""Closed forms of attnserve.methods.shapley against enumeration of all coalitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnserve.methods import shapley
from tests.reference import shapley_bruteforce as reference

GAMES = [
    (shapley.cls_game, reference.cls_game),
    (shapley.mutual_game, reference.mutual_game),
    (shapley.max_mutual_game, reference.max_mutual_game),
]


def random_attention(n: int, seed: int) -> torch.Tensor:
    """A row-stochastic [1, T, T] matrix over [CLS], n players, [SEP] and two padding positions."""
    generator = torch.Generator().manual_seed(seed)
    t = n + 4
    logits = torch.randn(1, t, t, generator=generator, dtype=torch.float64)
    return logits.softmax(-1)


def players_mask(n: int) -> torch.Tensor:
    mask = torch.zeros(1, n + 4, dtype=torch.bool)
    mask[0, 1 : n + 1] = True
    return mask


@pytest.mark.parametrize("n", range(1, 11))
@pytest.mark.parametrize(("closed_form", "game"), GAMES, ids=lambda g: getattr(g, "__name__", ""))
def test_closed_form_equals_enumeration(n: int, closed_form, game) -> None:
    m = random_attention(n, seed=n)
    phi = closed_form(m, players_mask(n))[0]
    expected = reference.shapley_values(n, game(m[0].numpy()))
    np.testing.assert_allclose(phi[1 : n + 1].numpy(), expected, rtol=0, atol=1e-9)
    assert torch.count_nonzero(phi[n + 1 :]) == 0 and phi[0] == 0  # nothing leaks to non-players


@pytest.mark.parametrize("n", range(1, 11))
@pytest.mark.parametrize(("closed_form", "game"), GAMES, ids=lambda g: getattr(g, "__name__", ""))
def test_efficiency(n: int, closed_form, game) -> None:
    m = random_attention(n, seed=100 + n)
    total = closed_form(m, players_mask(n)).sum().item()
    grand = game(m[0].numpy())(frozenset(range(n)))
    assert total == pytest.approx(grand, abs=1e-12)


@pytest.mark.parametrize(("closed_form", "game"), GAMES, ids=lambda g: getattr(g, "__name__", ""))
def test_symmetric_players_get_equal_values(closed_form, game) -> None:
    n, i, j = 6, 2, 4  # players at positions i and j play interchangeable roles
    m = random_attention(n, seed=7)[0]
    swap = list(range(n + 4))
    swap[i], swap[j] = j, i
    m = ((m + m[swap][:, swap]) / 2)[None]
    phi = closed_form(m, players_mask(n))[0]
    assert phi[i].item() == pytest.approx(phi[j].item(), abs=1e-12)


def test_one_player_gets_its_self_attention() -> None:
    m = random_attention(1, seed=3)
    for closed_form in (shapley.mutual_game, shapley.max_mutual_game):
        phi = closed_form(m, players_mask(1))[0]
        assert torch.isfinite(phi).all()
        assert phi[1].item() == pytest.approx(m[0, 1, 1].item(), abs=1e-15)


def test_batched_rows_are_independent() -> None:
    rows = [random_attention(n, seed=n)[0] for n in (3, 7)]
    width = max(r.shape[0] for r in rows)
    batch = torch.zeros(2, width, width, dtype=torch.float64)
    mask = torch.zeros(2, width, dtype=torch.bool)
    for b, (row, n) in enumerate(zip(rows, (3, 7), strict=True)):
        batch[b, : row.shape[0], : row.shape[0]] = row
        mask[b, 1 : n + 1] = True
    for closed_form, _ in GAMES:
        together = closed_form(batch, mask)
        for b, (row, n) in enumerate(zip(rows, (3, 7), strict=True)):
            alone = closed_form(row[None], players_mask(n))[0]
            torch.testing.assert_close(together[b, : row.shape[0]], alone, rtol=0, atol=1e-12)
