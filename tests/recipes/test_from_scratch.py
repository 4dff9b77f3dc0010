"""The from-scratch path of a real recipe at the quick budget, so the recipes cannot rot between
releases: the sentiment model is trained (LoRA, a few hundred sentences), its CAVs fitted, its learned
explainer's targets computed and network trained, its release set collected and packed, and the archive
answers through the real handler. About a minute and a half on 2 cores, in a private cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_store.recipes import build
from model_store.recipes.bundles import discover
from model_store.recipes.release_sets import verify
from tests.recipes.served_archive import answer


def test_sentiment_from_scratch_at_the_quick_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTNSERVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ATTNSERVE_BUDGET", "quick")
    bundle = discover()["sentiment"]
    release = build.from_scratch(bundle)
    manifest = verify(release)
    assert manifest["budget"] == "quick" and set(manifest["keys"]) == {"model", "concepts", "amortized"}
    assert {"adapter_model.safetensors", "cavs.pt", "amortized.pt"} <= set(manifest["files"])
    card = json.loads((release / "model_card.json").read_text())
    assert card["sizes"]["train"] == bundle.model["quick"]["train_examples"]
    quick = bundle.amortized["quick"]  # validation: a share of the full-order inputs; every extra input trains
    held_aside = max(1, round(bundle.amortized["validation"] * quick["inputs"]))
    learned = card["amortized_shapley"]
    assert learned["validation_inputs"] == held_aside
    assert learned["training_inputs"] == quick["inputs"] - held_aside + quick["extra_inputs"]
    mar = build.archive(bundle, release, export_dir=tmp_path / "store")
    body = {"text": "A gorgeous, moving film.", "methods": ["amortized_shapley", "tcav"]}
    response = answer(mar, body, tmp_path / "served")
    assert response["label"] in bundle.labels
    assert len(response["attributions"]["amortized_shapley"]["tokens"]) == len(response["tokens"])
    assert set(response["concepts"]) >= set(bundle.concepts["concepts"])
