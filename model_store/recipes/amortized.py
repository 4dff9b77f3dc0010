"""The learned explainer built into an archive (``amortized_shapley``, attnserve/methods/amortized.py).

`model_store/<model>/amortized.yaml` declares it. At archive build `with_amortized`:
1. draws training inputs (seeded) from the model's own training split, never its held-out set, and
   computes their Shapley values in the [MASK] game (shapley_targets.py), cached on their own key
   (model, inputs, teacher settings and code), so retuning the network never recomputes them;
2. runs the served capture pass over the same inputs for the network's features;
3. fits the network on most of them, keeps the epoch with the best loss on the rest (the validation
   inputs), and reports there: Spearman ρ against the targets, comprehensiveness and sufficiency of
   the network and of the targets themselves, and a learning curve over the number of training inputs;
4. stages the model's files plus `amortized.pt` (with its report), and model cards (`model_card.json`,
   `MODEL_CARD.md`) that carry the report.

``ATTNSERVE_AMORTIZED_BUDGET=quick`` applies the file's ``quick`` overrides (a few inputs, few orders,
few epochs): CI and tests build in seconds what a release builds in minutes, cached under its own key.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_store.recipes.archive import cached_model, digest, file_sha256, log
from model_store.recipes.concepts import _link_model

if TYPE_CHECKING:
    from torch import Tensor

CONFIG_FILE = "amortized.yaml"
BUDGET_ENV = "ATTNSERVE_AMORTIZED_BUDGET"
_ROOT = Path(__file__).resolve().parents[2]
TEACHER_CODE = (_ROOT / "model_store/recipes/shapley_targets.py", _ROOT / "attnserve/probe.py")
HEAD_CODE = (
    Path(__file__).resolve(),
    _ROOT / "attnserve/methods/amortized.py",
    _ROOT / "attnserve/methods/relevance.py",
    _ROOT / "attnserve/capture.py",
)
CURVE = (0.125, 0.25, 0.5, 1.0)  # shares of the training inputs the learning curve fits on


@dataclass(frozen=True)
class Settings:
    modality: str  # text | image
    inputs: int  # training + validation inputs
    validation: float  # share of them held aside
    max_length: int  # positions a text input is cut to (cost ∝ n² · orders); ignored for images
    permutations: int  # orders per input, in antithetic pairs
    batch: int  # perturbed inputs per forward
    seed: int
    hidden: int
    epochs: int
    lr: float
    weight_decay: float
    budget: str  # "full" or "quick"
    block: int = 0  # targets are computed and cached per block of this many inputs (0: one block)


def load_settings(path: Path) -> Settings:
    """The file, with its ``quick`` section applied when the budget says so; unknown keys fail the build."""
    import yaml

    spec = yaml.safe_load(path.read_text()) or {}
    quick = spec.pop("quick", {})
    head = spec.pop("head", {})
    budget = os.environ.get(BUDGET_ENV, "full")
    if budget not in ("full", "quick"):
        raise ValueError(f"{BUDGET_ENV} must be 'full' or 'quick', got {budget!r}")
    merged = {**spec, **head, **(quick if budget == "quick" else {})}
    try:
        return Settings(**merged, budget=budget)
    except TypeError as error:
        raise ValueError(f"{path}: {error}") from None


# ---- the model's own training inputs (never its held-out split) ------------------------------------


def training_items(name: str) -> list[str]:
    """Text inputs (or ``train/<index>`` image names) of the model's training split, in its own order."""
    from model_store.recipes import fashion, sentiment, topics

    if name == sentiment.NAME:
        return [text for text, _ in sentiment.split(sentiment.load_examples(sentiment.data_file()))[0]]
    if name == topics.NAME:
        return [text for text, _ in topics.split(topics.load_articles())[0]]
    if name == fashion.NAME:
        return [f"train/{i}" for i in range(len(fashion.load_split("train")[1]))]
    raise ValueError(f"no training inputs known for model {name!r}")


