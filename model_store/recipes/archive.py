"""The build cache and the archive packer shared by every stage.

Each stage (a trained model, its concept vectors, its learned explainer) is cached outside the repo
once per key (model_store/recipes/keys.py says what a key covers), published atomically under a lock;
a `.mar` is repacked only when what it packs changes, tracked by a stamp file next to the archive and
replaced atomically too.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_store.recipes.keys import file_sha256

MARKER = ".complete"  # written last: a model dir without it is an interrupted build
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


def log(name: str, message: str) -> None:
    """Progress line for the CLI; flushed so it interleaves correctly with tqdm bars."""
    print(f"[{name}] {message}", flush=True)


def cache_root() -> Path:
    """Built stages live outside the repo so `git clean` or a fresh checkout does not force rebuilding."""
    return Path(os.environ.get("ATTNSERVE_CACHE") or Path.home() / ".cache" / "attnserve").expanduser()


def digest(parts: Mapping[str, Any]) -> str:
    """Order-independent 16-hex hash of JSON-able parts; short enough for directory names."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing) while the block runs: two builds of the same
    stage wait for each other instead of both writing it; the OS drops the lock when a build dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_model(name: str, key: str, train: Callable[[Path], None]) -> tuple[Path, bool]:
    """Return (stage dir, cache hit); on a miss run ``train(dir)`` and publish the dir atomically.

    The stage is built in a temporary sibling and renamed into place with its completion marker already
    inside, under a per-stage lock: an interrupted build leaves only a temporary dir (removed by the next
    build), never a half-written stage that a later run trusts, and a concurrent build of the same stage
    waits, then reuses the first one's result."""
    stage_dir = cache_root() / "models" / f"{name}-{key}"
    if (stage_dir / MARKER).is_file():
        log(name, f"cache hit: {stage_dir}")
        return stage_dir, True
    with locked(stage_dir.with_name(f".{stage_dir.name}.lock")):
        if (stage_dir / MARKER).is_file():  # built by a concurrent build while this one waited
            log(name, f"cache hit: {stage_dir}")
            return stage_dir, True
        log(name, f"cache miss (key {key}): building {stage_dir}")
        for stale in stage_dir.parent.glob(f".{stage_dir.name}.tmp-*"):  # left by an interrupted build
            shutil.rmtree(stale, ignore_errors=True)
        if stage_dir.exists():  # a dir without its marker was never completed: never to be trusted
            shutil.rmtree(stage_dir)
        work = stage_dir.with_name(f".{stage_dir.name}.tmp-{os.getpid()}")
        work.mkdir(parents=True)
        try:
            train(work)
            (work / MARKER).write_text(key + "\n")
            os.rename(work, stage_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return stage_dir, False


def package_files(package: Path) -> list[Path]:
    """Files of a package dir that get packed: everything except bytecode caches."""
    return sorted(
        p
        for p in package.rglob("*")
        if p.is_file()
        and not _SKIP_DIRS.intersection(p.relative_to(package).parts)
        and not p.name.endswith(_SKIP_SUFFIXES)
    )


def _packed_names(packages: Iterable[Path]) -> dict[str, Path]:
    """Archive member name -> source file for every packed package file."""
    return {f"{pkg.name}/{f.relative_to(pkg).as_posix()}": f for pkg in packages for f in package_files(pkg)}


@dataclass(frozen=True)
class ArchiveSpec:
    """Everything that goes into one `<name>.mar` apart from the model dir itself."""

    name: str
    version: str
    handler: Path
    config_file: Path
    packages: tuple[Path, ...]  # dirs packed as importable top-level packages next to the handler
    export_dir: Path
    serialized_file: str = "model.safetensors"

    @property
    def mar_path(self) -> Path:
        return self.export_dir / f"{self.name}.mar"

    @property
    def stamp_path(self) -> Path:
        return self.export_dir / "build" / f"{self.name}.stamp"

    def missing_inputs(self) -> list[Path]:
        """Packed inputs that do not exist (the config is written from the bundle at packing time)."""
        return [p for p in (self.handler, *self.packages) if not p.exists()]

    def stamp(self, model_key: str) -> str:
        """Hash of the model key plus the contents of all packed code and config."""
        packed = {name: file_sha256(path) for name, path in _packed_names(self.packages).items()}
        return digest(
            {
                "model_key": model_key,
                "version": self.version,
                "handler": file_sha256(self.handler),
                "config": file_sha256(self.config_file),
                "packages": packed,
            }
        )


def model_extra_files(model_dir: Path, serialized_file: str) -> list[Path]:
    """Config, tokenizer and model-card files of a model dir: everything except the weights and marker."""
    return sorted(p for p in model_dir.iterdir() if p.is_file() and p.name not in {serialized_file, MARKER})


def build_archive(spec: ArchiveSpec, model_dir: Path, model_key: str) -> bool:
    """(Re)build `spec.mar_path` unless its stamp matches; return True when it was rebuilt."""
    stamp = spec.stamp(model_key)
    if spec.mar_path.is_file() and spec.stamp_path.is_file() and spec.stamp_path.read_text().strip() == stamp:
        log(spec.name, f"archive up to date: {spec.mar_path}")
        return False
    log(spec.name, f"archive stale or missing: packing {spec.mar_path}")
    started = time.perf_counter()
    spec.stamp_path.parent.mkdir(parents=True, exist_ok=True)
    spec.stamp_path.unlink(missing_ok=True)  # an interrupted repack must never look up to date
    with tempfile.TemporaryDirectory(prefix=f"mar-{spec.name}-", dir=spec.stamp_path.parent) as tmp:
        packed = _run_archiver(spec, model_dir, Path(tmp))
        check_layout(spec, model_dir, packed)
        os.replace(packed, spec.mar_path)  # same file system: a reader sees the old archive or the new one
    spec.stamp_path.write_text(stamp + "\n")
    size_mb, seconds = spec.mar_path.stat().st_size / 1e6, time.perf_counter() - started
    log(spec.name, f"archive rebuilt: {spec.mar_path} ({size_mb:.1f} MB in {seconds:.1f} s)")
    return True


def _stage_packages(packages: Iterable[Path], dest: Path) -> Path:
    """Copy packages (minus bytecode) under one dir: the archiver flattens a dir's *contents* into the .mar,
    so handing it this parent makes each package land as `<package>/` next to the handler."""
    ignore = shutil.ignore_patterns(*_SKIP_DIRS, *(f"*{suffix}" for suffix in _SKIP_SUFFIXES))
    for pkg in packages:
        shutil.copytree(pkg, dest / pkg.name, ignore=ignore)
    return dest


def _run_archiver(spec: ArchiveSpec, model_dir: Path, tmp: Path) -> Path:
    """Run torch-model-archiver in a private TMPDIR (it stages into the fixed `$TMPDIR/<model-name>` and
    deletes that dir first, so concurrent builds would otherwise clobber each other) and export into
    ``tmp``; returns the written archive."""
    extras = [str(p) for p in model_extra_files(model_dir, spec.serialized_file)]
    if spec.packages:
        extras.append(str(_stage_packages(spec.packages, tmp / "packages")))
    options = {
        "--model-name": spec.name,
        "--version": spec.version,
        "--serialized-file": str(model_dir / spec.serialized_file),
        "--handler": str(spec.handler),
        "--extra-files": ",".join(extras),
        "--config-file": str(spec.config_file),
        "--export-path": str(tmp),
    }
    args = [x for kv in options.items() for x in kv]
    cmd = [sys.executable, "-m", "model_archiver.model_packaging", *args, "-f"]
    env = {**os.environ, "TMPDIR": str(tmp)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise RuntimeError(f"torch-model-archiver failed (exit {done.returncode}):\n{tail}")
    return tmp / spec.mar_path.name


def check_layout(spec: ArchiveSpec, model_dir: Path, archive: Path) -> None:
    """Fail loudly if the archiver ever changes how it lays out files (e.g. flattens packages)."""
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
    expected = {"MAR-INF/MANIFEST.json", spec.serialized_file, spec.handler.name, spec.config_file.name}
    expected |= {p.name for p in model_extra_files(model_dir, spec.serialized_file)}
    expected |= set(_packed_names(spec.packages))
    missing = sorted(expected - names)
    stray = sorted(n for n in names if "__pycache__" in n or n.endswith(".pyc"))
    if missing or stray:
        raise RuntimeError(f"{archive} has a bad layout: missing {missing}, unexpected {stray}")
