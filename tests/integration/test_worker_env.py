"""What the launcher's environment gives every worker of the real TorchServe: GOMP_SPINCOUNT, without which
several busy models on one host spin on each other's cores (deploy/launch.py, bench/contention.py)."""

from __future__ import annotations

import os

import psutil
import pytest

from bench.curve import PID_FILE
from deploy.launch import SPIN_COUNT

pytestmark = pytest.mark.integration


def test_every_worker_polls_briefly_before_it_sleeps(torchserve) -> None:
    frontend = psutil.Process(int((torchserve.workdir / "tmp" / PID_FILE).read_text().split()[0]))
    workers = [p for p in frontend.children(recursive=True) if "model_service_worker" in " ".join(p.cmdline())]
    assert len(workers) >= len(torchserve.models), [p.cmdline() for p in workers]
    expected = os.environ.get("GOMP_SPINCOUNT", str(SPIN_COUNT))  # an operator's own value wins
    assert {p.environ().get("GOMP_SPINCOUNT") for p in workers} == {expected}
