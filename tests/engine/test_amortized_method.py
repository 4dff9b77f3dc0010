"""amortized_shapley's serving half: the capture's token signals against a from-scratch recomputation,
the stored network's format, and the clear refusal on a model that ships none."""

from __future__ import annotations

import pytest
import torch

from attnserve.capture import TOKEN_SIGNALS, capture, model_signal_names
from attnserve.explain import ModelInfo
from attnserve.methods.amortized import FEATURE_NEEDS, FILE_NAME, features, find_amortizer, save_amortizer
from attnserve.text.codec import collate, encode_text
from attnserve.text.explainer import TextExplainer
from tests.conftest import make_amortizer

TEXTS = ["Not bad, actually quite fun.", "A dull, plodding mess."]


def test_signals_match_autograd_on_retained_tensors(tiny_bert, tokenizer) -> None:
    inputs, players = collate(tokenizer, [encode_text(tokenizer, t, 64) for t in TEXTS])
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


def test_features_are_zero_outside_players_and_scale_free(tiny_bert, tokenizer) -> None:
    inputs, players = collate(tokenizer, [encode_text(tokenizer, t, 64) for t in TEXTS])
    tokens, rows = features(capture(tiny_bert, inputs, players, FEATURE_NEEDS))
    assert (tokens[~players] == 0).all()
    assert torch.isfinite(tokens).all() and torch.isfinite(rows).all()
    signals = len(model_signal_names(tiny_bert))
    per_row_rms = tokens[..., :signals].pow(2).sum(1) / players.sum(1, keepdim=True)
    # 1 for every signal, except where the model has none: BERT's last block reaches the logit only
    # through [CLS], so the other tokens' gradient there is exactly zero.
    dead = per_row_rms < 1e-12
    assert dead.sum() == 2 * players.shape[0]
    torch.testing.assert_close(per_row_rms[~dead], torch.ones_like(per_row_rms[~dead]), atol=1e-4, rtol=0)


def test_stored_network_round_trips_and_checks_the_model(tmp_path, tiny_bert, tokenizer) -> None:
    head = make_amortizer(tiny_bert, seed=3)
    save_amortizer(head, tmp_path / FILE_NAME, {"note": "test"})
    loaded = find_amortizer(tmp_path, tiny_bert)
    for key, value in head.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert loaded.meta == {"note": "test"}

    deeper = type(tiny_bert)(tiny_bert.config.__class__(**{**tiny_bert.config.to_dict(), "num_hidden_layers": 3}))
    with pytest.raises(ValueError, match="do not match"):
        find_amortizer(tmp_path, deeper)
    assert find_amortizer(tmp_path / "elsewhere", tiny_bert) is None


def test_a_model_without_one_refuses_the_method_by_name(tiny_bert, tokenizer) -> None:
    bare = TextExplainer(tiny_bert, tokenizer, ModelInfo("bare", "0"), 64, ["shapley_mutual"])
    body = {"text": TEXTS[0], "methods": ["gae", "amortized_shapley"]}
    (outcome,) = bare.explain([(body, None)])
    assert outcome.code == "INVALID_INPUT" and outcome.field == "methods[1]"
    assert "amortized_shapley" in outcome.message
