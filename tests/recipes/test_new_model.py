"""Adding a model is one folder plus its recipe: a fourth model, declared by a bundle in a scratch
model store and a recipe module (tests/recipes/tiny_recipe.py), goes through every stage from scratch,
is packed into a `.mar`, and answers a request through the real handler, with no edit to any code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from model_store.recipes import build
from model_store.recipes.bundles import discover
from model_store.recipes.release_sets import verify
from tests.recipes.served_archive import answer

BUNDLE = {
    "version": "0.1",
    "modality": "text",
    "recipe": "tests.recipes.tiny_recipe",
    "labels": ["bad", "good"],
    "max_length": 16,
    "model": {
        "seed": 7,
        "train": {
            "lr": 0.01,
            "batch_size": 8,
            "epochs": 3,
            "warmup_ratio": 0.1,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
        },
    },
    "torchserve": {"minWorkers": 1, "maxWorkers": 1, "batchSize": 4, "maxBatchDelay": 10, "responseTimeout": 30},
    "handler": {"default_methods": ["gae"]},
    "concepts": {
        "settings": {"examples": 8, "min_examples": 4, "pool": 20, "seed": 1},
        "cav": {"cavs": 2, "test_fraction": 0.3, "seed": 1},
        "concepts": {
            "praise": {"description": "sentences with a word of praise", "lexicon": "vader_valence", "min": 1.5}
        },
    },
    "amortized": {
        "inputs": 12,
        "validation": 0.25,
        "permutations": 2,
        "batch": 64,
        "seed": 1,
        "head": {"width": 8, "heads": 2, "layers": 1, "epochs": 3, "lr": 0.01, "weight_decay": 0.0},
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the scratch model store's `tiny.mar`, its release set), built in a private cache."""
    root = tmp_path_factory.mktemp("repo")
    (root / "model_store" / "tiny").mkdir(parents=True)
    (root / "model_store" / "tiny" / "bundle.yaml").write_text(yaml.safe_dump(BUNDLE))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATTNSERVE_CACHE", str(tmp_path_factory.mktemp("cache")))
        patch.delenv("ATTNSERVE_BUDGET", raising=False)
        bundle = discover(root)["tiny"]
        release = build.from_scratch(bundle)
        mar = build.archive(bundle, release, export_dir=root / "model_store")
    return mar, release


def test_the_new_folder_is_discovered_with_its_facts(tmp_path: Path) -> None:
    (tmp_path / "model_store" / "tiny").mkdir(parents=True)
    (tmp_path / "model_store" / "tiny" / "bundle.yaml").write_text(yaml.safe_dump(BUNDLE))
    bundle = discover(tmp_path)["tiny"]
    assert bundle.labels == ("bad", "good") and bundle.model_config()["handler"]["max_length"] == 16


def test_every_stage_runs_and_the_release_set_verifies(built: tuple[Path, Path]) -> None:
    _, release = built
    manifest = verify(release)
    assert set(manifest["keys"]) == {"model", "concepts", "amortized"}
    assert {"model.safetensors", "cavs.pt", "amortized.pt", "model_card.json"} <= set(manifest["files"])
    assert json.loads((release / "model_card.json").read_text())["amortized_shapley"]["budget"] == "full"


def test_the_archive_answers_through_the_real_handler(built: tuple[Path, Path], tmp_path: Path) -> None:
    mar, _ = built
    body = {"text": "the film was lovely.", "methods": ["gae", "amortized_shapley", "tcav"]}
    response = answer(mar, body, tmp_path)
    assert response["label"] in ("bad", "good")
    assert set(response["attributions"]) == {"gae", "amortized_shapley"}
    assert len(response["attributions"]["amortized_shapley"]["tokens"]) == len(response["tokens"])
    assert "praise" in json.dumps(response["concepts"])
