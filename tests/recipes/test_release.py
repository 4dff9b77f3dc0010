"""The release sets in model_store/<name>/release: what a fresh `make run` serves.

The shipped sets must agree with their recipes (a recipe, or any module its stages import, edited
without `make release` fails here, naming the stale stages), every file must match its manifest, and
a corrupt, truncated, missing or unlisted file is refused before anything is assembled or served."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_store.recipes import build
from model_store.recipes.bundles import discover
from model_store.recipes.release import stale
from model_store.recipes.release_sets import MANIFEST, ReleaseError, verify, write_manifest

BUNDLES = discover()
SIZE_BUDGET = 20_000_000  # bytes for every release set together: each re-export stays in git history


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_the_shipped_release_set_is_whole_and_agrees_with_its_recipes(name: str, monkeypatch) -> None:
    monkeypatch.delenv("ATTNSERVE_BUDGET", raising=False)  # releases are built, and keyed, at the full budget
    folder = build.release_dir(BUNDLES[name])
    manifest = verify(folder)
    assert manifest["budget"] == "full"
    behind = stale(BUNDLES[name], folder)
    assert not behind, f"{name}: the release set is stale in {behind}; rebuild and re-export it with `make release`"


def test_the_release_sets_stay_small() -> None:
    total = sum(p.stat().st_size for name in BUNDLES for p in build.release_dir(BUNDLES[name]).iterdir())
    assert total <= SIZE_BUDGET, f"release sets take {total / 1e6:.1f} MB, over the {SIZE_BUDGET / 1e6:.0f} MB budget"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A small release set with a valid manifest."""
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "model_card.json").write_text(json.dumps({"metrics": {"accuracy": 0.9}}))
    write_manifest(BUNDLES["sentiment"], folder, {"model": "k1"}, {"weights.bin": "model", "model_card.json": "model"})
    return folder


def test_a_whole_set_verifies(release: Path) -> None:
    manifest = verify(release)
    assert manifest["files"]["weights.bin"]["bytes"] == 1024 and manifest["keys"] == {"model": "k1"}


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda f: (f / "weights.bin").write_bytes(bytes(range(256)) * 3), "truncated"),
        (lambda f: (f / "weights.bin").write_bytes(bytes(reversed(range(256))) * 4), "corrupt"),
        (lambda f: (f / "weights.bin").unlink(), "weights.bin is missing"),
        (lambda f: (f / "stray.pt").write_bytes(b"x"), "stray.pt is not in the manifest"),
        (lambda f: (f / MANIFEST).write_text("{"), "not a valid manifest"),
        (lambda f: (f / MANIFEST).unlink(), "release.json missing"),
    ],
    ids=["truncated", "corrupt", "missing", "unlisted", "bad manifest", "no manifest"],
)
def test_a_damaged_set_is_refused_with_a_clear_message(release: Path, damage, said: str) -> None:
    damage(release)
    with pytest.raises(ReleaseError, match=said) as refused:
        verify(release)
    assert "git checkout" in str(refused.value)


def test_a_corrupt_set_is_never_packed(tmp_path: Path, monkeypatch) -> None:
    """`make run` on a damaged checkout fails before assembling, and leaves no archive behind."""
    monkeypatch.setenv("ATTNSERVE_CACHE", str(tmp_path / "cache"))
    bundle = BUNDLES["fashion"]
    copy = tmp_path / "release"
    shutil.copytree(build.release_dir(bundle), copy)
    with (copy / "model.safetensors").open("r+b") as weights:
        weights.seek(4096)
        weights.write(b"\xff" * 16)
    with pytest.raises(ReleaseError, match=r"model\.safetensors does not match its sha256"):
        build.archive(bundle, copy, export_dir=tmp_path / "store")
    assert not (tmp_path / "store" / "fashion.mar").exists()
