"""The learned explainer (``amortized_shapley``, attnserve/methods/amortized.py): its build stages.

A bundle's ``amortized`` section declares it. `with_amortized`:
1. draws training inputs (seeded) from the model's own training split (its recipe's
   ``training_items``), never its held-out set, and has shapley_targets.py compute their Shapley values
   in the masking game, cached per block on their own key (model, inputs, teacher settings and the
   teacher's code), so retuning the network never recomputes them. ``extra_inputs`` more inputs may
   follow with fewer orders each (``extra_permutations``): noisy but unbiased targets on more inputs
   teach more than clean ones on few at the same teacher cost (stochastic amortization, Covert et al.,
   NeurIPS 2024); they only ever train, validation stays on the first, cleaner ones;
2. runs the served capture pass over the same inputs for the network's features;
3. fits the network on most of them, keeps the epoch with the best loss on the rest (the validation
   inputs), and reports there: Spearman ρ against the targets, comprehensiveness and sufficiency of
   the network and of the targets themselves, and a learning curve over the number of training inputs;
4. caches `amortized.pt` (with its report) and the model cards (`model_card.json`, `MODEL_CARD.md`)
   extended with that report.

Under ``ATTNSERVE_BUDGET=quick`` the section's ``quick`` overrides apply (a few inputs, few orders, few
epochs): tests build in seconds what a release builds in an hour, cached under its own key.
"""

from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_store.recipes import shapley_targets
from model_store.recipes.archive import cached_model, digest, log
from model_store.recipes.bundles import Bundle, budget, with_budget
from model_store.recipes.image_files import read_files
from model_store.recipes.keys import code_digest, file_sha256, versions

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from torch import Tensor

    from attnserve.explain import Explainer
    from attnserve.game import Game

CURVE = (0.125, 0.25, 0.5, 1.0)  # shares of the training inputs the learning curve fits on


@dataclass(frozen=True)
class Settings:
    modality: str  # text | image
    inputs: int  # training + validation inputs
    validation: float  # share of them held aside
    positions: int  # positions a text input is cut to for the teacher (cost ∝ n² · orders); 0 for images
    permutations: int  # orders per input, in antithetic pairs
    batch: int  # perturbed inputs per forward
    seed: int
    width: int  # the network's attention width (HeadConfig); 0: the model's hidden size
    heads: int  # 0: the model's attention heads
    layers: int
    epochs: int
    lr: float
    weight_decay: float
    budget: str  # "full" or "quick"
    block: int = 0  # targets are computed and cached per block of this many inputs (0: one block)
    extra_inputs: int = 0  # more training inputs after ``inputs``, with ``extra_permutations`` orders each
    extra_permutations: int = 0


def load_settings(bundle: Bundle) -> Settings:
    """The bundle's section, with its ``quick`` overrides under the quick budget (a quick ``epochs``
    replaces the head's); unknown keys fail."""
    spec = with_budget(bundle.amortized or {})
    head = spec.pop("head", {})
    positions = spec.pop("teacher_positions", bundle.max_length or 0)
    try:
        return Settings(**{**head, **spec}, modality=bundle.modality, positions=positions, budget=budget())
    except TypeError as error:
        raise ValueError(f"{bundle.folder}/bundle.yaml, amortized: {error}") from None


@dataclass(frozen=True)
class Subject:
    """The model as this build sees it: the served explainer (at the teacher's length), and the masking
    game and request body of each training input."""

    bundle: Bundle
    explainer: Explainer
    image: Callable[[str], np.ndarray] | None  # an image item -> uint8 pixels at the model's input size

    @property
    def model(self) -> Any:
        return self.explainer.model

    def game(self, item: str) -> Game:
        from attnserve.image.game import image_game
        from attnserve.text.game import text_game

        if self.bundle.modality == "text":
            return text_game(self.model, self.explainer.tokenizer, item, self.explainer.max_length)
        return image_game(self.model, self.explainer.spec, self.image(item))

    def body(self, item: str) -> dict[str, str]:
        """The request fields that carry the input (an image as base64 PNG, decoded by the served codec)."""
        if self.bundle.modality == "text":
            return {"text": item}
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.image(item)).save(buffer, format="PNG")
        return {"image": base64.b64encode(buffer.getvalue()).decode()}


def subject(bundle: Bundle, checkpoint: Path, settings: Settings) -> Subject:
    """The assembled model behind the served explainer, loaded by the loader the handler uses."""
    from attnserve.explain import ModelInfo
    from attnserve.loading import load_explainer

    served = {"modality": bundle.modality, "max_length": settings.positions, "default_methods": []}
    explainer = load_explainer(checkpoint, served, ModelInfo(bundle.name, "build"))
    explainer.model.requires_grad_(False)
    return Subject(bundle, explainer, image_reader(bundle, checkpoint) if bundle.modality == "image" else None)


