"""What the real TorchServe serves on its metrics port with deploy/metrics.yaml: every handler series from
the worker's start (none silently dropped), TorchServe's own metrics kept, our buckets, exact counts."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from handlers.metrics import FLUSH_EVERY_S, LATENCY_BUCKETS_S, METHOD_SECONDS, REQUESTS, bucket_label, declared_series

pytestmark = pytest.mark.integration
FAMILY = re.compile(r"^# TYPE (\S+) ", re.MULTILINE)
SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)\{(?P<labels>.*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')
TORCHSERVE_OWN = ("ts_inference_requests_total", "ts_queue_latency_microseconds", "QueueTime", "CPUUtilization")


def exposition(server) -> str:
    return httpx.get(f"{server.metrics_url}/metrics", timeout=10).text  # the metrics port takes no token


def scrape(server) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample on the metrics port."""
    text = exposition(server)
    samples = []
    for line in text.splitlines():
        if match := SAMPLE.match(line):
            samples.append((match["name"], dict(LABEL.findall(match["labels"])), float(match["value"])))
    return samples


def scrape_until(server, done, timeout: float = 10.0) -> list[tuple[str, dict[str, str], float]]:
    """The frontend parses the worker's metric lines on its own thread, a moment after the response."""
    deadline = time.monotonic() + timeout
    while not done(samples := scrape(server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return samples


def settled(server, timeout: float = 15.0) -> list[tuple[str, dict[str, str], float]]:
    """A scrape once our counts stop moving: the handler sends what it summed once every FLUSH_EVERY_S,
    an earlier request's counts can still land after its response, and the frontend parses one flush's
    lines one by one. Two scrapes a flush apart agree on every attnserve series."""

    def ours(samples: list) -> list:
        return sorted((n, sorted(labels.items()), v) for n, labels, v in samples if n.startswith("attnserve_"))

    deadline = time.monotonic() + timeout
    last = scrape(server)
    while time.monotonic() < deadline:
        time.sleep(FLUSH_EVERY_S + 0.5)
        now = scrape(server)
        if ours(now) == ours(last):
            return now
        last = now
    raise AssertionError(f"attnserve series still moving after {timeout} s")


def value(samples, name: str, **labels: str) -> float:
    return sum(v for n, found, v in samples if n == name and labels.items() <= found.items())


def test_every_declared_handler_series_is_served_from_the_start(torchserve) -> None:
    samples = scrape(torchserve)
    served = {name: set(labels) for name, labels, _ in samples}
    for series in declared_series():
        assert series.name in served, f"{series.name} declared but not served"
        assert served[series.name] == {*series.labels, "Hostname"}
    buckets = {labels["le"] for name, labels, _ in samples if name == f"{METHOD_SECONDS.name}_bucket"}
    assert buckets == {bucket_label(b) for b in (*LATENCY_BUCKETS_S, float("inf"))}
    assert "0.001" in buckets  # resolves 1 ms, which TorchServe's own histograms cannot
    families = set(FAMILY.findall(exposition(torchserve)))
    assert set(TORCHSERVE_OWN) <= families, "TorchServe's default metrics must survive our metrics_config"


def test_requests_move_exactly_their_own_counters(torchserve) -> None:
    headers = {"Authorization": f"Bearer {torchserve.token}"}
    url = f"{torchserve.inference_url}/predictions/{torchserve.model}"
    before = settled(torchserve)
    assert httpx.post(url, json={"text": "A fine film.", "methods": []}, headers=headers, timeout=60).status_code == 200
    assert httpx.post(url, json={"text": "x", "methods": ["lime"]}, headers=headers, timeout=60).status_code == 400

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    scrape_until(torchserve, lambda now: value(now, REQUESTS.name) - value(before, REQUESTS.name) >= 2)
    after = settled(torchserve)  # every series of the flush parsed, not only the first

    assert moved(REQUESTS.name, method="predict", outcome="ok") == 1
    assert moved(REQUESTS.name, method="none", outcome="bad_input") == 1
    assert moved(REQUESTS.name) == 2
    assert moved(f"{METHOD_SECONDS.name}_count", method="predict") == 1
    assert moved(f"{METHOD_SECONDS.name}_bucket", method="predict", le="+Inf") == 1
    assert 0 < moved(f"{METHOD_SECONDS.name}_sum", method="predict") < 10
    assert moved("attnserve_phase_seconds_count", phase="forward") == 1
    assert moved("attnserve_batch_size_count") == 1
