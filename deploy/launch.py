"""Start, wait for, and stop a TorchServe instance with attnserve's configuration.

`make run` / `make stop` and the integration tests both go through this one module, so the tests
exercise exactly what users run. Each instance lives in its own working directory: its rendered
config, logs, key_file.json (the tokens) and, through TMPDIR, TorchServe's pid file, so a test server
can run beside a `make run` server without either touching the other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parent.parent
# What `make run` serves: every model with a bundle (model_store/<name>/bundle.yaml), whose archive the
# Makefile's `models` target builds. Found on disk: a new model folder is served with no code edit.
DEFAULT_MODELS = [f"{p.parent.name}={p.parent.name}.mar" for p in sorted((ROOT / "model_store").glob("*/bundle.yaml"))]
TEMPLATE = Path(__file__).with_name("config.properties")
METRICS_CONFIG = Path(__file__).with_name("metrics.yaml")
LOG_CONFIG = Path(__file__).with_name("log4j2.xml")
# How often a torch worker thread polls for work before it sleeps (libgomp's GOMP_SPINCOUNT; its own
# default, 300,000, keeps an idle thread busy for milliseconds). With several models busy on one host,
# every worker's idle threads spin on the cores the other workers compute on: on 2 cores with the three
# shipped models busy at once, each kept 4-14 % of its alone throughput with libgomp's default, 19-30 %
# at 10,000 spins and 39-51 % at 1,000, which costs a model busy alone at most a few per cent
# (bench/contention.py; docs/performance.md). The workers inherit the server's environment, where an
# operator's own value wins.
SPIN_COUNT = 1000


@dataclass(frozen=True)
class Ports:
    inference_port: int = 8080
    management_port: int = 8081
    metrics_port: int = 8082
    grpc_inference_port: int = 7070
    grpc_management_port: int = 7071

    @classmethod
    def free(cls) -> Ports:
        """Five ports nobody listens on right now, for a second instance beside `make run`'s."""
        sockets = [socket.socket() for _ in range(5)]
        try:
            for s in sockets:
                s.bind(("127.0.0.1", 0))
            return cls(*(s.getsockname()[1] for s in sockets))
        finally:
            for s in sockets:
                s.close()


class LaunchError(RuntimeError):
    pass


