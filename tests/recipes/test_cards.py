"""Shared model-card fields: counts per part and class, the settings as applied, and both card files
written side by side, the Markdown one a rendering of the JSON one."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

from model_store.recipes.cards import provenance, render_card, write_card

SETTINGS = {"seed": 7, "train": {"lr": 0.1, "epochs": 2, "batch_size": 4}, "min_accuracy": 0.5}
METRICS = {"accuracy": 0.75, "per_class_accuracy": {"a": 1.0, "b": 0.5, "c": 1.0}}


def fields() -> dict:
    labels = {"train": [0, 1, 1, 2], "test": [2, 2]}
    return provenance(7, labels, {0: "a", 1: "b", 2: "c"}, METRICS, 12.34, 2, SETTINGS, ("torch",))


def test_provenance_counts_each_part_by_class_name() -> None:
    card = fields()
    assert card["sizes"] == {"train": 4, "test": 2}
    assert card["class_counts"] == {"train": {"a": 1, "b": 2, "c": 1}, "test": {"c": 2}}
    assert (card["seed"], card["train_seconds"], card["train_threads"], card["metrics"]) == (7, 12.3, 2, METRICS)
    assert card["train_config"] == SETTINGS["train"] and card["settings"] == {"seed": 7, "min_accuracy": 0.5}
    assert card["versions"]["torch"] == importlib.metadata.version("torch") and "python" in card["versions"]


def test_both_card_files_are_written_and_the_markdown_renders_the_json(tmp_path: Path) -> None:
    data = {"source": "S", "package": "p==1", "sha256": "ab" * 32, "filter": "F", "split": "seeded"}
    card = {"model_name": "m", "version": "1.0", "task": "T", "labels": {0: "a", 1: "b", 2: "c"}, "method": "M"}
    card |= {"data": data, "base_model": {"name": "Base"}, **fields()}
    write_card(tmp_path, card)
    assert json.loads((tmp_path / "model_card.json").read_text()) == json.loads(json.dumps(card))
    markdown = (tmp_path / "MODEL_CARD.md").read_text()
    assert markdown == render_card(card) and markdown.startswith("# m v1.0\n")
    for line in (
        "Task: T; labels a, b, c.",
        "- Model: Base; M",
        "- Data: S; p==1 (sha256 abababababab…)",
        "- Training examples: 4 {'a': 1, 'b': 2, 'c': 1}",
        "- Held-out accuracy: **0.7500**",
        "- Training: 2 epoch(s), AdamW lr 0.1, batch 4; 12.3 s on 2 CPU threads",
    ):
        assert line in markdown, line
    card.pop("base_model")
    assert "- Model: ViT; M" in render_card(card | {"architecture": {"class": "ViT"}})
