"""Image rows give no comp_del (tests/engine/test_faithfulness.py): the harness must rank on the other
metrics and its table say n/a rather than average nothing."""

from __future__ import annotations

import math

from bench.eval.report import markdown
from bench.eval.run import Measurements, Record
from bench.eval.stats import analyse


def test_a_model_without_deletion_reports_it_as_not_applicable() -> None:
    records = [
        Record(name, True, True, {m: [v, v + 0.1] for m in ("comp", "suff", "aopc_comp", "aopc_suff")}, [0.01] * 2)
        for name, v in (("a", 0.2), ("b", 0.4))
    ]
    for record in records:
        record.scores = [[0.1, 0.5, 0.2], [0.3, 0.2, 0.9]]
    measured = Measurements(["test/0", "test/1"], [0.001, 0.001], records)
    analysis = analyse(measured)
    assert "comp_del" not in analysis.best and analysis.best["comp"] == "b"
    assert all("comp_del" not in s.metrics and "comp_del" not in s.vs_best for s in analysis.summaries)
    machine = {"cpu": "cpu", "nproc": 1, "torch": "t", "threads": 1, "python": "3"}
    context = {"description": "d", "command": "c", "date": "now", "machine": machine}
    table = markdown("images", context | {"settings": {"texts": 2, "methods": ["a", "b"]}}, measured, analysis, "p")
    assert "| comp del ↑ |" in table and table.count("| n/a |") == 2
    assert "Methods run: `a`, `b`." in table and not math.isnan(analysis.forward_median_ms)
