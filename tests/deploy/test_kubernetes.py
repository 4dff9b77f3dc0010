"""deploy/k8s and deploy/kserve: core kinds against Kubernetes' published schemas (kubernetes-validate,
offline), custom resources and cross-references structurally: selectors, ports, the autoscaling metric
and the handler series it comes from, the KServe storage layout and config."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploy.launch import ROOT
from handlers.metrics import declared_series

K8S = ROOT / "deploy" / "k8s"
KSERVE = ROOT / "deploy" / "kserve"
CUSTOM_KINDS = {"PodMonitor", "InferenceService", "Kustomization"}  # no published schema in the package
KUBERNETES_VERSION = "1.30.0"


def manifests(folder: Path) -> dict[str, dict]:
    """kind -> manifest (one per file, one kind per folder)."""
    loaded = [yaml.safe_load(path.read_text()) for path in sorted(folder.glob("*.yaml"))]
    return {manifest["kind"]: manifest for manifest in loaded}


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    return manifests(K8S)


CORE = [p for p in sorted(K8S.glob("*.yaml")) if yaml.safe_load(p.read_text())["kind"] not in CUSTOM_KINDS]


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_kinds_match_the_published_schemas(path: Path) -> None:
    kubernetes_validate.validate(yaml.safe_load(path.read_text()), KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest(k8s) -> None:
    listed = set(k8s["Kustomization"]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    kubectl = shutil.which("kubectl")
    if kubectl:  # kustomize builds offline
        built = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        assert {m["kind"] for m in yaml.safe_load_all(built.stdout)} == set(k8s) - {"Kustomization"}


def test_selectors_ports_and_gpu_agree(k8s) -> None:
    deployment, service = k8s["Deployment"], k8s["Service"]
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert k8s["PodMonitor"]["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert k8s["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    named = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert named == {"http": 8080, "grpc": 7070, "metrics": 8082}  # management (8081) stays in the pod
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= set(named)
    assert k8s["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["port"] in named
    policy_ports = {p["port"] for rule in k8s["NetworkPolicy"]["spec"]["ingress"] for p in rule["ports"]}
    assert policy_ports == set(named)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["TS_DISABLE_TOKEN_AUTHORIZATION"] == "true"  # replicas cannot share TorchServe's keys
    assert env["TS_MANAGEMENT_ADDRESS"].startswith("http://127.0.0.1:")
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(named["metrics"])


def test_autoscaling_metric_comes_from_a_handler_series(k8s) -> None:
    hpa = k8s["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "attnserve"}
    (metric,) = hpa["spec"]["metrics"]
    (rule,) = yaml.safe_load(k8s["ConfigMap"]["data"]["config.yaml"])["rules"]
    assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
    series = re.match(r"[A-Za-z_:][\w:]*", rule["seriesQuery"])[0]
    assert series in {s.name for s in declared_series()}
    assert re.fullmatch(rule["name"]["matches"], series)
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    assert "<<.Series>>" in rule["metricsQuery"] and "<<.GroupBy>>" in rule["metricsQuery"]


def test_kserve_uses_the_torchserve_runtime_with_our_archive_and_config(properties) -> None:
    service = yaml.safe_load((KSERVE / "inferenceservice.yaml").read_text())
    model = service["spec"]["predictor"]["model"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1" and service["kind"] == "InferenceService"
    assert model["modelFormat"]["name"] == "pytorch" and model["runtime"] == "kserve-torchserve"
    assert model["storageUri"] and model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--ts-config=/mnt/models/config/config.properties" in model["args"]
    assert "--model-store=/mnt/models/model-store" in model["args"]
    assert {"name": "TS_SERVICE_ENVELOPE", "value": ""} in model["env"]
    config = properties((KSERVE / "config.properties").read_text())
    assert config["model_store"] == "/mnt/models/model-store" and config["load_models"] == "sentiment=sentiment.mar"
    assert config["inference_address"].endswith(":8080") and config["metrics_address"] == "http://0.0.0.0:8082"
    assert config["management_address"].startswith("http://127.0.0.1:")
    assert config["metrics_mode"] == "prometheus" and config["disable_token_authorization"] == "true"
    # The image copies deploy/ to /srv/attnserve/deploy (Dockerfile); the declaration is that file.
    assert config["metrics_config"] == "/srv/attnserve/deploy/metrics.yaml"
    assert re.search(r"^WORKDIR /srv/attnserve$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert service["metadata"]["annotations"]["prometheus.kserve.io/port"] == "8082"
