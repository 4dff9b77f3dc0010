"""Model-card fields shared by every recipe: what was trained on how much of what, how well, with what.

A card describes the weights; the build adds the stage's key to the release manifest, not here.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model_store.recipes.keys import versions


def provenance(
    seed: int,
    labels: Mapping[str, Sequence[int]],
    id2label: Mapping[int, str],
    metrics: dict[str, Any],
    seconds: float,
    threads: int,
    settings: Mapping[str, Any],
    packages: Sequence[str],
) -> dict[str, Any]:
    """``labels`` maps each part of the split ("train", "test") to its gold labels; ``settings`` is the
    bundle's ``model`` section as applied (budget included)."""
    return {
        "seed": seed,
        "sizes": {part: len(gold) for part, gold in labels.items()},
        "class_counts": {
            part: {id2label[int(c)]: n for c, n in sorted(Counter(int(y) for y in gold).items())}
            for part, gold in labels.items()
        },
        "metrics": metrics,
        "train_seconds": round(seconds, 1),
        "train_threads": threads,
        "train_config": dict(settings["train"]),
        "settings": {k: v for k, v in settings.items() if k != "train"},
        "versions": {"python": platform.python_version(), **versions(*packages)},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_card(out: Path, card: dict[str, Any]) -> None:
    """model_card.json for tools, MODEL_CARD.md for people; both ship next to the weights."""
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(render_card(card))


def render_card(card: dict[str, Any]) -> str:
    """The human-readable summary of model_card.json."""
    data, cfg, metrics = card["data"], card["train_config"], card["metrics"]
    model = card.get("base_model", {}).get("name") or card.get("architecture", {}).get("class", "")
    lines = [
        f"# {card['model_name']} v{card['version']}",
        "",
        f"Task: {card['task']}; labels {', '.join(card['labels'].values())}.",
        "",
        f"- Model: {model}; {card['method']}",
        f"- Data: {data['source']}; {data['package']} (sha256 {data['sha256'][:12]}…)",
        f"- Selection: {data['filter']}",
        f"- Split: {data['split']}, seed {card['seed']}",
        f"- Training examples: {card['sizes']['train']} {card['class_counts']['train']}",
        f"- Held-out examples: {card['sizes']['test']} {card['class_counts']['test']}",
        f"- Held-out accuracy: **{metrics['accuracy']:.4f}** (per class {metrics['per_class_accuracy']})",
        f"- Training: {cfg['epochs']} epoch(s), AdamW lr {cfg['lr']}, batch {cfg['batch_size']}; "
        f"{card['train_seconds']} s on {card['train_threads']} CPU threads",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in card['versions'].items())}",
        f"- Built {card['built_at']}",
        "",
    ]
    return "\n".join(lines)
