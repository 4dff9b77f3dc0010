"""``python -m bench.eval --quick`` end to end on the sentiment model, into a temporary folder."""

from __future__ import annotations

import json

from bench.eval.__main__ import main
from bench.eval.candidates import SCORED
from bench.eval.models import MODELS
from tests.bundles import require_release


def test_quick_mode_writes_table_json_and_plot(tmp_path) -> None:
    require_release("sentiment")
    assert main(["--quick", "--count", "3", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "sentiment.md").read_text()
    report = json.loads((tmp_path / "sentiment.json").read_text())
    names = [summary["name"] for summary in report["summaries"]]
    assert set(SCORED) | {"random"} <= set(names)
    assert all(f"| `{name}` |" in table for name in names)
    assert report["settings"]["texts"] == 3 and len(report["per_text"]["forward_seconds"]) == 3
    assert report["pareto"] and set(report["pareto"]) <= set(names)
    assert (tmp_path / "sentiment_pareto.png").read_bytes().startswith(b"\x89PNG")


def test_topics_plugs_in_with_its_held_out_articles() -> None:
    require_release("topics")
    topics = MODELS["topics"]()
    assert len(topics.texts) == 425 and topics.model.config.num_labels == 5
    assert topics.max_length == 128 and "BBC News" in topics.description
