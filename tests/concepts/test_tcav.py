"""Attention-weighted TCAV maths: directional derivatives against finite differences on a real (tiny)
transformer, the paper's per-token formula, masking, and vectorisation over layers and CAVs."""

from __future__ import annotations

import pytest
import torch
from transformers import ViTForImageClassification

from attnserve.concepts.tcav import EPS, attention_weighted, directional_derivatives, sensitivity, tcav_scores
from tests.conftest import make_tiny_vit


@pytest.fixture(scope="module")
def tiny_vit() -> ViTForImageClassification:
    """float64 throughout; SDPA attention because eager attention runs its softmax in float32, which
    caps a finite difference at ~1e-5 relative accuracy (the maths checked here does not use the maps)."""
    return make_tiny_vit(image_size=8, patch_size=4, num_labels=3, attn_implementation="sdpa").double().eval()


def logit_with_shift(model: ViTForImageClassification, x: torch.Tensor, layer: int, shift: torch.Tensor) -> float:
    """Target logit when ``shift`` [T, D] is added to the output of block ``layer``."""

    def add(_module: object, _args: object, output: object) -> object:
        if isinstance(output, tuple):
            return (output[0] + shift, *output[1:])
        return output + shift

    handle = model.vit.layers[layer].register_forward_hook(add)
    try:
        with torch.no_grad():
            return model(pixel_values=x).logits[0, 1].item()
    finally:
        handle.remove()


