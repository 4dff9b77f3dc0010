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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import count

import torch
from torch import Tensor, nn

ATTN = "attn"  # mean over layers and heads of A
ATTN_GRAD = "attn_grad"  # mean over layers and heads of A ⊙ ReLU(∂y/∂A)
ATTN_LAYERS = "attn_layers"  # per layer, mean over heads of A
ATTN_GRAD_LAYERS = "attn_grad_layers"  # per layer, mean over heads of (A ⊙ ∂y/∂A)⁺
VALUE_GRAD_LAYERS = "value_grad_layers"  # per layer, mean over heads of (A ⊙ ∂y/∂A)⁺_ij · ‖v_j W_O‖ (normalised)
CLS_ATTN_LAYERS = "cls_attn_layers"  # per layer, mean over heads of the [CLS] row of A
# per layer of ConceptSettings, ∂y/∂h_t projected onto each concept direction (h: the block's output)
CONCEPT_GRAD_LAYERS = "concept_grad_layers"
# signed per-token signals of the logit's gradient, [B, T, S] (layout: ``signal_names``)
TOKEN_SIGNALS = "token_signals"
HIDDEN = "hidden"  # [B, T, D]: the last encoder block's output (before any final norm or pooler)
MAP_NEEDS = frozenset({ATTN, ATTN_GRAD, ATTN_LAYERS, ATTN_GRAD_LAYERS, VALUE_GRAD_LAYERS, CLS_ATTN_LAYERS})
NEEDS = MAP_NEEDS | {CONCEPT_GRAD_LAYERS, TOKEN_SIGNALS, HIDDEN}
GRAD_NEEDS = frozenset({ATTN_GRAD, ATTN_GRAD_LAYERS, VALUE_GRAD_LAYERS, CONCEPT_GRAD_LAYERS, TOKEN_SIGNALS})


@dataclass(frozen=True)
class Capture:
    """What the pass produced for a batch: tensors only. Methods read it, with the batch's context
    (``attnserve.methods.registry.Context``: the model, its resources, the requests' options)."""

    logits: Tensor  # [B, C]
    targets: Tensor  # [B] class whose logit the gradient-weighted methods differentiate
    players: Tensor  # [B, T] bool
    attn: Tensor | None = None  # [B, T, T]
    attn_grad: Tensor | None = None  # [B, T, T]
    attn_layers: Tensor | None = None  # [L, B, T, T]
    attn_grad_layers: Tensor | None = None  # [L, B, T, T]
    value_grad_layers: Tensor | None = None  # [L, B, T, T]
    cls_attn_layers: Tensor | None = None  # [L, B, T]
    concept_grad_layers: Tensor | None = None  # [len(ConceptSettings.layers), B, T, C]
    token_signals: Tensor | None = None  # [B, T, S]
    hidden: Tensor | None = None  # [B, T, D]
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ConceptSettings:
    """What the concept-gradient need projects onto: ``directions`` [len(layers), C, D], unit concept
    vectors for the output of each encoder block listed in ``layers`` (0-based block indices)."""

    layers: tuple[int, ...]
    directions: Tensor


# Families that record their attention maps only when called with ``output_attentions=True`` and
# declare no ``_can_record_outputs``: model_type -> {output: class name of the modules producing it}.
# DeBERTa-v2/v3's maps are the softmax of content *and* relative-position scores, the weights its values
# are mixed with, so they are read like any other family's.
ASKED_FOR = {"deberta-v2": {"attentions": "DisentangledSelfAttention", "hidden_states": "DebertaV2Layer"}}


