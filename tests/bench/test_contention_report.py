"""bench/contention.py's table: one row per configuration and model, the all-busy share of the alone figure."""

from __future__ import annotations

from bench.contention import MODELS, report


def cell(rps: float) -> dict:
    return {"rps": rps, "p50_ms": 10.0, "p99_ms": 30.0, "errors": 0, "first_error": None}


def test_each_configuration_and_model_gets_its_share_of_its_alone_throughput() -> None:
    together = "+".join(MODELS)
    scenarios = {f"{m} alone": {m: cell(100.0 * (i + 1))} for i, m in enumerate(MODELS)}
    scenarios[together] = {m: cell(25.0 * (i + 1)) for i, m in enumerate(MODELS)}
    runs = [
        {"threads": 0, "spin": "libgomp", "scenarios": scenarios},
        {"threads": 1, "spin": "1000", "scenarios": scenarios},
    ]
    rows = [line for line in report(runs).splitlines()[2:]]
    assert len(rows) == 2 * len(MODELS)
    assert rows[0].startswith("| threads default, spin libgomp | sentiment | 100.0 | 10 / 30 | 25.0 |")
    assert all("| 0.25 | 0 |" in row for row in rows)
    assert rows[-1].startswith("| threads 1, spin 1000 | fashion | 300.0 |")