def subject(name: str, model_dir: Path, settings: Settings, items: list[str]) -> Any:
    """The harness's view of the model (bench.eval.models): request bodies, rows with the masking game."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, ViTForImageClassification

    from attnserve.image import ImageSpec
    from bench.eval.models import EvalModel, ImageEvalModel
    from model_store.recipes import fashion

    if settings.modality == "text":
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        return EvalModel(name, model.eval().requires_grad_(False), tokenizer, settings.max_length, items, "train")
    model = ViTForImageClassification.from_pretrained(model_dir, attn_implementation="eager")
    images, _ = fashion.load_split("train")
    spec = ImageSpec.from_model_dir(model_dir)
    return ImageEvalModel(name, model.eval().requires_grad_(False), spec, images, items, "train")


def choose(items: list[str], settings: Settings) -> list[str]:
    import random

    chosen = list(items)
    random.Random(settings.seed).shuffle(chosen)
    return chosen[: settings.inputs]


# ---- 1. targets ---------------------------------------------------------------------------------------


def blocks(items: list[str], settings: Settings) -> list[list[str]]:
    """The inputs cut into cache blocks: raising ``inputs`` by whole blocks reuses every earlier one."""
    size = settings.block or len(items)
    return [items[start : start + size] for start in range(0, len(items), size)]


def targets_key(model_key: str, settings: Settings, items: list[str], block: int = 0) -> str:
    """What one block's targets depend on; block k > 0 draws its orders from seed + k."""
    return digest(
        {
            "model": model_key,
            **({"block": block} if block else {}),
            "items": digest({"items": items}),
            "teacher": {k: getattr(settings, k) for k in ("max_length", "permutations", "seed", "modality")},
            "code": {p.name: file_sha256(p) for p in TEACHER_CODE},
            "torch": importlib.metadata.version("torch"),
        }
    )


def compute_targets(who: Any, items: list[str], settings: Settings, out: Path, block: int = 0) -> None:
    """targets.pt: per input, its players' Shapley values (in player order) and the seconds it took."""
    import torch
    from tqdm import tqdm

    from model_store.recipes.shapley_targets import permutation_shapley
    from model_store.recipes.training import set_threads

    set_threads()
    generator = torch.Generator().manual_seed(settings.seed + block)
    values, seconds = [], []
    for item in tqdm(items, desc=f"shapley targets, block {block} ({settings.permutations} orders)", unit="input"):
        started = time.perf_counter()
        row = who.row(item)
        game = row.presence_probability
        values.append(permutation_shapley(game, row.n, settings.permutations, generator, settings.batch))
        seconds.append(time.perf_counter() - started)
    torch.save({"items": items, "values": values, "seconds": seconds}, out / "targets.pt")


# ---- 2. features ----------------------------------------------------------------------------------------


@dataclass
class Dataset:
    tokens: Tensor  # [N, T, F]
    rows: Tensor  # [N, R]
    players: Tensor  # [N, T] bool
    targets: Tensor  # [N, T], zero outside players

    def take(self, index: Tensor) -> Dataset:
        return Dataset(self.tokens[index], self.rows[index], self.players[index], self.targets[index])


def capture_features(who: Any, items: list[str], values: list[Tensor], batch: int = 32) -> Dataset:
    """The served explainer's own encoding and capture pass over each input, padded to one length."""
    import torch

    from attnserve.capture import capture
    from attnserve.methods.amortized import FEATURE_NEEDS, features

    explainer = who.explainer(1)
    parts = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        encoded = [explainer.encode(explainer.parse(who.body(item), None)) for item in chunk]
        collated = explainer.collate(encoded)
        tokens, rows = features(capture(explainer.model, collated.inputs, collated.players, FEATURE_NEEDS))
        goal = torch.zeros(collated.players.shape)
        for i, phi in enumerate(values[start : start + batch]):
            goal[i, collated.players[i]] = phi
        parts.append(Dataset(tokens, rows, collated.players, goal))
    width = max(part.players.shape[1] for part in parts)

    def padded(x: Tensor) -> Tensor:
        """Zeros (False) appended along positions, dim 1, up to ``width``."""
        return torch.nn.functional.pad(x, [0, 0] * (x.dim() - 2) + [0, width - x.shape[1]])

    return Dataset(
        tokens=torch.cat([padded(part.tokens) for part in parts]),
        rows=torch.cat([part.rows for part in parts]),
        players=torch.cat([padded(part.players) for part in parts]),
        targets=torch.cat([padded(part.targets) for part in parts]),
    )


# ---- 3. the network ----------------------------------------------------------------------------------------


