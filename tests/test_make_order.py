"""The Makefile installs every Debian package a target needs before the first step that needs it.

Read from `make -n -B` (every command a target would run, in order, nothing executed), so a target
that installs a package after the step that reads it (the bug that broke `make test` and `make run` on
every fresh machine) fails here, on any machine, whatever happens to be installed already.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Debian package -> the commands that read it (module or program names as they appear in the recipe lines).
NEEDED_BY = {
    "dataset-fashion-mnist": ("pytest", "model_store.recipes.release", "bench.eval", "--from-scratch"),
    "prometheus": ("pytest",),
}


def dry_run(target: str) -> list[str]:
    done = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def first(lines: list[str], words: tuple[str, ...]) -> int | None:
    return next((i for i, line in enumerate(lines) if any(word in line for word in words)), None)


@pytest.mark.parametrize("target", ["run", "test", "release", "release-check", "eval"])
def test_each_package_is_installed_before_its_first_use(target: str) -> None:
    lines = dry_run(target)
    for package, users in NEEDED_BY.items():
        used = first(lines, users)
        if used is None:
            continue
        installed = first(lines, (f"apt-get install -y -qq --no-install-recommends {package}",))
        assert installed is not None, f"`make {target}` runs `{lines[used].strip()}` but never installs {package}"
        assert installed < used, f"`make {target}` installs {package} after `{lines[used].strip()}` needs it"


def test_make_run_needs_no_debian_package_and_builds_no_model() -> None:
    """`make run` serves the committed release sets: nothing to install beyond pip, nothing to train."""
    lines = dry_run("run")
    assert not any("apt-get" in line for line in lines)
    assert not any("--from-scratch" in line or "recipes.release" in line for line in lines)


def test_the_scanner_catches_a_late_install(tmp_path: Path) -> None:
    """The check itself: a Makefile that reads the data before installing it is caught."""
    (tmp_path / "Makefile").write_text(
        "test:\n\tpython -m pytest\n\tapt-get install -y -qq --no-install-recommends dataset-fashion-mnist\n"
    )
    done = subprocess.run(["make", "-n", "-B", "test"], cwd=tmp_path, capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert first(lines, ("apt-get install",)) > first(lines, NEEDED_BY["dataset-fashion-mnist"])
