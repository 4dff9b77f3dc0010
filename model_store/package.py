"""Package your own Hugging Face classifier: `make package MODEL=<dir> NAME=<name>`.

    python -m model_store.package path/to/checkpoint --name mymodel

reads a directory written by `save_pretrained` (config, safetensors weights, tokenizer or image
processor), self-tests the engine on it (attnserve/selftest.py) before anything is written, then writes
`model_store/<name>.mar` and its model card (`model_store/build/<name>/MODEL_CARD.md`). The labels come
from the config's `id2label`, the modality from the model class, the max length from the tokenizer and
the position embeddings. `make run MODELS="sentiment <name>"` serves it beside the defaults.

``--explainer-inputs`` (unlabelled in-domain inputs: a file of texts, one per line, or a folder of
images) also trains the learned `amortized_shapley` explainer on them: its Shapley targets need no
labels. ``--concepts DIR`` fits CAVs for `tcav`: for a text model, one `<concept>.txt` per concept (one
example per line) plus `random.txt`, the counterpart texts; for an image model, one `<concept>/` folder
of PNG or JPEG images per concept plus `random/`. ``ATTNSERVE_BUDGET=quick`` builds few-input
versions of both in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from model_store.recipes.archive import digest
from model_store.recipes.build import archive_spec, pack
from model_store.recipes.bundles import Bundle
from model_store.recipes.image_files import image_files
from model_store.recipes.keys import REPO_ROOT, file_sha256, versions

IMAGE_TYPES = {"vit", "deit"}
# Families the engine cannot explain faithfully, and why; everything else is self-tested. Decoder-only
# classifiers read their label from the last real token through causal attention, while every game and
# relevance method here reads the sequence from its first, [CLS]-like position.
DECODER = "classifies from the last token through causal attention; the engine explains encoders, read from [CLS]"
REFUSED = {family: DECODER for family in ("gpt2", "gpt_neo", "gptj", "llama", "mistral", "qwen2", "phi", "opt")}
MAX_POSITIONS = 512  # a served text is cut here even when the model reads more: cost grows as n²
TORCHSERVE = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 8, "maxBatchDelay": 5, "responseTimeout": 120}
# The learned explainer's settings for a packaged model (see the `amortized` section of a bundle).
EXPLAINER = {
    "inputs": 1000,
    "validation": 0.2,
    "permutations": 12,
    "batch": 256,
    "seed": 1337,
    # width and heads 0: the packaged model's own hidden size and attention heads
    "head": {"width": 0, "heads": 0, "layers": 1, "epochs": 12, "lr": 0.0005, "weight_decay": 0.01},
    "quick": {"inputs": 24, "permutations": 2, "epochs": 5},
}
# CAV settings for a packaged model's concept files (see the `concepts` section of a bundle).
CONCEPTS = {
    "settings": {"examples": 150, "min_examples": 10, "pool": 3000, "seed": 1337},
    "cav": {"cavs": 20, "test_fraction": 0.3, "seed": 1337},
    "quick": {"settings": {"examples": 40}, "cav": {"cavs": 4}},
}
RANDOM = "random"  # the counterpart set: random.txt (texts) or random/ (images)
SAMPLES = {
    "text": ("A gorgeous, moving film.", "The plot never quite holds together, but the cast is terrific."),
}


class PackagingError(RuntimeError):
    """The checkpoint cannot be served; the message names the architecture and what is missing."""


def describe(source: Path, name: str) -> Bundle:
    """The bundle of facts a checkpoint implies, read from its own files."""
    from attnserve.explain import DEFAULT_METHODS  # the loader's, written out in the bundle and card

    config_path = source / "config.json"
    if not config_path.is_file():
        raise PackagingError(f"{source}: no config.json; give a directory written by save_pretrained")
    config = json.loads(config_path.read_text())
    family, architecture = config.get("model_type", "?"), (config.get("architectures") or ["?"])[0]
    if family in REFUSED:
        raise PackagingError(f"{architecture} ({family}) is not supported: {REFUSED[family]}")
    labels = [config.get("id2label", {}).get(str(i)) for i in range(len(config.get("id2label", {})))]
    if len(labels) < 2 or None in labels:
        raise PackagingError(f"{architecture}: config.json needs id2label for every class (found {labels})")
    modality = "image" if family in IMAGE_TYPES else "text"
    max_length = None if modality == "image" else _max_length(source, config)
    return Bundle(
        name=name,
        folder=source,
        version=str(config.get("transformers_version", "1.0")),
        modality=modality,
        recipe_module="",
        labels=tuple(labels),
        max_length=max_length,
        model={"source": str(source), "architecture": architecture, "family": family},
        torchserve=TORCHSERVE,
        handler={"default_methods": list(DEFAULT_METHODS)},
    )


def _max_length(source: Path, config: dict) -> int:
    """The tokenizer's limit, within the position embeddings (RoBERTa-like models offset them by 2)."""
    limits = [MAX_POSITIONS]
    if (source / "tokenizer_config.json").is_file():
        stated = json.loads((source / "tokenizer_config.json").read_text()).get("model_max_length")
        if isinstance(stated, int) and stated > 0:
            limits.append(stated)
    if "max_position_embeddings" in config:
        offset = 2 if config.get("model_type") in ("roberta", "xlm-roberta") else 0
        limits.append(config["max_position_embeddings"] - offset)
    return min(limits)


