"""The topics recipe without training: the BBC corpus, its de-duplicated seeded split, and the key."""

from __future__ import annotations

from collections import Counter

import pytest

from model_store.recipes import topics


def test_articles_are_distinct_and_labelled_by_folder() -> None:
    articles = topics.load_articles()
    assert len(articles) == 2125 == len({text for text, _ in articles})  # 2,225 files, 100 exact copies
    counts = Counter(topics.ID2LABEL[y] for _, y in articles)
    assert set(counts) == set(topics.LABELS) and min(counts.values()) > 300
    assert all("\n" not in text and "  " not in text for text, _ in articles)


def test_split_is_seeded_and_disjoint() -> None:
    articles = topics.load_articles()
    train, test = topics.split(articles)
    assert (train, test) == topics.split(articles)
    assert len(test) == topics.TEST_SIZE and len(train) + len(test) == len(articles)
    assert not {text for text, _ in train} & {text for text, _ in test}
    assert len({y for _, y in test}) == 5


def test_model_key_tracks_what_shapes_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    base = topics.model_key()
    with monkeypatch.context() as m:
        m.setitem(topics.TRAIN_CONFIG, "max_length", 256)
        assert topics.model_key() != base
    with monkeypatch.context() as m:
        m.setattr(topics, "data_sha256", lambda: "0" * 64)
        assert topics.model_key() != base
    assert topics.model_key() == base
