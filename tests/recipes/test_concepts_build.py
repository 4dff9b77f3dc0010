"""CAVs built into archives: a concept file turns into `cavs.pt` next to the cached model, keyed by
everything it depends on, and the archive is repacked exactly when one of those inputs changes.

Real code paths on tiny models: a 2-layer BERT (text concepts from the real Rotten Tomatoes training
split) and a 2-layer ViT (generated textures, Fashion-MNIST random pool) stand in for the trained ones.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from attnserve.concepts import RANDOM, load_cavs
from model_store.recipes import build, fashion
from model_store.recipes.archive import MARKER
from model_store.recipes.concepts import CONCEPT_FILE, load_spec, with_concepts
from tests.conftest import make_tiny_vit

CARD = {"metrics": {"accuracy": 0.9}, "sizes": {"test": 100}, "version": "1.0"}
TEXT_SPEC = {
    "modality": "text",
    "settings": {
        "source": "rotten_tomatoes_train",
        "max_length": 64,
        "examples": 12,
        "min_examples": 5,
        "pool": 60,
        "seed": 0,
    },
    "cav": {"cavs": 3, "test_fraction": 0.3, "seed": 0},
    "concepts": {
        "negation": {"description": "negators", "lexicon": "vader_negate"},
        "sports": {"description": "sports words", "lexicon": "empath", "category": "sports"},
    },
}
IMAGE_SPEC = {
    "modality": "image",
    "settings": {"examples": 10, "random": {"fashion_mnist_train": 10, "noise": 10}, "seed": 0},
    "cav": {"cavs": 3, "test_fraction": 0.3, "seed": 0},
    "concepts": {name: {"description": name, "texture": name} for name in ("striped", "dotted", "solid")},
}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ATTNSERVE_CACHE", str(root))
    return root


def declare(root: Path, name: str, spec: dict) -> Path:
    path = root / "model_store" / name / CONCEPT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def text_model(tmp_path: Path, tiny_bert, tokenizer) -> Path:
    model_dir = tmp_path / "text-model"
    tiny_bert.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / "model_card.json").write_text(json.dumps(CARD))
    (model_dir / MARKER).write_text("k1")
    return model_dir


def save_tiny_vit(model_dir: Path) -> Path:
    make_tiny_vit(image_size=28, patch_size=7, num_labels=10).save_pretrained(model_dir)
    (model_dir / "preprocessor_config.json").write_text("{}")
    (model_dir / "model_card.json").write_text(json.dumps(CARD))
    return model_dir


def test_no_concept_file_means_the_model_dir_as_is(tmp_path: Path) -> None:
    assert with_concepts("m", tmp_path / "model", "k1", tmp_path) == (tmp_path / "model", "k1")


def test_text_cavs_are_built_staged_and_cached(tmp_path: Path, text_model: Path, cache: Path) -> None:
    declare(tmp_path, "m", TEXT_SPEC)
    staged, key = with_concepts("m", text_model, "k1", tmp_path)
    assert staged.parent == cache / "models" and key != "k1"
    assert {p.name for p in text_model.iterdir()} - {MARKER} <= {p.name for p in staged.iterdir()}
    assert (staged / "model.safetensors").stat().st_ino == (text_model / "model.safetensors").stat().st_ino

    bank = load_cavs(staged / "cavs.pt")
    assert list(bank.concepts) == ["negation", "sports"] and bank.layers == [0, 1] and bank.hidden_size == 32
    for cav_set in [*bank.concepts.values(), bank.random]:
        assert cav_set.vectors.shape == (3, 2, 32) and cav_set.accuracy.shape == (3, 2)
        torch.testing.assert_close(cav_set.vectors.norm(dim=-1), torch.ones(3, 2))
        assert cav_set.accuracy.min() >= 0 and cav_set.accuracy.max() <= 1
    assert bank.concepts["negation"].counterpart == "random" and bank.random.name == RANDOM
    assert bank.meta["model_key"] == "k1" and len(bank.meta["preview"]["negation"]) == 5
    assert "| negation | random | 12 |" in (staged / "CONCEPTS.md").read_text()

    assert with_concepts("m", text_model, "k1", tmp_path) == (staged, key)  # cache hit
    assert with_concepts("m", text_model, "k2", tmp_path)[1] != key  # another model
    TEXT_SPEC["cav"]["cavs"] = 2
    try:
        declare(tmp_path, "m", TEXT_SPEC)
        again, other = with_concepts("m", text_model, "k1", tmp_path)
    finally:
        TEXT_SPEC["cav"]["cavs"] = 3
    assert other != key and load_cavs(again / "cavs.pt").random.count == 2


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("cav"), "missing sections"),
        (lambda s: s.update(modality="audio"), "modality 'audio'"),
        (lambda s: s["concepts"]["negation"].pop("description"), "needs a description"),
        (lambda s: s.update(concepts={}), "declares no concepts"),
    ],
)
def test_bad_concept_files_fail_the_build(tmp_path: Path, edit, message: str) -> None:
    spec = json.loads(json.dumps(TEXT_SPEC))
    edit(spec)
    with pytest.raises(ValueError, match=message):
        load_spec(declare(tmp_path, "m", spec))


def test_a_concept_with_too_few_sentences_fails(tmp_path: Path, text_model: Path) -> None:
    spec = json.loads(json.dumps(TEXT_SPEC))
    spec["concepts"]["sports"]["exclude"] = ["sport", "school", "play", "exercise", "running"]
    spec["settings"]["min_examples"] = 500
    declare(tmp_path, "m", spec)
    with pytest.raises(ValueError, match="sentences match, need 500"):
        with_concepts("m", text_model, "k1", tmp_path)


def test_fashion_archive_carries_relative_cavs_and_follows_the_concept_file(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not fashion.DATA_DIR.is_dir():
        pytest.fail("Debian's dataset-fashion-mnist is missing; `make test` installs it (make debian)")
    root = tmp_path / "repo"
    (root / "handlers").mkdir(parents=True)
    (root / "handlers" / "image_handler.py").write_text("# stand-in: the real handler is not part of this test\n")
    for package in build.RECIPES["fashion"].packages:  # stand-ins for the packed packages
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "model_store" / "fashion").mkdir(parents=True)
    (root / "model_store" / "fashion" / "model-config.yaml").write_text("minWorkers: 1\n")
    concepts = declare(root, "fashion", IMAGE_SPEC)
    key = fashion.model_key()
    save_tiny_vit(cache / "models" / f"fashion-{key}")
    (cache / "models" / f"fashion-{key}" / MARKER).write_text(key)
    monkeypatch.setattr(fashion, "train", lambda out, key: pytest.fail("the recipe tried to train"))

    mar = build.build("fashion", root=root)
    with zipfile.ZipFile(mar) as z:
        assert {"cavs.pt", "CONCEPTS.md", "preprocessor_config.json", "image_handler.py"} <= set(z.namelist())
        (tmp_path / "cavs.pt").write_bytes(z.read("cavs.pt"))
    bank = load_cavs(tmp_path / "cavs.pt")
    assert {s.counterpart for s in bank.concepts.values()} == {"relative"}
    assert bank.concepts["striped"].vectors.shape == (3, 2, 16)
    assert bank.concepts["striped"].sizes["counterpart_pool"] == 20  # the other two textures
    assert bank.random.sizes["concept"] == 10  # 20 pool images split into two sides

    capsys.readouterr()
    build.build("fashion", root=root)
    assert "archive up to date" in capsys.readouterr().out
    concepts.write_text(concepts.read_text() + "# edited\n")
    build.build("fashion", root=root)
    assert "archive stale or missing" in capsys.readouterr().out
