"""From per-text measurements to what a reader decides with: means with standard errors, paired
differences against the best method (the same texts under both, so text-to-text variance cancels),
Spearman rank agreement between methods, and the Pareto front of faithfulness against cost."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from bench.eval.run import Measurements, Record

HIGHER_IS_BETTER = {"comp": True, "suff": False, "aopc_comp": True, "aopc_suff": False, "comp_del": True}


@dataclass(frozen=True)
class Estimate:
    mean: float
    se: float  # standard error of the mean over texts

    @staticmethod
    def of(values: np.ndarray) -> Estimate:
        se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
        return Estimate(float(values.mean()), se)


@dataclass(frozen=True)
class Summary:
    name: str
    signed: bool
    metrics: dict[str, Estimate]
    vs_best: dict[str, Estimate]  # paired difference (this − best) per metric; 0 for the best itself
    median_ms: float | None  # None for the random ranking
    p90_ms: float | None
    latency_ratio: float | None  # median latency / median plain-prediction latency


@dataclass(frozen=True)
class Analysis:
    summaries: list[Summary]
    best: dict[str, str]  # metric -> method with the best mean, for the metrics this model's rows give
    forward_median_ms: float
    spearman: dict[str, dict[str, float]]  # mean over texts of Spearman ρ between two methods' scores
    pareto: list[str]  # comprehensiveness against latency ratio, cheapest first

    def summary(self, name: str) -> Summary:
        return next(s for s in self.summaries if s.name == name)


def paired(a: Record, b: Record, metric: str) -> Estimate:
    return Estimate.of(np.asarray(a.metrics[metric]) - np.asarray(b.metrics[metric]))


def analyse(measured: Measurements) -> Analysis:
    records = {record.name: record for record in measured.records}
    best = {}
    for metric, higher in HIGHER_IS_BETTER.items():
        means = {name: float(np.mean(r.metrics[metric])) for name, r in records.items() if metric in r.metrics}
        if means:
            best[metric] = (max if higher else min)(means, key=means.__getitem__)
    forward_ms = 1e3 * float(np.median(measured.forward_seconds))
    summaries = [_summary(record, records, best, forward_ms) for record in measured.records]
    return Analysis(summaries, best, forward_ms, _spearman(measured.records), _pareto(summaries))


def _summary(record: Record, records: dict[str, Record], best: dict[str, str], forward_ms: float) -> Summary:
    metrics = {metric: Estimate.of(np.asarray(values)) for metric, values in record.metrics.items()}
    vs_best = {metric: paired(record, records[best[metric]], metric) for metric in record.metrics}
    median = 1e3 * float(np.median(record.seconds)) if record.timed else None
    return Summary(
        name=record.name,
        signed=record.signed,
        metrics=metrics,
        vs_best=vs_best,
        median_ms=median,
        p90_ms=1e3 * float(np.percentile(record.seconds, 90)) if record.timed else None,
        latency_ratio=median / forward_ms if median is not None else None,
    )


def _spearman(records: list[Record]) -> dict[str, dict[str, float]]:
    """Texts with fewer than 3 tokens, or a constant ranking, say nothing about order and are skipped."""
    table: dict[str, dict[str, float]] = {}
    for a in records:
        table[a.name] = {}
        for b in records:
            rhos = [
                spearmanr(x, y).statistic
                for x, y in zip(a.scores, b.scores, strict=True)
                if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0
            ]
            table[a.name][b.name] = float(np.mean(rhos)) if rhos else math.nan
    return table


def _pareto(summaries: list[Summary]) -> list[str]:
    """Timed methods that no other method beats on both comprehensiveness and latency ratio."""
    timed = sorted(
        (s for s in summaries if s.latency_ratio is not None), key=lambda s: (s.latency_ratio, -s.metrics["comp"].mean)
    )
    front, best_comp = [], -math.inf
    for s in timed:
        if s.metrics["comp"].mean > best_comp:
            front.append(s.name)
            best_comp = s.metrics["comp"].mean
    return front
