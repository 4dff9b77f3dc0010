"""The learned explainer (``amortized_shapley``, attnserve/methods/amortized.py): its build stages.

A bundle's ``amortized`` section declares it. `with_amortized`:
1. draws training inputs (seeded) from the model's own training split (its recipe's
   ``training_items``), never its held-out set, and has shapley_targets.py compute their Shapley values
   in the masking game, cached per block on their own key (model, inputs, teacher settings and the
   teacher's code), so retuning the network never recomputes them. ``extra_inputs`` more inputs may
   follow with fewer orders each (``extra_permutations``): noisy but unbiased targets on more inputs
   teach more than clean ones on few at the same teacher cost (stochastic amortization, Covert et al.,
   NeurIPS 2024); they only ever train, validation stays on the first, cleaner ones. When the
   training split is used up, ``unlabelled_inputs`` lines of unlabelled text (``unlabelled``: a source
   in UNLABELLED) follow in the same way: the teacher needs no label, only the model;
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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_store.recipes import movie_dialog, shapley_targets
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
DRAW_STRIDE = 100  # draw d of the extra inputs' block k is block k + 100·d (its own orders)
PHRASE_BLOCKS = 200  # the phrases' blocks are numbered from here
PHRASE_MIN_WORDS = 6
# Sources of unlabelled text a bundle may name as ``unlabelled``: each gives its lines in a seeded order.
UNLABELLED: dict[str, Callable[[], list[str]]] = {"movie_dialog": movie_dialog.lines}


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
    unlabelled: str = ""  # a source in UNLABELLED: its first ``unlabelled_inputs`` lines follow the extra
    unlabelled_inputs: int = 0  # inputs, with ``extra_permutations`` orders each, training only
    draws: int = 1  # independent draws of the extra inputs' targets, averaged (draw d: blocks + DRAW_STRIDE·d)
    phrase_seed: int = 0  # not 0: one seeded sub-phrase of each training sentence trains too (``phrases``)
    subgame: float = 0.0  # the first network's only: the share the served subgame pass masks (0: none)


def load_settings(bundle: Bundle) -> Settings:
    """The bundle's section (the first network's settings), with its ``quick`` overrides under the quick
    budget (a quick ``epochs`` replaces the head's); unknown keys fail."""
    spec = with_budget(bundle.amortized or {})
    spec.pop("members", None)
    head = spec.pop("head", {})
    positions = spec.pop("teacher_positions", bundle.max_length or 0)
    try:
        return Settings(**{**head, **spec}, modality=bundle.modality, positions=positions, budget=budget())
    except TypeError as error:
        raise ValueError(f"{bundle.folder}/bundle.yaml, amortized: {error}") from None


def load_members(bundle: Bundle) -> list[Settings]:
    """Every network's settings, the first network's first: each entry of ``members`` overrides the
    first's settings (its ``head`` key by key, its own ``quick`` under the quick budget); a member's
    ``subgame`` is not its own to set."""
    first = load_settings(bundle)
    members = [first]
    for number, spec in enumerate(with_budget(bundle.amortized or {}).get("members", []), start=1):
        spec = with_budget(spec)
        head = spec.pop("head", {})
        if "subgame" in spec or "subgame" in head:
            raise ValueError(f"{bundle.folder}/bundle.yaml, amortized, member {number}: subgame is the model's")
        try:
            members.append(replace(first, **{**head, **spec}))
        except TypeError as error:
            raise ValueError(f"{bundle.folder}/bundle.yaml, amortized, member {number}: {error}") from None
    return members


@dataclass(frozen=True)
class Subject:
    """The model as this build sees it: the served explainer (at the teacher's length), and the masking
    game and request body of each training input."""

    bundle: Bundle
    checkpoint: Path
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
    image = image_reader(bundle, checkpoint) if bundle.modality == "image" else None
    return Subject(bundle, checkpoint, explainer, image)


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
    """The ``inputs`` then the ``extra_inputs``, drawn in one seeded order, then the unlabelled lines: a
    prefix of it stays the same inputs whatever follows, so adding inputs reuses every cached target."""
    import random

    chosen = list(items)
    random.Random(settings.seed).shuffle(chosen)
    return chosen[: settings.inputs + settings.extra_inputs] + unlabelled(settings)


def unlabelled(settings: Settings) -> list[str]:
    """The first ``unlabelled_inputs`` lines of the ``unlabelled`` source; a source too short fails."""
    if not settings.unlabelled_inputs:
        return []
    if settings.unlabelled not in UNLABELLED:
        raise ValueError(f"unlabelled: {settings.unlabelled!r} is not one of {sorted(UNLABELLED)}")
    lines = UNLABELLED[settings.unlabelled]()
    if len(lines) < settings.unlabelled_inputs:
        raise ValueError(
            f"unlabelled_inputs: {settings.unlabelled} has {len(lines)} lines, not {settings.unlabelled_inputs}"
        )
    return lines[: settings.unlabelled_inputs]


def teachers(items: list[str], settings: Settings) -> list[tuple[list[str], Settings]]:
    """Per cache block (numbered by position in this list): its inputs and the settings its targets are
    computed with; the extra inputs' blocks follow, with their fewer orders, then the unlabelled lines'
    blocks (cut apart, so that adding lines leaves every earlier block as it was)."""
    from dataclasses import replace

    extra = replace(settings, permutations=settings.extra_permutations)
    cut = len(items) - settings.unlabelled_inputs
    return [(part, settings) for part in blocks(items[: settings.inputs], settings)] + [
        (part, extra) for part in blocks(items[settings.inputs : cut], settings) + blocks(items[cut:], settings)
    ]


def split(settings: Settings, count: int) -> tuple[Tensor, Tensor]:
    """(training rows, validation rows) of ``choose``'s list of ``count`` inputs (fewer than asked when the
    pool is small): the validation rows are the last share of the first ``inputs`` (full-order targets);
    every extra input trains."""
    import torch

    first = min(settings.inputs, count)
    cut = first - max(1, round(settings.validation * first))
    return torch.cat([torch.arange(cut), torch.arange(first, count)]), torch.arange(cut, first)


def phrases(chosen: list[str], settings: Settings) -> list[str]:
    """One seeded contiguous span of 40–80 % of the words (at least 3) of each training sentence of 6
    words or more, in row order: in-domain inputs that are not the sentences themselves (SST-style
    phrases). None unless ``phrase_seed`` is set."""
    import random

    if not settings.phrase_seed or settings.modality != "text":
        return []
    rng = random.Random(settings.phrase_seed)
    found = []
    for row in split(settings, len(chosen))[0].tolist():
        words = chosen[row].split()
        if len(words) < PHRASE_MIN_WORDS:
            continue
        size = max(3, round(len(words) * rng.uniform(0.4, 0.8)))
        start = rng.randrange(0, len(words) - size + 1)
        found.append(" ".join(words[start : start + size]))
    return found


@dataclass(frozen=True)
class Block:
    """One cache block of targets: its inputs, the teacher settings, its number (part of its key, and
    what seeds its orders: seed + number) and the row of its first input among the network's inputs.
    Blocks that cover the same rows (more draws) are averaged."""

    items: list[str]
    teacher: Settings
    number: int
    start: int


def plan(pool: list[str], settings: Settings) -> tuple[list[str], list[Block]]:
    """(the network's inputs, the blocks of targets it learns from). ``choose`` and ``teachers`` give
    the inputs and their first draw (blocks numbered by position, as always); further draws of the extra
    inputs are numbered + DRAW_STRIDE · d, and the phrases' blocks from PHRASE_BLOCKS on, so that no
    addition renumbers (and recomputes) a block that is cached."""
    chosen = choose(pool, settings)
    found, start = [], 0
    for number, (part, teacher) in enumerate(teachers(chosen, settings)):
        found.append(Block(part, teacher, number, start))
        start += len(part)
    first = list(found)
    labelled = settings.inputs + settings.extra_inputs
    for draw in range(1, settings.draws):
        found += [
            Block(b.items, b.teacher, b.number + DRAW_STRIDE * draw, b.start)
            for b in first
            if settings.inputs <= b.start < labelled
        ]
    more = phrases(chosen, settings)
    extra = replace(settings, permutations=settings.extra_permutations)
    for number, part in enumerate(blocks(more, settings)):
        found.append(Block(part, extra, PHRASE_BLOCKS + number, start))
        start += len(part)
    numbers = [b.number for b in found]
    if len(first) > DRAW_STRIDE or len(set(numbers)) != len(numbers):
        raise ValueError(f"amortized: {len(found)} target blocks do not fit their numbering; raise block")
    return chosen + more, found


def block_key(bundle: Bundle, model_key: str, block: Block) -> str:
    return targets_key(model_key, block.teacher, block.items, block.number, contents(bundle, block.items))


def assemble(count: int, found: list[tuple[Block, list[Tensor]]]) -> list[Tensor]:
    """Per input, the mean of every draw of its targets."""
    sums: list[Tensor | None] = [None] * count
    draws = [0] * count
    for block, values in found:
        for offset, value in enumerate(values):
            row = block.start + offset
            sums[row] = value.clone() if sums[row] is None else sums[row] + value
            draws[row] += 1
    if any(total is None for total in sums):
        raise RuntimeError("some inputs have no targets")
    return [total / draw for total, draw in zip(sums, draws, strict=True)]


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

HEAD_KEYS = ("inputs", "width", "heads", "layers", "epochs", "lr", "weight_decay", "validation", "seed")


def amortized_key(model_key: str, targets: list[list[str]], members: list[Settings]) -> str:
    """What the stage depends on: per network its targets' keys and its head settings, and the subgame."""
    return digest(
        {
            "stage": "amortized",
            "model": model_key,
            "targets": targets,
            "heads": [{k: getattr(settings, k) for k in HEAD_KEYS} for settings in members],
            "subgame": members[0].subgame,
            "code": code_digest([Path(__file__)]),
            "versions": versions("torch", "transformers", "scipy"),
        }
    )


def planned_keys(bundle: Bundle, model_key: str, pool: list[str]) -> tuple[list[Settings], list, list[list[str]], str]:
    """(every network's settings, plans and target block keys, the stage's key), computed without
    building anything: what `with_amortized` builds under, and what the release check compares."""
    members = load_members(bundle)
    plans = [plan(pool, settings) for settings in members]
    keys = [[block_key(bundle, model_key, block) for block in found] for _, found in plans]
    return members, plans, keys, amortized_key(model_key, keys, members)


def with_amortized(
    bundle: Bundle, checkpoint: Path, model_key: str, inputs: list[str] | None = None
) -> tuple[Path, str]:
    """(stage dir holding `amortized.pt` and the extended model cards, its key), built on the assembled
    ``checkpoint`` (which holds the model card to extend). The inputs are drawn from ``inputs`` when
    given (a packaged model's unlabelled texts, or the paths of its image files), else from the recipe's
    training split. A block of targets two networks share is computed once."""
    pool = bundle.recipe.training_items() if inputs is None else inputs
    members, plans, keys, key = planned_keys(bundle, model_key, pool)
    who = cache(partial(subject, bundle, checkpoint, members[0]))  # loaded once, and only on a cache miss

    found: dict[str, Path] = {}
    for (_, blocks_of), block_keys in zip(plans, keys, strict=True):
        for block, block_key_ in zip(blocks_of, block_keys, strict=True):
            if block_key_ in found:
                continue

            def compute(out: Path, block: Block = block) -> None:
                image_of = image_reader(bundle, checkpoint) if bundle.modality == "image" else None
                shapley_targets.compute_targets(
                    checkpoint,
                    block.teacher.modality,
                    block.teacher.positions,
                    block.items,
                    image_of,
                    block.teacher,
                    out,
                    block.number,
                )

            found[block_key_], _ = cached_model(f"{bundle.name}-shapley-targets", block_key_, compute)
    dirs = [[found[k] for k in block_keys] for block_keys in keys]

    def build(out: Path) -> None:
        _build(bundle.name, checkpoint, who(), members, plans, dirs, out)

    staged, _ = cached_model(f"{bundle.name}-amortized", key, build)
    return staged, key


def network_targets(blocks_of: list[Block], dirs: list[Path], count: int) -> tuple[list[Tensor], float]:
    """(per input, its targets averaged over draws; the teacher's seconds), from the cached blocks."""
    import torch

    parts, seconds = [], 0.0
    for block, found in zip(blocks_of, dirs, strict=True):
        stored = torch.load(found / "targets.pt", weights_only=True)
        if stored["items"] != block.items:
            raise RuntimeError(f"{found}: cached targets are for other inputs")
        parts.append((block, stored["values"]))
        seconds += sum(stored["seconds"])
    return assemble(count, parts), seconds


def _build(
    name: str, model_dir: Path, who: Any, members: list[Settings], plans: list, dirs: list[list[Path]], out: Path
) -> None:
    import torch

    from attnserve.methods.amortized import FILE_NAME, Amortizer, save_amortizer
    from model_store.recipes.training import set_threads

    threads = set_threads()
    started = time.perf_counter()
    networks, reports, teacher_seconds, held_aside = [], [], 0.0, None
    for number, (settings, (items, blocks_of), found) in enumerate(zip(members, plans, dirs, strict=True)):
        values, seconds = network_targets(blocks_of, found, len(items))
        teacher_seconds += seconds
        data = capture_features(who, items, values)
        training, validation = split(settings, len(items))
        valid_items = [items[i] for i in validation]
        if held_aside not in (None, valid_items):
            raise ValueError(f"{name}: network {number} is validated on other inputs than the first")
        held_aside = valid_items
        train, valid = data.take(training), data.take(validation)
        del data
        curve = []
        shares = CURVE if number == 0 else (1.0,)  # the first network's learning curve; the others' end point
        for size in sorted({max(2, round(share * len(training))) for share in shares}):
            head, fitted = fit_head(train.take(torch.arange(size)), valid, who.model.config, settings)
            report = validate(head, who, valid_items, valid)
            curve.append({"training_inputs": size, **fitted, **report})
            log(name, f"amortized_shapley network {number} on {size} training inputs: validation {report}")
        networks.append(head)
        reports.append({"settings": asdict(settings), "training_inputs": len(training), "learning_curve": curve})
    amortizer = Amortizer(networks, members[0].subgame)
    save_amortizer(amortizer, out / FILE_NAME, {})
    served = validate_served(who, out / FILE_NAME, held_aside)
    log(name, f"amortized_shapley as served ({len(networks)} networks, subgame {members[0].subgame}): {served}")
    first = reports[0]
    meta = {
        "model": name,
        "budget": members[0].budget,
        "settings": first["settings"],
        "training_inputs": first["training_inputs"],
        "validation_inputs": len(held_aside),
        "validation": first["learning_curve"][-1],
        "learning_curve": first["learning_curve"],
        "network": asdict(networks[0].config),
        "members": [
            {
                "settings": report["settings"],
                "training_inputs": report["training_inputs"],
                "network": asdict(network.config),
                "validation": report["learning_curve"][-1],
            }
            for report, network in zip(reports[1:], networks[1:], strict=True)
        ],
        "subgame": members[0].subgame,
        "served": served,
        "teacher_seconds": round(teacher_seconds, 1),
        "train_seconds": round(time.perf_counter() - started, 1),
        "threads": threads,
        "versions": versions("torch", "transformers"),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_amortizer(amortizer, out / FILE_NAME, meta)
    card = json.loads((model_dir / "model_card.json").read_text())
    shown = ("budget", "training_inputs", "validation_inputs", "validation", "learning_curve", "members", "served")
    card["amortized_shapley"] = {k: meta[k] for k in (*shown, "teacher_seconds")}
    markdown = (model_dir / "MODEL_CARD.md").read_text()
    (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text("\n\n".join(filter(None, [markdown.rstrip("\n"), render_summary(meta)])))


def validate_served(who: Any, stored: Path, items: list[str]) -> dict[str, float]:
    """comp/suff on the validation inputs of ``amortized_shapley`` as a server runs it: the stored file,
    loaded by the served loader beside the checkpoint (every network, the subgame pass)."""
    import tempfile

    import numpy as np
    import torch

    from attnserve.explain import ModelInfo
    from attnserve.faithfulness import faithfulness
    from attnserve.loading import load_explainer
    from attnserve.methods.amortized import FILE_NAME, NAME

    checkpoint = who.checkpoint
    with tempfile.TemporaryDirectory() as folder:
        view = Path(folder)
        for path in checkpoint.iterdir():
            (view / path.name).symlink_to(path.resolve())
        (view / FILE_NAME).symlink_to(stored.resolve())
        served = {
            "modality": who.bundle.modality,
            "max_length": getattr(who.explainer, "max_length", 0),
            "default_methods": [],
        }
        explainer = load_explainer(view, served, ModelInfo(who.bundle.name, "build"))
        found: dict[str, list[float]] = {"comp": [], "suff": []}
        for item in items:
            (outcome,) = explainer.explain([({**who.body(item), "methods": [NAME]}, None)])
            (scores,) = [v for k, v in outcome["attributions"][NAME].items() if k in ("tokens", "patches")]
            metrics = faithfulness(who.game(item), torch.tensor(scores, dtype=torch.float32))
            found["comp"].append(metrics["comp"])
            found["suff"].append(metrics["suff"])
    return {key: round(float(np.mean(values)), 4) for key, values in found.items()}


def render_summary(meta: dict) -> str:
    """The model card's section on it: how each network was trained, how well it did on validation, and
    how the served method (their mean, and the subgame pass) did there."""
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
        + f" ({meta['teacher_seconds']:.0f} s of teacher time for every network). Budget: {meta['budget']}. "
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
    if meta.get("members"):
        lines += [
            "",
            "More networks, each on its own targets (the same validation inputs); the served estimate is the "
            "mean of all of them:",
            "",
            "| network | its targets | training inputs | width | ρ | comp | suff |",
            "|---|---|---|---|---|---|---|",
        ]
        for number, member in enumerate(meta["members"], start=1):
            v = member["validation"]
            lines.append(
                f"| {number} | {describe_targets(member['settings'])} | {member['training_inputs']} | "
                f"{member['network']['width']} | {v['rho']:.3f} | {v['comp']:.3f} | {v['suff']:.3f} |"
            )
    served = meta["served"]
    subgame = meta["subgame"]
    lines += [
        "",
        f"As served ({1 + len(meta.get('members', []))} network(s)"
        + (f", then one forward pass without the top {subgame:.0%} re-ranking the rest" if subgame else "")
        + f"), on the same validation inputs: comp {served['comp']:.3f}, suff {served['suff']:.3f}.",
    ]
    return "\n".join(lines) + "\n"


def describe_targets(s: dict) -> str:
    """What a member network learns from beyond the first network's inputs, in a few words."""
    parts = []
    if s.get("draws", 1) > 1:
        parts.append(f"{s['draws'] * s['extra_permutations']} orders on the extra inputs")
    if s.get("phrase_seed"):
        parts.append("plus a sub-phrase of each training sentence")
    if s.get("unlabelled_inputs"):
        parts.append(f"plus {s['unlabelled_inputs']} lines of `{s['unlabelled']}`")
    return ", ".join(parts) or "the first network's"
