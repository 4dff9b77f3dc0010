"""Which methods a model answers with when a request names none: chosen from its published evaluation.

The rule: among the served methods whose median latency is at most ``MAX_COST`` times a plain
prediction (a default must stay cheap: it runs on every request that does not choose), the one with
the highest comprehensiveness in the model's table (``docs/eval/<model>.json``, written by
``python -m bench.eval``). Each bundle states its choice in ``handler.default_methods``;
tests/bench/test_defaults.py fails when a re-published table would choose differently.
"""

from __future__ import annotations

import json
from pathlib import Path

MAX_COST = 4.0  # × a plain prediction
TABLES = Path(__file__).resolve().parents[2] / "docs" / "eval"


def chosen_default(table: dict, max_cost: float = MAX_COST) -> str:
    """The most comprehensive method of ``table`` (an evaluation's JSON) within ``max_cost``."""
    cheap = [s for s in table["summaries"] if s["latency_ratio"] is not None and s["latency_ratio"] <= max_cost]
    if not cheap:
        raise ValueError(f"{table['model']}: no method within {max_cost}× a prediction")
    return max(cheap, key=lambda s: s["metrics"]["comp"]["mean"])["name"]


def published(model: str) -> dict:
    """The model's published evaluation table."""
    return json.loads((TABLES / f"{model}.json").read_text())


if __name__ == "__main__":
    for path in sorted(TABLES.glob("*.json")):
        table = json.loads(path.read_text())
        print(f"{path.stem}: {chosen_default(table)}")
