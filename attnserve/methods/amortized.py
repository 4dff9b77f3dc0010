"""``amortized_shapley``: Shapley values of the masking game, predicted by small transformers that read the
classifier's own last hidden states. The perturbation cost is paid once, at archive build (FastSHAP,
Jethani et al., ICLR 2022); a request pays the prediction's forward pass, the networks, and at most one
more forward pass (the subgame pass below). Sharing the classifier's trunk follows ViT-Shapley (Covert,
Kim, Lee, ICLR 2023), whose explainer is the classifier with one more attention block and an MLP head.

Targets (model_store/recipes/amortized.py): permutation-sampled Shapley values of p(target | x) with
absent tokens set to [MASK] (black patches for images), the game the faithfulness protocol plays, on
the model's training inputs.

Why this network: every token's Shapley value depends on the others (a negation flips its neighbour, a
repeated word shares its credit), so the explainer must see the whole input. The last hidden states
already hold what the classifier made of each token in context; one new attention layer over them
(with the [CLS] position and its summary of the input) and a per-class head read them off. On the
validation inputs of each training split, Spearman ρ with the targets rose from 0.74 to 0.78
(sentiment), 0.58 to 0.70 (fashion) and 0.16 to 0.27 (topics) over the per-token MLP on gradient
signals it replaced, which also needed a backward pass (docs/methods.md has the figures).

Why several networks and a subgame pass (``Amortizer``): each network imitates noisy targets, and
networks trained on different targets (more orders, sub-phrases, unlabelled text) err differently, so
their mean ranks closer to the true values. What remains is redundancy: evidence that repeats the top
tokens scores low beside them yet rises once they are gone, which comprehensiveness counts. One more
forward pass on the input with the top ``subgame`` share masked measures that: the rest is ranked by the
mean of the two passes' standardised values (docs/methods.md, "Against the goal", has the figures).

The output is in probability units, like the targets, signed (positive: evidence for the target) and
zero outside the players. Each head predicts every class at once; the target's column is returned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from attnserve.capture import HIDDEN, Capture, capture
from attnserve.methods.registry import AMORTIZER, Context, Method

NAME = "amortized_shapley"
FILE_NAME = "amortized.pt"
FORMAT = "attnserve.amortized/3"
NEEDS = frozenset({HIDDEN})


@dataclass(frozen=True)
class HeadConfig:
    hidden_size: int  # the classifier's hidden size: what the head reads
    classes: int  # the classifier's classes: one output column each
    width: int = 384
    heads: int = 6
    layers: int = 1


class AmortizedShapley(nn.Module):
    """One network: last hidden states [B, T, D] -> one value per token for the target class.

    ``target_scale`` maps the output to probability units; it is fitted on the training targets and
    travels with the weights."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.read = nn.Sequential(nn.LayerNorm(config.hidden_size), nn.Linear(config.hidden_size, width))
        block = nn.TransformerEncoderLayer(
            width, config.heads, 4 * width, dropout=0.1, batch_first=True, norm_first=True
        )
        self.context = nn.TransformerEncoder(block, config.layers, enable_nested_tensor=False)
        self.out = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, config.classes)
        )
        self.register_buffer("target_scale", torch.ones(()))

    def forward(self, hidden: Tensor, real: Tensor, players: Tensor, targets: Tensor) -> Tensor:
        """hidden [B, T, D]; real [B, T] bool (not padding); players [B, T] bool; targets [B] -> [B, T]."""
        x = self.context(self.read(hidden), src_key_padding_mask=~real)
        values = self.out(x).gather(2, targets[:, None, None].expand(-1, x.shape[1], 1))[..., 0]
        return values * self.target_scale * players


class Amortizer(nn.Module):
    """What a model ships: its networks, whose mean is the estimate, and the share of top players the
    subgame pass masks (0: no subgame pass)."""

    def __init__(self, networks: list[AmortizedShapley], subgame: float = 0.0, meta: dict | None = None) -> None:
        super().__init__()
        if not networks:
            raise ValueError("an amortizer needs at least one network")
        if not 0.0 <= subgame < 1.0:
            raise ValueError(f"subgame must be a share in [0, 1), got {subgame!r}")
        shapes = {(n.config.hidden_size, n.config.classes) for n in networks}
        if len(shapes) > 1:
            raise ValueError(f"networks read different hidden sizes or classes: {sorted(shapes)}")
        self.networks = nn.ModuleList(networks)
        self.subgame = subgame
        self.meta = meta or {}

    @property
    def config(self) -> HeadConfig:
        """The first network's: hidden size and classes are the same for all."""
        return self.networks[0].config

    def forward(self, hidden: Tensor, real: Tensor, players: Tensor, targets: Tensor) -> Tensor:
        """The networks' mean, [B, T]."""
        return torch.stack([network(hidden, real, players, targets) for network in self.networks]).mean(0)


