"""Bundles and release sets for tests: a model folder with a bundle.yaml (the real model's sections with a
test's overrides), a release set from the files of a model dir with the build's own manifest writer (so
what a test loads is checked as a shipped set is), and the skip for tests of the shipped release sets."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from model_store.recipes.build import release_dir
from model_store.recipes.bundles import BUNDLE_FILE, Bundle, discover, load_bundle
from model_store.recipes.release_sets import MANIFEST, write_manifest


def sections(name: str) -> dict[str, Any]:
    """The parsed bundle.yaml of the real model ``name``: a test edits a copy, never the file."""
    return yaml.safe_load((discover()[name].folder / BUNDLE_FILE).read_text())


def write_bundle(folder: Path, spec: dict[str, Any]) -> Bundle:
    """``spec`` as ``folder``/bundle.yaml, loaded (and so checked) like a real one; the folder's name is
    the model's."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BUNDLE_FILE).write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_bundle(folder)


def write_release(bundle: Bundle, model_dir: Path) -> Path:
    """The files of ``model_dir`` as ``bundle``'s release set, with its manifest (all of them from the model
    stage, key "k")."""
    folder = release_dir(bundle)
    folder.mkdir(parents=True)
    files = [path for path in model_dir.iterdir() if path.is_file()]
    for path in files:
        shutil.copy2(path, folder / path.name)
    write_manifest(bundle, folder, {"model": "k"}, {path.name: "model" for path in files})
    return folder


def require_release(name: str) -> None:
    """Skip, naming the cause, when the real model ``name`` ships no release set yet; any other problem
    with it (a file that does not match its manifest) still fails the test that loads it."""
    folder = release_dir(discover()[name])
    if not (folder / MANIFEST).is_file():
        pytest.skip(f"{folder / MANIFEST} is missing: {name}'s release set is not committed yet (make release)")
