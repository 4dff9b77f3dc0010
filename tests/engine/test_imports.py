"""What importing the engine loads, third-party code included (tests/test_import_rules.py checks the
import statements themselves): no TorchServe anywhere, and the masking games only their inputs' modules,
since a build stage's cache key hashes every repository module it imports."""

from __future__ import annotations

import json
import subprocess
import sys

EVERY_ENGINE_MODULE = """
import importlib, pkgutil, attnserve
for module in pkgutil.walk_packages(attnserve.__path__, "attnserve."):
    importlib.import_module(module.name)
"""


def loaded(code: str, packages: set[str]) -> list[str]:
    """The modules of ``packages`` (top-level names) a fresh interpreter has loaded after running ``code``."""
    report = f"import json, sys; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r})))"
    result = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_engine_does_not_import_torchserve() -> None:
    found = loaded(EVERY_ENGINE_MODULE, {"attnserve", "ts"})
    assert len(found) > 20  # the walk really imported the engine
    assert [m for m in found if m.split(".")[0] == "ts"] == []


def test_the_games_and_their_metrics_load_no_capture_or_method_code() -> None:
    found = loaded("import attnserve.text.game, attnserve.image.game, attnserve.faithfulness", {"attnserve", "captum"})
    modalities = [f"attnserve.{m}{part}" for m in ("image", "text") for part in ("", ".codec", ".game")]
    assert found == sorted(["attnserve", "attnserve.errors", "attnserve.faithfulness", "attnserve.game", *modalities])
