"""Recipe for the `fashion` model: a small vision transformer trained from scratch on Fashion-MNIST.

No pretrained ViT is installable offline, so one is trained here (a few CPU minutes) on the Debian
package `dataset-fashion-mnist`. Like `sentiment`, this file holds only what shapes the weights; its
contents (and the shared loop in training.py) are part of the model key.

Preprocessing, shipped as `preprocessor_config.json` and applied by `attnserve.image` when serving:
one grayscale channel, 28×28 pixels, values scaled to [0, 1] then normalised with mean 0.5 and std
0.5 (so to [-1, 1]). Fashion-MNIST garments are light on a dark background; inputs are not inverted.
"""

from __future__ import annotations

import gzip
import importlib.metadata
from pathlib import Path
from typing import Any

from model_store.recipes.archive import digest, file_sha256, log
from model_store.recipes.cards import provenance, write_card

NAME = "fashion"
VERSION = "1.0"
SEED = 1337
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_PACKAGE = "dataset-fashion-mnist (Debian)"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
ID2LABEL = dict(
    enumerate(["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"])
)
IMAGE_SIZE = 28
MEAN, STD = 0.5, 0.5
MIN_ACCURACY = 0.85  # the bar; a model below it is not cached or shipped
ARCHITECTURE = {
    "image_size": IMAGE_SIZE,
    "patch_size": 4,  # a 7×7 patch grid: coarse enough to train fast, fine enough for patch heatmaps
    "num_channels": 1,
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 128,
}
TRAIN_CONFIG = {
    "lr": 2e-3,
    "batch_size": 128,
    "epochs": 6,
    "warmup_ratio": 0.05,
    "weight_decay": 0.05,
    "max_grad_norm": 1.0,
}
EVAL_BATCH = 500


def _check_data() -> None:
    if not DATA_DIR.is_dir():
        raise FileNotFoundError(f"{DATA_DIR} missing: apt-get install -y dataset-fashion-mnist")


def data_files() -> list[Path]:
    _check_data()
    return [DATA_DIR / name for pair in FILES.values() for name in pair]