def row_loss(predicted: Tensor, data: Dataset) -> Tensor:
    """Squared error per row, divided by the row's mean squared target: every input weighs the same,
    whether its prediction was confident (large values) or not, so the ranking inside each row is learnt."""
    weights = data.players.float()
    n = weights.sum(1).clamp(min=1)
    error = ((predicted - data.targets) ** 2 * weights).sum(1) / n
    scale = (data.targets**2 * weights).sum(1) / n
    return (error / (scale + 1e-8)).mean()


def fit_head(train: Dataset, valid: Dataset, signals: list[str], layers: int, settings: Settings) -> tuple[Any, dict]:
    """Adam over seeded mini-batches; the epoch with the lowest validation loss is kept."""
    import torch

    from attnserve.methods.amortized import AmortizedShapley, HeadConfig

    torch.manual_seed(settings.seed)
    head = AmortizedShapley(HeadConfig(tuple(signals), layers, settings.hidden))
    with torch.no_grad():
        x = head.inputs(train.tokens, train.rows, train.players)[train.players]
        head.shift.copy_(x.mean(0))
        head.scale.copy_(x.std(0).clamp(min=1e-6))
        head.target_scale.copy_(train.targets[train.players].std().clamp(min=1e-6))
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed)
    best = (float("inf"), 0, {k: v.clone() for k, v in head.state_dict().items()})
    for epoch in range(settings.epochs):
        head.train()
        for index in torch.randperm(len(train.tokens), generator=generator).split(32):
            part = train.take(index)
            loss = row_loss(head(part.tokens, part.rows, part.players), part)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head.eval()
        with torch.no_grad():
            valid_loss = float(row_loss(head(valid.tokens, valid.rows, valid.players), valid))
        if valid_loss < best[0]:
            best = (valid_loss, epoch + 1, {k: v.clone() for k, v in head.state_dict().items()})
    head.load_state_dict(best[2])
    return head.eval().requires_grad_(False), {"valid_loss": round(best[0], 4), "best_epoch": best[1]}


def validate(head: Any, who: Any, items: list[str], data: Dataset) -> dict[str, float]:
    """Mean over validation inputs: ρ against the targets, and comp/suff of the network and the targets."""
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from bench.eval.metrics import faithfulness

    with torch.no_grad():
        predicted = head(data.tokens, data.rows, data.players)
    found: dict[str, list[float]] = {"rho": [], "comp": [], "suff": [], "teacher_comp": [], "teacher_suff": []}
    for i, item in enumerate(items):
        mask = data.players[i]
        mine, goal = predicted[i, mask], data.targets[i, mask]
        if len(goal) > 1:
            found["rho"].append(float(spearmanr(mine.numpy(), goal.numpy())[0]))
        row = who.row(item)
        for prefix, scores in (("", mine), ("teacher_", goal)):
            metrics = faithfulness(row, scores)
            found[f"{prefix}comp"].append(metrics["comp"])
            found[f"{prefix}suff"].append(metrics["suff"])
    return {key: round(float(np.nanmean(values)), 4) for key, values in found.items()}


# ---- 4. staging ----------------------------------------------------------------------------------------------


def amortized_key(previous_key: str, targets: list[str], settings: Settings) -> str:
    return digest(
        {
            "model": previous_key,
            "targets": targets,
            "head": {k: getattr(settings, k) for k in ("hidden", "epochs", "lr", "weight_decay", "validation", "seed")},
            # by repo path: the recipe and the method module are both named amortized.py
            "code": {p.relative_to(_ROOT).as_posix(): file_sha256(p) for p in HEAD_CODE},
        }
    )


def with_amortized(name: str, model_dir: Path, model_key: str, root: Path) -> tuple[Path, str]:
    """(dir to pack, key for its archive stamp): ``model_dir`` itself when the model declares no learned
    explainer. ``model_key`` is the key of ``model_dir`` (the model's, or its concepts' when it has CAVs)."""
    path = root / "model_store" / name / CONFIG_FILE
    if not path.is_file():
        return model_dir, model_key
    settings = load_settings(path)
    items = choose(training_items(name), settings)
    who = cache(partial(subject, name, model_dir, settings, items))  # loaded once, and only on a cache miss

    targets_dirs, tkeys = [], []
    for block, part in enumerate(blocks(items, settings)):
        tkeys.append(targets_key(model_key, settings, part, block))

        def compute(out: Path, part: list[str] = part, block: int = block) -> None:
            compute_targets(who(), part, settings, out, block)

        found, _ = cached_model(f"{name}-shapley-targets", tkeys[-1], compute)
        targets_dirs.append(found)
    key = amortized_key(model_key, tkeys, settings)

    def build(out: Path) -> None:
        _build(name, model_dir, who(), items, settings, targets_dirs, out)

    staged, _ = cached_model(f"{name}-amortized", key, build)
    return staged, key


