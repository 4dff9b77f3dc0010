"""Rebuild and re-export the release sets, or check them against their recipes.

    python -m model_store.recipes.release            # make release: rebuild every stage, re-export
    python -m model_store.recipes.release --check    # which release sets disagree with their recipes

A stage's key covers everything it depends on (keys.py), so comparing the keys the recipes give today
with those in each set's manifest (release_sets.py) tells whether a release set is stale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from model_store.recipes.archive import MARKER, log
from model_store.recipes.build import from_scratch, model_key, release_dir
from model_store.recipes.bundles import BUDGET_ENV, Bundle, budget, discover
from model_store.recipes.release_sets import MANIFEST, verify


def expected_keys(bundle: Bundle) -> dict[str, str]:
    """The keys each stage of ``bundle`` would be built under today, computed without building anything."""
    from model_store.recipes import amortized, concepts

    keys = {"model": model_key(bundle)}
    if bundle.concepts:
        keys["concepts"] = concepts.concepts_key(bundle, keys["model"], concepts.check_section(bundle))
    if bundle.amortized:
        keys["amortized"] = amortized.planned_keys(bundle, keys["model"], bundle.recipe.training_items())[-1]
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
