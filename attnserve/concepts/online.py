"""The ``tcav`` method of a request: attention-weighted concept sensitivity of one input, per concept and
layer, from the shared capture pass (see attnserve/concepts/tcav.py for the maths).

It is not a per-token attribution like the methods in ``attnserve.methods.REGISTRY``: it answers per
concept and per layer, under the response's top-level ``"concepts"``, not under ``"attributions"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from attnserve.capture import Capture, ConceptSettings
from attnserve.concepts.bank import CavBank
from attnserve.concepts.tcav import Sensitivity, attention_weighted


@dataclass(frozen=True)
class BatchConcepts:
    """The concepts a batch asked for, in the column order of the capture's projections."""

    bank: CavBank
    names: tuple[str, ...]

    def settings(self) -> ConceptSettings:
        directions, _ = self.bank.directions(list(self.names))
        return ConceptSettings(tuple(self.bank.layers), directions)

    def sensitivity(self, result: Capture, mask: Tensor) -> Sensitivity:
        """s [L, B, T, C] and S [L, B, C] over the bank's layers; ``mask`` [B, T]: the tokens that count
        (for text, the real tokens with [CLS] and [SEP]; for images, every token)."""
        cls_attn = result.cls_attn_layers[list(self.bank.layers)]
        return attention_weighted(result.concept_grad_layers, cls_attn, mask.to(cls_attn.device))

    def response(
        self, found: Sensitivity, row: int, names: Sequence[str], fold: Callable[[Tensor], dict]
    ) -> dict[str, dict]:
        """One request's ``"concepts"``: per concept its CAV accuracy per layer, and per layer S(x), its
        sign and s_t as the response lists per-token scores (``fold`` of a row [T], e.g. tokens and words)."""
        answer = {}
        for name in names:
            column = self.names.index(name)
            layers = []
            for slot, layer in enumerate(self.bank.layers):
                score = float(found.score[slot, row, column])
                tokens = found.tokens[slot, row, :, column].cpu()
                layers.append({"layer": layer, "sensitivity": score, "positive": score > 0, **fold(tokens)})
            accuracy = self.bank.concepts[name].mean_accuracy()
            answer[name] = {"cav_accuracy": [float(a) for a in accuracy], "layers": layers}
        return answer
