"""Cache keys from what a build stage really runs: the repository modules it imports, transitively.

A stage's key hashes the source of its entry module and of every repository module reachable from it
through imports, function-local ones included, plus the ``__init__.py`` of every package on the way
(Python runs those too). A hand-written list of files goes stale the day a stage starts importing one
more module; a walk over the import statements cannot. Imports are read from the source text (``ast``),
so a key costs milliseconds and never imports torch. Third-party code enters keys by its version.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
from collections.abc import Iterable
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def file_sha256(path: Path) -> str:
    """Full sha256 of a file, streamed so large data or weight files need not fit in memory."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def module_path(name: str, root: Path) -> Path | None:
    """The file of module ``name`` when it lives in the repository at ``root``; None for anything else."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, root: Path) -> set[str]:
    """Every module name an import statement in ``path`` may load, wherever the statement stands.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (c may be a submodule or a name in a.b); relative
    imports are resolved against the file's own package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root) if path.name == "__init__.py" else _module_name(path, root).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {name for name in names if name}


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(entries: Iterable[Path], root: Path = REPO_ROOT) -> list[Path]:
    """The entry files and every repository file they import, directly or not, sorted by path."""
    seen: set[Path] = set()
    todo = [Path(entry).resolve() for entry in entries]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path, root):
            for module in (*_parents(name), name):
                found = module_path(module, root)
                if found is not None and found not in seen:
                    todo.append(found)
        for package in _parents(_module_name(path, root)):  # a loaded module's packages run first
            init = module_path(package, root)
            if init is not None and init not in seen:
                todo.append(init)
    return sorted(seen)


def code_digest(entries: Iterable[Path], root: Path = REPO_ROOT) -> dict[str, str]:
    """{repo-relative path: sha256} of everything ``closure`` finds: the code part of a stage's key."""
    return {path.relative_to(root).as_posix(): _source_sha(path) for path in closure(entries, root)}


@cache
def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    return {package: importlib.metadata.version(package) for package in packages}


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of third-party packages a stage runs: their code enters keys this way."""
    return dict(_versions(tuple(sorted(packages))))


def _source_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
