"""Model-card fields shared by the recipes written after `sentiment` (same layout as its card).

Not part of any model key: a card describes the weights, it does not shape them.
"""

from __future__ import annotations

import json
import platform
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def provenance(
    key: str,
    seed: int,
    labels: Mapping[str, Sequence[int]],
    id2label: Mapping[int, str],
    metrics: dict[str, Any],
    seconds: float,
    threads: int,
    train_config: Mapping[str, Any],
    versions: Mapping[str, str],
) -> dict[str, Any]:
    """What was trained on how much of what, how well, how long, with which versions; ``labels`` maps
    each part of the split ("train", "test") to its gold labels."""
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
        "train_config": dict(train_config),
        "cache_key": key,
        "versions": {"python": platform.python_version(), **versions},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_card(out: Path, card: dict[str, Any], markdown: str) -> None:
    """model_card.json for tools, MODEL_CARD.md for people; both are packed next to the weights."""
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(markdown)
