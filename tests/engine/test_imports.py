"""The engine stays a pure-PyTorch package: importing it pulls in no TorchServe module."""

from __future__ import annotations

import subprocess
import sys


def test_engine_does_not_import_torchserve() -> None:
    code = "import sys, attnserve; bad = sorted(m for m in sys.modules if m == 'ts' or m.startswith('ts.')); print(bad)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
