"""Cache keys cover what a stage really imports: every repository module reachable from its entry
module, function-local and relative imports included, and the packages' `__init__` files on the way."""

from __future__ import annotations

from pathlib import Path

from model_store.recipes.keys import REPO_ROOT, closure, code_digest


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def scratch(root: Path) -> None:
    write(
        root,
        {
            "pkg/__init__.py": "",
            "pkg/stage.py": "import os\nfrom pkg import helper\n\ndef run():\n    from pkg.sub.inner import f\n",
            "pkg/helper.py": "from . import shared\n",
            "pkg/shared.py": "X = 1\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/inner.py": "def f():\n    pass\n",
            "pkg/unused.py": "Y = 2\n",
        },
    )


def names(root: Path, paths: list[Path]) -> set[str]:
    return {p.relative_to(root).as_posix() for p in paths}


def test_the_closure_follows_local_relative_and_package_imports(tmp_path: Path) -> None:
    scratch(tmp_path)
    found = names(tmp_path, closure([tmp_path / "pkg/stage.py"], tmp_path))
    assert found == {
        "pkg/__init__.py",
        "pkg/stage.py",
        "pkg/helper.py",
        "pkg/shared.py",
        "pkg/sub/__init__.py",
        "pkg/sub/inner.py",
    }


def test_an_edit_to_an_imported_module_changes_the_key_and_others_do_not(tmp_path: Path) -> None:
    scratch(tmp_path)
    before = code_digest([tmp_path / "pkg/stage.py"], tmp_path)
    (tmp_path / "pkg/unused.py").write_text("Y = 3\n")
    assert code_digest([tmp_path / "pkg/stage.py"], tmp_path) == before
    (tmp_path / "pkg/sub/inner.py").write_text("def f():\n    return 1\n")  # reached only inside a function
    assert code_digest([tmp_path / "pkg/stage.py"], tmp_path) != before


def test_the_expensive_teacher_stage_does_not_depend_on_serving_code() -> None:
    """Shapley targets cost an hour per release: their key must not move when capture, methods, the
    handler or the serving loader change; the masking game and the estimator are what they hash."""
    found = names(REPO_ROOT, closure([REPO_ROOT / "model_store/recipes/shapley_targets.py"]))
    assert {"attnserve/text/game.py", "attnserve/image/game.py", "model_store/recipes/shapley_targets.py"} <= found
    assert not found & {
        "attnserve/capture.py",
        "attnserve/loading.py",
        "attnserve/explain.py",
        "handlers/explain_handler.py",
    }


def test_a_model_recipe_depends_on_its_training_code_not_on_the_engine() -> None:
    found = names(REPO_ROOT, closure([REPO_ROOT / "model_store/recipes/sentiment.py"]))
    assert "model_store/recipes/text_classifier.py" in found and "model_store/recipes/training.py" in found
    assert not any(name.startswith(("attnserve/", "bench/", "handlers/")) for name in found)