def recorded_modules(model: nn.Module, output: str) -> list[nn.Module]:
    """The modules that produce ``output`` ("attentions": self-attention modules whose output[1] is the
    map; "hidden_states": encoder blocks whose output (or output[0]) is the residual stream), in layer order.

    transformers declares them in ``_can_record_outputs`` (a class, or an OutputRecorder naming one);
    that is the same table it uses for ``output_attentions`` and ``output_hidden_states``. Families that
    predate it are named in ``ASKED_FOR``.
    """
    spec = (getattr(model, "_can_record_outputs", None) or {}).get(output)
    target = getattr(spec, "target_class", spec)
    if target is None:
        named = ASKED_FOR.get(getattr(getattr(model, "config", None), "model_type", ""), {}).get(output)
        if named is None:
            raise TypeError(f"{type(model).__name__} does not declare the modules of its {output}")
        modules = [m for m in model.modules() if type(m).__name__ == named]
        if not modules:
            raise TypeError(f"no {named} module found in {type(model).__name__}")
        return modules
    modules = [m for m in model.modules() if isinstance(m, target)]
    if not modules:
        raise TypeError(f"no {target.__name__} module found in {type(model).__name__}")
    return modules


def asks_for_attentions(model: nn.Module) -> bool:
    """Whether the model's attention modules return their maps only under ``output_attentions=True``."""
    return not (getattr(model, "_can_record_outputs", None) or {}).get("attentions") and (
        getattr(getattr(model, "config", None), "model_type", "") in ASKED_FOR
    )


def attention_modules(model: nn.Module) -> list[nn.Module]:
    return recorded_modules(model, "attentions")


def depth(model: nn.Module) -> int:
    """Layers the model runs: more than its attention modules when layers share one (ALBERT)."""
    return model.config.num_hidden_layers


def hook_calls(modules: list[nn.Module], on_call: Callable[[int, nn.Module, Tensor | tuple], None]) -> list:
    """Forward hooks on ``modules`` that hand ``on_call`` the running number of the call in this pass (the
    layer, whether each layer has its own module or one module runs in every layer, as in ALBERT), the
    module that ran, and its output."""
    calls = count()
    return [module.register_forward_hook(lambda m, _a, out: on_call(next(calls), m, out)) for module in modules]


def _check_eager(model: nn.Module) -> None:
    impl = getattr(getattr(model, "config", None), "_attn_implementation", "eager")
    if impl != "eager":
        raise ValueError(
            f"attention implementation is {impl!r}, which returns no attention maps; "
            "load the model with attn_implementation='eager'"
        )


def value_projections(module: nn.Module, model: nn.Module) -> tuple[nn.Module, nn.Linear, slice]:
    """(module whose output holds the values, output projection, the values' slice of its last dim) of
    an attention module, per family: ``v_proj``/``o_proj`` on the module (ViT, Llama-like),
    ``v_lin``/``out_lin`` (DistilBERT), ``value``/``dense`` on the module (ALBERT), a fused ``Wqkv``
    whose last third is the values, with ``Wo`` (ModernBERT), or ``value`` (BERT, RoBERTa, ELECTRA) or
    ``value_proj`` (DeBERTa-v2) with the parent's ``output.dense``."""
    everything = slice(None)
    if hasattr(module, "v_proj") and hasattr(module, "o_proj"):
        return module.v_proj, module.o_proj, everything
    if hasattr(module, "v_lin") and hasattr(module, "out_lin"):
        return module.v_lin, module.out_lin, everything
    if hasattr(module, "value") and hasattr(module, "dense"):
        return module.value, module.dense, everything
    if hasattr(module, "Wqkv") and hasattr(module, "Wo"):
        width = module.Wo.in_features
        return module.Wqkv, module.Wo, slice(2 * width, 3 * width)
    parent = next((m for m in model.modules() if getattr(m, "self", None) is module), None)
    value = getattr(module, "value", None) or getattr(module, "value_proj", None)
    if value is not None and parent is not None and hasattr(parent.output, "dense"):
        return value, parent.output.dense, everything
    raise TypeError(f"cannot find the value and output projections of {type(module).__name__}")


