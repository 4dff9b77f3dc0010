"""The build's cache and staleness logic: the atomic, locked stage cache, the model key, the archive
packer and the CLI. Nothing here trains: tiny files stand in for weights, so the whole file runs in
seconds (the archiver itself does run, on tiny files)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from model_store.recipes import build, fashion, keys, sentiment, text_classifier
from model_store.recipes.archive import MARKER, ArchiveSpec, build_archive, cache_root, cached_model, digest
from model_store.recipes.bundles import BUDGET_ENV, Bundle, discover
from tests.bundles import sections, write_bundle, write_release

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own model cache, never the user's real one."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ATTNSERVE_CACHE", str(root))
    return root


def fake_model(model_dir: Path, key: str) -> Path:
    """A completed cache entry with the files a real one has, but tiny."""
    model_dir.mkdir(parents=True)
    (model_dir / "model.safetensors").write_bytes(b"\0" * 64)
    (model_dir / "config.json").write_text("{}")
    (model_dir / "tokenizer.json").write_text("{}")
    (model_dir / "model_card.json").write_text(json.dumps({"metrics": {"accuracy": 0.9}, "sizes": {"test": 1000}}))
    (model_dir / MARKER).write_text(key)
    return model_dir


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch repo root with stub handlers, `attnserve` and client packages, and the model config a
    build writes for the real sentiment bundle."""
    root = tmp_path / "repo"
    (root / "handlers").mkdir(parents=True)
    (root / "handlers" / "explain_handler.py").write_text("import attnserve  # noqa: F401\n")
    (root / "handlers" / "metrics.py").write_text("")
    (root / "attnserve" / "methods").mkdir(parents=True)
    (root / "attnserve" / "__init__.py").write_text("")
    (root / "attnserve" / "methods" / "__init__.py").write_text("X = 1\n")
    (root / "attnserve" / "__pycache__").mkdir()
    (root / "attnserve" / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"junk")
    (root / "client" / "attnserve_protos").mkdir(parents=True)
    (root / "client" / "attnserve_protos" / "__init__.py").write_text("")
    config = root / "model_store" / "build" / "sentiment" / "model-config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(yaml.safe_dump(discover()["sentiment"].model_config(), sort_keys=False))
    return root


def spec_for(root: Path, name: str = "sentiment") -> ArchiveSpec:
    return ArchiveSpec(
        name=name,
        version="1.0",
        handler=root / "handlers" / "explain_handler.py",
        config_file=root / "model_store" / "build" / "sentiment" / "model-config.yaml",
        packages=(root / "attnserve",),
        export_dir=root / "model_store",
    )


def test_digest_is_short_stable_and_order_independent() -> None:
    key = digest({"a": 1, "b": [1, 2]})
    assert key == digest({"b": [1, 2], "a": 1})
    assert len(key) == 16 and int(key, 16) >= 0
    assert key != digest({"a": 1, "b": [2, 1]})


def test_cache_root_defaults_to_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTNSERVE_CACHE")
    assert cache_root() == Path.home() / ".cache" / "attnserve"


def test_cached_model_trains_once_per_key(cache: Path) -> None:
    calls: list[Path] = []

    def train(out: Path) -> None:
        calls.append(out)
        (out / "weights").write_text("w")

    first, hit = cached_model("m", "k1", train)
    assert (first, hit) == (cache / "models" / "m-k1", False)
    assert (first / MARKER).is_file() and (first / "weights").is_file()
    assert calls[0] != first  # built elsewhere, then moved into place whole
    assert cached_model("m", "k1", train) == (first, True)
    assert len(calls) == 1
    other, hit = cached_model("m", "k2", train)
    assert other != first and not hit and len(calls) == 2