def sample_bodies(bundle: Bundle) -> list[dict]:
    if bundle.modality == "text":
        return [{"text": text} for text in SAMPLES["text"]]
    import base64
    import io

    import numpy as np
    from PIL import Image

    bodies = []
    for seed in (0, 1):
        pixels = np.random.default_rng(seed).integers(0, 256, (32, 32), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        bodies.append({"image": base64.b64encode(buffer.getvalue()).decode()})
    return bodies


def self_tested(bundle: Bundle) -> None:
    """Load the checkpoint as the handler will and run the engine's self-test on it."""
    from attnserve.explain import ModelInfo
    from attnserve.loading import load_explainer
    from attnserve.selftest import SelfTestError, self_test

    what = f"{bundle.model['architecture']} ({bundle.model['family']})"
    try:
        explainer = load_explainer(
            Path(bundle.model["source"]), bundle.handler_settings(), ModelInfo(bundle.name, "selftest")
        )
        self_test(explainer, sample_bodies(bundle))
    except SelfTestError as error:
        raise PackagingError(f"{what} failed the self-test: {error}") from None
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise PackagingError(f"{what} cannot be loaded for explanation: {type(error).__name__}: {error}") from None


def model_card(bundle: Bundle, source: Path) -> dict:
    from attnserve.explain import DEFAULT_METHODS  # the loader's, written out in the card

    weights = sorted(p.name for p in source.iterdir() if p.suffix in (".safetensors", ".bin"))
    return {
        "model_name": bundle.name,
        "version": bundle.version,
        "labels": dict(enumerate(bundle.labels)),
        "modality": bundle.modality,
        "max_length": bundle.max_length,
        "architecture": bundle.model["architecture"],
        "family": bundle.model["family"],
        "source": str(source),
        "weights_sha256": {name: file_sha256(source / name) for name in weights},
        "self_test": "passed: finite and aligned scores for every method, batched = unbatched, "
        "attention-Shapley closed forms = enumeration",
        "default_methods": list(DEFAULT_METHODS),
        "versions": versions("torch", "transformers"),
        "packaged_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def package(
    source: Path,
    name: str,
    export_dir: Path | None = None,
    explainer_inputs: Path | None = None,
    concepts: Path | None = None,
) -> Path:
    """Self-test, then write `<export_dir>/<name>.mar`; nothing is written when a check fails."""

    source = source.resolve()
    bundle = describe(source, name)
    inputs = read_inputs(explainer_inputs, bundle) if explainer_inputs else None
    if concepts:
        bundle = replace(bundle, concepts=concept_section(concepts.resolve(), bundle))
    self_tested(bundle)
    spec = archive_spec(bundle, REPO_ROOT, export_dir)
    card = model_card(bundle, source)
    with tempfile.TemporaryDirectory(prefix=f"{name}-package-") as tmp:
        staged = Path(tmp)
        for path in source.iterdir():
            if path.is_file() and not path.name.startswith("."):
                shutil.copy2(path, staged / path.name)
        (staged / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
        (staged / "MODEL_CARD.md").write_text(render(card))
        if bundle.concepts:
            concept_vectors(bundle, staged, card)
        if inputs:
            learned_explainer(bundle, staged, card, inputs)
        pack(bundle, spec, staged, digest({"card": {k: v for k, v in card.items() if k != "packaged_at"}}))
        shutil.copy2(staged / "MODEL_CARD.md", spec.config_file.with_name("MODEL_CARD.md"))
    return spec.mar_path


def read_inputs(path: Path, bundle: Bundle) -> list[str]:
    """What the learned explainer learns from: the non-empty lines of a text file, or the image files
    of a folder (their absolute paths; the build keys them by content)."""
    if bundle.modality == "image":
        if not path.is_dir():
            raise PackagingError(f"{path}: an image model learns from a folder of PNG or JPEG images")
        found = [str(p.resolve()) for p in image_files(path)]
    else:
        if not path.is_file():
            raise PackagingError(f"{path}: a text model learns from a file of texts, one per line")
        found = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(found) < 10:
        what = "images" if bundle.modality == "image" else "texts"
        raise PackagingError(f"{path}: {len(found)} {what}; the learned explainer needs at least 10")
    return found


def concept_section(folder: Path, bundle: Bundle) -> dict:
    """A bundle's concepts section for the concept sets in ``folder``: `<concept>.txt` files and
    `random.txt` for a text model, `<concept>/` image folders and `random/` for an image model."""
    if bundle.modality == "image":
        sets = sorted(p for p in folder.iterdir() if p.is_dir() and p.name != RANDOM)
        pool, kind = folder / RANDOM, "examples_dir"
        found = pool.is_dir() and sets
        need = f"{RANDOM}/ (counterpart images) and one <concept>/ folder of images per concept"
    else:
        sets = sorted(p for p in folder.glob("*.txt") if p.stem != RANDOM)
        pool, kind = folder / f"{RANDOM}.txt", "examples_file"
        found = pool.is_file() and sets
        need = f"{RANDOM}.txt (counterpart texts) and one <concept>.txt per concept"
    if not found:
        raise PackagingError(f"{folder}: needs {need}")
    concepts = {p.stem: {"description": f"examples in {p.name}", kind: str(p)} for p in sets}
    pool_key = "pool_dir" if bundle.modality == "image" else "pool_file"
    return {**CONCEPTS, "concepts": concepts, "settings": {**CONCEPTS["settings"], pool_key: str(pool)}}


def concept_vectors(bundle: Bundle, staged: Path, card: dict) -> None:
    """Fit the CAVs of the concept files (the build's concepts stage, cached by the weights' sha256 and
    the files' contents) and put `cavs.pt` and `CONCEPTS.md` into ``staged``."""
    from model_store.recipes.concepts import with_concepts

    built, _ = with_concepts(bundle, staged, digest({"weights": card["weights_sha256"]}))
    for name in ("cavs.pt", "CONCEPTS.md"):
        shutil.copy2(built / name, staged / name)


def learned_explainer(bundle: Bundle, staged: Path, card: dict, inputs: list[str]) -> None:
    """Train `amortized_shapley` on ``inputs`` (the amortized stage of the build, cached by the weights'
    sha256 and the inputs) and put its network and extended model card into ``staged``."""
    from model_store.recipes.amortized import with_amortized

    bundle = replace(bundle, amortized=EXPLAINER)
    built, _ = with_amortized(bundle, staged, digest({"weights": card["weights_sha256"]}), inputs)
    for name in ("amortized.pt", "model_card.json", "MODEL_CARD.md"):
        shutil.copy2(built / name, staged / name)


def render(card: dict) -> str:
    labels = ", ".join(card["labels"].values())
    return (
        f"# {card['model_name']}\n\n{card['architecture']} ({card['family']}, {card['modality']}) from "
        f"{card['source']}; labels {labels}; max length {card['max_length']}.\n\nSelf-test {card['self_test']}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_store.package", description=__doc__)
    parser.add_argument("source", type=Path, help="a directory written by save_pretrained")
    parser.add_argument("--name", required=True, help="the model's name in URLs (/predictions/<name>)")
    parser.add_argument(
        "--explainer-inputs", type=Path, help="texts (one a line) or an image folder: train amortized_shapley"
    )
    parser.add_argument(
        "--concepts", type=Path, help="<concept>.txt + random.txt, or <concept>/ + random/ image folders: fit CAVs"
    )
    args = parser.parse_args(argv)
    if not args.name.replace("-", "").replace("_", "").isalnum():
        print(f"error: --name {args.name!r}: letters, digits, '-' and '_' only", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        path = package(args.source, args.name, explainer_inputs=args.explainer_inputs, concepts=args.concepts)
    except PackagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f'[{args.name}] packaged: {path}; serve it with make run MODELS="{args.name}"', flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
