"""Each shipped model's default methods are the ones its published evaluation chooses (bench/eval/defaults.py)."""

from __future__ import annotations

import pytest

from bench.eval.defaults import chosen_default, published
from model_store.recipes.bundles import discover


@pytest.mark.parametrize("bundle", discover().values(), ids=lambda b: b.name)
def test_a_bundle_defaults_to_what_its_published_table_chooses(bundle) -> None:
    assert list(bundle.handler["default_methods"]) == [chosen_default(published(bundle.name))]


def test_the_rule_takes_the_most_comprehensive_cheap_method() -> None:
    def summary(name: str, comp: float, ratio: float | None) -> dict:
        return {"name": name, "latency_ratio": ratio, "metrics": {"comp": {"mean": comp}}}

    table = {"model": "m", "summaries": [summary("slow", 0.9, 40.0), summary("a", 0.3, 2.0), summary("b", 0.2, 1.0)]}
    assert chosen_default(table) == "a"
    table["summaries"].append(summary("random", 0.95, None))  # a reference point has no cost and is never chosen
    assert chosen_default(table) == "a"
    with pytest.raises(ValueError, match="no method within"):
        chosen_default(table, max_cost=0.5)