class _ConceptRecorder:
    """Tensor hooks on each listed block's output that reduce its gradient [B, T, D] to directional
    derivatives [B, T, C] the moment it exists: one backward pass serves every concept and layer, and
    no [L, B, T, D] gradient is kept."""

    def __init__(self, settings: ConceptSettings) -> None:
        self.settings = settings
        self.found: list[Tensor | None] = [None] * len(settings.layers)

    def on_block(self, slot: int, output: Tensor | tuple) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        hidden.register_hook(partial(self.on_grad, slot))

    def on_grad(self, slot: int, grad: Tensor) -> None:
        directions = self.settings.directions[slot].to(grad.device, torch.float32)
        self.found[slot] = torch.einsum("btd,cd->btc", grad.float(), directions)

    def hooks(self, model: nn.Module) -> list:
        slots = {layer: slot for slot, layer in enumerate(self.settings.layers)}

        def on_call(layer: int, _module: nn.Module, output: Tensor | tuple) -> None:
            if layer in slots:
                self.on_block(slots[layer], output)

        return hook_calls(recorded_modules(model, "hidden_states"), on_call)


def signal_names(attention_layers: int, blocks: int) -> list[str]:
    """What each channel of ``token_signals`` holds, in order. With A_l the attention of layer l
    (heads h, queries i, keys j), g = ∂y/∂(·) for the explained logit y, and h_l the output of block l
    (h_0: the embeddings):

    - ``attn_grad_in.l``: mean_h Σ_i (A ⊙ g)_{h,ij}, the first-order effect on y of all attention that
      token j receives (signed, unlike Grad-Att, which keeps only the positive part);
    - ``attn_grad_cls.l``: mean_h (A ⊙ g)_{h,0j}, the same for what the [CLS] row reads from j;
    - ``grad_x_hidden.l``: g_l · h_l, gradient × input at block l's output (signed);
    - ``grad_norm.l``: ‖g_l‖, how sensitive y is to token j's state at that depth.
    """
    names = [f"attn_grad_in.{layer}" for layer in range(attention_layers)]
    names += [f"attn_grad_cls.{layer}" for layer in range(attention_layers)]
    names += [f"grad_x_hidden.{block}" for block in range(blocks + 1)]
    names += [f"grad_norm.{block}" for block in range(blocks + 1)]
    return names


def model_signal_names(model: nn.Module) -> list[str]:
    """``signal_names`` for ``model``'s depth."""
    return signal_names(depth(model), depth(model))


class _SignalRecorder:
    """Tensor hooks on the embeddings and each block's output that reduce its gradient [B, T, D] to
    two numbers per token the moment it exists, like ``_ConceptRecorder`` (same pass, nothing kept)."""

    def __init__(self, blocks: int) -> None:
        self.found: list[Tensor | None] = [None] * (blocks + 1)

    def watch(self, slot: int, output: Tensor | tuple) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        hidden.register_hook(partial(self.on_grad, slot, hidden.detach()))

    def on_grad(self, slot: int, hidden: Tensor, grad: Tensor) -> None:
        grad = grad.float()
        self.found[slot] = torch.stack([(grad * hidden.float()).sum(-1), grad.norm(dim=-1)], -1)

    def hooks(self, model: nn.Module) -> list:
        return hook_calls(recorded_modules(model, "hidden_states"), lambda layer, _m, out: self.watch(layer + 1, out))

    def results(self, attention: Tensor) -> Tensor:
        """attention: [B, T, 2·L] from ``_Recorder`` -> [B, T, S] in ``signal_names`` order. A ViT's input
        embeddings are its patches only: its [CLS] (position 0) gets zeros in that slot."""
        missing = attention.shape[1] - self.found[0].shape[1]
        self.found[0] = nn.functional.pad(self.found[0], (0, 0, missing, 0))
        blocks = torch.stack(self.found, -1)  # [B, T, 2, blocks + 1]
        return torch.cat([attention, blocks[:, :, 0], blocks[:, :, 1]], -1)


