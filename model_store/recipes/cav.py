"""CAV training, shared by text and image concepts: activations per layer in, unit vectors out.

Representation: one vector per example and layer, the mean of ``hidden_states[l + 1]`` (the residual
stream after block l) over the example's real tokens, [CLS] (and [SEP]) included. The paper instead
trains on every token as its own sample; we do not, because (1) in a concept sentence only a few
tokens carry the concept, so labelling all of them positive is mostly label noise, (2) the tokens of
one input are strongly correlated, which inflates the sample count and, unless the split is by input,
leaks between training and held-out data, and (3) a mean of token vectors lies in the same space as
each token vector, so the CAV still applies token by token (d_t = g_t · v) when serving.

Each CAV: scikit-learn LogisticRegression (L2, C=1, as the paper) on the concept examples against a
freshly drawn counterpart sample of the same size; a stratified share is held out to measure its
accuracy; the coefficient vector, unit-normalised, points towards the concept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

REPRESENTATION = "mean over real tokens ([CLS] included) of hidden_states[l + 1], one vector per example"


@dataclass(frozen=True)
class CavConfig:
    cavs: int = 20  # CAVs per concept and layer, each against its own counterpart sample
    test_fraction: float = 0.3  # held out per CAV for its accuracy
    seed: int = 1337


def mean_hidden_states(model: nn.Module, batches: Iterable[tuple[dict[str, Tensor], Tensor | None]]) -> Tensor:
    """Mean over each example's ``mask`` tokens of every block's output: [N, L, D] float32.

    ``batches`` yields (model inputs, mask [B, T], or None for every token, as for an image, whose
    tokens are all real); hidden_states[0] (the embeddings) is skipped."""
    out = []
    with torch.inference_mode():
        for inputs, given in batches:
            hidden = model(**inputs, output_hidden_states=True).hidden_states[1:]
            mask = torch.ones(hidden[0].shape[:2]) if given is None else given
            weights = mask.float()[:, None, :, None] / mask.float().sum(-1)[:, None, None, None]  # [B, 1, T, 1]
            out.append((torch.stack(hidden, 1).float() * weights).sum(2))  # [B, L, D]
    return torch.cat(out)


def _fit(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    classifier = LogisticRegression(max_iter=1000, random_state=seed).fit(x_train, y_train)
    vector = classifier.coef_[0]
    return vector / max(np.linalg.norm(vector), 1e-12), float(classifier.score(x_test, y_test))


Draw = Callable[[np.random.Generator], tuple[Tensor, Tensor]]  # rng -> (concept [n, L, D], counterpart [n, L, D])


def _train(draw: Draw, shape: tuple[int, int], config: CavConfig, label: str) -> tuple[Tensor, Tensor]:
    """CAV i draws its examples with seed + i, then fits one classifier per layer."""
    from tqdm import tqdm

    layers, dim = shape
    vectors, accuracy = torch.zeros(config.cavs, layers, dim), torch.zeros(config.cavs, layers)
    for i in tqdm(range(config.cavs), desc=f"CAVs {label}", unit="cav", leave=False):
        pos, neg = draw(np.random.default_rng(config.seed + i))
        x, y = torch.cat([pos, neg]).numpy(), np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        for layer in range(layers):
            vector, acc = _fit(x[:, layer], y, config.test_fraction, config.seed + i)
            vectors[i, layer], accuracy[i, layer] = torch.from_numpy(vector).float(), acc
    return vectors, accuracy


def train_cavs(concept: Tensor, counterparts: Tensor, config: CavConfig, label: str) -> tuple[Tensor, Tensor]:
    """concept [P, L, D], counterpart pool [Q, L, D] -> (vectors [K, L, D], held-out accuracy [K, L]).

    The concept set stays fixed (as in the paper); each CAV draws its own counterparts, as many as
    there are concept examples (all of them if the pool is smaller)."""
    size = min(len(concept), len(counterparts))

    def draw(rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        return concept[rng.choice(len(concept), size, replace=False)], counterparts[
            rng.choice(len(counterparts), size, replace=False)
        ]

    return _train(draw, concept.shape[1:], config, label)


def random_cavs(pool: Tensor, size: int, config: CavConfig) -> tuple[Tensor, Tensor]:
    """Random-vs-random CAVs: two disjoint random samples of ``size`` from the pool per CAV; their
    TCAV scores are the null that concept scores are tested against."""
    size = min(size, len(pool) // 2)

    def draw(rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        order = torch.from_numpy(rng.permutation(len(pool))[: 2 * size])
        return pool[order[:size]], pool[order[size:]]

    return _train(draw, pool.shape[1:], config, "random")
