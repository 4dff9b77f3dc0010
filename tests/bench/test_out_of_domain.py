"""The out-of-domain text sets: the sentiment model's own annotators' files for other genres, read with
the rule that chose its training snippets, in a fixed seeded order."""

from __future__ import annotations

import csv

import pytest

from bench.eval.__main__ import parse
from bench.eval.models import MODELS, OUT_OF_DOMAIN, out_of_domain_texts
from model_store.recipes.sentiment import data_file
from tests.bundles import require_release


def file_texts(stem: str) -> list[str]:
    """An independent reading of the ground-truth TSV: every text whose mean score is at least 0.5 away
    from neutral, in file order."""
    with (data_file().parent / f"{stem}_GroundTruth.txt").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["id", "sentiment", "text"]
    return [text.strip() for _, score, text in rows[1:] if abs(float(score)) >= 0.5]


@pytest.mark.parametrize(
    ("name", "count"), [("sentiment-tweets", 3432), ("sentiment-amazon", 2985), ("sentiment-nyt", 2970)]
)
def test_each_set_is_its_file_with_near_neutral_texts_dropped_in_a_fixed_order(name: str, count: int) -> None:
    stem, _ = OUT_OF_DOMAIN[name]
    texts, expected = out_of_domain_texts(stem), file_texts(stem)
    assert len(texts) == len(expected) == count and sorted(texts) == sorted(expected)
    assert texts == out_of_domain_texts(stem) and texts[:20] != expected[:20]  # seeded, and shuffled
    assert all(texts)


def test_the_sets_are_models_the_command_line_accepts() -> None:
    for name in OUT_OF_DOMAIN:
        assert name in MODELS and parse(["--model", name]).model == name


def test_a_set_is_the_sentiment_model_on_other_texts() -> None:
    require_release("sentiment")
    subject = MODELS["sentiment-tweets"]()
    assert subject.texts == out_of_domain_texts("tweets") and subject.name == "sentiment"
    assert subject.model.config.num_labels == 2 and subject.max_length == 128
    assert "out-of-domain" in subject.description and "tweets_GroundTruth.txt" in subject.description
    assert "held-out split" not in subject.description
