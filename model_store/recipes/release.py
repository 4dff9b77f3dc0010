"""Release sets: what ships in `model_store/<name>/release`, and the command that re-exports them.

    python -m model_store.recipes.release            # make release: rebuild every stage, re-export
    python -m model_store.recipes.release --check    # which release sets disagree with their recipes

A release set holds the trained weights in compact form (text models: LoRA adapters; fashion: the
whole 0.6 MB ViT), `cavs.pt` and `CONCEPTS.md`, `amortized.pt`, the model cards, and `release.json`:
for each file its sha256, size and the key of the stage that built it. A fresh `make run` assembles
archives from these files alone; a file whose sha256 or size disagrees with the manifest is refused,
never served. A stage's key covers everything it depends on (keys.py), so comparing the keys the
recipes give today with the manifest's tells whether a release set is stale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from model_store.recipes.archive import MARKER, cached_model, digest, log
from model_store.recipes.bundles import BUDGET_ENV, Bundle, budget, discover
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


def expected_keys(bundle: Bundle) -> dict[str, str]:
    """The keys each stage of ``bundle`` would be built under today, computed without building anything."""
    from model_store.recipes import amortized, concepts
    from model_store.recipes.build import model_key

    keys = {"model": model_key(bundle)}
    if bundle.concepts:
        keys["concepts"] = concepts.concepts_key(bundle, keys["model"], concepts.check_section(bundle))
    if bundle.amortized:
        settings = amortized.load_settings(bundle)
        items = amortized.choose(bundle.recipe.training_items(), settings)
        blocks = amortized.blocks(items, settings)
        targets = [amortized.targets_key(keys["model"], settings, part, i) for i, part in enumerate(blocks)]
        keys["amortized"] = amortized.amortized_key(keys["model"], targets, settings)
    return keys


def stale(bundle: Bundle, folder: Path) -> list[str]:
    """The stages whose shipped key differs from the key their recipe gives today."""
    shipped = json.loads((folder / MANIFEST).read_text())["keys"]
    wanted = expected_keys(bundle)
    return [stage for stage in sorted(set(shipped) | set(wanted)) if shipped.get(stage) != wanted.get(stage)]


def export(bundle: Bundle, built: Path, folder: Path) -> None:
    """Replace the release set in ``folder`` with the one in ``built``, swapped in by one rename."""
    verify(built)
    work = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(built, work, ignore=shutil.ignore_patterns(MARKER))
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.rename(folder, old)
    os.rename(work, folder)
    shutil.rmtree(old, ignore_errors=True)
    size = sum(p.stat().st_size for p in folder.iterdir())
    log(bundle.name, f"release set exported: {folder} ({size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    from model_store.recipes.build import from_scratch, release_dir

    bundles = discover()
    parser = argparse.ArgumentParser(prog="python -m model_store.recipes.release", description=__doc__)
    parser.add_argument("names", nargs="*", help="models (default: every model with a bundle)")
    parser.add_argument("--check", action="store_true", help="only report release sets that are stale")
    args = parser.parse_args(argv)
    names = args.names or list(bundles)
    if not args.check and budget() != "full":
        print(f"error: a release is built at the full budget; unset {BUDGET_ENV}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        bundle = bundles[name]
        try:
            if args.check:
                behind = stale(bundle, release_dir(bundle))
                print(f"[{name}] {'stale: ' + ', '.join(behind) if behind else 'up to date'}", flush=True)
                failed += bool(behind)
            else:
                export(bundle, from_scratch(bundle), release_dir(bundle))
        except Exception as e:  # one clear line per model, non-zero exit
            print(f"error: {name}: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
