"""Operator metrics of each batch, sent through TorchServe's metrics API (``context.metrics``).

Why histograms are assembled here from counters: TorchServe 0.12's frontend builds every Prometheus
histogram with the Java client's default buckets (5 ms … 10 s): it passes no buckets, and its metrics
YAML has no key for them. A 1–4 ms method would then be indistinguishable from a 5 ms one. So each
histogram below is three declared *counters*, ``<name>_bucket{le}``, ``<name>_sum`` and
``<name>_count``: the very series a Prometheus histogram exports, with our buckets, so
``histogram_quantile`` and heatmaps work on them as on any histogram (only their ``# TYPE`` line reads
``counter``). Counters, unlike gauges, add up across workers and survive a worker restart.

TorchServe drops every metric its YAML does not declare, silently; ``declared_series()`` is the list
deploy/metrics.yaml must hold, and tests/deploy/test_metrics_config.py checks the two agree.

Why increments are summed and sent once a second, not per batch: every ``add_or_update`` is one line on
the worker's stdout that the frontend parses, and a histogram observation touches every bucket above the
value (cumulative, as Prometheus defines them). Sent per batch, a lone client's prediction cost about 70
lines, worker and frontend CPU included. Counters only add, so the sum of a second's increments is the
same series; what an operator gives up is at most ``FLUSH_EVERY_S`` of delay, and that second's counts
when a worker is killed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ts.metrics.metric_abstract import MetricAbstract
from ts.metrics.metric_cache_abstract import MetricCacheAbstract
from ts.metrics.metric_type_enum import MetricTypes

from attnserve.capture import GRAD_NEEDS
from attnserve.errors import AttnserveError
from attnserve.explain import BatchReport
from attnserve.methods import METHOD_NAMES, REGISTRY

log = logging.getLogger(__name__)

PREDICT = "predict"  # method label of a prediction-only request (``"methods": []``)
REJECTED = "none"  # method label of a request rejected before its methods were known
OUTCOMES = ("ok", "bad_input", "error")
PHASES = ("forward", "backward")  # the passes of BatchReport.timings_s worth a histogram of their own

# 1 ms to 10 s, five bounds a decade (1-2-3-5-7): each bucket ends at most twice as high as it starts, so a
# quantile interpolated inside one is within a factor of 2. Then up to the model's 120 s response timeout,
# because the path and perturbation baselines take seconds per request. At most 29 lines per method and batch.
LATENCY_BUCKETS_S = (
    *(0.001, 0.002, 0.003, 0.005, 0.007),
    *(0.01, 0.02, 0.03, 0.05, 0.07),
    *(0.1, 0.2, 0.3, 0.5, 0.7),
    *(1.0, 2.0, 3.0, 5.0, 7.0),
    *(10.0, 20.0, 30.0, 60.0, 120.0),
)
TOKEN_BUCKETS = (4, 8, 16, 32, 64, 128, 256, 512)
FLUSH_EVERY_S = 1.0  # a Prometheus scrape is typically every 15 s: a second's delay is invisible on a dashboard
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Series:
    """One declared TorchServe counter: what deploy/metrics.yaml lists and the handler emits."""

    name: str
    labels: tuple[str, ...]
    unit: str


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]
    unit: str

    def series(self) -> tuple[Series, Series, Series]:
        return (
            Series(f"{self.name}_bucket", (*self.labels, "le"), "Count"),
            Series(f"{self.name}_sum", self.labels, self.unit),
            Series(f"{self.name}_count", self.labels, "Count"),
        )


METHOD_SECONDS = HistogramSpec("attnserve_method_seconds", ("model_name", "method"), LATENCY_BUCKETS_S, "Seconds")
PHASE_SECONDS = HistogramSpec("attnserve_phase_seconds", ("model_name", "phase"), LATENCY_BUCKETS_S, "Seconds")
REQUEST_TOKENS = HistogramSpec("attnserve_request_tokens", ("model_name",), TOKEN_BUCKETS, "Count")
BATCH_SIZE = HistogramSpec("attnserve_batch_size", ("model_name",), BATCH_BUCKETS, "Count")
HISTOGRAMS = (METHOD_SECONDS, PHASE_SECONDS, REQUEST_TOKENS, BATCH_SIZE)
REQUESTS = Series("attnserve_requests_total", ("model_name", "method", "outcome"), "Count")


def declared_series() -> list[Series]:
    """Every counter the handler emits, in the order deploy/metrics.yaml lists them."""
    return [series for spec in HISTOGRAMS for series in spec.series()] + [REQUESTS]


def bucket_label(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


class Pending:
    """Counter increments waiting to be sent: (counter, labels) -> summed increment. ``add`` is called on
    the request path, ``send`` from the flushing thread; a lock keeps every increment exactly once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: defaultdict[tuple[MetricAbstract, tuple[str, ...]], float] = defaultdict(float)

    def add(self, counter: MetricAbstract, labels: Sequence[str], increment: float) -> None:
        with self._lock:
            self._sums[counter, tuple(labels)] += increment

    def send(self) -> int:
        """One metric line per series that moved (or was created at zero) since the last send; how many."""
        with self._lock:
            sums, self._sums = self._sums, defaultdict(float)
        for (counter, labels), increment in sums.items():
            counter.add_or_update(increment, list(labels))
        return len(sums)


