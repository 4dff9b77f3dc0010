"""Shared model-card fields: counts per part and class, and both card files written side by side."""

from __future__ import annotations

import json
from pathlib import Path

from model_store.recipes.cards import provenance, write_card


def test_provenance_counts_each_part_by_class_name(tmp_path: Path) -> None:
    labels = {"train": [0, 1, 1, 2], "test": [2, 2]}
    card = provenance("k", 7, labels, {0: "a", 1: "b", 2: "c"}, {"accuracy": 1.0}, 12.34, 2, {"lr": 1}, {"torch": "x"})
    assert card["sizes"] == {"train": 4, "test": 2}
    assert card["class_counts"] == {"train": {"a": 1, "b": 2, "c": 1}, "test": {"c": 2}}
    assert (card["seed"], card["cache_key"], card["train_seconds"], card["train_threads"]) == (7, "k", 12.3, 2)
    assert card["versions"]["torch"] == "x" and "python" in card["versions"]
    write_card(tmp_path, card, "# card\n")
    assert json.loads((tmp_path / "model_card.json").read_text()) == card
    assert (tmp_path / "MODEL_CARD.md").read_text() == "# card\n"
