"""docker-compose.yml, the Dockerfile and .dockerignore, checked without a Docker engine: the structure the
stack relies on, and Compose's own validation where a Compose client is installed."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.launch import ROOT, SPIN_COUNT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
INFERENCE_PORTS = {"8080", "7070"}  # REST and gRPC inference: the only TorchServe ports published
INTERNAL_PORTS = {"8082"}  # metrics (no token), for Prometheus on the compose network; management is loopback-only


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def published(service: dict) -> set[str]:
    return {str(port).split(":")[-2] if ":" in str(port) else str(port) for port in service.get("ports", [])}


def test_services_and_profiles(compose) -> None:
    services = compose["services"]
    assert set(services) == {"torchserve", "torchserve-gpu", "prometheus", "grafana"}
    assert services["torchserve"]["profiles"] == ["cpu"]
    assert services["torchserve-gpu"]["profiles"] == ["nvidia"]
    assert "profiles" not in services["prometheus"] and "profiles" not in services["grafana"]
    gpu = services["torchserve-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "deploy" not in services["torchserve"]  # the CPU profile runs on hosts without a GPU
    assert services["torchserve-gpu"]["networks"]["default"]["aliases"] == ["torchserve"]


def test_only_inference_and_the_ui_are_published(compose) -> None:
    services = compose["services"]
    for name in ("torchserve", "torchserve-gpu"):
        assert published(services[name]) == INFERENCE_PORTS
        assert set(services[name]["expose"]) == INTERNAL_PORTS
    assert published(services["prometheus"]) == {"9090"}
    assert published(services["grafana"]) == {"3000"}


def test_clients_get_the_inference_key_alone_healthchecks_and_mounted_files(compose) -> None:
    """The shared volume holds what the health check publishes (the inference key alone), never
    TorchServe's key_file.json with its management and never-expiring API keys."""
    services = compose["services"]
    published = "/srv/attnserve/client-key/key_file.json"
    for name in ("torchserve", "torchserve-gpu"):
        assert services[name]["volumes"] == ["client-key:/srv/attnserve/client-key"]
        check = ["CMD", "python", "-m", "deploy.healthcheck", "--client-key-file", published]
        assert services[name]["healthcheck"]["test"] == check
        assert services[name]["build"] == "."
    assert all("healthcheck" in service for service in services.values())
    assert set(compose["volumes"]) == {"client-key", "prometheus-data", "grafana-data"}
    assert "WORKDIR /srv/attnserve/keys" in DOCKERFILE.read_text()  # TorchServe's own keys: not a volume
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{source} is mounted but missing"


def test_dockerfile_builds_the_served_image() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11", text, re.MULTILINE)
    assert "openjdk-17-jre-headless" in text
    assert "pip install --no-cache-dir -r requirements.txt" in text
    for source in ("requirements.txt", "attnserve/", "handlers/", "deploy/", "model_store/sentiment.mar"):
        assert re.search(rf"^COPY {re.escape(source)} ", text, re.MULTILINE), source
    assert "enable_envvars_config=true" in text
    for key in ("INFERENCE", "METRICS"):  # management: loopback only (test_management_plane.py)
        assert re.search(rf"TS_{key}_ADDRESS=http://0\.0\.0\.0:", text), key
    assert re.search(r"^EXPOSE 8080 8082 7070$", text, re.MULTILINE)
    assert re.search(r'^CMD \["torchserve", "--foreground"', text, re.MULTILINE)
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert re.search(rf"^\s+GOMP_SPINCOUNT={SPIN_COUNT}$", text, re.MULTILINE), "the image spins as `make run` does"


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]

    def sent(path: str) -> bool:
        """Docker's rule: the last matching pattern decides; ``!`` re-includes."""
        verdict = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            glob = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path, glob + "/*") or glob == "**":
                verdict = negated
        return verdict

    copied = re.findall(r"^COPY (\S+) ", DOCKERFILE.read_text(), re.MULTILINE)
    assert copied and all(sent(source.rstrip("/") + ("/x.py" if source.endswith("/") else "")) for source in copied)
    assert not any(sent(path) for path in (".venv/bin/python", "var/torchserve/key_file.json", ".git/HEAD"))


def test_the_image_renders_the_launcher_config_and_binds_loopback_in_the_repo(tmp_path, properties) -> None:
    """The Dockerfile's render step, run here: same settings as `make run`; 0.0.0.0 comes from TS_* only."""
    (render,) = re.findall(r'python -c "(.*?)"', DOCKERFILE.read_text().replace("\\\n", ""), re.DOTALL)
    (tmp_path / "var").mkdir()
    script = f"import sys; sys.path.insert(0, {str(ROOT)!r}); {render}"
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    config = properties((tmp_path / "var" / "config.properties").read_text())
    assert config["inference_address"].startswith("http://127.0.0.1:")
    assert config["metrics_mode"] == "prometheus"
    assert Path(config["metrics_config"]) == ROOT / "deploy" / "metrics.yaml"


def compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.parametrize("profile", ["cpu", "nvidia"])
def test_compose_validates_its_own_file(tmp_path, profile) -> None:
    client = compose_client()
    if client is None:
        pytest.skip("no Compose client here; the structural checks above still ran")
    source = COMPOSE
    if client[0].endswith("docker-compose"):  # Compose v1 predates the top-level `name`
        source = tmp_path / "docker-compose.yml"
        source.write_text("\n".join(line for line in COMPOSE.read_text().splitlines() if not line.startswith("name:")))
    command = [*client, "--project-directory", str(ROOT), "-f", str(source), "--profile", profile, "config", "-q"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