class Histogram:
    """A Prometheus histogram made of three TorchServe counters (see the module docstring)."""

    def __init__(self, metrics: MetricCacheAbstract, spec: HistogramSpec, pending: Pending) -> None:
        self.bounds = (*spec.buckets, math.inf)
        self._bucket, self._sum, self._count = (_counter(metrics, s) for s in spec.series())
        self._pending = pending

    def observe(self, labels: Sequence[str], values: Sequence[float]) -> None:
        """Add observations for one label set, as increments of its bucket, sum and count series. An
        empty ``values`` creates the series at zero."""
        for bound in self.bounds:
            below = sum(value <= bound for value in values)
            if below or not values:
                self._pending.add(self._bucket, [*labels, bucket_label(bound)], below)
        self._pending.add(self._sum, labels, sum(values))
        self._pending.add(self._count, labels, len(values))


def _counter(metrics: MetricCacheAbstract, series: Series) -> MetricAbstract:
    """The declared counter; TorchServe raises MetricsCacheKeyError when deploy/metrics.yaml lacks it."""
    return metrics.get_metric(series.name, MetricTypes.COUNTER)


def outcome_of(outcome: dict | AttnserveError | None) -> str:
    if isinstance(outcome, dict):
        return "ok"
    return "bad_input" if outcome is not None and outcome.code == "INVALID_INPUT" else "error"


def method_latency(report: BatchReport, method: str) -> float:
    """Seconds a request of this batch waited for ``method``: the batch's preprocessing and forward pass,
    the backward pass only when the method reads gradients, and the method's own computation over the
    batch. Other methods of the same batch are left out, so this is what asking for ``method`` costs;
    for ``predict`` it is preprocessing plus the forward pass. TorchServe's queue and batching delay
    are not in it (they are in ts_queue_latency_microseconds)."""
    timings = report.timings_s
    seconds = timings.get("preprocess", 0.0) + timings.get("forward", 0.0)
    if method in REGISTRY:
        if REGISTRY[method].needs & GRAD_NEEDS:
            seconds += timings.get("backward", 0.0)
        seconds += report.method_s.get(method, 0.0)
    return seconds


class HandlerMetrics:
    """The metrics of one model's handler: ``record`` once per batch, with the engine's report; a daemon
    thread sends what was recorded every ``flush_every_s`` (None: only when ``flush`` is called)."""

    def __init__(
        self, metrics: MetricCacheAbstract, model_name: str, flush_every_s: float | None = FLUSH_EVERY_S
    ) -> None:
        self.model = model_name
        self.pending = Pending()
        self.method_seconds = Histogram(metrics, METHOD_SECONDS, self.pending)
        self.phase_seconds = Histogram(metrics, PHASE_SECONDS, self.pending)
        self.request_tokens = Histogram(metrics, REQUEST_TOKENS, self.pending)
        self.batch_size = Histogram(metrics, BATCH_SIZE, self.pending)
        self.requests = _counter(metrics, REQUESTS)
        self._start_at_zero([*METHOD_NAMES, PREDICT])
        self.flush()  # the zero series are served from the worker's first moment
        if flush_every_s is not None:
            threading.Thread(target=self._flush_forever, args=(flush_every_s,), name="metrics", daemon=True).start()

    def flush(self) -> int:
        """Send every increment recorded so far; the number of metric lines written."""
        return self.pending.send()

    def _flush_forever(self, every_s: float) -> None:
        """Runs as long as the worker; a failed send is logged, and the next one tries again."""
        while True:
            time.sleep(every_s)
            try:
                self.flush()
            except Exception:
                log.exception("sending the handler's metrics failed")

    def _start_at_zero(self, methods: list[str]) -> None:
        """Create every known series at 0 when the worker starts: a counter that first appears already
        at 1 shows no increase to rate() or increase(), so the first requests would go uncounted."""
        for method in methods:
            self.method_seconds.observe((self.model, method), ())
            for outcome in OUTCOMES:
                self.pending.add(self.requests, [self.model, method, outcome], 0)
        self.pending.add(self.requests, [self.model, REJECTED, "bad_input"], 0)
        for phase in PHASES:
            self.phase_seconds.observe((self.model, phase), ())
        self.request_tokens.observe((self.model,), ())
        self.batch_size.observe((self.model,), ())

    def record(self, report: BatchReport) -> None:
        """A request counts once under each method it asked for (``predict`` when none, ``none`` when it
        was rejected before its methods were known); latency and tokens count answered requests only."""
        requests: Counter[tuple[str, str]] = Counter()
        answered: Counter[str] = Counter()
        tokens: list[int] = []
        for request, outcome in zip(report.requests, report.outcomes, strict=True):
            methods = (request.methods or (PREDICT,)) if request else (REJECTED,)
            result = outcome_of(outcome)
            requests.update((method, result) for method in methods)
            if result == "ok":
                answered.update(methods)
                tokens.append(len(outcome["tokens"]) if "tokens" in outcome else math.prod(outcome["patches"]["grid"]))
        for (method, result), count in requests.items():
            self.pending.add(self.requests, [self.model, method, result], count)
        for method, count in answered.items():
            self.method_seconds.observe((self.model, method), [method_latency(report, method)] * count)
        for phase in PHASES:
            if phase in report.timings_s:
                self.phase_seconds.observe((self.model, phase), [report.timings_s[phase]])
        if tokens:
            self.request_tokens.observe((self.model,), tokens)
        if report.batch_size:
            self.batch_size.observe((self.model,), [report.batch_size])
