"""The concepts stage: CAVs of the concepts a model's bundle declares, fitted on the trained model.

The bundle's ``concepts`` section declares them (how they are read is up to the modality's builder,
concepts_text.py or concepts_image.py). `with_concepts` fits their CAVs on the assembled model and
caches `cavs.pt` and `CONCEPTS.md` under a key of the model key, the section, the code the stage
imports and the lexicon data, so they are rebuilt exactly when one of those changes.
"""

from __future__ import annotations

import importlib.metadata
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_store.recipes import concepts_image, concepts_text
from model_store.recipes.archive import cached_model, digest, log
from model_store.recipes.bundles import Bundle, with_budget
from model_store.recipes.image_files import image_files
from model_store.recipes.keys import code_digest, file_sha256, versions

if TYPE_CHECKING:  # torch stays unimported on a cache hit, where only the key is computed
    from torch import Tensor

    from attnserve.concepts.bank import CavBank
    from model_store.recipes.cav import CavConfig
    from model_store.recipes.concept_examples import Examples

BUILDERS = {"text": concepts_text, "image": concepts_image}
SUMMARY_FILE = "CONCEPTS.md"


def check_section(bundle: Bundle) -> dict[str, Any]:
    """The bundle's concepts section, budget applied, checked: a typo must fail the build, not silently
    drop a concept."""
    spec = with_budget(bundle.concepts or {})
    where = f"{bundle.folder}/bundle.yaml, concepts"
    missing = {"settings", "cav", "concepts"} - set(spec)
    if missing:
        raise ValueError(f"{where}: missing sections {sorted(missing)}")
    if not spec["concepts"]:
        raise ValueError(f"{where}: declares no concepts")
    for name, concept in spec["concepts"].items():
        if not isinstance(concept, dict) or not concept.get("description"):
            raise ValueError(f"{where}: concept {name!r} needs a description")
    return spec


def concepts_key(bundle: Bundle, model_key: str, spec: dict[str, Any]) -> str:
    """Everything the CAVs depend on: the model, the section, the stage's code, the lexicon data."""
    return digest(
        {
            "stage": "concepts",
            "model": model_key,
            **bundle.identity,
            "concepts": spec,
            "code": code_digest([Path(__file__)]),
            "data": BUILDERS[bundle.modality].data_key(),
            "files": {path: file_sha256(Path(path)) for path in example_files(spec)},
            "versions": versions("torch", "transformers", "scikit-learn"),
        }
    )


def example_files(spec: dict[str, Any]) -> list[str]:
    """The example files a concept section names (a packaged model's own concept sets: text files, or
    folders of images): keyed by content."""
    named = [spec["settings"].get("pool_file"), *(c.get("examples_file") for c in spec["concepts"].values())]
    folders = [spec["settings"].get("pool_dir"), *(c.get("examples_dir") for c in spec["concepts"].values())]
    images = [str(path) for folder in folders if folder for path in image_files(Path(folder))]
    return sorted(path for path in [*named, *images] if path)


def with_concepts(bundle: Bundle, checkpoint: Path, model_key: str) -> tuple[Path, str]:
    """(stage dir holding `cavs.pt` and `CONCEPTS.md`, its key), built on the assembled ``checkpoint``."""
    spec = check_section(bundle)
    key = concepts_key(bundle, model_key, spec)
    staged, _ = cached_model(
        f"{bundle.name}-concepts", key, lambda out: _build(bundle, checkpoint, model_key, spec, out)
    )
    return staged, key


def _build(bundle: Bundle, checkpoint: Path, model_key: str, spec: dict[str, Any], out: Path) -> None:
    from attnserve.concepts.bank import FILE_NAME, save_cavs

    started = time.perf_counter()
    bank = build_bank(bundle, checkpoint, spec)
    seconds = time.perf_counter() - started
    bank.meta.update(model_key=model_key, build_seconds=round(seconds, 1))
    save_cavs(bank, out / FILE_NAME)
    (out / SUMMARY_FILE).write_text(render_summary(bank))
    log(bundle.name, f"CAVs built in {seconds:.0f} s: {', '.join(bank.concepts)} + random baseline")


def build_bank(bundle: Bundle, checkpoint: Path, spec: dict[str, Any]) -> CavBank:
    """Activations from the modality's builder, then K CAVs per concept and layer, plus the random set."""
    from attnserve.concepts.bank import RANDOM, CavBank, CavSet
    from model_store.recipes.cav import REPRESENTATION, CavConfig, random_cavs, train_cavs

    name = bundle.name
    config = CavConfig(**spec["cav"])
    examples: Examples = BUILDERS[bundle.modality].build_examples(
        bundle, checkpoint, spec["settings"], spec["concepts"]
    )
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
            "modality": bundle.modality,
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
