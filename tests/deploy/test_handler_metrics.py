"""The handler's metric lines, through TorchServe's own metrics cache loaded from deploy/metrics.yaml and
parsed with the pattern TorchServe's frontend uses: exact counts per label set, and what a method's
latency includes."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

from attnserve.errors import AttnserveError, InvalidInput
from attnserve.explain import BatchReport
from attnserve.request import ExplainRequest
from deploy.launch import METRICS_CONFIG
from handlers.metrics import LATENCY_BUCKETS_S, PREDICT, REJECTED, HandlerMetrics, method_latency

# WorkerLifeCycle's pattern in TorchServe 0.12's frontend (a line it cannot parse is dropped).
FRONTEND = re.compile(
    r"\s*([\w\s]+)\.([\w\s]+):([0-9\-,.e]+)\|#([^|]*)(\|#type:([^|,]+))?\|#hostname:([^,]+),([^,]+)(,(.*))?"
)
TIMINGS = {"preprocess": 0.001, "forward": 0.004, "backward": 0.006, "methods": 0.0006}
METHOD_S = {"shapley_cls": 0.0001, "grad_shapley_mutual": 0.0005}


class Lines(logging.Handler):
    """Collects what the worker would print for the frontend."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def totals(self) -> dict[tuple[str, frozenset], float]:
        """(metric, labels) -> summed value, every line checked against the frontend's pattern."""
        totals: dict[tuple[str, frozenset], float] = defaultdict(float)
        for line in self.lines:
            match = FRONTEND.match(line.removeprefix("[METRICS]"))
            assert match, f"TorchServe's frontend would drop {line!r}"
            labels = frozenset(tuple(d.split(":", 1)) for d in match[4].split(","))
            totals[match[1], labels] += float(match[3])
        return totals


@contextmanager
def handler_metrics(flush_every_s: float | None) -> Iterator[tuple[HandlerMetrics, Lines]]:
    """HandlerMetrics on TorchServe's own cache, with every line it writes collected."""
    cache = MetricsCacheYamlImpl(str(METRICS_CONFIG))
    cache.initialize_cache()
    lines = Lines()
    logger = logging.getLogger("ts.metrics.caching_metric")
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        yield HandlerMetrics(cache, "sentiment", flush_every_s), lines
    finally:
        logger.removeHandler(lines)


@pytest.fixture
def recorder() -> Iterator[tuple[HandlerMetrics, Lines]]:
    with handler_metrics(flush_every_s=None) as found:
        yield found


def answered(tokens: int) -> dict:
    return {"tokens": [{}] * tokens}


def batch() -> BatchReport:
    """Two answered requests (one asking two methods, one prediction only) and two rejected ones."""
    return BatchReport(
        outcomes=[answered(5), answered(3), InvalidInput("bad", "text"), AttnserveError("boom")],
        requests=[
            ExplainRequest("a", ("shapley_cls", "grad_shapley_mutual"), None),
            ExplainRequest("b", (), 1),
            None,
            None,
        ],
        timings_s=TIMINGS,
        method_s=METHOD_S,
        batch_size=2,
    )


def labels(**values: str) -> frozenset:
    return frozenset({"model_name": "sentiment", **values}.items())


def test_every_known_series_starts_at_zero(recorder) -> None:
    _, lines = recorder
    totals = lines.totals()
    assert ("attnserve_requests_total", labels(method=PREDICT, outcome="ok")) in totals
    assert ("attnserve_requests_total", labels(method=REJECTED, outcome="bad_input")) in totals
    buckets = {dict(key[1])["le"] for key in totals if key[0] == "attnserve_method_seconds_bucket"}
    assert len(buckets) == len(LATENCY_BUCKETS_S) + 1 and {"0.001", "+Inf"} <= buckets
    assert all(value == 0 for value in totals.values())


def test_a_batch_counts_each_request_under_its_methods_and_outcome(recorder) -> None:
    metrics, lines = recorder
    lines.lines.clear()
    metrics.record(batch())
    metrics.flush()
    totals = lines.totals()
    requests = {
        (dict(key)["method"], dict(key)["outcome"]): value
        for (name, key), value in totals.items()
        if name == "attnserve_requests_total"
    }
    assert requests == {
        ("shapley_cls", "ok"): 1,
        ("grad_shapley_mutual", "ok"): 1,
        (PREDICT, "ok"): 1,
        (REJECTED, "bad_input"): 1,
        (REJECTED, "error"): 1,
    }
    assert totals["attnserve_request_tokens_count", labels()] == 2
    assert totals["attnserve_request_tokens_sum", labels()] == 8
    assert totals["attnserve_batch_size_sum", labels()] == 2
    assert totals["attnserve_phase_seconds_sum", labels(phase="backward")] == TIMINGS["backward"]


def test_a_method_latency_is_what_asking_for_that_method_costs(recorder) -> None:
    metrics, lines = recorder
    lines.lines.clear()
    metrics.record(batch())
    metrics.flush()
    totals = lines.totals()

    def latency(method: str) -> float:
        return totals["attnserve_method_seconds_sum", labels(method=method)]

    def in_bucket(method: str, le: str) -> float:
        return totals.get(("attnserve_method_seconds_bucket", labels(method=method, le=le)), 0)

    shared = TIMINGS["preprocess"] + TIMINGS["forward"]
    assert latency("shapley_cls") == pytest.approx(shared + METHOD_S["shapley_cls"])  # no backward pass
    with_backward = shared + TIMINGS["backward"]
    assert latency("grad_shapley_mutual") == pytest.approx(with_backward + METHOD_S["grad_shapley_mutual"])
    assert latency(PREDICT) == pytest.approx(shared)
    assert (in_bucket("shapley_cls", "0.005"), in_bucket("shapley_cls", "0.007")) == (0, 1)  # 5.1 ms
    assert (in_bucket("grad_shapley_mutual", "0.01"), in_bucket("grad_shapley_mutual", "0.02")) == (0, 1)  # 11.5 ms


def test_batches_are_summed_into_one_line_per_series_until_sent(recorder) -> None:
    metrics, lines = recorder
    lines.lines.clear()
    metrics.record(batch())
    assert lines.lines == []  # nothing is written on the request path
    sent = metrics.flush()
    once = lines.totals()
    assert sent == len(lines.lines) == len(once)
    lines.lines.clear()
    for _ in range(3):
        metrics.record(batch())
    assert metrics.flush() == sent  # three batches, as many lines as one
    assert lines.totals() == {key: 3 * value for key, value in once.items()}
    assert metrics.flush() == 0  # nothing moved since


def test_the_worker_sends_on_its_own_without_another_request() -> None:
    with handler_metrics(flush_every_s=0.05) as (metrics, lines):
        lines.lines.clear()
        metrics.record(batch())
        deadline = time.monotonic() + 5
        while ("attnserve_batch_size_count", labels()) not in lines.totals() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lines.totals()["attnserve_batch_size_count", labels()] == 1


def test_tcav_is_labelled_like_any_method_and_pays_for_the_backward_pass() -> None:
    report = BatchReport(
        outcomes=[answered(4)],
        requests=[ExplainRequest("a", ("tcav",), None, concepts=("negation",))],
        timings_s=TIMINGS,
        method_s={"tcav": 0.002},
        batch_size=1,
    )
    shared = TIMINGS["preprocess"] + TIMINGS["forward"] + TIMINGS["backward"]
    assert method_latency(report, "tcav") == pytest.approx(shared + 0.002)
