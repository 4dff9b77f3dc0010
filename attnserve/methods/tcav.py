"""``tcav``: attention-weighted concept sensitivity of one input, per concept and layer (arXiv
2508.08966 §3; the maths in attnserve/concepts/tcav.py). Its answer goes under the response's
``"concepts"`` (per concept: CAV accuracy per layer; per layer: S(x), its sign and s_t per token), not
under ``"attributions"``; a request picks the concepts with its ``concepts`` field (default: all the
model ships), and a model without CAVs refuses it."""

from __future__ import annotations

from attnserve.capture import CLS_ATTN_LAYERS, CONCEPT_GRAD_LAYERS, Capture
from attnserve.concepts.tcav import Sensitivity
from attnserve.methods.registry import BANK, CONCEPTS, Context, Method


def tcav(c: Capture, context: Context) -> Sensitivity:
    return context.concepts.sensitivity(c, context.real)


METHODS = [
    Method(
        "tcav",
        frozenset({CLS_ATTN_LAYERS, CONCEPT_GRAD_LAYERS}),
        tcav,
        True,
        "directional derivatives along each concept's CAVs, weighted by [CLS] attention (attention-weighted TCAV)",
        output=CONCEPTS,
        requires=BANK,
    )
]
