"""The Grafana dashboard, its provisioning and the scrape config: every query reads only metrics that
deploy/metrics.yaml declares (so TorchServe really serves them), and the panels the issue asks for exist.
tests/integration/test_prometheus.py runs the same queries against a real Prometheus."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from deploy.launch import METRICS_CONFIG, ROOT

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "attnserve.json"
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
PROMQL_WORDS |= {"offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords, label
    names (inside braces or by/without lists), strings or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = {m[1] for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", expr) if not m[2]}
    return names - PROMQL_WORDS


def declared_metrics() -> set[str]:
    config = yaml.safe_load(METRICS_CONFIG.read_text())
    return {m["name"] for section in ("ts_metrics", "model_metrics") for ms in config[section].values() for m in ms}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries(dashboard: dict) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_metric_name_parser() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, method) (rate(attnserve_method_seconds_bucket{m=~"$x"}[5m]))) / 1e6'
    assert metric_names(expr) == {"attnserve_method_seconds_bucket"}
    assert metric_names("max by (Hostname) (CPUUtilization) / QueueTime") == {"CPUUtilization", "QueueTime"}


def test_every_query_reads_declared_metrics_only(dashboard) -> None:
    declared = declared_metrics()
    used = set()
    for expr in queries(dashboard):
        names = metric_names(expr)
        assert names, f"no metric in {expr}"
        assert names <= declared, f"{expr} reads undeclared {names - declared}"
        used |= names
    variable = dashboard["templating"]["list"][0]["query"]["query"]
    assert metric_names(variable.replace("label_values(", "").split(",")[0]) <= declared
    assert {"attnserve_method_seconds_bucket", "attnserve_requests_total", "attnserve_batch_size_bucket"} <= used


def test_the_panels_the_issue_asks_for(dashboard) -> None:
    exprs = "\n".join(queries(dashboard))
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le, method) (rate(attnserve_method_seconds_bucket" in exprs
    for needed in ("attnserve_requests_total", 'outcome!="ok"', "ts_queue_latency_microseconds", "CPUUtilization"):
        assert needed in exprs
    for needed in ("MemoryUsed", "GPUUtilization", "GPUMemoryUsed", "attnserve_batch_size"):
        assert needed in exprs
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_datasource_and_provisioning_match_the_compose_mounts(dashboard) -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    panels = [panel["datasource"] for panel in dashboard["panels"]]
    targets = [target["datasource"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert {d["uid"] for d in panels + targets} == {source["uid"]}
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "attnserve.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert (
        f"./deploy/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro"
        in (compose["services"]["grafana"]["volumes"])
    )


def test_scrape_config_targets_the_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["torchserve:8082"]}] and job["metrics_path"] == "/metrics"
