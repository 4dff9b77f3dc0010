"""A fourth model's recipe, as a user would write one: a tiny BERT trained in seconds on made-up
sentences (tests/recipes/test_new_model.py registers it with nothing but a bundle folder).

It implements the recipe contract (`Recipe` in model_store/recipes/build.py): data, split and
training; what ships (`WEIGHT_FILES`) and how it becomes a checkpoint again (`assemble`).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from model_store.recipes.bundles import Bundle, with_budget
from model_store.recipes.cards import provenance, write_card
from model_store.recipes.text_classifier import base_dir
from model_store.recipes.training import accuracy_report, fit, predict

WEIGHT_FILES = ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json")
GOOD, BAD = ("good", "great", "fine", "lovely"), ("bad", "awful", "poor", "dull")
SUBJECTS = ("the film", "this book", "our trip", "the meal", "that song", "the play")


def split() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Every subject with every word: the label is the word's side. The last subject is held out."""
    rows = [(f"{s} was {w}.", label) for s in SUBJECTS for label, words in ((0, BAD), (1, GOOD)) for w in words]
    held_out = [row for row in rows if row[0].startswith(SUBJECTS[-1])]
    return [row for row in rows if row not in held_out], held_out


def data_sha256() -> str:
    return hashlib.sha256(repr(split()).encode()).hexdigest()


def training_items() -> list[str]:
    return [text for text, _ in split()[0]]


def concept_sentences(bundle: Bundle) -> list[tuple[str, str]]:
    return [(text, bundle.labels[y]) for text, y in split()[0]]


def train(out: Path, bundle: Bundle) -> None:
    settings = with_budget(bundle.model)
    torch.manual_seed(settings["seed"])
    tokenizer = AutoTokenizer.from_pretrained(base_dir())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(bundle.labels),
        id2label=bundle.id2label,
        label2id={v: k for k, v in bundle.id2label.items()},
    )
    config._attn_implementation = "eager"
    model = BertForSequenceClassification(config)
    train_set, test_set = split()

    def encode(rows: list[tuple[str, int]]) -> dict[str, Any]:
        return dict(tokenizer([t for t, _ in rows], padding=True, return_tensors="pt"))

    def loss_of(idx: list[int]) -> torch.Tensor:
        rows = [train_set[i] for i in idx]
        return model(**encode(rows), labels=torch.tensor([y for _, y in rows])).loss

    seconds = fit(model, len(train_set), loss_of, settings["train"], settings["seed"])
    preds = predict(len(test_set), lambda idx: model(**encode([test_set[i] for i in idx])).logits, 8)
    metrics = accuracy_report(preds, [y for _, y in test_set], bundle.id2label)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    labels = {"train": [y for _, y in train_set], "test": [y for _, y in test_set]}
    fields = provenance(settings["seed"], labels, bundle.id2label, metrics, seconds, 1, settings, ("torch",))
    card = {
        "model_name": bundle.name,
        "version": bundle.version,
        "task": "a made-up two-word sentiment task",
        "labels": bundle.id2label,
        "method": "a 2-layer BERT trained from scratch",
        "data": {"source": "made up", "package": "tests", "sha256": data_sha256(), "filter": "-", "split": "-"},
        **fields,
    }
    write_card(out, card)


def assemble(release: Path, out: Path, bundle: Bundle) -> None:
    for name in WEIGHT_FILES:
        shutil.copy2(release / name, out / name)
