"""The architecture as import rules, checked on the import statements themselves (``ast``), so that an
import inside a function or under ``if TYPE_CHECKING:`` counts as much as one at the top of a file: a
lazy import still couples two layers, and still enters every cache key that hashes what a module imports.

The engine (attnserve) is pure PyTorch and imports nothing else of ours. The build (model_store) packs the
engine into archives, serving (handlers) runs it inside TorchServe, deploy starts TorchServe and reads
only its config, the SDK (attnserve_client) talks to the server over the wire only, and the harness
(bench) measures them all: a leaf that nothing but the tests imports. The generated wire messages
(attnserve_protos, shipped in the client distribution) are what the server's gRPC codec and the SDK
share: serving imports them and never the SDK, the SDK imports them and nothing else of the repository,
and they import nothing of ours.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Every top-level package of the repository (tests/ aside); test_the_table_knows_every_package keeps it whole.
REPOSITORY = {"attnserve", "model_store", "handlers", "deploy", "bench", "attnserve_client", "attnserve_protos"}
WIRE = {"attnserve_protos"}  # the generated messages: the one part of the client distribution the server uses
# fmt: off
RULES: dict[str, set[str]] = {  # package: the top-level packages it must not import
    "attnserve":        {"model_store", "bench", "handlers", "deploy", "attnserve_client", "ts", *WIRE},  # engine
    "model_store":      {"bench", "handlers", "deploy", "attnserve_client", "ts", *WIRE},                 # build
    "handlers":         {"bench", "model_store", "deploy", "attnserve_client"},                           # serving
    "deploy":           {"bench", "model_store", "handlers", "attnserve"},                                # launch
    "attnserve_client": REPOSITORY - {"attnserve_client", *WIRE} | {"torch"},                             # the SDK
    "attnserve_protos": REPOSITORY - WIRE | {"torch", "httpx", "grpc"},                                   # wire types
    "bench":            set(),  # the harness, a leaf: every other row forbids it
}
# fmt: on
FOLDERS = {  # where a package lives, when not in ROOT/<package>
    "attnserve_client": "client/attnserve_client",
    "attnserve_protos": "client/attnserve_protos",
}


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


def violations(package: str, root: Path = ROOT) -> list[str]:
    """``file:line: imports X`` for each import in ``package`` (under ``root``) of a package its rule forbids."""
    folder, forbidden = root / FOLDERS.get(package, package), RULES[package]
    found = []
    for path in sorted(folder.rglob("*.py")):
        name = module_name(path, package, folder)
        for line, imported in imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"):
            if imported.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(root)}:{line}: imports {imported}")
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


def test_the_table_knows_every_package() -> None:
    found = {path.parent.name for path in ROOT.glob("*/__init__.py")} | {
        path.parent.name for path in ROOT.glob("client/*/__init__.py")
    }
    found |= {"handlers"}  # a namespace package (no __init__.py): TorchServe imports its modules by path
    assert found == REPOSITORY == set(RULES)
    assert all((ROOT / FOLDERS.get(package, package)).is_dir() for package in REPOSITORY)


def test_the_server_side_may_not_import_the_sdk_and_the_sdk_only_the_wire_types(tmp_path: Path) -> None:
    """The rules bite: a handler importing the SDK, or the SDK importing the engine, is a violation."""
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "codec.py").write_text("from attnserve_protos import explanation_pb2\n")
    (tmp_path / "handlers" / "bad.py").write_text("from attnserve_client.proto import explanation_pb2\n")
    (tmp_path / "client" / "attnserve_client").mkdir(parents=True)
    sdk = tmp_path / "client" / "attnserve_client"
    (sdk / "ok.py").write_text("import attnserve_protos.inference_pb2\nfrom . import errors\n")
    (sdk / "bad.py").write_text("def f():\n    from attnserve.errors import InvalidInput\n")
    assert violations("handlers", tmp_path) == ["handlers/bad.py:1: imports attnserve_client.proto"]
    assert violations("attnserve_client", tmp_path) == ["client/attnserve_client/bad.py:2: imports attnserve.errors"]


@pytest.mark.parametrize("package", RULES)
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    folder = FOLDERS.get(package, package)
    assert any((ROOT / folder).rglob("*.py")), f"no modules under {folder}/: the table is out of date"
    found = violations(package)
    assert not found, f"{package} must not import {', '.join(sorted(RULES[package]))}; found:\n" + "\n".join(found)


ENVIRONMENT_WRITES = {"setdefault", "update", "pop", "clear", "__setitem__", "__delitem__"}


def import_time_environment_writes(source: str) -> list[int]:
    """Lines where ``source`` changes the process environment in a statement that runs at import: at
    module level, or in a class body, outside every function. Importing a module must not change what
    every later library in the process sees (an import-time ``HF_HUB_OFFLINE`` once did)."""
    lines: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return  # runs when called, not when imported
        if isinstance(node, ast.Call):
            func = node.func
            name = ast.unparse(func)
            if name in {"os.putenv", "os.unsetenv", "putenv", "unsetenv"} or (
                isinstance(func, ast.Attribute)
                and func.attr in ENVIRONMENT_WRITES
                and "environ" in ast.unparse(func.value)
            ):
                lines.append(node.lineno)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, ast.Subscript) and "environ" in ast.unparse(t.value) for t in targets):
                lines.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return sorted(lines)


def test_the_environment_scanner_sees_import_time_writes_only() -> None:
    source = """
import os
os.environ.setdefault("A", "1")
os.environ["B"] = "2"
if True:
    from os import environ
    environ.update(C="3")
class K:
    os.putenv("D", "4")
def f():
    os.environ["E"] = "5"
value = os.environ.get("F")
"""
    assert import_time_environment_writes(source) == [3, 4, 7, 9]


@pytest.mark.parametrize("package", sorted(REPOSITORY))
def test_no_module_changes_the_environment_when_imported(package: str) -> None:
    folder = ROOT / FOLDERS.get(package, package)
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(folder.rglob("*.py"))
        for line in import_time_environment_writes(path.read_text(encoding="utf-8"))
    ]
    assert not found, "these change os.environ at import; do it in the function that needs it:\n" + "\n".join(found)
