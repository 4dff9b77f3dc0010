"""A worker killed in the middle of a batch costs its callers a retry, not an error: TorchServe answers
the in-flight request "Worker died." and restarts the worker; the SDK retries that (and the 503s while
no worker serves) within a budget longer than the restart. Runs last among the integration tests
(by name), since it restarts the shared server's sentiment worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from attnserve_client import Client

pytestmark = pytest.mark.integration

TEXT = "A gorgeous, moving film that never stops surprising, with performances that linger long after."
SLOW = {"methods": ["shapley_sampling"], "options": {"shapley_sampling": {"permutations": 100}}}  # seconds of work


def worker_of(server, model: str) -> int:
    """The pid of ``model``'s worker: a child of this server's frontend whose working directory is the
    unpacked archive, whose model card names the model."""
    frontend = (server.workdir / "tmp" / ".model_server.pid").read_text().strip()
    children = subprocess.run(["pgrep", "-P", frontend], capture_output=True, text=True).stdout.split()
    for pid in children:
        card = Path(f"/proc/{pid}/cwd/model_card.json")
        if card.is_file() and json.loads(card.read_text()).get("model_name") == model:
            return int(pid)
    raise AssertionError(f"no worker of {model} among {children}")


def test_a_worker_killed_mid_batch_costs_a_retry_not_an_error(torchserve, caplog) -> None:
    caplog.set_level("WARNING", logger="attnserve_client")
    killed = worker_of(torchserve, "sentiment")
    answers: dict[str, object] = {}
    with Client(torchserve.inference_url, model="sentiment", key_file=torchserve.key_file) as client:
        assert client.explain(TEXT, methods=[]).label == "positive"

        def in_flight() -> None:
            started = time.monotonic()
            try:
                answers["explanation"] = client.explain(TEXT, **SLOW)
            except Exception as error:  # the assertion below shows it
                answers["error"] = error
            answers["seconds"] = time.monotonic() - started

        caller = threading.Thread(target=in_flight)
        caller.start()
        time.sleep(1.5)  # the request is in the worker's batch by now
        os.kill(killed, signal.SIGKILL)
        caller.join(timeout=120)
    assert "error" not in answers, answers.get("error")
    assert answers["explanation"].label == "positive"
    assert len(answers["explanation"].attributions["shapley_sampling"].tokens) > 10
    assert worker_of(torchserve, "sentiment") != killed  # a new worker answered
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retried, "the kill did not reach the request: nothing was retried"  # the test is not vacuous
    print(f"answered {answers['seconds']:.1f} s after it was sent, through the worker's restart")
