"""Caching and staleness logic of the model recipes. Nothing here trains: a fake model dir stands in for
the cached weights, so the whole suite runs in seconds (the archiver itself does run, on tiny files)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from model_store.recipes import build, sentiment
from model_store.recipes.archive import MARKER, ArchiveSpec, build_archive, cache_root, cached_model, digest

REAL_CONFIG = Path(sentiment.__file__).parents[1] / "sentiment" / "model-config.yaml"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own model cache, never the user's real one."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ATTNSERVE_CACHE", str(root))
    return root


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(out: Path, key: str) -> None:
        raise AssertionError("the recipe tried to train")

    monkeypatch.setattr(sentiment, "train", refuse)


def fake_model(model_dir: Path, key: str) -> Path:
    """A completed cache entry with the files a real one has, but tiny."""
    model_dir.mkdir(parents=True)
    (model_dir / "model.safetensors").write_bytes(b"\0" * 64)
    (model_dir / "config.json").write_text("{}")
    (model_dir / "tokenizer.json").write_text("{}")
    card = {"metrics": {"accuracy": 0.9}, "sizes": {"test": 1000}}
    (model_dir / "model_card.json").write_text(json.dumps(card))
    (model_dir / MARKER).write_text(key)
    return model_dir


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch repo root with stub `handlers`, `attnserve` and client packages and the real model config."""
    root = tmp_path / "repo"
    (root / "handlers").mkdir(parents=True)
    (root / "handlers" / "text_handler.py").write_text("import attnserve  # noqa: F401\n")
    (root / "handlers" / "metrics.py").write_text("")
    (root / "attnserve" / "methods").mkdir(parents=True)
    (root / "attnserve" / "__init__.py").write_text("")
    (root / "attnserve" / "methods" / "__init__.py").write_text("X = 1\n")
    (root / "attnserve" / "__pycache__").mkdir()
    (root / "attnserve" / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"junk")
    (root / "client" / "attnserve_client").mkdir(parents=True)
    (root / "client" / "attnserve_client" / "__init__.py").write_text("")
    (root / "model_store" / "sentiment").mkdir(parents=True)
    shutil.copy(REAL_CONFIG, root / "model_store" / "sentiment" / "model-config.yaml")
    return root


def spec_for(root: Path, name: str = "sentiment") -> ArchiveSpec:
    return ArchiveSpec(
        name=name,
        version="1.0",
        handler=root / "handlers" / "text_handler.py",
        config_file=root / "model_store" / "sentiment" / "model-config.yaml",
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
    assert cached_model("m", "k1", train) == (first, True)
    assert len(calls) == 1
    other, hit = cached_model("m", "k2", train)
    assert other != first and not hit and len(calls) == 2


def test_interrupted_build_is_redone_from_scratch() -> None:
    def crash(out: Path) -> None:
        (out / "partial").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_model("m", "k", crash)
    model_dir, hit = cached_model("m", "k", lambda out: (out / "weights").write_text("w"))
    assert not hit
    assert sorted(p.name for p in model_dir.iterdir()) == [MARKER, "weights"]


def test_model_key_tracks_what_shapes_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = sentiment.model_key()
    assert base == sentiment.model_key()

    with monkeypatch.context() as m:
        m.setitem(sentiment.TRAIN_CONFIG, "lr", 1e-4)
        assert sentiment.model_key() != base
    with monkeypatch.context() as m:
        m.setattr(sentiment, "versions", lambda: {"torch": "9.9", "transformers": "5.23.0"})
        assert sentiment.model_key() != base
    with monkeypatch.context() as m:
        data = tmp_path / "data.tsv"
        data.write_bytes(sentiment.data_file().read_bytes() + b"x")
        m.setattr(sentiment, "data_file", lambda: data)
        assert sentiment.model_key() != base
    with monkeypatch.context() as m:
        source = tmp_path / "sentiment.py"
        source.write_text(Path(sentiment.__file__).read_text() + "# edited\n")
        m.setattr(sentiment, "__file__", str(source))
        assert sentiment.model_key() != base
    assert sentiment.model_key() == base


def test_load_examples_binarises_and_drops_near_neutral(tmp_path: Path) -> None:
    tsv = tmp_path / "gt.txt"
    rows = ["id\tsentiment\ttext", "1\t2.5\tgreat", "2\t-1.0\tbad", "3\t0.3\tmeh", "4\t-0.49\tso-so"]
    tsv.write_bytes("".join(f"{row}\r\n" for row in rows).encode())
    assert sentiment.load_examples(tsv) == [("great", 1), ("bad", 0)]


def test_split_is_seeded_with_a_fixed_test_set() -> None:
    examples = sentiment.load_examples(sentiment.data_file())
    train, test = sentiment.split(examples)
    assert (train, test) == sentiment.split(examples)
    assert len(test) == sentiment.TEST_SIZE
    assert len(train) + len(test) == len(examples) > 9000


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
        "text_handler.py",
        "model-config.yaml",
        "attnserve/__init__.py",
        "attnserve/methods/__init__.py",
    }
    assert manifest["handler"] == "text_handler.py"
    assert manifest["serializedFile"] == "model.safetensors"
    assert manifest["configFile"] == "model-config.yaml"
    assert manifest["modelVersion"] == "1.0"


def test_failed_archiver_leaves_no_stamp(project: Path, cache: Path) -> None:
    spec = spec_for(project, name="bad name!")  # rejected by the archiver's model-name check
    model_dir = fake_model(cache / "models" / "bad-k1", "k1")
    with pytest.raises(RuntimeError, match="torch-model-archiver failed"):
        build_archive(spec, model_dir, "k1")
    assert not spec.stamp_path.exists()


def test_build_reuses_cached_model_and_archive(
    project: Path, cache: Path, no_training: None, capsys: pytest.CaptureFixture[str]
) -> None:
    key = sentiment.model_key()
    fake_model(cache / "models" / f"sentiment-{key}", key)
    mar = build.build("sentiment", root=project)
    assert mar == project / "model_store" / "sentiment.mar" and mar.is_file()
    with zipfile.ZipFile(mar) as z:
        packed = {"text_handler.py", "handlers/metrics.py", "attnserve/__init__.py", "attnserve_client/__init__.py"}
        assert packed <= set(z.namelist())
    assert "model cache hit" in capsys.readouterr().out
    build.build("sentiment", root=project)
    assert "archive up to date" in capsys.readouterr().out


def test_build_fails_fast_when_handler_is_missing(project: Path, no_training: None) -> None:
    (project / "handlers" / "text_handler.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"text_handler\.py"):
        build.build("sentiment", root=project)


def test_unknown_model_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build.build("nope")
    with pytest.raises(SystemExit):
        build.main(["nope"])


def test_cli_failure_is_one_line_and_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(name: str) -> Path:
        raise RuntimeError("boom")

    monkeypatch.setattr(build, "build", broken)
    assert build.main(["all"]) == 1
    assert "error: building 'sentiment' failed: RuntimeError: boom" in capsys.readouterr().err
