"""Release sets: what ships in `model_store/<name>/release`, and the check that nothing in one is damaged.

A release set holds the trained weights in compact form (text models: LoRA adapters; fashion: the
whole 0.6 MB ViT), `cavs.pt` and `CONCEPTS.md`, `amortized.pt`, the model cards, and `release.json`:
for each file its sha256, size and the key of the stage that built it. A fresh `make run` assembles
archives from these files alone; a file whose sha256 or size disagrees with the manifest is refused,
never served. release.py rebuilds and re-exports them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from model_store.recipes.archive import MARKER, cached_model, digest
from model_store.recipes.bundles import Bundle, budget
from model_store.recipes.keys import file_sha256

MANIFEST = "release.json"
STAGES = ("model", "concepts", "amortized")  # a later stage's file of the same name wins (the cards)


class ReleaseError(RuntimeError):
    """A release set that must not be served: missing, corrupt, truncated or stale."""


def collect(bundle: Bundle, stages: dict[str, tuple[Path, str]]) -> Path:
    """The release set of built stages, cached by their keys: their files plus `release.json`."""
    keys = {stage: key for stage, (_, key) in stages.items()}

    def build(out: Path) -> None:
        origin: dict[str, str] = {}
        for stage in STAGES:
            if stage not in stages:
                continue
            for path in sorted(stages[stage][0].iterdir()):
                if path.is_file() and path.name != MARKER:
                    shutil.copy2(path, out / path.name)
                    origin[path.name] = stage
        write_manifest(bundle, out, keys, origin)

    found, _ = cached_model(f"{bundle.name}-release", digest(keys), build)
    return found


def write_manifest(bundle: Bundle, folder: Path, keys: dict[str, str], origin: dict[str, str]) -> None:
    card = json.loads((folder / "model_card.json").read_text())
    manifest = {
        "model": bundle.name,
        "version": bundle.version,
        "budget": budget(),
        "held_out_accuracy": card["metrics"]["accuracy"],
        "keys": keys,
        "files": {
            name: {"sha256": file_sha256(folder / name), "bytes": (folder / name).stat().st_size, "stage": stage}
            for name, stage in sorted(origin.items())
        },
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def verify(folder: Path) -> dict[str, Any]:
    """The manifest of the release set in ``folder``, once every file is present, whole and listed."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ReleaseError(f"{path} missing: restore it (git checkout {folder}) or rebuild it (make release)")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise ReleaseError(f"{path} is not a valid manifest ({error}): restore it (git checkout {folder})") from None
    problems = []
    for name, entry in files.items():
        file = folder / name
        if not file.is_file():
            problems.append(f"{name} is missing")
        elif file.stat().st_size != entry["bytes"]:
            problems.append(f"{name} has {file.stat().st_size} bytes, the manifest says {entry['bytes']} (truncated?)")
        elif file_sha256(file) != entry["sha256"]:
            problems.append(f"{name} does not match its sha256 {entry['sha256'][:12]}… (corrupt)")
    unlisted = sorted(p.name for p in folder.iterdir() if p.name not in (MANIFEST, MARKER) and p.name not in files)
    problems += [f"{name} is not in the manifest" for name in unlisted]
    if problems:
        raise ReleaseError(
            f"release set {folder} refused: {'; '.join(problems)}. "
            f"Restore it with `git checkout -- {folder}` or rebuild it with `make release`."
        )
    return manifest
