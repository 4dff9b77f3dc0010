"""The concepts stage: a bundle's ``concepts`` section turns into `cavs.pt` and `CONCEPTS.md`, cached
under a key of everything they depend on, shipped in the release set, and the archive is repacked
exactly when one of those inputs changes.

Real code paths on tiny models: a 2-layer BERT (text concepts from the real Rotten Tomatoes training
split) and a 2-layer ViT (generated textures, Fashion-MNIST random pool) stand in for the trained ones.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import pytest
import torch

from attnserve.concepts.bank import RANDOM, load_cavs
from model_store.recipes import build, concepts, fashion
from model_store.recipes.archive import MARKER
from model_store.recipes.bundles import BUDGET_ENV, Bundle
from model_store.recipes.concepts import check_section, with_concepts
from model_store.recipes.release_sets import collect
from tests.bundles import sections, write_bundle
from tests.conftest import make_tiny_vit

CARD = {"metrics": {"accuracy": 0.9}, "sizes": {"test": 100}, "version": "1.0"}
TEXT_CONCEPTS = {
    "settings": {"examples": 12, "min_examples": 5, "pool": 60, "seed": 0},
    "cav": {"cavs": 3, "test_fraction": 0.3, "seed": 0},
    "concepts": {
        "negation": {"description": "negators", "lexicon": "vader_negate"},
        "sports": {"description": "sports words", "lexicon": "empath", "category": "sports"},
    },
}
IMAGE_CONCEPTS = {
    "settings": {"examples": 10, "random": {"fashion_mnist_train": 10, "noise": 10}, "seed": 0},
    "cav": {"cavs": 3, "test_fraction": 0.3, "seed": 0},
    "concepts": {name: {"description": name, "texture": name} for name in ("striped", "dotted", "solid")},
}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ATTNSERVE_CACHE", str(root))
    return root


def text_bundle(folder: Path, section: dict | None = TEXT_CONCEPTS) -> Bundle:
    """The sentiment bundle with a small concepts section (or none), at 64 positions."""
    spec = sections("sentiment") | {"max_length": 64, "concepts": copy.deepcopy(section)}
    if section is None:
        del spec["concepts"], spec["amortized"]
    return write_bundle(folder / "model_store" / "m", spec)


@pytest.fixture
def text_model(tmp_path: Path, tiny_bert, tokenizer) -> Path:
    """The tiny BERT as an assembled checkpoint."""
    model_dir = tmp_path / "text-model"
    tiny_bert.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (model_dir / "model_card.json").write_text(json.dumps(CARD))
    return model_dir


def test_a_bundle_without_concepts_ships_no_cavs(tmp_path: Path, text_model: Path, monkeypatch) -> None:
    bundle = text_bundle(tmp_path, None)
    monkeypatch.setattr(build, "trained", lambda bundle: (text_model, "k1"))
    monkeypatch.setattr(build, "assembled", lambda bundle, weights, key: text_model)
    monkeypatch.setattr(concepts, "with_concepts", lambda *args: pytest.fail("the concepts stage ran"))
    release = build.from_scratch(bundle)
    assert not (release / "cavs.pt").exists()
    assert json.loads((release / "release.json").read_text())["keys"] == {"model": "k1"}


def test_text_cavs_are_built_and_cached(tmp_path: Path, text_model: Path, cache: Path) -> None:
    bundle = text_bundle(tmp_path)
    staged, key = with_concepts(bundle, text_model, "k1")
    assert staged.parent == cache / "models" and key != "k1"
    assert sorted(p.name for p in staged.iterdir()) == [MARKER, "CONCEPTS.md", "cavs.pt"]  # the model stays put

    bank = load_cavs(staged / "cavs.pt")
    assert list(bank.concepts) == ["negation", "sports"] and bank.layers == [0, 1] and bank.hidden_size == 32
    for cav_set in [*bank.concepts.values(), bank.random]:
        assert cav_set.vectors.shape == (3, 2, 32) and cav_set.accuracy.shape == (3, 2)
        torch.testing.assert_close(cav_set.vectors.norm(dim=-1), torch.ones(3, 2))
        assert cav_set.accuracy.min() >= 0 and cav_set.accuracy.max() <= 1
    assert bank.concepts["negation"].counterpart == "random" and bank.random.name == RANDOM
    assert bank.meta["model_key"] == "k1" and len(bank.meta["preview"]["negation"]) == 5
    assert "| negation | random | 12 |" in (staged / "CONCEPTS.md").read_text()

    assert with_concepts(bundle, text_model, "k1") == (staged, key)  # cache hit
    assert with_concepts(bundle, text_model, "k2")[1] != key  # another model
    fewer = copy.deepcopy(TEXT_CONCEPTS)
    fewer["cav"]["cavs"] = 2
    again, other = with_concepts(text_bundle(tmp_path, fewer), text_model, "k1")
    assert other != key and load_cavs(again / "cavs.pt").random.count == 2


def test_the_quick_budget_merges_its_overrides_key_by_key(tmp_path: Path, monkeypatch) -> None:
    bundle = text_bundle(tmp_path, TEXT_CONCEPTS | {"quick": {"cav": {"cavs": 2}, "settings": {"pool": 30}}})
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert check_section(bundle)["cav"] == TEXT_CONCEPTS["cav"]
    monkeypatch.setenv(BUDGET_ENV, "quick")
    quick = check_section(bundle)
    assert quick["cav"] == {"cavs": 2, "test_fraction": 0.3, "seed": 0}
    assert quick["settings"] == {**TEXT_CONCEPTS["settings"], "pool": 30} and "quick" not in quick


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("cav"), "missing sections"),
        (lambda s: s["concepts"]["negation"].pop("description"), "needs a description"),
        (lambda s: s.update(concepts={}), "declares no concepts"),
    ],
)
def test_bad_concept_sections_fail_the_build(tmp_path: Path, edit, message: str) -> None:
    section = copy.deepcopy(TEXT_CONCEPTS)
    edit(section)
    with pytest.raises(ValueError, match=rf"model_store/m/bundle\.yaml, concepts: .*{message}"):
        check_section(text_bundle(tmp_path, section))


def test_a_concept_with_too_few_sentences_fails(tmp_path: Path, text_model: Path) -> None:
    section = copy.deepcopy(TEXT_CONCEPTS)
    section["concepts"]["sports"]["exclude"] = ["sport", "school", "play", "exercise", "running"]
    section["settings"]["min_examples"] = 500
    with pytest.raises(ValueError, match="sentences match, need 500"):
        with_concepts(text_bundle(tmp_path, section), text_model, "k1")


def save_tiny_vit(model_dir: Path) -> Path:
    make_tiny_vit(image_size=28, patch_size=7, num_labels=10).save_pretrained(model_dir)
    processor = {"size": {"height": 28, "width": 28}, "image_mean": [fashion.MEAN], "image_std": [fashion.STD]}
    (model_dir / "preprocessor_config.json").write_text(json.dumps(processor))  # as the recipe saves it
    (model_dir / "model_card.json").write_text(json.dumps(CARD))
    return model_dir


def test_fashion_release_set_carries_relative_cavs_and_its_archive_follows_the_concepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not fashion.DATA_DIR.is_dir():
        pytest.fail("Debian's dataset-fashion-mnist is missing; `make test` installs it (make debian)")
    root = tmp_path / "repo"
    (root / "handlers").mkdir(parents=True)
    (root / "handlers" / "explain_handler.py").write_text("# stand-in: the real handler is not part of this test\n")
    for package in build.PACKAGES:  # stand-ins for the packed packages
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    weights = save_tiny_vit(tmp_path / "weights")
    monkeypatch.setattr(fashion, "train", lambda out, bundle: pytest.fail("the recipe tried to train"))

    def archive(section: dict) -> Path:
        """The archive of a release set made of the weights and the CAVs of ``section``."""
        bundle = write_bundle(root / "model_store" / "fashion", sections("fashion") | {"concepts": section})
        release = collect(bundle, {"model": (weights, "k1"), "concepts": with_concepts(bundle, weights, "k1")})
        return build.archive(bundle, release, root=root)

    def packed_cavs(mar: Path):
        with zipfile.ZipFile(mar) as z:
            assert {"cavs.pt", "CONCEPTS.md", "preprocessor_config.json", "explain_handler.py"} <= set(z.namelist())
            (tmp_path / "cavs.pt").write_bytes(z.read("cavs.pt"))
        return load_cavs(tmp_path / "cavs.pt")

    bank = packed_cavs(archive(IMAGE_CONCEPTS))
    assert {s.counterpart for s in bank.concepts.values()} == {"relative"}
    assert bank.concepts["striped"].vectors.shape == (3, 2, 16)
    assert bank.concepts["striped"].sizes["counterpart_pool"] == 20  # the other two textures
    assert bank.random.sizes["concept"] == 10  # 20 pool images split into two sides

    capsys.readouterr()
    archive(IMAGE_CONCEPTS)
    assert "archive up to date" in capsys.readouterr().out
    fewer = copy.deepcopy(IMAGE_CONCEPTS)
    fewer["cav"]["cavs"] = 2
    mar = archive(fewer)
    assert "archive stale or missing" in capsys.readouterr().out
    assert packed_cavs(mar).random.count == 2