class _Recorder:
    """Hook callbacks that fold each layer's maps into what ``needs`` asks for, as they appear."""

    def __init__(self, needs: frozenset[str], layers: int, heads: int, key_mask: Tensor) -> None:
        self.needs = needs
        self.heads = heads
        self.key_mask = key_mask.float()  # [B, T]: 1 at real tokens (keys that can receive attention)
        self.maps = 0
        self.sums: dict[str, Tensor] = {}
        self.layers: dict[str, list[Tensor | None]] = {need: [None] * layers for need in needs - {ATTN, ATTN_GRAD}}
        self.value_norms: list[Tensor | None] = [None] * layers

    def _add(self, key: str, value: Tensor) -> None:
        self.sums[key] = value if key not in self.sums else self.sums[key] + value

    def on_value(self, layer: int, out_proj: nn.Linear, output: Tensor) -> None:
        """‖v_j^h W_O^h‖ per head and token (Kobayashi et al. 2020), scaled to mean 1 over real keys."""
        v = output.detach().float().unflatten(-1, (self.heads, -1))  # [B, T, H, d]
        w_o = out_proj.weight.detach().float().unflatten(-1, (self.heads, -1))  # [D, H, d]
        norms = torch.einsum("bthd,ehd->bhte", v, w_o).norm(dim=-1)  # [B, H, T]
        mean = (norms * self.key_mask[:, None]).sum(-1, keepdim=True) / self.key_mask.sum(-1)[:, None, None]
        self.value_norms[layer] = norms / mean

    def on_attention(self, layer: int, output: tuple) -> None:
        weights = output[1]  # [B, H, T, T]
        self.maps += weights.shape[1]
        if ATTN in self.needs:
            self._add(ATTN, weights.detach().sum(1, dtype=torch.float32))
        if ATTN_LAYERS in self.needs:
            self.layers[ATTN_LAYERS][layer] = weights.detach().float().mean(1)
        if CLS_ATTN_LAYERS in self.needs:
            self.layers[CLS_ATTN_LAYERS][layer] = weights.detach()[:, :, 0].float().mean(1)
        if self.needs & GRAD_NEEDS:
            weights.register_hook(partial(self.on_grad, layer, weights.detach()))

    def on_grad(self, layer: int, weights: Tensor, grad: Tensor) -> None:
        edges = (weights.float() * grad.float()).clamp(min=0)  # = A ⊙ ReLU(∂y/∂A), since A ≥ 0
        if ATTN_GRAD in self.needs:
            self._add(ATTN_GRAD, edges.sum(1))
        if ATTN_GRAD_LAYERS in self.needs:
            self.layers[ATTN_GRAD_LAYERS][layer] = edges.mean(1)
        if VALUE_GRAD_LAYERS in self.needs:
            self.layers[VALUE_GRAD_LAYERS][layer] = (edges * self.value_norms[layer][:, :, None, :]).mean(1)
        if TOKEN_SIGNALS in self.needs:
            signed = weights.float() * grad.float()  # [B, H, T, T]
            self.layers[TOKEN_SIGNALS][layer] = torch.stack([signed.sum(2).mean(1), signed[:, :, 0].mean(1)], -1)

    def results(self) -> dict[str, Tensor]:
        found = {key: value / self.maps for key, value in self.sums.items()}
        found.update({key: torch.stack(maps) for key, maps in self.layers.items() if key != TOKEN_SIGNALS})
        if TOKEN_SIGNALS in self.layers:  # [L, B, T, 2] -> [B, T, 2·L]: every layer's first signal, then the second
            found[TOKEN_SIGNALS] = torch.stack(self.layers[TOKEN_SIGNALS], -1).flatten(-2)
        return found


