"""Build model archives: `python -m model_store.recipes.build sentiment` (or `all`).

Each model trains once per model key (cached outside the repo), then `model_store/<name>.mar` is
repacked only when the model or the packed code/config changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from model_store.recipes import fashion, sentiment, topics
from model_store.recipes.amortized import with_amortized
from model_store.recipes.archive import ArchiveSpec, build_archive, cached_model, log
from model_store.recipes.concepts import with_concepts

REPO_ROOT = Path(__file__).resolve().parents[2]


class ModelRecipe(Protocol):
    """What a recipe module provides: everything that shapes the weights, and nothing about packing."""

    NAME: str
    VERSION: str

    def model_key(self) -> str: ...

    def train(self, out: Path, key: str) -> None: ...


@dataclass(frozen=True)
class Packing:
    """How a model is served: kept out of the recipe module so packaging edits never force retraining."""

    recipe: ModelRecipe
    handler: str  # repo-relative; TorchServe's entry point
    packages: tuple[str, ...]  # repo-relative package dirs the handler imports, packed as `<pkg>/`


# `handlers/` is packed whole as well: the handler imports sibling modules as `handlers.<module>`; the
# client package travels for its generated attnserve.v1 protos (the gRPC codec's wire types).
PACKAGES = ("attnserve", "handlers", "client/attnserve_client")
RECIPES: dict[str, Packing] = {
    sentiment.NAME: Packing(sentiment, "handlers/text_handler.py", PACKAGES),
    topics.NAME: Packing(topics, "handlers/text_handler.py", PACKAGES),
    fashion.NAME: Packing(fashion, "handlers/image_handler.py", PACKAGES),
}


def archive_spec(name: str, root: Path) -> ArchiveSpec:
    """Paths of everything packed with the model; the serving config is per model, next to its archive."""
    packing = RECIPES[name]
    return ArchiveSpec(
        name=name,
        version=packing.recipe.VERSION,
        handler=root / packing.handler,
        config_file=root / "model_store" / name / "model-config.yaml",
        packages=tuple(root / p for p in packing.packages),
        export_dir=root / "model_store",
    )


def staged_model(name: str, root: Path = REPO_ROOT) -> tuple[Path, str]:
    """(dir with everything the archive packs, its key): the trained model, plus `cavs.pt` when
    model_store/<name>/concepts.yaml exists and `amortized.pt` when .../amortized.yaml exists; each
    stage is cached and rebuilt only when its inputs change. The evaluation harness loads the same dir."""
    recipe = RECIPES[name].recipe
    key = recipe.model_key()
    model_dir, _ = cached_model(name, key, lambda out: recipe.train(out, key))
    model_dir, key = with_concepts(name, model_dir, key, root)
    return with_amortized(name, model_dir, key, root)


def build(name: str, root: Path = REPO_ROOT) -> Path:
    """Train (or reuse) the cached model, repack its archive if stale, return the `.mar` path.

    `root` lets tests build inside a scratch repo."""
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(RECIPES)}")
    spec = archive_spec(name, root)
    if missing := spec.missing_inputs():  # before training, so a missing file costs seconds, not minutes
        raise FileNotFoundError("archive inputs missing: " + ", ".join(str(p) for p in missing))
    model_dir, key = staged_model(name, root)
    card = json.loads((model_dir / "model_card.json").read_text())
    log(name, f"held-out accuracy {card['metrics']['accuracy']:.4f} on {card['sizes']['test']} examples")
    build_archive(spec, model_dir, key)
    return spec.mar_path


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status so failures are visible to make."""
    parser = argparse.ArgumentParser(prog="python -m model_store.recipes.build", description=__doc__)
    parser.add_argument("names", nargs="+", choices=[*RECIPES, "all"], help="models to build")
    args = parser.parse_args(argv)
    names = list(RECIPES) if "all" in args.names else list(dict.fromkeys(args.names))
    for name in names:
        try:
            path = build(name)
        except Exception as e:  # any failure: one clear line, non-zero exit, no half-written stamp
            print(f"error: building {name!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        print(f"[{name}] ready: {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
