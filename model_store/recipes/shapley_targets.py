"""The teacher of ``amortized_shapley``: Shapley values of the masking game (``attnserve.text.game``,
``attnserve.image.game``) by antithetic permutation sampling, every coalition of every sampled order
evaluated in large batches.

This module and what it imports are the code part of the targets' cache key (keys.py), and targets
cost an hour of CPU per release: it loads the model with transformers directly, not through the
serving loader, so that engine edits outside the masking game never invalidate them.

Why this estimator (measured on the sentiment model, see the README's amortized section): the faithfulness
protocol and the served baselines play the [MASK] game, so the targets must be Shapley values of exactly
that game; exact enumeration costs 2^n forwards (a 20-token sentence: 10^6); permutation sampling costs
n + 1 forwards per order, keeps efficiency exactly (Σφ = v(all) − v(none) for every order), and pairing
each order with its reverse (antithetic sampling) cancels much of the order-to-order variance, because a
token that comes early in one comes late in the other. Captum's ``ShapleyValueSampling`` evaluates the
same coalitions but draws orders independently and in smaller batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from itertools import permutations as all_orders
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

Game = Callable[[Tensor], Tensor]  # presence [k, n] bool -> value [k]


def orders(n: int, count: int, generator: torch.Generator) -> Tensor:
    """[count', n]: ``count`` orders in antithetic pairs (an order, then its reverse), or every order
    once when there are no more than ``count`` of them (exact, and no dearer)."""
    if math.factorial(n) <= count:
        return torch.tensor(list(all_orders(range(n))), dtype=torch.long).reshape(-1, n)
    drawn = [torch.randperm(n, generator=generator) for _ in range(-(-count // 2))]
    return torch.stack([o for order in drawn for o in (order, order.flip(0))][:count])


def permutation_shapley(game: Game, n: int, count: int, generator: torch.Generator, batch: int) -> Tensor:
    """[n] Shapley values of ``game`` over n players, averaged over ``orders``.

    For an order o, coalition s (s = 0..n) holds its first s players; player o[s] adds v(s+1) − v(s).
    """
    chosen = orders(n, count, generator)  # [P, n]
    rank = chosen.argsort(1)  # [P, n]: where each player comes in each order
    sizes = torch.arange(n + 1)[None, :, None]  # [1, n + 1, 1]
    present = (rank[:, None, :] < sizes).reshape(-1, n)  # [P·(n + 1), n]
    values = torch.cat([game(part).float().cpu() for part in present.split(batch)]).reshape(len(chosen), n + 1)
    gains = values.diff(dim=1)  # [P, n]: gains[p, s] belongs to player chosen[p, s]
    phi = torch.zeros(len(chosen), n).scatter_(1, chosen, gains)
    return phi.mean(0)


class Teacher(Protocol):
    """The teacher settings a targets block depends on (a part of amortized.Settings)."""

    permutations: int
    batch: int
    seed: int


def compute_targets(
    checkpoint: Path,
    modality: str,
    positions: int,
    items: Sequence[str],
    image_of: Callable[[str], Any] | None,
    teacher: Teacher,
    out: Path,
    block: int = 0,
) -> None:
    """targets.pt: per input, its players' Shapley values (in player order) and the seconds it took.

    Text inputs are cut to ``positions``; image items are turned into pixels by ``image_of``."""
    from tqdm import tqdm
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification, AutoTokenizer

    from attnserve.image.codec import ImageSpec
    from attnserve.image.game import image_game
    from attnserve.text.game import text_game
    from model_store.recipes.training import set_threads

    set_threads()
    if modality == "text":
        model = AutoModelForSequenceClassification.from_pretrained(checkpoint, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        model.eval().requires_grad_(False)

        def game_of(item: str) -> Any:
            return text_game(model, tokenizer, item, positions)
    else:
        model = AutoModelForImageClassification.from_pretrained(checkpoint, attn_implementation="eager")
        spec = ImageSpec.from_model_dir(checkpoint)
        model.eval().requires_grad_(False)

        def game_of(item: str) -> Any:
            return image_game(model, spec, image_of(item))

    generator = torch.Generator().manual_seed(teacher.seed + block)
    values, seconds = [], []
    for item in tqdm(items, desc=f"shapley targets, block {block} ({teacher.permutations} orders)", unit="input"):
        started = time.perf_counter()
        row = game_of(item)
        values.append(
            permutation_shapley(row.presence_probability, row.n, teacher.permutations, generator, teacher.batch)
        )
        seconds.append(time.perf_counter() - started)
    torch.save({"items": list(items), "values": values, "seconds": seconds}, out / "targets.pt")