def capture(
    model: nn.Module,
    inputs: dict[str, Tensor],
    players: Tensor,
    needs: frozenset[str] | set[str],
    targets: Sequence[int | None] | None = None,
    concepts: ConceptSettings | None = None,
) -> Capture:
    """Run the batch once and collect what ``needs`` names (a subset of ``NEEDS``).

    ``targets[i]`` is the class explained for row i; ``None`` means the predicted class. The
    concept-gradient need takes ``concepts``, the directions to project onto.
    """
    needs = frozenset(needs)
    if needs - NEEDS:
        raise ValueError(f"unknown capture needs: {sorted(needs - NEEDS)}")
    if CONCEPT_GRAD_LAYERS in needs and concepts is None:
        raise ValueError("the concept-gradient need takes concept settings")
    want_grad = bool(needs & GRAD_NEEDS)
    map_needs = needs & (MAP_NEEDS | {TOKEN_SIGNALS})
    hooks = []
    if map_needs:
        _check_eager(model)
        modules = attention_modules(model)
        key_mask = inputs.get("attention_mask", torch.ones_like(players, dtype=torch.long))
        recorder = _Recorder(map_needs, depth(model), model.config.num_attention_heads, key_mask)
        hooks.extend(hook_calls(modules, lambda layer, _m, out: recorder.on_attention(layer, out)))
        if VALUE_GRAD_LAYERS in needs:
            # value module -> (it, output projection, the values' slice); a shared layer lists it once
            sources = {id(v): (v, o, part) for v, o, part in (value_projections(m, model) for m in modules)}

            def on_value(layer: int, value: nn.Module, output: Tensor) -> None:
                _, out_proj, part = sources[id(value)]
                recorder.on_value(layer, out_proj, output[..., part])

            hooks.extend(hook_calls([value for value, _, _ in sources.values()], on_value))
    concept_recorder = _ConceptRecorder(concepts) if CONCEPT_GRAD_LAYERS in needs else None
    if concept_recorder:
        hooks.extend(concept_recorder.hooks(model))
    signal_recorder = _SignalRecorder(depth(model)) if TOKEN_SIGNALS in needs else None
    if signal_recorder:
        hooks.extend(signal_recorder.hooks(model))
    last: list[Tensor] = []
    if HIDDEN in needs:

        def keep_last(_layer: int, _module: nn.Module, output: Tensor | tuple) -> None:
            """Every block overwrites it, so what stays is the last block's (a shared block's last call)."""
            state = output[0] if isinstance(output, tuple) else output
            last[:] = [state.detach().float()]

        hooks.extend(hook_calls(recorded_modules(model, "hidden_states"), keep_last))
    leaf: dict[str, Tensor] = {}

    def make_leaf(_module: nn.Module, _args: tuple, output: Tensor) -> Tensor:
        # Gradients start from the embeddings, so parameters never need (or accumulate) .grad.
        leaf["embeddings"] = output.detach().requires_grad_(True)
        if signal_recorder:
            signal_recorder.watch(0, leaf["embeddings"])
        return leaf["embeddings"]

    if want_grad:
        hooks.append(model.get_input_embeddings().register_forward_hook(make_leaf))
    timings: dict[str, float] = {}
    try:
        start = time.perf_counter()
        with torch.enable_grad() if want_grad else torch.inference_mode():
            asked = {"output_attentions": True} if map_needs and asks_for_attentions(model) else {}
            logits = model(**inputs, **asked).logits
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
    found = recorder.results() if map_needs else {}
    return Capture(
        logits=logits.detach().float(),
        targets=chosen,
        players=players,
        concept_grad_layers=torch.stack(concept_recorder.found) if concept_recorder else None,
        token_signals=signal_recorder.results(found[TOKEN_SIGNALS]) if signal_recorder else None,
        hidden=last[0] if last else None,
        timings_s=timings,
        **{key: found.get(key) for key in MAP_NEEDS},
    )


def _resolve_targets(logits: Tensor, targets: Sequence[int | None] | None) -> Tensor:
    predicted = logits.detach().argmax(-1)
    if targets is None:
        return predicted
    given = torch.tensor([-1 if t is None else t for t in targets], device=logits.device)
    return torch.where(given >= 0, given, predicted)
