"""The capture pass numbers layers by call, not by module: a model that runs one shared attention module
in every layer (ALBERT) gets each layer's own map, as `output_attentions` reports them; a family that
returns its maps only when asked (DeBERTa-v2, relative-position attention) is asked."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from attnserve.capture import ATTN_LAYERS, TOKEN_SIGNALS, capture, model_signal_names

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
    found = capture(model, inputs, players, {ATTN_LAYERS, TOKEN_SIGNALS})
    with torch.no_grad():
        reference = torch.stack([a.mean(1) for a in model(**inputs, output_attentions=True).attentions])
    assert found.attn_layers.shape == (3, 1, 5, 5)
    assert torch.allclose(found.attn_layers, reference, atol=1e-6)
    assert found.token_signals.shape[-1] == len(model_signal_names(model))
