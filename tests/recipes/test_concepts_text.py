"""Text concepts: lexicons read from the offline packages, and the sentences each text recipe offers its
concepts (``concept_sentences``) drawn only from its training split, never from its held-out set."""

from __future__ import annotations

import pytest

from model_store.recipes import sentiment, topics
from model_store.recipes.bundles import discover
from model_store.recipes.concepts_text import concept_words, words


def test_words_folds_case_and_typographic_apostrophes() -> None:
    assert words("Don’t see it; it's NOT good.") == {"don't", "see", "it", "it's", "not", "good"}


def test_vader_lexicons() -> None:
    negators = concept_words({"lexicon": "vader_negate"})
    assert {"not", "never", "don't", "without"} <= negators
    positive = concept_words({"lexicon": "vader_valence", "min": 2.0})
    negative = concept_words({"lexicon": "vader_valence", "max": -2.0})
    assert {"great", "love", "beautiful"} <= positive and {"awful", "hate", "horrible"} <= negative
    assert not positive & negative and "good" not in positive  # good is 1.9: below the threshold
    assert all(w.isalpha() for w in positive | negative)  # emoticons left out
    boosters = concept_words({"lexicon": "vader_boosters", "exclude": ["so"]})
    assert {"very", "extremely", "utterly"} <= boosters
    assert not {"barely", "slightly", "so", "kind of"} & boosters  # dampeners, excluded, phrases


def test_empath_category_and_unknown_names() -> None:
    sports = concept_words({"lexicon": "empath", "category": "sports", "exclude": ["play"]})
    assert {"soccer", "tennis", "goalkeeper"} <= sports and "play" not in sports
    with pytest.raises(KeyError, match="no Empath category"):
        concept_words({"lexicon": "empath", "category": "no_such_category"})
    with pytest.raises(ValueError, match="unknown lexicon"):
        concept_words({"lexicon": "afinn"})


def test_rotten_tomatoes_concepts_never_see_the_held_out_sentences() -> None:
    bundle = discover()["sentiment"]
    _, test = sentiment.split()
    source = sentiment.concept_sentences(bundle)
    assert len(source) >= 9070 and {label for _, label in source} == set(bundle.labels)
    assert not {text for text, _ in source} & {text for text, _ in test}


def test_bbc_sentences_come_from_training_articles_only() -> None:
    bundle = discover()["topics"]
    _, test = topics.split()
    source = topics.concept_sentences(bundle)
    assert len(source) > 20000 and {label for _, label in source} == set(bundle.labels)
    low, high = topics.SENTENCE_WORDS
    assert all(low <= len(text.split()) <= high for text, _ in source)
    held_out = {s for text, _ in test for s in topics.sentences(text)}
    assert not {text for text, _ in source} & held_out


def test_sentences_drop_the_headline_chunk_and_fragments() -> None:
    article = (
        "Big win for Wales The side beat England 20-10 on Saturday. Great. Jones said it was the best day of his life."
    )
    assert topics.sentences(article) == ["Jones said it was the best day of his life."]