def require_java() -> str:
    java = Path(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
    if not java or not Path(java).exists():
        raise LaunchError(
            "Java 17 is required by TorchServe's frontend and was not found. Install it with "
            "`sudo apt-get install -y openjdk-17-jre-headless` (Debian/Ubuntu) or set JAVA_HOME."
        )
    return str(java)


class TorchServe:
    def __init__(
        self,
        workdir: Path,
        models: list[str],
        ports: Ports = Ports(),
        model_store: Path = ROOT / "model_store",
        workers: int = 1,
        spin_count: int | None = SPIN_COUNT,
    ) -> None:
        """``spin_count``: GOMP_SPINCOUNT for the workers unless the environment sets it (None: libgomp's)."""
        self.workdir = workdir.resolve()
        self.models = models
        self.ports = ports
        self.model_store = model_store.resolve()
        self.workers = workers
        self.spin_count = spin_count
        self.bin = Path(sys.executable).with_name("torchserve")

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.inference_port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.management_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ports.grpc_inference_port}"

    @property
    def key_file(self) -> Path:
        return self.workdir / "key_file.json"

    def keys(self) -> dict[str, str]:
        """The current keys; TorchServe writes new ones at every start."""
        data = json.loads(self.key_file.read_text())
        return {name: data[name]["key"] for name in ("management", "inference", "API")}

    @property
    def token(self) -> str:
        return self.keys()["inference"]

    def _env(self) -> dict[str, str]:
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        # TMPDIR scopes TorchServe's pid file to this instance.
        spin = {} if self.spin_count is None else {"GOMP_SPINCOUNT": str(self.spin_count)}
        return {
            **spin,
            **os.environ,
            "TMPDIR": str(tmp),
            "LOG_LOCATION": str(self.workdir / "logs"),
            "METRICS_LOCATION": str(self.workdir / "logs"),
        }

    def render_config(self) -> Path:
        values = {
            **asdict(self.ports),
            "model_store": self.model_store,
            "models": ",".join(self.models),
            "workers": self.workers,
            "metrics_config": METRICS_CONFIG,
            "log_config": LOG_CONFIG,
        }
        config = self.workdir / "config.properties"
        config.write_text(Template(TEMPLATE.read_text()).substitute(values))
        return config

    def start(self, timeout: float = 240, keep_keys: bool = False) -> None:
        """Start TorchServe and wait until every model answers; ``keep_keys`` also starts the loop that
        renews the inference key before it expires (deploy/keeper.py), for a server meant to run for
        hours (`make run`)."""
        require_java()
        missing = [m for m in self.models if not (self.model_store / m.split("=")[-1]).exists()]
        if missing:
            raise LaunchError(f"model archive(s) not built: {missing} in {self.model_store}; run `make models`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.key_file.unlink(missing_ok=True)
        config = self.render_config()
        command = [
            str(self.bin),
            "--start",
            "--ncs",
            "--ts-config",
            str(config),
            "--model-store",
            str(self.model_store),
        ]
        out = self.workdir / "torchserve.out"
        with out.open("ab") as log:
            started = subprocess.run(command, cwd=self.workdir, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        if started.returncode != 0:
            raise LaunchError(f"torchserve --start failed (is it already running?); see {out}")
        try:
            self.wait_ready(timeout)
        except LaunchError:
            self.stop()  # never leave a half-started server behind
            raise
        if keep_keys:
            self.start_keeper()

    @property
    def keeper_pid_file(self) -> Path:
        return self.workdir / "keeper.pid"

    def start_keeper(self, every: float = 60.0, rotate_before: float | None = None) -> subprocess.Popen:
        """The key keeper, detached from this process (it outlives `make run`); it exits when the server stops."""
        command = [sys.executable, "-m", "deploy.keeper", "--key-file", str(self.key_file)]
        command += ["--inference-url", self.inference_url, "--management-url", self.management_url]
        command += ["--every", str(every)] + (["--rotate-before", str(rotate_before)] if rotate_before else [])
        with (self.workdir / "keeper.log").open("ab") as log:
            keeper = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        self.keeper_pid_file.write_text(str(keeper.pid))
        return keeper

    def stop_keeper(self) -> None:
        if not self.keeper_pid_file.exists():
            return
        with contextlib.suppress(ProcessLookupError, ValueError):  # gone: it exits once the server has stopped
            os.kill(int(self.keeper_pid_file.read_text()), signal.SIGTERM)
        self.keeper_pid_file.unlink(missing_ok=True)

    def wait_ready(self, timeout: float) -> None:
        """Ready means: the key file exists and every model has a worker that answers ping."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._healthy() and self._workers_ready():
                    return
            except (FileNotFoundError, ValueError):  # key_file.json not written yet, or half written
                pass
            time.sleep(0.5)
        raise LaunchError(f"TorchServe was not ready after {timeout:.0f}s; see {self.workdir / 'logs'}")

    def _get(self, url: str, token: str) -> tuple[int, str]:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, ""

    def _healthy(self) -> bool:
        status, body = self._get(f"{self.inference_url}/ping", self.keys()["inference"])
        return status == 200 and "Healthy" in body

    def _workers_ready(self) -> bool:
        for model in self.models:
            name = model.split("=")[0].removesuffix(".mar")
            status, body = self._get(f"{self.management_url}/models/{name}", self.keys()["management"])
            if status != 200 or not any(w["status"] == "READY" for d in json.loads(body) for w in d["workers"]):
                return False
        return True

    def stop(self, timeout: float = 60) -> None:
        """Stop this instance (found by its pid file under our TMPDIR) and wait until it is gone."""
        if not self.workdir.exists():
            return
        self.stop_keeper()
        subprocess.run(
            [str(self.bin), "--stop", "--foreground"],
            cwd=self.workdir,
            env=self._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=timeout + 10,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._get(f"{self.inference_url}/ping", "")[0] != 0:
            time.sleep(0.2)

    def usage(self) -> str:
        return "\n".join(
            [
                f"TorchServe is up: REST {self.inference_url}, gRPC {self.grpc_target}, metrics {self.metrics_url}",
                f'Inference token: the "inference" key in {self.key_file} (new at every start, renewed before '
                "it expires while the server runs)",
                "Try it:",
                f"  TOKEN=$(python3 -c \"import json;print(json.load(open('{self.key_file}'))['inference']['key'])\")",
                f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
                f"{self.inference_url}/predictions/sentiment \\",
                '       -d \'{"text": "A gorgeous, moving film.", "methods": ["shapley_mutual"]}\'',
                "Stop it with: make stop",
            ]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["preflight", "start", "stop"])
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "torchserve")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    args = parser.parse_args(argv)
    server = TorchServe(args.workdir, args.models)
    try:
        if args.action == "preflight":
            require_java()
        elif args.action == "start":
            server.start(keep_keys=True)
            print(server.usage())
        else:
            server.stop()
            print("TorchServe stopped.")
    except LaunchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
