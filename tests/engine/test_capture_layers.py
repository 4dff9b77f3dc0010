"""The capture pass numbers layers by call, not by module: a model that runs one shared attention module
in every layer (ALBERT) gets each layer's own map, as `output_attentions` reports them; a family that
returns its maps only when asked (DeBERTa-v2, relative-position attention) is asked. The token signals
(``saliency`` reads them) are checked against autograd on retained tensors."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from attnserve.capture import ATTN_LAYERS, HIDDEN, TOKEN_SIGNALS, capture, model_signal_names
from attnserve.text.codec import collate, encode_text

SIZES = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 100}


DEBERTA = {
    "relative_attention": True,
    "pos_att_type": ["p2c", "c2p"],
    "position_buckets": 8,
    "max_relative_positions": 16,
}


@pytest.mark.parametrize(
    ("family", "extra"), [("albert", {"embedding_size": 16}), ("bert", {}), ("deberta-v2", DEBERTA)]
)
def test_every_layer_gets_its_own_attention_map(family: str, extra: dict) -> None:
    config = AutoConfig.for_model(family, num_hidden_layers=3, max_position_embeddings=32, **SIZES, **extra)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()
    inputs = {"input_ids": torch.tensor([[2, 11, 12, 13, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    players = torch.tensor([[False, True, True, True, False]])
    found = capture(model, inputs, players, {ATTN_LAYERS, TOKEN_SIGNALS, HIDDEN})
    with torch.no_grad():
        out = model(**inputs, output_attentions=True, output_hidden_states=True)
    reference = torch.stack([a.mean(1) for a in out.attentions])
    assert found.attn_layers.shape == (3, 1, 5, 5)
    assert torch.allclose(found.attn_layers, reference, atol=1e-6)
    assert torch.allclose(found.hidden, out.hidden_states[-1], atol=1e-5)  # the last call of a shared layer
    assert found.token_signals.shape[-1] == len(model_signal_names(model))


SIGNAL_TEXTS = ["Not bad, actually quite fun.", "A dull, plodding mess."]


def test_signals_match_autograd_on_retained_tensors(tiny_bert, tokenizer) -> None:
    inputs, players = collate(tokenizer, [encode_text(tokenizer, t, 64) for t in SIGNAL_TEXTS])
    c = capture(tiny_bert, inputs, players, {TOKEN_SIGNALS})
    names = model_signal_names(tiny_bert)
    assert c.token_signals.shape == (*players.shape, len(names))

    embeddings = tiny_bert.get_input_embeddings()(inputs["input_ids"]).detach().requires_grad_(True)
    with torch.enable_grad():
        out = tiny_bert(
            inputs_embeds=embeddings,
            attention_mask=inputs["attention_mask"],
            token_type_ids=inputs.get("token_type_ids"),
            output_attentions=True,
            output_hidden_states=True,
        )
        for a in out.attentions:
            a.retain_grad()
        hidden = out.hidden_states[1:]
        for h in hidden:
            h.retain_grad()
        out.logits.gather(1, c.targets[:, None]).sum().backward()
    expected = {}
    for layer, a in enumerate(out.attentions):
        signed = a * a.grad
        expected[f"attn_grad_in.{layer}"] = signed.sum(2).mean(1)
        expected[f"attn_grad_cls.{layer}"] = signed[:, :, 0].mean(1)
    for block, h in enumerate([embeddings, *hidden]):
        expected[f"grad_x_hidden.{block}"] = (h.grad * h).sum(-1)
        expected[f"grad_norm.{block}"] = h.grad.norm(dim=-1)
    for channel, name in enumerate(names):
        torch.testing.assert_close(c.token_signals[..., channel], expected[name], atol=1e-6, rtol=1e-4, msg=name)
