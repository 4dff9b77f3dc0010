"""``amortized_shapley``: Shapley values of the [MASK] game, predicted by a small learned network from
what the capture pass already holds (one forward and one backward pass), after FastSHAP (Jethani et al.,
ICLR 2022) in spirit: the perturbation cost is paid once, at archive build, not per request.

Targets (model_store/recipes/amortized.py): permutation-sampled Shapley values of p(target | x) with
absent tokens set to [MASK], the game the faithfulness protocol plays, on the model's training inputs.

Per token t the network reads (``features``):
- the capture's signed gradient signals (``attnserve.capture.signal_names``: signed Grad-Att into t and
  from the [CLS] row, gradient × hidden state and gradient norm at every depth), each divided by its
  root mean square over the row's players, so that one network serves confident and unsure inputs;
- gae and rollout relevance and each layer's [CLS]-row attention, divided by their mean over players;
- where t sits: relative position, first, last;
- its two neighbours' features and the row's mean (a word's evidence often sits in the next piece);
- the row itself: p(target), its log-odds, log n, and the log RMS of every signal.
Its output is in probability units, like the targets; it is signed (positive: evidence for the target),
zero outside the players. Efficiency (Σφ = p(x) − p(all [MASK])) is learned, not enforced: enforcing it
would cost one more forward pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from attnserve.capture import ATTN_GRAD_LAYERS, ATTN_LAYERS, TOKEN_SIGNALS, Capture, model_signal_names
from attnserve.methods.registry import AMORTIZER, Context, Method
from attnserve.methods.relevance import cls_row_product

NAME = "amortized_shapley"
FILE_NAME = "amortized.pt"
FORMAT = "attnserve.amortized/1"
FEATURE_NEEDS = frozenset({TOKEN_SIGNALS, ATTN_LAYERS, ATTN_GRAD_LAYERS})
EPS = 1e-12


@dataclass(frozen=True)
class HeadConfig:
    signals: tuple[str, ...]  # ``signal_names`` of the model it was trained for
    layers: int  # attention layers
    hidden: int = 64

    @property
    def token_features(self) -> int:
        """Width of ``features``' token part: signals, gae and rollout, [CLS] attention per layer, position."""
        return len(self.signals) + 2 + self.layers + 3

    @property
    def row_features(self) -> int:
        return len(self.signals) + 3


def _per_row(x: Tensor, players: Tensor, power: int) -> Tensor:
    """Mean over each row's players of x**power; x: [B, T, F] -> [B, 1, F]."""
    weights = players.float()[:, :, None]
    return (x.pow(power) * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp(min=1)


def features(c: Capture) -> tuple[Tensor, Tensor]:
    """(token features [B, T, F] zero outside players, row features [B, R]) of a capture."""
    players = c.players
    signals = c.token_signals
    rms = _per_row(signals, players, 2).sqrt() + EPS
    relevance = torch.stack(
        [
            cls_row_product(c.attn_grad_layers, players, residual=1.0, mixing=1.0),
            cls_row_product(c.attn_layers, players, residual=0.5, mixing=0.5),
            *c.attn_layers[:, :, 0, :],
        ],
        -1,
    )  # [B, T, 2 + L]
    relevance = relevance / (_per_row(relevance, players, 1) + EPS)
    n = players.sum(1, keepdim=True).float()  # [B, 1]
    rank = players.long().cumsum(1).float() - 1  # 0 at the first player
    position = torch.stack([rank / (n - 1).clamp(min=1), (rank == 0).float(), (rank == n - 1).float()], -1)
    tokens = torch.cat([signals / rms, relevance, position], -1) * players[:, :, None]
    probability = c.logits.softmax(-1).gather(1, c.targets[:, None])
    log_odds = probability.clamp(1e-6, 1 - 1e-6).logit()
    rows = torch.cat([probability, log_odds, n.log(), rms[:, 0].log()], -1)
    return tokens, rows


class AmortizedShapley(nn.Module):
    """Token features, their neighbours', the row's mean and the row features -> one value per token.

    ``shift``/``scale`` standardise the inputs and ``target_scale`` maps the output to probability units;
    all three are fitted on the training inputs and travel with the weights."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        width = 4 * config.token_features + config.row_features
        self.register_buffer("shift", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))
        self.register_buffer("target_scale", torch.ones(()))
        self.net = nn.Sequential(
            nn.Linear(width, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, 1),
        )

    def inputs(self, tokens: Tensor, rows: Tensor, players: Tensor) -> Tensor:
        """[B, T, width]: each token with its left and right neighbour, the row mean and the row features."""
        left = nn.functional.pad(tokens, (0, 0, 1, 0))[:, :-1]
        right = nn.functional.pad(tokens, (0, 0, 0, 1))[:, 1:]
        mean = _per_row(tokens, players, 1).expand_as(tokens)
        return torch.cat([tokens, left, right, mean, rows[:, None].expand(-1, tokens.shape[1], -1)], -1)

    def forward(self, tokens: Tensor, rows: Tensor, players: Tensor) -> Tensor:
        x = (self.inputs(tokens, rows, players) - self.shift) / self.scale
        return self.net(x)[..., 0] * self.target_scale * players


def save_amortizer(head: AmortizedShapley, path: Path, meta: dict) -> None:
    """Tensors and plain data only, so serving loads it with ``weights_only=True``."""
    torch.save({"format": FORMAT, "config": asdict(head.config), "state": head.state_dict(), "meta": meta}, path)


def load_amortizer(path: Path, signals: list[str] | None = None) -> AmortizedShapley:
    """The stored network; ``signals`` (``attnserve.capture.signal_names`` of the served model) must
    match what it was trained on, else the archive is inconsistent and loading fails loudly."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: format {blob.get('format')!r}, expected {FORMAT!r}")
    config = HeadConfig(**{**blob["config"], "signals": tuple(blob["config"]["signals"])})
    if signals is not None and list(config.signals) != list(signals):
        raise ValueError(f"{path}: trained on {len(config.signals)} signals that do not match this model's")
    head = AmortizedShapley(config)
    head.load_state_dict(blob["state"])
    head.meta = blob["meta"]
    return head.eval().requires_grad_(False)


def find_amortizer(model_dir: Path, model: nn.Module) -> AmortizedShapley | None:
    """The archive's learned explainer, checked against the served model; None when it ships none."""
    path = model_dir / FILE_NAME
    return load_amortizer(path, model_signal_names(model)) if path.is_file() else None


def amortized_shapley(c: Capture, context: Context) -> Tensor:
    tokens, rows = features(c)
    return context.amortizer(tokens, rows, c.players)


METHODS = [
    Method(
        NAME,
        FEATURE_NEEDS,
        amortized_shapley,
        True,
        "Shapley values of the masking game predicted from one forward and backward pass (learned at build)",
        requires=AMORTIZER,
    )
]
