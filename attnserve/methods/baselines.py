"""Baselines through Captum, for comparison with the attention methods: slow by nature, since each one
evaluates the model tens to hundreds of times per input (the one capture pass is only where they start).

All three explain the softmax probability of the target class, with every player replaced by [MASK] as
the reference input ([CLS]/[SEP] kept): the masking game of the faithfulness protocol (``attnserve.probe``).
All are signed: positive = evidence for the target. Each row runs alone at its own length with its own
options, and any sampling is seeded per row (``SEED``), so a request's answer does not depend on the
batch it shared. Cost, in forward passes over one input (each record's ``cost``), for n players:

- ``integrated_gradients``: Captum ``LayerIntegratedGradients`` on the word embeddings, from the
  all-[MASK] embeddings to the input's; ``steps`` + 2 forwards (the two end points, then one per
  Gauss–Legendre step) plus ``steps`` backwards. Completeness: Σ φ ≈ p(x) − p(all [MASK]).
- ``kernel_shap``: Captum ``KernelShap`` over tokens; ``samples`` forwards (coalitions drawn from the
  Shapley kernel, the full and empty ones first), batched, then a weighted least-squares fit.
- ``shapley_sampling``: Captum ``ShapleyValueSampling`` over tokens; 1 + ``permutations``·n forwards,
  batched. When n! ≤ ``permutations`` it enumerates every permutation instead (Captum ``ShapleyValues``):
  exact, and no dearer. Efficiency holds exactly either way: Σ φ = p(x) − p(all [MASK]).

A single player (n = 1) gets p(x) − p(all [MASK]), the one-player game's Shapley value (KernelSHAP
is undefined there, so that value is computed directly in 2 forwards).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from attnserve.capture import Capture
from attnserve.methods.registry import TEXT, Context, Method, Option
from attnserve.probe import Probe, ProbeSettings
from attnserve.text.game import TextGame

SEED = 0
BATCH = 64  # perturbed inputs per model call


Explain = Callable[[TextGame, Mapping[str, int]], Tensor]  # one row's attributions under its options


def _per_row(c: Capture, context: Context, method: str, explain: Explain) -> Tensor:
    """[B, T] attributions: ``explain`` on each row that asked for ``method``, seeded; zero elsewhere."""
    probe = Probe(
        context.model, context.inputs, c.players, c.targets, ProbeSettings(context.mask_token_id, context.options)
    )
    out = torch.zeros(c.players.shape, dtype=torch.float32, device=c.players.device)
    for i, row, options in probe.rows(method):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            values = explain(row, options)
        out[i, : row.players.numel()][row.players] = values.detach().float().flatten().to(out.device)
    return out


def _presence_game(row: TextGame) -> tuple[Callable[[Tensor], Tensor], Tensor, Tensor]:
    """Captum's view of the masking game: inputs are presence vectors [k, n] (1 = token kept)."""
    ones = torch.ones(1, row.n, device=row.players.device)
    return row.presence_probability, ones, torch.zeros_like(ones)


def _integrated_gradients(row: TextGame, options: Mapping[str, int]) -> Tensor:
    from captum.attr import LayerIntegratedGradients  # Captum is imported by the methods that use it only

    ids = row.inputs["input_ids"]
    reference = row.masked_ids(torch.zeros(1, row.n, dtype=torch.bool, device=ids.device))
    explainer = LayerIntegratedGradients(row.probability, row.model.get_input_embeddings())
    with torch.enable_grad():
        per_dim = explainer.attribute(ids, reference, n_steps=options["steps"], internal_batch_size=BATCH)
    return per_dim.sum(-1)[0, row.players]


def _kernel_shap(row: TextGame, options: Mapping[str, int]) -> Tensor:
    from captum.attr import KernelShap

    if row.n == 1:  # the kernel's size distribution is 0/0 for one feature
        return row.masking_gap()
    game, present, absent = _presence_game(row)
    return KernelShap(game).attribute(
        present, absent, n_samples=options["samples"], perturbations_per_eval=BATCH, show_progress=False
    )


def _shapley_sampling(row: TextGame, options: Mapping[str, int]) -> Tensor:
    from captum.attr import ShapleyValues, ShapleyValueSampling

    game, present, absent = _presence_game(row)
    permutations = options["permutations"]
    exact = math.factorial(row.n) <= permutations
    explainer = ShapleyValues(game) if exact else ShapleyValueSampling(game)
    extra = {} if exact else {"n_samples": permutations}
    return explainer.attribute(present, absent, perturbations_per_eval=BATCH, **extra)


def integrated_gradients(c: Capture, context: Context) -> Tensor:
    return _per_row(c, context, "integrated_gradients", _integrated_gradients)


def kernel_shap(c: Capture, context: Context) -> Tensor:
    return _per_row(c, context, "kernel_shap", _kernel_shap)


def shapley_sampling(c: Capture, context: Context) -> Tensor:
    return _per_row(c, context, "shapley_sampling", _shapley_sampling)


_TEXT = frozenset({TEXT})  # [MASK] has no counterpart among image patches
METHODS = [
    Method(
        "integrated_gradients",
        frozenset(),
        integrated_gradients,
        True,
        "Integrated Gradients on the word embeddings from all-[MASK] (Captum); steps + 2 forwards",
        modalities=_TEXT,
        options=(Option("steps", 32, 1000, "Gauss-Legendre steps from all-[MASK] to the input"),),
        cost=lambda options, n: options["steps"] + 2,
    ),
    Method(
        "kernel_shap",
        frozenset(),
        kernel_shap,
        True,
        "KernelSHAP over tokens, [MASK] off (Captum); samples forwards",
        modalities=_TEXT,
        options=(Option("samples", 200, 10_000, "coalitions drawn from the Shapley kernel"),),
        cost=lambda options, n: options["samples"] if n > 1 else 2,
    ),
    Method(
        "shapley_sampling",
        frozenset(),
        shapley_sampling,
        True,
        "Shapley value sampling over tokens, [MASK] off (Captum); 1 + permutations·n forwards",
        modalities=_TEXT,
        options=(Option("permutations", 10, 1000, "sampled orders of the tokens"),),
        cost=lambda options, n: 1 + min(options["permutations"], math.factorial(n)) * n,
    ),
]
