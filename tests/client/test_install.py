"""``pip install ./client`` in a fresh virtual environment: the dependency line holds (no torch), the
declared dependencies are enough to import every module of the SDK and the generated messages
(``attnserve_protos``, shipped beside it), and the ``attnserve`` command is installed.
Uses the configured package index (pip's cache keeps it to about 15 s)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"
CHECK = """
import importlib.util, pkgutil
import attnserve_client
import attnserve_protos.explanation_pb2, attnserve_protos.inference_pb2
from attnserve_client import Client
for module in pkgutil.walk_packages(attnserve_client.__path__, "attnserve_client."):
    if module.name not in ("attnserve_client.__main__", "attnserve_client.views.image"):
        importlib.import_module(module.name)
Client(transport="rest").close()
Client(transport="grpc").close()
print("torch" if importlib.util.find_spec("torch") else "no torch")
"""


def test_the_client_installs_without_torch(tmp_path: Path) -> None:
    source = tmp_path / "client"
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stderr[-3000:]
    assert check.stdout.strip() == "no torch"
    usage = subprocess.run([str(venv / "bin" / "attnserve"), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "explain" in usage.stdout
