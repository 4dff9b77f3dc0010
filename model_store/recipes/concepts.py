"""Concept vectors built into an archive: the concept file, its cache key, and the staged model dir.

`model_store/<model>/concepts.yaml` declares a model's concepts (how they are read is up to the
modality's builder, concepts_text.py or concepts_image.py). At archive build `with_concepts` trains
their CAVs on the cached model, caches the result like a model (keyed by the model key, the concept
file, the CAV code and the lexicon data) and hands back a dir holding the model's files plus `cavs.pt`,
under a key that changes whenever any of those inputs does, so the archive is repacked exactly then.
A model without a concept file is packed as before.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_store.recipes.archive import MARKER, cached_model, digest, file_sha256, log

if TYPE_CHECKING:  # torch stays unimported on a cache hit, where only the key is computed
    from torch import Tensor

    from attnserve.concepts.bank import CavBank
    from model_store.recipes.cav import CavConfig

CONCEPT_FILE = "concepts.yaml"
SUMMARY_FILE = "CONCEPTS.md"
BUILDERS = {"text": "model_store.recipes.concepts_text", "image": "model_store.recipes.concepts_image"}
_HERE = Path(__file__).resolve().parent
CODE = (
    _HERE / "cav.py",
    _HERE / "concepts.py",
    _HERE / "concepts_text.py",
    _HERE / "concepts_image.py",
    _HERE.parents[1] / "attnserve" / "concepts" / "bank.py",
)


@dataclass(frozen=True)
class ConceptExamples:
    """One concept's training inputs, already turned into activations by the modality's builder."""

    name: str
    description: str
    counterpart: str  # "random" or "relative" (see attnserve.concepts.bank.COUNTERPARTS)
    activations: Tensor  # [P, L, D]
    counterparts: Tensor  # [Q, L, D]: the pool each CAV draws its counterpart sample from
    preview: list[str]  # a few of the concept's inputs, for the summary


@dataclass(frozen=True)
class Examples:
    concepts: list[ConceptExamples]
    random_pool: Tensor  # [N, L, D]: random-vs-random CAVs draw both sides from here
    random_preview: list[str]


def load_spec(path: Path) -> dict[str, Any]:
    """Parse and check a concept file: a typo must fail the build, not silently drop a concept."""
    import yaml

    spec = yaml.safe_load(path.read_text())
    missing = {"modality", "settings", "cav", "concepts"} - set(spec or {})
    if missing:
        raise ValueError(f"{path}: missing sections {sorted(missing)}")
    if spec["modality"] not in BUILDERS:
        raise ValueError(f"{path}: modality {spec['modality']!r} is not one of {', '.join(BUILDERS)}")
    if not spec["concepts"]:
        raise ValueError(f"{path}: declares no concepts")
    for name, concept in spec["concepts"].items():
        if not isinstance(concept, dict) or not concept.get("description"):
            raise ValueError(f"{path}: concept {name!r} needs a description")
    return spec


def concepts_key(model_key: str, path: Path, spec: dict[str, Any]) -> str:
    """Everything the CAVs depend on; the archive stamp takes this key in place of the model key."""
    builder = importlib.import_module(BUILDERS[spec["modality"]])
    return digest(
        {
            "model": model_key,
            "concepts": file_sha256(path),
            "code": {p.name: file_sha256(p) for p in CODE},
            "data": builder.data_key(),
            "versions": {p: importlib.metadata.version(p) for p in ("torch", "transformers", "scikit-learn")},
        }
    )


def with_concepts(name: str, model_dir: Path, model_key: str, root: Path) -> tuple[Path, str]:
    """(dir to pack, key for its archive stamp): the model dir itself when the model declares no concepts."""
    path = root / "model_store" / name / CONCEPT_FILE
    if not path.is_file():
        return model_dir, model_key
    spec = load_spec(path)
    key = concepts_key(model_key, path, spec)
    staged, _ = cached_model(f"{name}-concepts", key, lambda out: _build(name, model_dir, model_key, spec, out))
    return staged, key


def _build(name: str, model_dir: Path, model_key: str, spec: dict[str, Any], out: Path) -> None:
    from attnserve.concepts.bank import FILE_NAME, save_cavs

    _link_model(model_dir, out)
    started = time.perf_counter()
    bank = build_bank(name, model_dir, spec)
    seconds = time.perf_counter() - started
    bank.meta.update(model_key=model_key, build_seconds=round(seconds, 1))
    save_cavs(bank, out / FILE_NAME)
    (out / SUMMARY_FILE).write_text(render_summary(bank))
    log(name, f"CAVs built in {seconds:.0f} s: {', '.join(bank.concepts)} + random baseline")


def _link_model(model_dir: Path, out: Path) -> None:
    """Hard links where possible: the staged dir must not double the disk use of a 90 MB model."""
    for source in model_dir.iterdir():
        if source.is_file() and source.name != MARKER:
            try:
                os.link(source, out / source.name)
            except OSError:
                shutil.copy2(source, out / source.name)


def build_bank(name: str, model_dir: Path, spec: dict[str, Any]) -> CavBank:
    """Activations from the modality's builder, then K CAVs per concept and layer, plus the random set."""
    from attnserve.concepts.bank import RANDOM, CavBank, CavSet
    from model_store.recipes.cav import REPRESENTATION, CavConfig, random_cavs, train_cavs

    builder = importlib.import_module(BUILDERS[spec["modality"]])
    config = CavConfig(**spec["cav"])
    examples: Examples = builder.build_examples(model_dir, spec["settings"], spec["concepts"])
    sets = {}
    for c in examples.concepts:
        vectors, accuracy = train_cavs(c.activations, c.counterparts, config, c.name)
        sizes = _sizes(len(c.activations), len(c.counterparts), config)
        sets[c.name] = CavSet(c.name, c.counterpart, c.description, vectors, accuracy, sizes)
        log(name, f"concept {c.name}: mean held-out CAV accuracy per layer {_means(accuracy)}")
    pool = examples.random_pool
    size = min(max(len(c.activations) for c in examples.concepts), len(pool) // 2)  # as large as the concepts
    vectors, accuracy = random_cavs(pool, size, config)
    description = "random-vs-random CAVs: two disjoint random samples of the random pool each"
    random_set = CavSet(RANDOM, "random", description, vectors, accuracy, _sizes(size, len(pool), config))
    log(name, f"random baseline: mean held-out CAV accuracy per layer {_means(accuracy)}")
    return CavBank(
        model=name,
        layers=list(range(pool.shape[1])),
        hidden_size=pool.shape[2],
        representation=REPRESENTATION,
        concepts=sets,
        random=random_set,
        meta={
            "modality": spec["modality"],
            "settings": spec["settings"],
            "cav_config": spec["cav"],
            "preview": {**{c.name: c.preview for c in examples.concepts}, RANDOM: examples.random_preview},
            "versions": {p: importlib.metadata.version(p) for p in ("torch", "transformers", "scikit-learn")},
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def _sizes(concept: int, pool: int, config: CavConfig) -> dict[str, int]:
    per_side = min(concept, pool)
    return {
        "concept": concept,
        "counterpart_pool": pool,
        "per_side": per_side,
        "held_out": round(2 * per_side * config.test_fraction),
    }


def _means(accuracy: Tensor) -> list[float]:
    return [round(x, 3) for x in accuracy.mean(0).tolist()]


def render_summary(bank: CavBank) -> str:
    """CONCEPTS.md, packed next to cavs.pt: what each concept is and how separable it was, per layer."""
    layers = " | ".join(f"layer {layer}" for layer in bank.layers)
    lines = [
        f"# Concept vectors of {bank.model}",
        "",
        f"Representation: {bank.representation}. Each row: mean (± std) held-out accuracy of its "
        f"{bank.random.count} CAVs per layer; counterpart `random` = random examples without the concept, "
        "`relative` = the other concepts of the set.",
        "",
        f"| concept | counterpart | examples | {layers} |",
        "|---|---|---|" + "---|" * len(bank.layers),
    ]
    for s in [*bank.concepts.values(), bank.random]:
        cells = " | ".join(f"{m:.3f} ± {d:.3f}" for m, d in zip(s.accuracy.mean(0), s.accuracy.std(0), strict=True))
        lines.append(f"| {s.name} | {s.counterpart} | {s.sizes['concept']} | {cells} |")
    lines += ["", *(f"- **{s.name}**: {s.description}" for s in [*bank.concepts.values(), bank.random]), ""]
    return "\n".join(lines)
