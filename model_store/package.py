"""Package your own Hugging Face classifier: `make package MODEL=<dir> NAME=<name>`.

    python -m model_store.package path/to/checkpoint --name mymodel

reads a directory written by `save_pretrained` (config, safetensors weights, tokenizer or image
processor), self-tests the engine on it (attnserve/selftest.py) before anything is written, then writes
`model_store/<name>.mar` and its model card (`model_store/build/<name>/MODEL_CARD.md`). The labels come
from the config's `id2label`, the modality from the model class, the max length from the tokenizer and
the position embeddings. `make run MODELS="sentiment <name>"` serves it beside the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import yaml

from model_store.recipes.archive import build_archive, digest
from model_store.recipes.build import archive_spec
from model_store.recipes.bundles import Bundle
from model_store.recipes.keys import REPO_ROOT, file_sha256, versions

IMAGE_TYPES = {"vit"}
# Families whose attention the engine cannot read faithfully yet, and why; everything else is self-tested.
REFUSED = {
    "deberta-v2": "transformers 5 declares no recordable attention module for DeBERTa-v2 (disentangled "
    "attention adds relative-position terms the attention maps do not carry)",
    "deit": "DeiT has two leading special tokens ([CLS] and distillation); the image explainer takes one",
}
MAX_POSITIONS = 512  # a served text is cut here even when the model reads more: cost grows as n²
TORCHSERVE = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 8, "maxBatchDelay": 50, "responseTimeout": 120}
DEFAULT_METHODS = ["gae"]  # relevance accumulation: one backward pass, the most faithful attention method here
SAMPLES = {
    "text": ("A gorgeous, moving film.", "The plot never quite holds together, but the cast is terrific."),
}


class PackagingError(RuntimeError):
    """The checkpoint cannot be served; the message names the architecture and what is missing."""


def describe(source: Path, name: str) -> Bundle:
    """The bundle of facts a checkpoint implies, read from its own files."""
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
        handler={"default_methods": DEFAULT_METHODS},
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
        "default_methods": DEFAULT_METHODS,
        "versions": versions("torch", "transformers"),
        "packaged_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def package(source: Path, name: str, export_dir: Path | None = None) -> Path:
    """Self-test, then write `<export_dir>/<name>.mar`; nothing is written when a check fails."""
    source = source.resolve()
    bundle = describe(source, name)
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
        spec.config_file.parent.mkdir(parents=True, exist_ok=True)
        spec.config_file.write_text(yaml.safe_dump(bundle.model_config(), sort_keys=False))
        build_archive(spec, staged, digest({"card": {k: v for k, v in card.items() if k != "packaged_at"}}))
        shutil.copy2(staged / "MODEL_CARD.md", spec.config_file.with_name("MODEL_CARD.md"))
    return spec.mar_path


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
    args = parser.parse_args(argv)
    if not args.name.replace("-", "").replace("_", "").isalnum():
        print(f"error: --name {args.name!r}: letters, digits, '-' and '_' only", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        path = package(args.source, args.name)
    except PackagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f'[{args.name}] packaged: {path}; serve it with make run MODELS="{args.name}"', flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
