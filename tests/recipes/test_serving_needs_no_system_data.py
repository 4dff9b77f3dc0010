"""`make run` packs the archives before any Debian package is installed (tests/test_make_order.py keeps
it free of apt-get): so packing every model from its committed release set must not read a system
dataset. Here the fashion images are hidden and the stage cache is empty, as on a fresh machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_store.recipes import fashion
from model_store.recipes.build import archive, release_dir
from model_store.recipes.bundles import discover


@pytest.mark.parametrize("name", sorted(discover()))
def test_archive_from_release_set_reads_no_system_data(name: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fashion, "DATA_DIR", tmp_path / "no-dataset-fashion-mnist")
    fashion.load_split.cache_clear()  # images an earlier test read stay in memory: hidden means unread
    monkeypatch.setenv("ATTNSERVE_CACHE", str(tmp_path / "cache"))
    bundle = discover()[name]
    mar = archive(bundle, release_dir(bundle), export_dir=tmp_path / "out")
    assert mar.is_file() and mar.stat().st_size > 0
