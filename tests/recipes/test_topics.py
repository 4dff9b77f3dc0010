"""The topics recipe without training: the BBC corpus, its de-duplicated seeded split, labels in the
bundle's order, and what its model key tracks."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from model_store.recipes import build, topics
from model_store.recipes.bundles import discover


def test_articles_are_distinct_and_labelled_by_folder_in_the_bundles_order() -> None:
    bundle = discover()["topics"]
    assert bundle.labels == topics.FOLDERS  # label y is the y-th folder: it must be the bundle's y-th label
    articles = topics.load_articles()
    assert len(articles) == 2125 == len({text for text, _ in articles})  # 2,225 files, 100 exact copies
    counts = Counter(bundle.labels[y] for _, y in articles)
    assert set(counts) == set(bundle.labels) and min(counts.values()) > 300
    assert all("\n" not in text and "  " not in text for text, _ in articles)


def test_split_is_seeded_and_disjoint() -> None:
    train, test = topics.split()
    assert (train, test) == topics.split()
    assert len(test) == topics.TEST_SIZE and len(train) + len(test) == len(topics.load_articles())
    assert not {text for text, _ in train} & {text for text, _ in test}
    assert len({y for _, y in test}) == 5
    assert topics.training_items() == [text for text, _ in train]


def test_model_key_tracks_what_shapes_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = discover()["topics"]
    base = build.model_key(bundle)
    assert build.model_key(replace(bundle, max_length=256)) != base
    with monkeypatch.context() as m:
        m.setattr(topics, "data_sha256", lambda: "0" * 64)
        assert build.model_key(bundle) != base
    assert build.model_key(bundle) == base