def image_reader(bundle: Bundle, checkpoint: Path) -> Callable[[str], np.ndarray]:
    """An image item -> uint8 pixels at the model's input size: the recipe's own items, or a packaged
    model's image files (items are their paths), read as the server reads a request."""
    if bundle.recipe_module:
        return bundle.recipe.image
    from attnserve.image.codec import ImageSpec

    spec = ImageSpec.from_model_dir(checkpoint)
    return lambda item: read_files([Path(item)], spec)[0]


def contents(bundle: Bundle, items: list[str]) -> list[str] | None:
    """The sha256 of each input file when the items are a packaged image model's files, else None (the
    items are the inputs themselves, or the recipe's names for them)."""
    if bundle.modality != "image" or bundle.recipe_module:
        return None
    return [file_sha256(Path(item)) for item in items]


def choose(items: list[str], settings: Settings) -> list[str]:
    """The ``inputs`` then the ``extra_inputs``, drawn in one seeded order: a prefix of it stays the same
    inputs whatever follows, so adding extra inputs reuses every cached target."""
    import random

    chosen = list(items)
    random.Random(settings.seed).shuffle(chosen)
    return chosen[: settings.inputs + settings.extra_inputs]


def teachers(items: list[str], settings: Settings) -> list[tuple[list[str], Settings]]:
    """Per cache block (numbered by position in this list): its inputs and the settings its targets are
    computed with; the extra inputs' blocks follow, with their fewer orders."""
    from dataclasses import replace

    extra = replace(settings, permutations=settings.extra_permutations)
    return [(part, settings) for part in blocks(items[: settings.inputs], settings)] + [
        (part, extra) for part in blocks(items[settings.inputs :], settings)
    ]


def split(settings: Settings, count: int) -> tuple[Tensor, Tensor]:
    """(training rows, validation rows) of ``choose``'s list of ``count`` inputs (fewer than asked when the
    pool is small): the validation rows are the last share of the first ``inputs`` (full-order targets);
    every extra input trains."""
    import torch

    first = min(settings.inputs, count)
    cut = first - max(1, round(settings.validation * first))
    return torch.cat([torch.arange(cut), torch.arange(first, count)]), torch.arange(cut, first)


# ---- 1. targets ---------------------------------------------------------------------------------------


def blocks(items: list[str], settings: Settings) -> list[list[str]]:
    """The inputs cut into cache blocks: raising ``inputs`` by whole blocks reuses every earlier one."""
    size = settings.block or len(items)
    return [items[start : start + size] for start in range(0, len(items), size)] if items else []


def targets_key(
    model_key: str, settings: Settings, items: list[str], block: int = 0, files: list[str] | None = None
) -> str:
    """What one block's targets depend on; block k > 0 draws its orders from seed + k; ``files``: the
    sha256 of the items' files, when the items name files."""
    return digest(
        {
            "stage": "shapley-targets",
            "model": model_key,
            **({"block": block} if block else {}),
            "items": digest({"items": items, **({"files": files} if files else {})}),
            "teacher": {k: getattr(settings, k) for k in ("positions", "permutations", "seed", "modality")},
            "code": code_digest([Path(shapley_targets.__file__)]),
            "versions": versions("torch", "transformers"),
        }
    )


# ---- 2. what the network reads ------------------------------------------------------------------------------


@dataclass
class Dataset:
    hidden: Tensor  # [N, T, D]: the classifier's last hidden states
    real: Tensor  # [N, T] bool: not padding
    players: Tensor  # [N, T] bool
    classes: Tensor  # [N]: the class explained (the predicted one, as in the teacher's game)
    targets: Tensor  # [N, T], zero outside players

    def take(self, index: Tensor) -> Dataset:
        """The rows ``index``, cut to the longest of them (padding costs attention, and teaches nothing)."""
        real = self.real[index]
        width = int(real.any(0).nonzero().max()) + 1
        return Dataset(
            self.hidden[index, :width],
            real[:, :width],
            self.players[index, :width],
            self.classes[index],
            self.targets[index, :width],
        )


