"""The ``attnserve`` command against the real TorchServe, run as a user would: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from attnserve_client import Client

from deploy.launch import ROOT
from model_store.recipes.bundles import discover

pytestmark = pytest.mark.integration
TEXT = "A gorgeous, moving film that never bores."


def attnserve(server, *arguments: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ATTNSERVE_")}
    env |= {"PYTHONPATH": str(ROOT / "client"), "NO_COLOR": "1"}
    connection = ["--url", server.inference_url, "--grpc-target", server.grpc_target]
    connection += ["--key-file", str(server.key_file)]
    command = [sys.executable, "-m", "attnserve_client", *arguments[:2], *connection, *arguments[2:]]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("transport", [[], ["--grpc"]], ids=["rest", "grpc"])
def test_explain_prints_the_label_and_the_top_words(torchserve, transport: list[str]) -> None:
    with Client(torchserve.inference_url, key_file=torchserve.key_file) as client:
        expected = client.explain(TEXT, methods=["shapley_mutual"])
    result = attnserve(torchserve, "explain", TEXT, "--method", "shapley_mutual", "--top", "3", *transport)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(expected.label)
    top = ", ".join(f"{word} {score:+.3f}" for word, score in expected.top_words(3, "shapley_mutual"))
    assert f"top words: {top}" in result.stdout


def test_predict_prints_the_label_and_no_attributions(torchserve) -> None:
    result = attnserve(torchserve, "predict", TEXT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("positive") and "top words" not in result.stdout


def test_json_and_html_outputs(torchserve, tmp_path: Path) -> None:
    page = tmp_path / "explanation.html"
    result = attnserve(torchserve, "explain", TEXT, "--grpc", "--json", "--html", str(page))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    defaults = discover()["sentiment"].handler["default_methods"]
    assert body["label"] == "positive" and set(body["attributions"]) == set(defaults)
    assert 'class="attnserve-word"' in page.read_text()


def test_a_bad_method_is_exit_status_1_naming_the_field(torchserve) -> None:
    result = attnserve(torchserve, "explain", TEXT, "--method", "lime")
    assert result.returncode == 1
    assert result.stderr.startswith("error: BadInputError:") and "(field: methods[0])" in result.stderr
