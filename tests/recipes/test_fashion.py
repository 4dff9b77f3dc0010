"""The fashion recipe without training: the Debian IDX files, read once per process, items by name,
preprocessing, and what the model key tracks."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model_store.recipes import build, fashion
from model_store.recipes.bundles import discover


@pytest.fixture(autouse=True)
def _dataset() -> None:
    if not fashion.DATA_DIR.is_dir():
        pytest.fail("Debian's dataset-fashion-mnist is missing; `make test` installs it (make debian)")


def test_official_splits_load_as_uint8_images_and_labels() -> None:
    images, labels = fashion.load_split("test")
    assert images.shape == (10000, 28, 28) and images.dtype.name == "uint8"
    assert labels.shape == (10000,) and sorted(set(labels.tolist())) == list(range(10))
    assert len(fashion.load_split("train")[0]) == 60000
    assert fashion.load_split("test") is fashion.load_split("test")  # read once per process


def test_items_name_images_of_either_split() -> None:
    items = fashion.training_items()
    assert len(items) == 60000 and items[:2] == ["train/0", "train/1"]
    assert (fashion.image("train/5") == fashion.load_split("train")[0][5]).all()
    assert (fashion.image("test/7") == fashion.load_split("test")[0][7]).all()


def test_normalise_maps_pixels_to_minus_one_one_with_a_channel_axis() -> None:
    images, _ = fashion.load_split("test")
    x = fashion.normalise(images[:3])
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(x[0, 0, 0, 0], torch.tensor(images[0, 0, 0] / 127.5 - 1, dtype=torch.float32))


def test_idx_magic_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="magic 2051"):
        fashion._read_idx(bad, 2051, 16)


def test_model_key_tracks_what_shapes_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = discover()["fashion"]
    base = build.model_key(bundle)
    assert base == build.model_key(bundle)
    model = bundle.model
    for edited in (
        {**model, "train": {**model["train"], "epochs": 1}},
        {**model, "architecture": {**model["architecture"], "patch_size": 7}},
    ):
        assert build.model_key(replace(bundle, model=edited)) != base
    with monkeypatch.context() as m:
        m.setattr(fashion, "data_files", lambda: [Path(fashion.__file__)])
        assert build.model_key(bundle) != base
    assert build.model_key(bundle) == base


def test_missing_data_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fashion, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        build.model_key(discover()["fashion"])
