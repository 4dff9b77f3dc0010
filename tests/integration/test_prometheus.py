"""A real Prometheus (Debian's ``prometheus``, on deploy/prometheus/prometheus.yml with the target swapped)
scraping the real TorchServe: what an operator's dashboard reads, read through the Prometheus HTTP API."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from attnserve.methods import REGISTRY
from deploy.launch import ROOT, Ports
from handlers.metrics import FLUSH_EVERY_S, LATENCY_BUCKETS_S, PREDICT

pytestmark = pytest.mark.integration
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "attnserve.json"
PER_METHOD = 8  # requests per method, sent together so they share batches
PER_PROBE_METHOD = 1  # path and perturbation baselines take seconds each on this 2-core box
BAD_INPUTS = [
    (b'{"text": "unterminated', "application/json"),
    (b"\xff\xfe not UTF-8", "text/plain"),
    (json.dumps({"text": "fine", "methods": ["lime"]}).encode(), "application/json"),
    (json.dumps({"text": "   "}).encode(), "application/json"),
    (json.dumps({"text": "fine", "mehtods": []}).encode(), "application/json"),
]


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict]:
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]

    def scalar(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else math.nan

    def wait(self, done: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"Prometheus never showed {what}"
            time.sleep(0.25)


def scrape_config(metrics_url: str) -> dict:
    """The shipped scrape config, pointed at the test server and scraping every second."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "torchserve"]
    job["static_configs"] = [{"targets": [metrics_url.removeprefix("http://")]}]
    return config


@pytest.fixture(scope="module")
def prometheus(torchserve, tmp_path_factory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed; `make test` installs Debian's package (make debian)")
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(scrape_config(torchserve.metrics_url)))
    port = Ports.free().metrics_port
    command = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (workdir / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        server.wait(lambda: _ready(server), "a healthy torchserve target (see prometheus.log)", timeout=30)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ready(server: Prometheus) -> bool:
    try:
        return server.scalar('up{job="torchserve"}') == 1
    except (httpx.HTTPError, ValueError):  # not listening yet, or not ready to answer JSON
        return False


def post_all(server, work: list[tuple[bytes, str]]) -> list[int]:
    """Concurrently, over one pooled client: a client per request would spend the cores this 2-core
    box needs for the server (TLS set-up per client), and the latencies would measure that contention."""
    url = f"{server.inference_url}/predictions/{server.model}"
    with httpx.Client(headers={"Authorization": f"Bearer {server.token}"}, timeout=120) as client:

        def post(content: bytes, content_type: str) -> int:
            return client.post(url, content=content, headers={"Content-Type": content_type}).status_code

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda w: post(*w), work))


def since(aggregate: str, selector: str, start: float) -> str:
    """``aggregate`` over the series of ``selector`` minus their values at ``start``: this test's traffic
    only (the server is shared with the other integration tests)."""
    return f"{aggregate} ({selector} - {selector} @ {start:.3f})"


def test_p95_per_method_and_bad_inputs_through_prometheus(torchserve, prometheus, capsys) -> None:
    sent = {name: PER_PROBE_METHOD if method.cost else PER_METHOD for name, method in REGISTRY.items()}
    sent |= {PREDICT: PER_METHOD}
    methods = list(sent)
    # The handler's last send of an earlier test's counts, then one more scrape: the value at `start`
    # holds all of the traffic before this test and none of its own.
    time.sleep(FLUSH_EVERY_S + 1.5)
    start = time.time()
    good = [
        json.dumps({"text": f"Review {i}: a warm, funny film.", "methods": [] if m == PREDICT else [m]}).encode()
        for m, count in sent.items()
        for i in range(count)
    ]
    work = [(content, "application/json") for content in good] + BAD_INPUTS
    statuses = post_all(torchserve, work)
    assert statuses == [200] * len(good) + [400] * len(BAD_INPUTS)

    bad = since("sum", 'attnserve_requests_total{outcome="bad_input"}', start)
    counts = since("sum by (method)", 'attnserve_method_seconds_count{model_name="sentiment"}', start)
    prometheus.wait(lambda: prometheus.scalar(bad) == len(BAD_INPUTS), f"{len(BAD_INPUTS)} bad inputs")
    prometheus.wait(
        lambda: {r["metric"]["method"]: float(r["value"][1]) for r in prometheus.query(counts)} == sent,
        f"every answered request under its method: {sent}",
    )
    assert prometheus.scalar(since("sum", 'attnserve_requests_total{method="none"}', start)) == len(BAD_INPUTS)
    assert prometheus.scalar(since("sum", 'attnserve_requests_total{outcome="error"}', start)) == 0

    buckets = since("sum by (le, method)", 'attnserve_method_seconds_bucket{model_name="sentiment"}', start)
    reported = prometheus.query(f"histogram_quantile(0.95, {buckets})")
    p95 = {r["metric"]["method"]: float(r["value"][1]) for r in reported}
    with capsys.disabled():
        print("\np95 per method reported by Prometheus (seconds):")
        for method in methods:
            print(f"  {method:<24} {p95[method]:.4f}")
    assert set(p95) == set(methods)
    assert all(0 < seconds < LATENCY_BUCKETS_S[-1] for seconds in p95.values()), p95  # inside a bucket


def dashboard_queries() -> list[str]:
    """Every PromQL query of the dashboard, with Grafana's variables as Grafana would fill them."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return [e.replace("$__rate_interval", "1m").replace("$model", ".*") for e in exprs]


def test_every_dashboard_query_runs_and_ours_return_series(torchserve, prometheus) -> None:
    for expr in dashboard_queries():
        result = prometheus.query(expr)
        if "attnserve_" in expr:
            assert result, f"no series for {expr}"
