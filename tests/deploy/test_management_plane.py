"""The management plane stays closed in every shipped deployment, checked on the *effective* TorchServe
configuration: the config file, then the image's environment, then the manifest's (TS_* variables
override the file wherever it sets ``enable_envvars_config``). Also: Prometheus and Grafana are
reachable from their host only, Grafana has no default admin password, the image tag is pinned and the
same everywhere, and the Kubernetes pod runs non-root, read-only, unprivileged and without an API token.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from deploy.launch import ROOT
from tests.deploy.conftest import parse_properties

DOCKERFILE = ROOT / "Dockerfile"
LOOPBACK = "127.0.0.1"


def image_environment() -> dict[str, str]:
    """The Dockerfile's ENV settings (``KEY=VALUE`` pairs, backslash continuations joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    pairs = [re.findall(r"(\w+)=(\S+)", line[4:]) for line in text.splitlines() if line.startswith("ENV ")]
    return dict(pair for found in pairs for pair in found)


def image_config(tmp_path: Path) -> dict[str, str]:
    """The config the image renders at build (the Dockerfile's own render step, run here), plus the
    line it appends."""
    text = DOCKERFILE.read_text().replace("\\\n", "")
    (render,) = re.findall(r'python -c "(.*?)"', text, re.DOTALL)
    (tmp_path / "var").mkdir()
    script = f"import sys; sys.path.insert(0, {str(ROOT)!r}); {render}"
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    appended = "enable_envvars_config=true" if "enable_envvars_config=true" in text else ""
    return parse_properties((tmp_path / "var" / "config.properties").read_text() + "\n" + appended)


def effective(config: dict[str, str], *environments: dict[str, str]) -> dict[str, str]:
    """TorchServe's settings: TS_<KEY> variables override key ``<key>`` when the file allows it."""
    if config.get("enable_envvars_config") != "true":
        return config
    merged = dict(config)
    for environment in environments:
        for name, value in environment.items():
            if name.startswith("TS_"):
                merged[name[3:].lower()] = value
    return merged


def env_list(entries: list[dict] | None) -> dict[str, str]:
    return {entry["name"]: str(entry.get("value", "")) for entry in entries or []}


def k8s_container() -> tuple[dict, dict]:
    deployment = yaml.safe_load((ROOT / "deploy" / "k8s" / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def kserve_model() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "kserve" / "inferenceservice.yaml").read_text())["spec"]["predictor"][
        "model"
    ]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def deployments(tmp_path: Path) -> dict[str, dict[str, str]]:
    image = image_config(tmp_path)
    compose_env = compose()["x-torchserve"].get("environment") or {}
    kserve_config = parse_properties((ROOT / "deploy" / "kserve" / "config.properties").read_text())
    return {
        "compose": effective(image, image_environment(), compose_env),
        "kubernetes": effective(image, image_environment(), env_list(k8s_container()[1].get("env"))),
        "kserve": effective(kserve_config, image_environment(), env_list(kserve_model().get("env"))),
    }


@pytest.mark.parametrize("where", ["compose", "kubernetes", "kserve"])
def test_management_listens_on_loopback_only_in_every_deployment(tmp_path: Path, where: str) -> None:
    config = deployments(tmp_path)[where]
    assert urlparse(config["management_address"]).hostname == LOOPBACK, config["management_address"]
    assert config.get("grpc_management_address", LOOPBACK) == LOOPBACK
    assert urlparse(config["inference_address"]).hostname == "0.0.0.0"  # what the deployment is for


def test_the_merge_really_lets_the_environment_win() -> None:
    """The check above would pass vacuously if environment variables were never applied."""
    config = {"enable_envvars_config": "true", "management_address": "http://127.0.0.1:8081"}
    assert effective(config, {"TS_MANAGEMENT_ADDRESS": "http://0.0.0.0:8081"})["management_address"].startswith(
        "http://0.0.0.0"
    )
    assert effective({"management_address": "a"}, {"TS_MANAGEMENT_ADDRESS": "b"})["management_address"] == "a"


def test_prometheus_and_grafana_are_reachable_from_their_host_only_and_grafana_has_no_default_password() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        assert all(str(port).startswith(f"{LOOPBACK}:") for port in services[name]["ports"]), name
    password = services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", password), password  # required, no default


def test_the_image_tag_is_pinned_and_the_same_everywhere() -> None:
    tags = {
        "compose": compose()["x-torchserve"]["image"],
        "kubernetes": k8s_container()[1]["image"],
        "kserve": kserve_model()["image"],
    }
    assert len(set(tags.values())) == 1, tags
    assert not any(tag.endswith(":latest") or ":" not in tag for tag in tags.values()), tags
    services = compose()["services"]
    assert all(":" in s["image"] and not s["image"].endswith(":latest") for s in services.values() if "image" in s)


def test_the_pod_runs_non_root_read_only_unprivileged_and_without_an_api_token() -> None:
    pod, container = k8s_container()
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert f"USER {pod['securityContext']['runAsUser']}" in DOCKERFILE.read_text()  # the image's own user
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    writable = {mount["mountPath"] for mount in container["volumeMounts"]}
    environment = image_environment()
    assert {"/tmp", "/srv/attnserve/keys", environment["LOG_LOCATION"]} <= writable  # all TorchServe writes
