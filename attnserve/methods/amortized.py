"""``amortized_shapley``: Shapley values of the [MASK] game, predicted by a small transformer that reads the
classifier's own last hidden states. The prediction's forward pass is the only pass: no backward pass,
no perturbation; the perturbation cost is paid once, at archive build (FastSHAP, Jethani et al.,
ICLR 2022). Sharing the classifier's trunk follows ViT-Shapley (Covert, Kim, Lee, ICLR 2023), whose
explainer is the classifier with one more attention block and an MLP head.

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

The output is in probability units, like the targets, signed (positive: evidence for the target) and
zero outside the players. The head predicts every class at once; the target's column is returned.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from attnserve.capture import HIDDEN, Capture
from attnserve.methods.registry import AMORTIZER, Context, Method

NAME = "amortized_shapley"
FILE_NAME = "amortized.pt"
FORMAT = "attnserve.amortized/2"
NEEDS = frozenset({HIDDEN})


@dataclass(frozen=True)
class HeadConfig:
    hidden_size: int  # the classifier's hidden size: what the head reads
    classes: int  # the classifier's classes: one output column each
    width: int = 384
    heads: int = 6
    layers: int = 1


class AmortizedShapley(nn.Module):
    """Last hidden states [B, T, D] -> one value per token for the target class.

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


def stored_state(head: AmortizedShapley) -> dict[str, Tensor]:
    """The weights as the file keeps them: float16 (a text model's network is 2 M parameters, 4 MB so,
    committed with every release set). A build validates the network with these weights (``as_stored``),
    so what ships is what was measured."""
    return {key: value.half() if value.is_floating_point() else value for key, value in head.state_dict().items()}


def as_stored(head: AmortizedShapley) -> AmortizedShapley:
    """``head`` with its weights rounded to what ``save_amortizer`` writes, in place."""
    head.load_state_dict({key: value.float() for key, value in stored_state(head).items()})
    return head


def save_amortizer(head: AmortizedShapley, path: Path, meta: dict) -> None:
    """Tensors and plain data only, so serving loads it with ``weights_only=True``."""
    torch.save({"format": FORMAT, "config": asdict(head.config), "state": stored_state(head), "meta": meta}, path)


def load_amortizer(path: Path, model: nn.Module | None = None) -> AmortizedShapley:
    """The stored network; when ``model`` is given, its hidden size and classes must be the ones the
    network was trained on, else the archive is inconsistent and loading fails loudly."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: format {blob.get('format')!r}, expected {FORMAT!r}")
    config = HeadConfig(**blob["config"])
    if model is not None:
        served = (model.config.hidden_size, model.config.num_labels)
        if (config.hidden_size, config.classes) != served:
            raise ValueError(
                f"{path}: trained on hidden size {config.hidden_size} and {config.classes} classes, which do "
                f"not match this model's {served[0]} and {served[1]}"
            )
    head = AmortizedShapley(config)
    head.load_state_dict({key: value.float() for key, value in blob["state"].items()})
    head.meta = blob["meta"]
    return head.eval().requires_grad_(False)


def find_amortizer(model_dir: Path, model: nn.Module) -> AmortizedShapley | None:
    """The archive's learned explainer, checked against the served model; None when it ships none."""
    path = model_dir / FILE_NAME
    return load_amortizer(path, model) if path.is_file() else None


def amortized_shapley(c: Capture, context: Context) -> Tensor:
    return context.amortizer(c.hidden, context.real, c.players, c.targets)


METHODS = [
    Method(
        NAME,
        NEEDS,
        amortized_shapley,
        True,
        "Shapley values of the masking game predicted from the prediction's own forward pass (learned at build)",
        requires=AMORTIZER,
    )
]
