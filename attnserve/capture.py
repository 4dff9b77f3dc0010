"""The one pass over a batch that every explanation method reads from.

A batch is run through the model once (forward, plus one backward pass when a gradient-weighted
method is asked for). Forward hooks on the self-attention modules fold each layer's attention map
into running sums as the layer produces it, so nothing of size L·H·T² is kept after the pass when no
method needs it; tensor hooks do the same for the attention gradients during the backward pass.

Conventions shared by every method (documented here once):
- Position 0 of each row is the [CLS] token.
- ``players`` [B, T] is True at the tokens a method attributes to: real tokens other than
  [CLS]/[SEP] and padding. Attributions at non-player positions are zero.
- Attention maps are [B, T, T], query rows × key columns.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor, nn

ATTN = "attn"
ATTN_GRAD = "attn_grad"
NEEDS = frozenset({ATTN, ATTN_GRAD})


@dataclass(frozen=True)
class Capture:
    """What the pass produced for a batch; methods are pure functions of it."""

    logits: Tensor  # [B, C]
    targets: Tensor  # [B] class whose logit the gradient-weighted methods differentiate
    players: Tensor  # [B, T] bool
    attn: Tensor | None = None  # [B, T, T] mean over layers and heads of A
    attn_grad: Tensor | None = None  # [B, T, T] mean over layers and heads of A ⊙ ReLU(∂y/∂A)
    timings_s: dict[str, float] = field(default_factory=dict)


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """The self-attention modules whose output[1] is the attention map, in layer order.

    transformers declares them in ``_can_record_outputs["attentions"]`` (a class, or an
    OutputRecorder naming one); that is the same table it uses for ``output_attentions``.
    """
    spec = getattr(model, "_can_record_outputs", {}).get("attentions")
    target = getattr(spec, "target_class", spec)
    if target is None:
        raise TypeError(f"{type(model).__name__} does not declare its attention modules")
    modules = [m for m in model.modules() if isinstance(m, target)]
    if not modules:
        raise TypeError(f"no {target.__name__} module found in {type(model).__name__}")
    return modules


def _check_eager(model: nn.Module) -> None:
    impl = getattr(getattr(model, "config", None), "_attn_implementation", "eager")
    if impl != "eager":
        raise ValueError(
            f"attention implementation is {impl!r}, which returns no attention maps; "
            "load the model with attn_implementation='eager'"
        )


def capture(
    model: nn.Module,
    inputs: dict[str, Tensor],
    players: Tensor,
    needs: frozenset[str] | set[str],
    targets: Sequence[int | None] | None = None,
) -> Capture:
    """Run the batch once and collect what ``needs`` names (a subset of ``NEEDS``).

    ``targets[i]`` is the class explained for row i; ``None`` means the predicted class.
    """
    unknown = set(needs) - NEEDS
    if unknown:
        raise ValueError(f"unknown capture needs: {sorted(unknown)}")
    want_attn, want_grad = ATTN in needs, ATTN_GRAD in needs
    if want_attn or want_grad:
        _check_eager(model)
    sums: dict[str, Tensor] = {}
    count = {"maps": 0}

    def accumulate(key: str, value: Tensor) -> None:
        sums[key] = value if key not in sums else sums[key] + value

    def on_grad(weights: Tensor, grad: Tensor) -> None:
        accumulate(ATTN_GRAD, (weights * grad.clamp(min=0)).sum(1, dtype=torch.float32))

    def on_attention(_module: nn.Module, _args: tuple, output: tuple) -> None:
        weights = output[1]  # [B, H, T, T]
        count["maps"] += weights.shape[1]
        if want_attn:
            accumulate(ATTN, weights.detach().sum(1, dtype=torch.float32))
        if want_grad:
            weights.register_hook(partial(on_grad, weights.detach()))

    leaf: dict[str, Tensor] = {}

    def make_leaf(_module: nn.Module, _args: tuple, output: Tensor) -> Tensor:
        # Gradients start from the embeddings, so parameters never need (or accumulate) .grad.
        leaf["embeddings"] = output.detach().requires_grad_(True)
        return leaf["embeddings"]

    hooks = []
    if want_attn or want_grad:
        hooks = [m.register_forward_hook(on_attention) for m in attention_modules(model)]
    if want_grad:
        hooks.append(model.get_input_embeddings().register_forward_hook(make_leaf))
    timings: dict[str, float] = {}
    try:
        start = time.perf_counter()
        with torch.enable_grad() if want_grad else torch.inference_mode():
            logits = model(**inputs).logits
            chosen = _resolve_targets(logits, targets)
            timings["forward"] = time.perf_counter() - start
            if want_grad:
                start = time.perf_counter()
                objective = logits.gather(1, chosen[:, None]).sum()
                torch.autograd.grad(objective, leaf["embeddings"])
                timings["backward"] = time.perf_counter() - start
    finally:
        for hook in hooks:
            hook.remove()
    means = {key: value / count["maps"] for key, value in sums.items()} if count["maps"] else {}
    return Capture(
        logits=logits.detach().float(),
        targets=chosen,
        players=players,
        attn=means.get(ATTN),
        attn_grad=means.get(ATTN_GRAD),
        timings_s=timings,
    )


def _resolve_targets(logits: Tensor, targets: Sequence[int | None] | None) -> Tensor:
    predicted = logits.detach().argmax(-1)
    if targets is None:
        return predicted
    given = torch.tensor([-1 if t is None else t for t in targets], device=logits.device)
    return torch.where(given >= 0, given, predicted)