def capture_features(who: Any, items: list[str], values: list[Tensor], batch: int = 32) -> Dataset:
    """The served explainer's own encoding and forward pass over each input, padded to one length."""
    import torch

    from attnserve.capture import capture
    from attnserve.methods.amortized import NEEDS

    explainer = who.explainer
    parts = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        encoded = [explainer.encode(explainer.parse(who.body(item), None)) for item in chunk]
        collated = explainer.collate(encoded)
        found = capture(explainer.model, collated.inputs, collated.players, NEEDS)
        goal = torch.zeros(collated.players.shape)
        for i, phi in enumerate(values[start : start + batch]):
            goal[i, collated.players[i]] = phi
        parts.append(Dataset(found.hidden, collated.real, collated.players, found.targets, goal))
    width = max(part.players.shape[1] for part in parts)

    def padded(x: Tensor) -> Tensor:
        """Zeros (False) appended along positions, dim 1, up to ``width``."""
        return torch.nn.functional.pad(x, [0, 0] * (x.dim() - 2) + [0, width - x.shape[1]])

    return Dataset(
        hidden=torch.cat([padded(part.hidden) for part in parts]),
        real=torch.cat([padded(part.real) for part in parts]),
        players=torch.cat([padded(part.players) for part in parts]),
        classes=torch.cat([part.classes for part in parts]),
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


def predict(head: Any, data: Dataset, batch: int = 64) -> Tensor:
    """[N, T] the network's values for ``data`` (evaluation mode, no gradient), in batches."""
    import torch

    head.eval()
    out = torch.zeros(data.targets.shape)
    with torch.no_grad():
        for index in torch.arange(len(data.classes)).split(batch):
            part = data.take(index)
            out[index, : part.real.shape[1]] = head(part.hidden, part.real, part.players, part.classes)
    return out


def fit_head(train: Dataset, valid: Dataset, model_config: Any, settings: Settings) -> tuple[Any, dict]:
    """AdamW with a one-cycle learning rate over seeded mini-batches of 32; the epoch with the lowest
    validation loss is kept, with its weights rounded as the file stores them."""
    import torch

    from attnserve.methods.amortized import AmortizedShapley, HeadConfig, as_stored

    torch.manual_seed(settings.seed)
    width = settings.width or model_config.hidden_size
    heads = settings.heads or model_config.num_attention_heads
    config = HeadConfig(model_config.hidden_size, model_config.num_labels, width, heads, settings.layers)
    head = AmortizedShapley(config)
    with torch.no_grad():
        head.target_scale.copy_(train.targets[train.players].std().clamp(min=1e-6))
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * -(-len(train.classes) // 32)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(settings.seed)
    best = (float("inf"), 0, {k: v.clone() for k, v in head.state_dict().items()})
    for epoch in range(settings.epochs):
        head.train()
        for index in torch.randperm(len(train.classes), generator=generator).split(32):
            part = train.take(index)
            loss = row_loss(head(part.hidden, part.real, part.players, part.classes), part)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        valid_loss = float(row_loss(predict(head, valid), valid))
        if valid_loss < best[0]:
            best = (valid_loss, epoch + 1, {k: v.clone() for k, v in head.state_dict().items()})
    head.load_state_dict(best[2])
    return as_stored(head).eval().requires_grad_(False), {"valid_loss": round(best[0], 4), "best_epoch": best[1]}


def validate(head: Any, who: Any, items: list[str], data: Dataset) -> dict[str, float]:
    """Mean over validation inputs: ρ against the targets, and comp/suff of the network and the targets."""
    import numpy as np
    from scipy.stats import spearmanr

    from attnserve.faithfulness import faithfulness

    predicted = predict(head, data)
    found: dict[str, list[float]] = {"rho": [], "comp": [], "suff": [], "teacher_comp": [], "teacher_suff": []}
    for i, item in enumerate(items):
        mask = data.players[i]
        mine, goal = predicted[i, mask], data.targets[i, mask]
        if len(goal) > 1:
            found["rho"].append(float(spearmanr(mine.numpy(), goal.numpy())[0]))
        row = who.game(item)
        for prefix, scores in (("", mine), ("teacher_", goal)):
            metrics = faithfulness(row, scores)
            found[f"{prefix}comp"].append(metrics["comp"])
            found[f"{prefix}suff"].append(metrics["suff"])
    return {key: round(float(np.nanmean(values)), 4) for key, values in found.items()}


# ---- 4. staging ----------------------------------------------------------------------------------------------


def amortized_key(model_key: str, targets: list[str], settings: Settings) -> str:
    return digest(
        {
            "stage": "amortized",
            "model": model_key,
            "targets": targets,
            "head": {
                k: getattr(settings, k)
                for k in ("inputs", "width", "heads", "layers", "epochs", "lr", "weight_decay", "validation", "seed")
            },
            "code": code_digest([Path(__file__)]),
            "versions": versions("torch", "transformers", "scipy"),
        }
    )


def with_amortized(
    bundle: Bundle, checkpoint: Path, model_key: str, inputs: list[str] | None = None
) -> tuple[Path, str]:
    """(stage dir holding `amortized.pt` and the extended model cards, its key), built on the assembled
    ``checkpoint`` (which holds the model card to extend). The inputs are drawn from ``inputs`` when
    given (a packaged model's unlabelled texts, or the paths of its image files), else from the recipe's
    training split."""
    settings = load_settings(bundle)
    items = choose(bundle.recipe.training_items() if inputs is None else inputs, settings)
    who = cache(partial(subject, bundle, checkpoint, settings))  # loaded once, and only on a cache miss

    targets_dirs, tkeys = [], []
    for block, (part, teacher) in enumerate(teachers(items, settings)):
        tkeys.append(targets_key(model_key, teacher, part, block, contents(bundle, part)))

        def compute(out: Path, part: list[str] = part, block: int = block, teacher: Settings = teacher) -> None:
            image_of = image_reader(bundle, checkpoint) if bundle.modality == "image" else None
            shapley_targets.compute_targets(
                checkpoint, settings.modality, settings.positions, part, image_of, teacher, out, block
            )

        found, _ = cached_model(f"{bundle.name}-shapley-targets", tkeys[-1], compute)
        targets_dirs.append(found)
    key = amortized_key(model_key, tkeys, settings)

    def build(out: Path) -> None:
        _build(bundle.name, checkpoint, who(), items, settings, targets_dirs, out)

    staged, _ = cached_model(f"{bundle.name}-amortized", key, build)
    return staged, key


def _build(
    name: str, model_dir: Path, who: Any, items: list[str], settings: Settings, targets_dirs: list[Path], out: Path
) -> None:
    import torch

    from attnserve.methods.amortized import FILE_NAME, save_amortizer
    from model_store.recipes.training import set_threads

    threads = set_threads()
    parts = [torch.load(found / "targets.pt", weights_only=True) for found in targets_dirs]
    stored = {key: [x for part in parts for x in part[key]] for key in ("items", "values", "seconds")}
    if stored["items"] != items:
        raise RuntimeError(f"{', '.join(map(str, targets_dirs))}: cached targets are for other inputs")
    started = time.perf_counter()
    data = capture_features(who, items, stored["values"])
    training, validation = split(settings, len(items))
    train, valid = data.take(training), data.take(validation)
    curve = []
    for size in sorted({max(2, round(share * len(training))) for share in CURVE}):
        head, fitted = fit_head(train.take(torch.arange(size)), valid, who.model.config, settings)
        report = validate(head, who, [items[i] for i in validation], valid)
        curve.append({"training_inputs": size, **fitted, **report})
        log(name, f"amortized_shapley on {size} training inputs: validation {report}")
    seconds = time.perf_counter() - started
    meta = {
        "model": name,
        "budget": settings.budget,
        "settings": asdict(settings),
        "training_inputs": len(training),
        "validation_inputs": len(validation),
        "validation": curve[-1],
        "learning_curve": curve,
        "network": asdict(head.config),
        "teacher_seconds": round(sum(stored["seconds"]), 1),
        "train_seconds": round(seconds, 1),
        "threads": threads,
        "versions": versions("torch", "transformers"),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_amortizer(head, out / FILE_NAME, meta)
    card = json.loads((model_dir / "model_card.json").read_text())
    shown = ("budget", "training_inputs", "validation_inputs", "validation", "learning_curve", "teacher_seconds")
    card["amortized_shapley"] = {k: meta[k] for k in shown}
    markdown = (model_dir / "MODEL_CARD.md").read_text()
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text("\n\n".join(filter(None, [markdown.rstrip("\n"), render_summary(meta)])))


def render_summary(meta: dict) -> str:
    """The model card's section on it: how it was trained and how well it did on validation."""
    s, n = meta["settings"], meta["network"]
    lines = [
        "## Learned explainer (`amortized_shapley`)",
        "",
        f"Targets: Shapley values of p(target) in the [MASK] game, {s['permutations']} sampled orders per input "
        f"(antithetic pairs), on {s['inputs']} inputs of the model's training split"
        + (
            f", and {s['extra_permutations']} orders on {s['extra_inputs']} more (training only)"
            if s.get("extra_inputs")
            else ""
        )
        + f" ({meta['teacher_seconds']:.0f} s). Budget: {meta['budget']}. "
        f"Network: {n['layers']} attention layer(s) of width {n['width']} ({n['heads']} heads) over the "
        f"classifier's last hidden states, and a per-class head; best of {s['epochs']} epochs on the "
        "validation loss.",
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