def _read_idx(path: Path, magic: int, header: int) -> Any:
    """IDX files: a big-endian magic number and dimensions, then raw uint8 values."""
    import numpy as np

    with gzip.open(path, "rb") as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != magic:
        raise ValueError(f"{path} is not an IDX file with magic {magic}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def load_split(split: str) -> tuple[Any, Any]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of the `train` or `test` split."""
    _check_data()
    images_file, labels_file = FILES[split]
    images = _read_idx(DATA_DIR / images_file, 2051, 16).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    labels = _read_idx(DATA_DIR / labels_file, 2049, 8).astype("int64")
    if len(images) != len(labels):
        raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
    return images, labels


def normalise(images: Any) -> Any:
    """uint8 [N, H, W] -> float tensor [N, 1, H, W] as the model expects (see the module docstring)."""
    import torch

    return (torch.tensor(images, dtype=torch.float32)[:, None] / 255.0 - MEAN) / STD


def versions() -> dict[str, str]:
    return {pkg: importlib.metadata.version(pkg) for pkg in ("torch", "transformers")}


def model_key() -> str:
    """Everything that determines the trained weights; any change means retraining."""
    return digest(
        {
            "recipe": file_sha256(Path(__file__)),
            "loop": file_sha256(Path(__file__).with_name("training.py")),
            "data": [file_sha256(p) for p in data_files()],
            "train": TRAIN_CONFIG,
            "architecture": ARCHITECTURE,
            "versions": versions(),
        }
    )


def train(out: Path, key: str) -> None:
    """Train, evaluate on the 10k test set and save weights, image processor and model card into `out`."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    from model_store.recipes.training import accuracy_report, fit, predict, set_threads

    torch.manual_seed(SEED)
    threads = set_threads()
    (train_x, train_y), (test_x, test_y) = load_split("train"), load_split("test")
    x, y, tx = normalise(train_x), torch.as_tensor(train_y), normalise(test_x)
    config = ViTConfig(
        **ARCHITECTURE,
        num_labels=len(ID2LABEL),
        id2label=ID2LABEL,
        label2id={v: k for k, v in ID2LABEL.items()},
        attn_implementation="eager",
    )
    model = ViTForImageClassification(config)
    log(NAME, f"training on {len(x)} images with {threads} threads")
    seconds = fit(model, len(x), lambda idx: model(pixel_values=x[idx], labels=y[idx]).loss, TRAIN_CONFIG, SEED)
    preds = predict(len(tx), lambda idx: model(pixel_values=tx[idx]).logits, EVAL_BATCH)
    metrics = accuracy_report(preds, test_y.tolist(), ID2LABEL)
    log(NAME, f"trained in {seconds:.0f} s; test accuracy {metrics['accuracy']:.4f}")
    if metrics["accuracy"] < MIN_ACCURACY:
        raise RuntimeError(f"test accuracy {metrics['accuracy']} is below the {MIN_ACCURACY} floor")
    model.save_pretrained(out)
    processor = ViTImageProcessorPil(  # saved as a plain ViTImageProcessor config; needs no torchvision
        do_resize=True,
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[MEAN],
        image_std=[STD],
    )
    processor.save_pretrained(out)
    card = model_card(key, {"train": train_y.tolist(), "test": test_y.tolist()}, metrics, seconds, threads)
    write_card(out, card, render_card(card))


def model_card(
    key: str, labels: dict[str, list[int]], metrics: dict[str, Any], seconds: float, threads: int
) -> dict[str, Any]:
    """Provenance shipped with the weights, in the same layout as sentiment's card where fields overlap."""
    return {
        "model_name": NAME,
        "version": VERSION,
        "task": "10-class clothing classification of 28×28 grayscale images",
        "labels": ID2LABEL,
        "architecture": {"class": "ViTForImageClassification (eager attention), trained from scratch", **ARCHITECTURE},
        "preprocessing": {
            "color": "converted to one grayscale channel (Pillow mode L)",
            "resize": f"{IMAGE_SIZE}×{IMAGE_SIZE}, aspect ratio not kept (as ViTImageProcessor does)",
            "scale": "pixel / 255",
            "normalise": f"(x - {MEAN}) / {STD}",
            "polarity": "light garment on dark background, as in Fashion-MNIST; not inverted",
        },
        "data": {
            "source": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), official train/test split",
            "package": DATA_PACKAGE,
            "files": {p.name: file_sha256(p) for p in data_files()},
            "split": "official: 60,000 train, 10,000 test",
        },
        **provenance(key, SEED, labels, ID2LABEL, metrics, seconds, threads, TRAIN_CONFIG, versions()),
    }


def render_card(card: dict[str, Any]) -> str:
    """Human-readable summary of model_card.json, shipped inside the .mar next to it."""
    arch, prep, cfg, metrics = card["architecture"], card["preprocessing"], card["train_config"], card["metrics"]
    lines = [
        f"# {card['model_name']} v{card['version']}",
        "",
        f"Task: {card['task']}; labels {', '.join(card['labels'].values())}.",
        "",
        f"- Model: {arch['class']}; patch {arch['patch_size']}, {arch['num_hidden_layers']} layers, "
        f"{arch['num_attention_heads']} heads, hidden {arch['hidden_size']}, MLP {arch['intermediate_size']}",
        f"- Preprocessing: {prep['color']}; resize {prep['resize']}; {prep['scale']}; {prep['normalise']}; "
        f"{prep['polarity']}",
        f"- Data: {card['data']['source']}; {card['data']['package']}; {card['data']['split']}",
        f"- Test accuracy: **{metrics['accuracy']:.4f}** on {card['sizes']['test']} images "
        f"(per class {metrics['per_class_accuracy']})",
        f"- Training: {cfg['epochs']} epochs, AdamW lr {cfg['lr']}, batch {cfg['batch_size']}, seed {card['seed']}; "
        f"{card['train_seconds']} s on {card['train_threads']} CPU threads",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in card['versions'].items())}",
        f"- Cache key {card['cache_key']}, built {card['built_at']}",
        "",
    ]
    return "\n".join(lines)
