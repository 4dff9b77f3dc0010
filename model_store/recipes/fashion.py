"""Recipe of the `fashion` model: a small vision transformer trained from scratch on Fashion-MNIST.

No pretrained ViT is installable offline, so one is trained here (minutes of CPU) on the Debian package
`dataset-fashion-mnist`; its facts (labels, architecture, training settings, serving) are in
model_store/fashion/bundle.yaml. The whole model ships: it is 0.6 MB.

Preprocessing, shipped as `preprocessor_config.json` and applied by `attnserve.image` when serving:
one grayscale channel, 28×28 pixels, values scaled to [0, 1] then normalised with mean 0.5 and std
0.5 (so to [-1, 1]). Fashion-MNIST garments are light on a dark background; inputs are not inverted.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from model_store.recipes.bundles import Bundle, with_budget
from model_store.recipes.cards import provenance, write_card
from model_store.recipes.keys import file_sha256

SEED = 1337
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_PACKAGE = "dataset-fashion-mnist (Debian)"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IMAGE_SIZE = 28
MEAN, STD = 0.5, 0.5
WEIGHT_FILES = ("model.safetensors", "config.json", "preprocessor_config.json")
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


@cache
def load_split(split: str) -> tuple[Any, Any]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of the `train` or `test` split; read once per process."""
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


def data_sha256() -> str:
    """One sha256 over the four files' names and sha256s: pins the data in the key and the card."""
    return hashlib.sha256("".join(f"{p.name}\t{file_sha256(p)}\n" for p in data_files()).encode()).hexdigest()


def training_items() -> list[str]:
    """Inputs the learned explainer may learn from, by name: ``train/<index>`` (see `image`)."""
    return [f"train/{i}" for i in range(len(load_split("train")[1]))]


def image(item: str) -> Any:
    """The uint8 [28, 28] image an item names (``<split>/<index>``)."""
    part, _, index = item.partition("/")
    return load_split(part)[0][int(index)]


def train(out: Path, bundle: Bundle) -> None:
    """Train, evaluate on the 10k test set and save weights, image processor and model card into `out`."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    from model_store.recipes.training import accuracy_report, fit, predict, set_threads

    settings = with_budget(bundle.model)
    torch.manual_seed(settings["seed"])
    threads = set_threads()
    (train_x, train_y), (test_x, test_y) = load_split("train"), load_split("test")
    if "train_examples" in settings:  # the quick budget: a slice of each side
        train_x, train_y = train_x[: settings["train_examples"]], train_y[: settings["train_examples"]]
        test_x, test_y = test_x[: settings["test_examples"]], test_y[: settings["test_examples"]]
    x, y, tx = normalise(train_x), torch.as_tensor(train_y), normalise(test_x)
    config = ViTConfig(
        **settings["architecture"],
        num_labels=len(bundle.labels),
        id2label=bundle.id2label,
        label2id={v: k for k, v in bundle.id2label.items()},
        attn_implementation="eager",
    )
    model = ViTForImageClassification(config)
    train_config = {**settings["train"], **({"epochs": settings["epochs"]} if "epochs" in settings else {})}
    print(f"[{bundle.name}] training on {len(x)} images with {threads} threads", flush=True)
    loss_of = lambda idx: model(pixel_values=x[idx], labels=y[idx]).loss  # noqa: E731
    seconds = fit(model, len(x), loss_of, train_config, settings["seed"])
    preds = predict(len(tx), lambda idx: model(pixel_values=tx[idx]).logits, EVAL_BATCH)
    metrics = accuracy_report(preds, test_y.tolist(), bundle.id2label)
    print(f"[{bundle.name}] trained in {seconds:.0f} s; test accuracy {metrics['accuracy']:.4f}", flush=True)
    if metrics["accuracy"] < settings["min_accuracy"]:
        raise RuntimeError(f"test accuracy {metrics['accuracy']} is below the {settings['min_accuracy']} floor")
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
    labels = {"train": train_y.tolist(), "test": test_y.tolist()}
    fields = provenance(
        settings["seed"],
        labels,
        bundle.id2label,
        metrics,
        seconds,
        threads,
        {**settings, "train": train_config},
        ("torch", "transformers"),
    )
    write_card(out, model_card(bundle, settings["architecture"], fields))


def assemble(release: Path, out: Path, bundle: Bundle) -> None:
    """The whole model ships, so assembling it is a copy."""
    import shutil

    for name in WEIGHT_FILES:
        shutil.copy2(release / name, out / name)


def model_card(bundle: Bundle, architecture: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_name": bundle.name,
        "version": bundle.version,
        "task": "10-class clothing classification of 28×28 grayscale images",
        "labels": bundle.id2label,
        "architecture": {"class": "ViTForImageClassification (eager attention), trained from scratch", **architecture},
        "method": (
            f"patch {architecture['patch_size']}, {architecture['num_hidden_layers']} layers, "
            f"{architecture['num_attention_heads']} heads, hidden {architecture['hidden_size']}; input one grayscale "
            f"channel, {IMAGE_SIZE}×{IMAGE_SIZE}, pixel / 255 then (x - {MEAN}) / {STD}, light garment on dark "
            "background as in Fashion-MNIST (not inverted)"
        ),
        "data": {
            "source": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017)",
            "package": DATA_PACKAGE,
            "sha256": data_sha256(),
            "filter": "all images",
            "split": "official: 60,000 train, 10,000 test",
        },
        **fields,
    }
