"""The architecture as import rules, checked on the import statements themselves (``ast``), so that an
import inside a function or under ``if TYPE_CHECKING:`` counts as much as one at the top of a file: a
lazy import still couples two layers, and still enters every cache key that hashes what a module imports.

The engine (attnserve) is pure PyTorch and imports nothing else of ours. The build (model_store) packs the
engine into archives, serving (handlers) runs it inside TorchServe, deploy starts TorchServe and reads
only its config, the SDK (attnserve_client) talks to the server over the wire only, and the harness
(bench) measures them all: a leaf that nothing but the tests imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# fmt: off
RULES: dict[str, set[str]] = {  # package: the top-level packages it must not import
    "attnserve":        {"model_store", "bench", "handlers", "deploy", "attnserve_client", "ts"},  # the engine
    "model_store":      {"bench", "handlers", "deploy", "attnserve_client", "ts"},                 # the build
    "handlers":         {"bench", "model_store", "deploy"},                                        # serving
    "deploy":           {"bench", "model_store", "handlers", "attnserve"},                         # launch, config
    "attnserve_client": {"attnserve", "model_store", "bench", "handlers", "deploy", "torch"},       # the SDK
    "bench":            set(),  # the harness, a leaf: every other row forbids it
}
# fmt: on
FOLDERS = {"attnserve_client": "client/attnserve_client"}  # where a package lives, when not in ROOT/<package>


def imported_modules(source: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``source``, the source of ``module``,
    wherever the statement stands. Relative imports are resolved against the module's own package."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            yield node.lineno, ".".join([*anchor, *([node.module] if node.module else [])])
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module


def module_name(path: Path, package: str, folder: Path) -> str:
    parts = path.relative_to(folder).with_suffix("").parts
    return ".".join([package, *(parts[:-1] if parts[-1] == "__init__" else parts)])


def violations(package: str) -> list[str]:
    """``file:line: imports X`` for each import in ``package`` of a package its rule forbids."""
    folder, forbidden = ROOT / FOLDERS.get(package, package), RULES[package]
    found = []
    for path in sorted(folder.rglob("*.py")):
        name = module_name(path, package, folder)
        for line, imported in imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"):
            if imported.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {imported}")
    return found


def test_the_scanner_sees_imports_wherever_they_stand() -> None:
    source = """
from __future__ import annotations
import os.path
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from model_store.recipes import build
def f():
    from bench.eval import run
class C:
    def g(self):
        import handlers.metrics, deploy.launch
from . import sibling
from ..games import text_game
"""
    found = set(imported_modules(source, "attnserve.methods.shapley"))
    assert found == {
        (2, "__future__"),
        (3, "os.path"),
        (4, "typing"),
        (6, "model_store.recipes"),
        (8, "bench.eval"),
        (11, "handlers.metrics"),
        (11, "deploy.launch"),
        (12, "attnserve.methods"),
        (13, "attnserve.games"),
    }
    assert set(imported_modules("from . import tcav", "attnserve.concepts", is_package=True)) == {
        (1, "attnserve.concepts")
    }


@pytest.mark.parametrize("package", RULES)
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    folder = FOLDERS.get(package, package)
    assert any((ROOT / folder).rglob("*.py")), f"no modules under {folder}/: the table is out of date"
    found = violations(package)
    assert not found, f"{package} must not import {', '.join(sorted(RULES[package]))}; found:\n" + "\n".join(found)