def test_directional_derivative_matches_finite_differences(tiny_vit: ViTForImageClassification) -> None:
    x = torch.randn(1, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = tiny_vit(pixel_values=x, output_hidden_states=True)
    hidden = out.hidden_states[1:]
    grads = torch.autograd.grad(out.logits[0, 1], hidden)  # ∂ target logit / ∂ hidden_states[l + 1]
    cavs = torch.nn.functional.normalize(torch.randn(2, 3, 16, dtype=torch.float64), dim=-1)  # [L, K, D]
    d = directional_derivatives(torch.stack(grads), cavs)  # [L, 1, T, K]
    step = 1e-6
    for layer in range(2):
        for k in range(3):
            for token in (0, 2):
                shift = torch.zeros(5, 16, dtype=torch.float64)
                shift[token] = step * cavs[layer, k]
                numeric = (
                    logit_with_shift(tiny_vit, x, layer, shift) - logit_with_shift(tiny_vit, x, layer, -shift)
                ) / (2 * step)
                assert d[layer, 0, token, k].item() == pytest.approx(numeric, rel=1e-7, abs=1e-10)
            whole = step * cavs[layer, k].expand(5, 16)  # moving every token along v: the sum of the d_t
            numeric = (logit_with_shift(tiny_vit, x, layer, whole) - logit_with_shift(tiny_vit, x, layer, -whole)) / (
                2 * step
            )
            assert d[layer, 0, :, k].sum().item() == pytest.approx(numeric, rel=1e-7, abs=1e-10)


def paper_formula(d: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, float]:
    """One input, one CAV, every token valid: the authors' steps written out (ε in the denominator)."""
    d_tilde = d * (a.norm() / (d.norm() + EPS))
    s = a * d_tilde
    return s, s.mean().item()


def test_matches_the_per_token_formula_and_ignores_masked_tokens() -> None:
    g = torch.Generator().manual_seed(2)
    d = torch.randn(1, 6, 1, generator=g, dtype=torch.float64)
    a = torch.rand(1, 6, generator=g, dtype=torch.float64)
    s, score = paper_formula(d[0, :, 0], a[0])
    result = attention_weighted(d, a, torch.ones(1, 6, dtype=torch.bool))
    torch.testing.assert_close(result.tokens[0, :, 0], s)
    assert result.score.item() == pytest.approx(score)

    padded_d = torch.cat([d, 100 * torch.ones(1, 3, 1, dtype=torch.float64)], 1)
    padded_a = torch.cat([a, torch.ones(1, 3, dtype=torch.float64)], 1)
    mask = torch.tensor([[True] * 6 + [False] * 3])
    padded = attention_weighted(padded_d, padded_a, mask)
    assert padded.score.item() == pytest.approx(score)
    assert padded.tokens[0, 6:].eq(0).all()


def test_sign_of_the_score_is_the_sign_of_the_attention_weighted_sum() -> None:
    g = torch.Generator().manual_seed(3)
    d = torch.randn(50, 7, 4, generator=g)
    a = torch.rand(50, 7, generator=g)
    score = attention_weighted(d, a, torch.ones(50, 7, dtype=torch.bool)).score
    assert torch.equal(score > 0, (a[..., None] * d).sum(1) > 0)


def test_zero_gradient_gives_zero_not_nan() -> None:
    result = attention_weighted(torch.zeros(2, 5, 3), torch.rand(2, 5), torch.ones(2, 5, dtype=torch.bool))
    assert result.score.eq(0).all() and result.tokens.eq(0).all()


def test_vectorised_over_layers_and_cavs_equals_one_at_a_time() -> None:
    g = torch.Generator().manual_seed(4)
    grads, attn = torch.randn(3, 2, 6, 8, generator=g), torch.rand(3, 2, 6, generator=g)  # [L, B, T, D], [L, B, T]
    cavs = torch.nn.functional.normalize(torch.randn(3, 5, 8, generator=g), dim=-1)  # [L, K, D]
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    together = sensitivity(grads, attn, mask, cavs)
    assert together.score.shape == (3, 2, 5) and together.tokens.shape == (3, 2, 6, 5)
    for layer in range(3):
        for k in range(5):
            alone = sensitivity(grads[layer], attn[layer], mask, cavs[layer, k : k + 1])
            torch.testing.assert_close(together.tokens[layer, ..., k], alone.tokens[..., 0])
            torch.testing.assert_close(together.score[layer, :, k], alone.score[:, 0])


def test_tcav_scores_are_shares_in_unit_interval() -> None:
    score = torch.tensor([[[1.0, -1.0, 0.0], [2.0, -3.0, 0.0], [-1.0, -2.0, 0.0], [0.5, -0.1, 0.0]]])  # [1, N=4, K=3]
    torch.testing.assert_close(tcav_scores(score), torch.tensor([[0.75, 0.0, 0.0]]))
    random_scores = tcav_scores(torch.randn(6, 40, 10))
    assert random_scores.shape == (6, 10) and random_scores.min() >= 0 and random_scores.max() <= 1


def test_block_outputs_are_the_hidden_states_cavs_were_trained_on(
    tiny_vit: ViTForImageClassification, tiny_bert
) -> None:
    """The contract for the online pass: hooking the modules transformers records ``hidden_states`` from
    yields exactly hidden_states[l + 1], the activations the CAVs were trained on (cav.py)."""
    for model, inputs in (
        (tiny_vit, {"pixel_values": torch.randn(2, 1, 8, 8, dtype=torch.float64)}),
        (tiny_bert, {"input_ids": torch.tensor([[101, 2023, 2003, 102]])}),
    ):
        blocks = [m for m in model.modules() if isinstance(m, model._can_record_outputs["hidden_states"])]
        seen: list[torch.Tensor] = []

        def record(_module: object, _args: object, out: object, seen: list[torch.Tensor] = seen) -> None:
            seen.append(out[0] if isinstance(out, tuple) else out)

        hooks = [b.register_forward_hook(record) for b in blocks]
        try:
            with torch.no_grad():
                hidden = model(**inputs, output_hidden_states=True).hidden_states
        finally:
            for hook in hooks:
                hook.remove()
        assert len(seen) == len(hidden) - 1 == model.config.num_hidden_layers
        for got, expected in zip(seen, hidden[1:], strict=True):
            torch.testing.assert_close(got, expected)
