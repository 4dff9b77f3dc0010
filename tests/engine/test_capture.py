"""The layer-by-layer reductions of capture() against the plain all-maps-kept computation."""

from __future__ import annotations

import pytest
import torch

from attnserve.capture import ATTN, ATTN_GRAD, capture
from attnserve.text.codec import collate, encode_text

TEXTS = ["A gorgeous, moving film.", "The plot is not good at all, and the acting is worse."]


@pytest.fixture(scope="module")
def batch(tokenizer):
    return collate(tokenizer, [encode_text(tokenizer, t, 64) for t in TEXTS])


def reference_maps(model, inputs, targets=None):
    """Keep every layer's [B, H, T, T] map and differentiate the target logits directly."""
    out = model(**inputs, output_attentions=True)
    for a in out.attentions:
        a.retain_grad()
    chosen = out.logits.argmax(-1) if targets is None else targets
    out.logits.gather(1, chosen[:, None]).sum().backward()
    attn = torch.stack([a.detach() for a in out.attentions]).mean(dim=(0, 2))
    grad = torch.stack([a.detach() * a.grad.clamp(min=0) for a in out.attentions]).mean(dim=(0, 2))
    model.zero_grad(set_to_none=True)
    return out.logits.detach(), attn, grad


def test_reduced_maps_match_reference(tiny_bert, batch) -> None:
    inputs, players = batch
    with torch.enable_grad():
        tiny_bert.requires_grad_(True)
        logits, attn, grad = reference_maps(tiny_bert, inputs)
        tiny_bert.requires_grad_(False)
    result = capture(tiny_bert, inputs, players, {ATTN, ATTN_GRAD})
    torch.testing.assert_close(result.logits, logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(result.attn, attn, rtol=0, atol=1e-6)
    torch.testing.assert_close(result.attn_grad, grad, rtol=0, atol=1e-7)
    assert set(result.timings_s) == {"forward", "backward"}
    assert all(p.grad is None for p in tiny_bert.parameters())  # gradients start at the embeddings


def test_explicit_target_is_differentiated(tiny_bert, batch) -> None:
    inputs, players = batch
    result = capture(tiny_bert, inputs, players, {ATTN_GRAD}, targets=[0, None])
    predicted = result.logits.argmax(-1)
    assert result.targets.tolist() == [0, int(predicted[1])]
    with torch.enable_grad():
        tiny_bert.requires_grad_(True)
        _, _, grad = reference_maps(tiny_bert, inputs, targets=result.targets)
        tiny_bert.requires_grad_(False)
    torch.testing.assert_close(result.attn_grad, grad, rtol=0, atol=1e-7)


def test_prediction_only_pass_collects_nothing(tiny_bert, batch) -> None:
    inputs, players = batch
    result = capture(tiny_bert, inputs, players, set())
    assert result.attn is None and result.attn_grad is None
    assert "backward" not in result.timings_s


def test_non_eager_attention_is_refused(tokenizer, batch) -> None:
    from tests.conftest import make_tiny_bert

    model = make_tiny_bert(tokenizer.vocab_size)
    model.config._attn_implementation = "sdpa"
    with pytest.raises(ValueError, match="eager"):
        capture(model, batch[0], batch[1], {ATTN})
