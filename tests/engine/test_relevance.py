"""The top-down row recurrences of attnserve.methods.relevance against the full-matrix forms, and the
value weighting of weighted_relevance against a direct computation from the model's weights."""

from __future__ import annotations

import pytest
import torch

from attnserve.capture import ATTN_GRAD_LAYERS, ATTN_LAYERS, VALUE_GRAD_LAYERS, Capture, capture
from attnserve.methods import relevance
from attnserve.text.codec import collate, encode_text
from tests.reference.relevance_full import accumulate_full, rollout_full


def random_layers(layers: int = 4, batch: int = 3, tokens: int = 9, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(layers, batch, tokens, tokens, generator=generator, dtype=torch.float64).softmax(-1)


def players(batch: int = 3, tokens: int = 9) -> torch.Tensor:
    mask = torch.zeros(batch, tokens, dtype=torch.bool)
    mask[:, 1:-1] = True
    return mask


def test_rollout_equals_full_product() -> None:
    maps = random_layers()
    c = Capture(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), players(), attn_layers=maps)
    expected = rollout_full(maps)[:, 0, :] * players()
    torch.testing.assert_close(relevance.rollout(c, None), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("field", "method"), [("attn_grad_layers", relevance.gae), ("value_grad_layers", relevance.weighted_relevance)]
)
def test_accumulation_equals_full_product(field: str, method) -> None:
    maps = random_layers(seed=1) * 0.3  # unnormalised non-negative maps, like (∇A ⊙ A)⁺
    c = Capture(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), players(), **{field: maps})
    expected = accumulate_full(maps)[:, 0, :] * players()
    torch.testing.assert_close(method(c, None), expected, rtol=0, atol=1e-12)


def test_captured_layer_maps_match_reference(tiny_bert, tokenizer) -> None:
    texts = ["Not bad, actually quite fun.", "Dull."]
    inputs, mask = collate(tokenizer, [encode_text(tokenizer, t, 64) for t in texts])
    result = capture(tiny_bert, inputs, mask, {ATTN_LAYERS, ATTN_GRAD_LAYERS, VALUE_GRAD_LAYERS})
    with torch.enable_grad():
        tiny_bert.requires_grad_(True)
        out = tiny_bert(**inputs, output_attentions=True)
        grads = torch.autograd.grad(out.logits.gather(1, result.targets[:, None]).sum(), out.attentions)
        tiny_bert.requires_grad_(False)
    attn = torch.stack([a.detach() for a in out.attentions])  # [L, B, H, T, T]
    edges = (torch.stack(grads) * attn).clamp(min=0)
    torch.testing.assert_close(result.attn_layers, attn.mean(2), rtol=0, atol=1e-6)
    torch.testing.assert_close(result.attn_grad_layers, edges.mean(2), rtol=0, atol=1e-7)
    # value norms computed from scratch: hidden state entering each layer -> value -> per-head output
    hidden = tiny_bert(**inputs, output_hidden_states=True).hidden_states
    heads, key_mask = tiny_bert.config.num_attention_heads, inputs["attention_mask"].float()
    for layer, block in enumerate(tiny_bert.bert.encoder.layer):
        v = block.attention.self.value(hidden[layer]).unflatten(-1, (heads, -1))  # [B, T, H, d]
        w_o = block.attention.output.dense.weight.unflatten(-1, (heads, -1))  # [D, H, d]
        norms = torch.stack([(v[:, :, h] @ w_o[:, h].T).norm(dim=-1) for h in range(heads)], 1)  # [B, H, T]
        norms = norms / ((norms * key_mask[:, None]).sum(-1, keepdim=True) / key_mask.sum(-1)[:, None, None])
        expected = (edges[layer] * norms[:, :, None, :]).mean(1)
        torch.testing.assert_close(result.value_grad_layers[layer], expected, rtol=1e-5, atol=1e-7)