def leftovers(cache: Path) -> list[str]:
    """Everything in the models dir but the lock files, which stay by design."""
    return sorted(p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock"))


def test_an_interrupted_build_leaves_no_stage_and_no_temporary_dir(cache: Path) -> None:
    def crash(out: Path) -> None:
        (out / "partial").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_model("m", "k", crash)
    assert leftovers(cache) == []
    model_dir, hit = cached_model("m", "k", lambda out: (out / "weights").write_text("w"))
    assert not hit
    assert sorted(p.name for p in model_dir.iterdir()) == [MARKER, "weights"]


KILLED = """
import os
from model_store.recipes.archive import cached_model

def train(out):
    (out / "partial").write_text("half")
    os._exit(9)  # killed mid-build: no finally, no cleanup

cached_model("m", "k", train)
"""


def test_what_a_killed_build_leaves_is_never_trusted_and_is_cleaned_up(cache: Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    (temporary,) = leftovers(cache)
    assert temporary.startswith(".m-k.tmp-") and (cache / "models" / temporary / "partial").is_file()
    stage = cache / "models" / "m-k"
    stage.mkdir()  # a stage dir without its marker (as a non-atomic build would leave) is not trusted either
    (stage / "partial").write_text("half")

    model_dir, hit = cached_model("m", "k", lambda out: (out / "weights").write_text("w"))
    assert (model_dir, hit) == (stage, False)
    assert sorted(p.name for p in model_dir.iterdir()) == [MARKER, "weights"]
    assert leftovers(cache) == ["m-k"]


def test_a_second_build_of_a_stage_waits_for_the_first_and_reuses_it(cache: Path) -> None:
    started, finish = threading.Event(), threading.Event()
    calls: list[str] = []
    results: dict[str, tuple[Path, bool]] = {}

    def slow(out: Path) -> None:
        calls.append("first")
        started.set()
        finish.wait(10)
        (out / "weights").write_text("w")

    def run(name: str, train) -> threading.Thread:
        thread = threading.Thread(target=lambda: results.__setitem__(name, cached_model("m", "k", train)))
        thread.start()
        return thread

    first = run("first", slow)
    try:
        assert started.wait(10)
        second = run("second", lambda out: calls.append("second"))
        second.join(0.5)
        assert second.is_alive()  # blocked on the stage's lock while the first build runs
    finally:
        finish.set()
    first.join(10)
    second.join(10)
    stage = cache / "models" / "m-k"
    assert results == {"first": (stage, False), "second": (stage, True)} and calls == ["first"]


def test_model_key_tracks_what_shapes_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    bundle = discover()["sentiment"]
    base = build.model_key(bundle)
    assert base == build.model_key(bundle)

    train = {**bundle.model["train"], "lr": 1e-4}
    for edited in (replace(bundle, model={**bundle.model, "train": train}), replace(bundle, max_length=64)):
        assert build.model_key(edited) != base
    serving = replace(bundle, handler={"default_methods": ["gae"]}, torchserve={"batchSize": 1}, concepts=None)
    assert build.model_key(serving) == base  # serving and explainer edits never retrain
    with monkeypatch.context() as m:
        m.setenv(BUDGET_ENV, "quick")
        assert build.model_key(bundle) != base
    with monkeypatch.context() as m:
        m.setattr(build, "versions", lambda *packages: {"torch": "9.9"})
        assert build.model_key(bundle) != base
    with monkeypatch.context() as m:
        m.setattr(sentiment, "data_sha256", lambda: "0" * 64)
        assert build.model_key(bundle) != base
    real = keys._source_sha
    for source in (bundle.recipe_file, Path(text_classifier.__file__)):  # the recipe and what it imports
        with monkeypatch.context() as m:
            m.setattr(keys, "_source_sha", lambda path, source=source: "x" if path == source.resolve() else real(path))
            assert build.model_key(bundle) != base, source
    assert build.model_key(bundle) == base


def test_load_examples_binarises_and_drops_near_neutral(tmp_path: Path) -> None:
    tsv = tmp_path / "gt.txt"
    rows = ["id\tsentiment\ttext", "1\t2.5\tgreat", "2\t-1.0\tbad", "3\t0.3\tmeh", "4\t-0.49\tso-so"]
    tsv.write_bytes("".join(f"{row}\r\n" for row in rows).encode())
    assert sentiment.load_examples(tsv) == [("great", 1), ("bad", 0)]


def test_split_is_seeded_with_a_fixed_test_set() -> None:
    train, test = sentiment.split()
    assert (train, test) == sentiment.split()
    assert len(test) == sentiment.TEST_SIZE
    assert len(train) + len(test) == len(sentiment.load_examples(sentiment.data_file())) > 9000
    assert sentiment.training_items() == [text for text, _ in train]


def test_archive_is_rebuilt_only_when_packed_inputs_change(project: Path, cache: Path) -> None:
    spec = spec_for(project)
    model_dir = fake_model(cache / "models" / "sentiment-k1", "k1")
    assert build_archive(spec, model_dir, "k1")
    assert spec.stamp_path == project / "model_store" / "build" / "sentiment.stamp"
    assert not build_archive(spec, model_dir, "k1")

    spec.config_file.write_text(spec.config_file.read_text())  # a touch without a change
    assert not build_archive(spec, model_dir, "k1")
    spec.config_file.write_text(spec.config_file.read_text() + "# changed\n")
    assert build_archive(spec, model_dir, "k1")
    (project / "attnserve" / "methods" / "__init__.py").write_text("X = 2\n")
    assert build_archive(spec, model_dir, "k1")
    (project / "attnserve" / "methods" / "__pycache__").mkdir()
    (project / "attnserve" / "methods" / "__pycache__" / "new.pyc").write_bytes(b"x")
    assert not build_archive(spec, model_dir, "k1")  # bytecode is never packed, so never stale
    spec.handler.write_text("import attnserve  # noqa: F401\nVERSION = 2\n")
    assert build_archive(spec, model_dir, "k1")
    assert build_archive(spec, model_dir, "k2")
    spec.mar_path.unlink()
    assert build_archive(spec, model_dir, "k2")


def test_archive_layout_keeps_packages_as_directories(project: Path, cache: Path) -> None:
    spec = spec_for(project)
    model_dir = fake_model(cache / "models" / "sentiment-k1", "k1")
    build_archive(spec, model_dir, "k1")
    with zipfile.ZipFile(spec.mar_path) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("MAR-INF/MANIFEST.json"))["model"]
    assert names == {
        "MAR-INF/MANIFEST.json",
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "model_card.json",
        "explain_handler.py",
        "model-config.yaml",
        "attnserve/__init__.py",
        "attnserve/methods/__init__.py",
    }
    assert manifest["handler"] == "explain_handler.py"
    assert manifest["serializedFile"] == "model.safetensors"
    assert manifest["configFile"] == "model-config.yaml"
    assert manifest["modelVersion"] == "1.0"


def test_failed_archiver_leaves_no_stamp_and_no_archive(project: Path, cache: Path) -> None:
    spec = spec_for(project, name="bad name!")  # rejected by the archiver's model-name check
    model_dir = fake_model(cache / "models" / "bad-k1", "k1")
    with pytest.raises(RuntimeError, match="torch-model-archiver failed"):
        build_archive(spec, model_dir, "k1")
    assert not spec.stamp_path.exists() and not spec.mar_path.exists()


@pytest.fixture
def released(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bundle:
    """A fashion-like bundle in the scratch repo whose release set holds stand-in weights (its recipe
    assembles by copying them), with training forbidden."""
    monkeypatch.setattr(fashion, "train", lambda out, bundle: pytest.fail("the recipe tried to train"))
    bundle = write_bundle(project / "model_store" / "fashion", sections("fashion"))
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in fashion.WEIGHT_FILES:
        (weights / name).write_bytes(b"\0" * 64 if name.endswith(".safetensors") else b"{}")
    (weights / "model_card.json").write_text(json.dumps({"metrics": {"accuracy": 0.9}}))
    write_release(bundle, weights)
    return bundle


def packed_config(mar: Path) -> dict:
    with zipfile.ZipFile(mar) as z:
        return yaml.safe_load(z.read("model-config.yaml"))


def test_an_archive_from_a_release_set_is_repacked_only_when_serving_changes(
    project: Path, released: Bundle, capsys: pytest.CaptureFixture[str]
) -> None:
    mar = build.archive(released, build.release_dir(released), root=project)
    assert mar == project / "model_store" / "fashion.mar"
    with zipfile.ZipFile(mar) as z:
        packed = {"explain_handler.py", "handlers/metrics.py", "attnserve/__init__.py", "attnserve_protos/__init__.py"}
        assert packed | {"model.safetensors", "preprocessor_config.json", "model_card.json"} <= set(z.namelist())
        assert "release.json" not in z.namelist()
    assert packed_config(mar) == released.model_config()

    capsys.readouterr()
    build.archive(released, build.release_dir(released), root=project)
    out = capsys.readouterr().out
    assert "[fashion-staged] cache hit" in out and "archive up to date" in out

    spec = sections("fashion")
    spec["torchserve"]["batchSize"] = 4
    edited = write_bundle(released.folder, spec)
    build.archive(edited, build.release_dir(edited), root=project)
    out = capsys.readouterr().out
    assert "[fashion-staged] cache hit" in out and "archive stale or missing" in out
    assert packed_config(mar)["batchSize"] == 4


def test_a_missing_handler_fails_the_archive_and_packs_nothing(project: Path, released: Bundle) -> None:
    (project / "handlers" / "explain_handler.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"explain_handler\.py"):
        build.archive(released, build.release_dir(released), root=project)
    assert not (project / "model_store" / "fashion.mar").exists()


def test_unknown_model_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build.main(["nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_the_cli_archives_the_release_set_or_a_from_scratch_one(monkeypatch: pytest.MonkeyPatch) -> None:
    archived: list[Path] = []
    monkeypatch.setattr(build, "archive", lambda bundle, release: archived.append(release) or Path("x.mar"))
    monkeypatch.setattr(build, "from_scratch", lambda bundle: Path(f"/cache/{bundle.name}-release"))
    assert build.main(["sentiment", "topics"]) == 0
    assert archived == [build.release_dir(discover()[name]) for name in ("sentiment", "topics")]
    assert build.main(["--from-scratch", "sentiment"]) == 0
    assert archived[-1] == Path("/cache/sentiment-release")


def test_cli_failure_is_one_line_and_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(bundle: Bundle, release: Path) -> Path:
        raise RuntimeError("boom")

    monkeypatch.setattr(build, "archive", broken)
    assert build.main(["sentiment"]) == 1
    assert "error: building 'sentiment' failed: RuntimeError: boom" in capsys.readouterr().err
