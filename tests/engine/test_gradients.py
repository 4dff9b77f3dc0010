"""``saliency`` against autograd on the embeddings directly, computed here without the capture."""

from __future__ import annotations

import pytest
import torch

from attnserve.text.codec import collate, encode_text


def test_saliency_is_the_gradient_norm_at_each_embedding(explainer, tiny_bert, tokenizer) -> None:
    text = "A gorgeous, moving film that never stops surprising."
    (response,) = explainer.explain([({"text": text, "methods": ["saliency"]}, None)])
    inputs, players = collate(tokenizer, [encode_text(tokenizer, text, 64)])
    embeddings = tiny_bert.get_input_embeddings()(inputs["input_ids"]).detach().requires_grad_(True)
    hook = tiny_bert.get_input_embeddings().register_forward_hook(lambda _m, _a, _o: embeddings)
    try:
        logits = tiny_bert(**inputs).logits
    finally:
        hook.remove()
    target = explainer.labels.index(response["target"])
    (grad,) = torch.autograd.grad(logits[0, target], embeddings)
    expected = grad.norm(dim=-1)[0, players[0]]
    assert response["attributions"]["saliency"]["tokens"] == pytest.approx(expected.tolist(), abs=1e-5)