def top_share(values: Tensor, players: Tensor, share: float) -> Tensor:
    """[B, T] bool: each row's ceil(share · n) highest-valued players (n: the row's players)."""
    n = players.sum(1)
    k = torch.ceil((share * n.double()).round(decimals=9)).long()  # 0.1 · 30 is 3, not 3.0000000000000004
    ranked = values.masked_fill(~players, -math.inf).argsort(dim=1, descending=True, stable=True)
    chosen = torch.arange(values.shape[1], device=values.device)[None] < k[:, None]
    return torch.zeros_like(players).scatter(1, ranked, chosen) & players


def rerank(full: Tensor, sub: Tensor, top: Tensor, players: Tensor) -> Tensor:
    """[B, T]: the top players first, in their order on the full input; the rest by the mean of the
    full and subgame values, each standardised over the rest of its row. The rest's scores are mapped
    back to the full pass's location and scale there, so they stay in probability units; where one would
    pass the lowest top value, the top values are lifted together just above it."""
    rest = players & ~top
    count = rest.sum(1, keepdim=True).clamp(min=1)

    def standardised(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mean = (x * rest).sum(1, keepdim=True) / count
        std = (((x - mean) ** 2 * rest).sum(1, keepdim=True) / count).sqrt().clamp(min=1e-12)
        return (x - mean) / std, mean, std

    z_full, mean, std = standardised(full)
    z_sub, _, _ = standardised(sub)
    mixed = mean + std * 0.5 * (z_full + z_sub)
    highest_rest = mixed.masked_fill(~rest, -math.inf).amax(1, keepdim=True)
    lowest_top = full.masked_fill(~top, math.inf).amin(1, keepdim=True)
    gap = highest_rest - lowest_top
    lift = torch.where(gap >= 0, gap + 1e-6 * std, torch.zeros_like(gap))
    return torch.where(top, full + lift, torch.where(rest, mixed, full)) * players


def save_amortizer(amortizer: Amortizer, path: Path, meta: dict) -> None:
    """Tensors and plain data only, so serving loads it with ``weights_only=True``; weights as float16
    (``stored_state``)."""
    networks = [{"config": asdict(n.config), "state": stored_state(n)} for n in amortizer.networks]
    torch.save({"format": FORMAT, "networks": networks, "subgame": amortizer.subgame, "meta": meta}, path)


def stored_state(network: AmortizedShapley) -> dict[str, Tensor]:
    """The weights as the file keeps them: float16 (a text model's network is 2 M parameters, 4 MB so,
    committed with every release set). A build validates with these weights (``as_stored``), so what
    ships is what was measured."""
    return {key: value.half() if value.is_floating_point() else value for key, value in network.state_dict().items()}


def as_stored(network: AmortizedShapley) -> AmortizedShapley:
    """``network`` with its weights rounded to what ``save_amortizer`` writes, in place."""
    network.load_state_dict({key: value.float() for key, value in stored_state(network).items()})
    return network


def load_amortizer(path: Path, model: nn.Module | None = None) -> Amortizer:
    """The stored networks; when ``model`` is given, its hidden size and classes must be the ones the
    networks were trained on, else the archive is inconsistent and loading fails loudly."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: format {blob.get('format')!r}, expected {FORMAT!r}")
    networks = []
    for stored in blob["networks"]:
        network = AmortizedShapley(HeadConfig(**stored["config"]))
        network.load_state_dict({key: value.float() for key, value in stored["state"].items()})
        networks.append(network)
    amortizer = Amortizer(networks, float(blob["subgame"]), blob["meta"])
    if model is not None:
        served = (model.config.hidden_size, model.config.num_labels)
        if (amortizer.config.hidden_size, amortizer.config.classes) != served:
            raise ValueError(
                f"{path}: trained on hidden size {amortizer.config.hidden_size} and {amortizer.config.classes} "
                f"classes, which do not match this model's {served[0]} and {served[1]}"
            )
    return amortizer.eval().requires_grad_(False)


def find_amortizer(model_dir: Path, model: nn.Module) -> Amortizer | None:
    """The archive's learned explainer, checked against the served model; None when it ships none."""
    path = model_dir / FILE_NAME
    return load_amortizer(path, model) if path.is_file() else None


def amortized_shapley(c: Capture, context: Context) -> Tensor:
    amortizer = context.amortizer
    values = amortizer(c.hidden, context.real, c.players, c.targets)
    if not amortizer.subgame:
        return values
    top = top_share(values, c.players, amortizer.subgame)
    again = capture(context.model, context.without(top), c.players, NEEDS, c.targets.tolist())
    return rerank(values, amortizer(again.hidden, context.real, c.players, c.targets), top, c.players)


METHODS = [
    Method(
        NAME,
        NEEDS,
        amortized_shapley,
        True,
        "Shapley values of the masking game predicted from the prediction's own forward pass (learned at "
        "build); one more forward pass where the model ships a subgame share",
        cost=lambda options, n: 1,
        requires=AMORTIZER,
    )
]
