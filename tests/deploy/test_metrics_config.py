"""deploy/metrics.yaml keeps TorchServe's defaults and declares exactly what the handler emits, and the
server config points at it in Prometheus mode (TorchServe drops undeclared metrics silently)."""

from __future__ import annotations

from pathlib import Path

import ts
import yaml

from deploy.launch import METRICS_CONFIG, Ports, TorchServe
from handlers.metrics import declared_series

TORCHSERVE_DEFAULTS = Path(ts.__file__).parent / "configs" / "metrics.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_torchserve_defaults_are_kept_unchanged() -> None:
    ours, defaults = load(METRICS_CONFIG), load(TORCHSERVE_DEFAULTS)
    assert ours["dimensions"] == defaults["dimensions"]
    assert ours["ts_metrics"] == defaults["ts_metrics"]
    assert ours["model_metrics"]["gauge"] == defaults["model_metrics"]["gauge"]


def test_model_metrics_are_exactly_the_handler_series_all_counters() -> None:
    model_metrics = load(METRICS_CONFIG)["model_metrics"]
    declared = [(m["name"], tuple(m["dimensions"]), m["unit"]) for m in model_metrics["counter"]]
    assert declared == [(s.name, s.labels, s.unit) for s in declared_series()]
    assert set(model_metrics) == {"counter", "gauge"}  # no TorchServe histogram: its buckets are fixed


def test_rendered_server_config_is_in_prometheus_mode_on_this_file(tmp_path, properties) -> None:
    server = TorchServe(tmp_path, ["sentiment=sentiment.mar"], Ports.free())
    config = properties(server.render_config().read_text())
    assert config["metrics_mode"] == "prometheus"
    assert Path(config["metrics_config"]) == METRICS_CONFIG
    assert config["metrics_address"].startswith("http://127.0.0.1:")  # the repo's default stays loopback
    assert "model_metrics_auto_detect" not in config  # undeclared metrics stay dropped, not half-collected