def _build(
    name: str, model_dir: Path, who: Any, items: list[str], settings: Settings, targets_dirs: list[Path], out: Path
) -> None:
    import torch

    from attnserve.capture import model_signal_names
    from attnserve.methods.amortized import FILE_NAME, save_amortizer
    from model_store.recipes.training import set_threads

    threads = set_threads()
    parts = [torch.load(found / "targets.pt", weights_only=True) for found in targets_dirs]
    stored = {key: [x for part in parts for x in part[key]] for key in ("items", "values", "seconds")}
    if stored["items"] != items:
        raise RuntimeError(f"{', '.join(map(str, targets_dirs))}: cached targets are for other inputs")
    started = time.perf_counter()
    data = capture_features(who, items, stored["values"])
    cut = len(items) - max(1, round(settings.validation * len(items)))
    train, valid = data.take(torch.arange(cut)), data.take(torch.arange(cut, len(items)))
    signals, layers = model_signal_names(who.model), who.model.config.num_hidden_layers
    curve = []
    for size in sorted({max(2, round(share * cut)) for share in CURVE}):
        head, fitted = fit_head(train.take(torch.arange(size)), valid, signals, layers, settings)
        report = validate(head, who, items[cut:], valid)
        curve.append({"training_inputs": size, **fitted, **report})
        log(name, f"amortized_shapley on {size} training inputs: validation {report}")
    seconds = time.perf_counter() - started
    meta = {
        "model": name,
        "budget": settings.budget,
        "settings": asdict(settings),
        "training_inputs": cut,
        "validation_inputs": len(items) - cut,
        "validation": curve[-1],
        "learning_curve": curve,
        "teacher_seconds": round(sum(stored["seconds"]), 1),
        "train_seconds": round(seconds, 1),
        "threads": threads,
        "versions": {p: importlib.metadata.version(p) for p in ("torch", "transformers")},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _link_model(model_dir, out)
    save_amortizer(head, out / FILE_NAME, meta)
    # Both cards are hard links to the cached model's: replace them, never write through them.
    card_path, markdown_path = out / "model_card.json", out / "MODEL_CARD.md"
    card = json.loads(card_path.read_text())
    shown = ("budget", "training_inputs", "validation_inputs", "validation", "learning_curve", "teacher_seconds")
    card["amortized_shapley"] = {k: meta[k] for k in shown}
    markdown = markdown_path.read_text() if markdown_path.is_file() else ""
    for path in (card_path, markdown_path):
        path.unlink(missing_ok=True)
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    markdown_path.write_text("\n\n".join(filter(None, [markdown.rstrip("\n"), render_summary(meta)])))


def render_summary(meta: dict) -> str:
    """The model card's section on it: how it was trained and how well it did on validation."""
    s = meta["settings"]
    lines = [
        "## Learned explainer (`amortized_shapley`)",
        "",
        f"Targets: Shapley values of p(target) in the [MASK] game, {s['permutations']} sampled orders per input "
        f"(antithetic pairs), on {meta['training_inputs'] + meta['validation_inputs']} inputs of the model's "
        f"training split ({meta['teacher_seconds']:.0f} s). Budget: {meta['budget']}. "
        f"Network: {s['hidden']} hidden units, best of {s['epochs']} epochs on the validation loss.",
        "",
        "Validation inputs (held aside from the training inputs, never the model's held-out test set): ρ is "
        "the mean Spearman correlation with the targets; comp ↑ / suff ↓ follow the paper protocol "
        "(bins 0/10/20/50 %, [MASK]); teacher = the targets themselves used as the ranking.",
        "",
        "| training inputs | ρ | comp | suff | teacher comp | teacher suff | best epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for point in meta["learning_curve"]:
        lines.append(
            f"| {point['training_inputs']} | {point['rho']:.3f} | {point['comp']:.3f} | {point['suff']:.3f} | "
            f"{point['teacher_comp']:.3f} | {point['teacher_suff']:.3f} | {point['best_epoch']} |"
        )
    return "\n".join(lines) + "\n"
