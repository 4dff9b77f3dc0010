"""A handle to re-run the model on variations of a captured batch: what path and perturbation methods
(Integrated Gradients, KernelSHAP, Shapley sampling) need beyond the one pass.

The baselines build it from the pass's resolved targets and the batch's context
(``attnserve.methods.registry.Context``). A perturbation switches players off by replacing them with
[MASK]: the same baseline as the faithfulness protocol (arXiv 2508.08966 §4.3), so an attribution and its
evaluation play the same masking game. [CLS]/[SEP] are always kept, padding never enters (each row is
re-run at its own length), and the explained quantity is the softmax probability of the target class,
the number a response reports and the protocol measures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from attnserve.text.game import TextGame

Options = Mapping[str, Mapping[str, int]]  # method name -> its options (e.g. {"kernel_shap": {"samples": 200}})


@dataclass(frozen=True)
class ProbeSettings:
    """What the caller of ``capture`` knows and the model does not."""

    mask_token_id: int
    options: tuple[Options, ...]  # per row: the methods that row runs, with their resolved options


@dataclass(frozen=True)
class Probe:
    """The captured batch and its resolved targets, for methods that evaluate the model again."""

    model: nn.Module
    inputs: dict[str, Tensor]  # the padded batch as captured, [B, T] each
    players: Tensor  # [B, T] bool
    targets: Tensor  # [B]
    settings: ProbeSettings

    def row(self, i: int) -> TextGame:
        length = int(self.inputs["attention_mask"][i].sum()) if "attention_mask" in self.inputs else None
        return TextGame(
            model=self.model,
            inputs={key: value[i : i + 1, :length] for key, value in self.inputs.items()},
            players=self.players[i, :length],
            target=int(self.targets[i]),
            mask_token_id=self.settings.mask_token_id,
        )

    def rows(self, method: str) -> Iterator[tuple[int, TextGame, Mapping[str, int]]]:
        """(batch index, row, options) for each row that asked for ``method``; others cost nothing."""
        for i, options in enumerate(self.settings.options):
            if method in options:
                yield i, self.row(i), options[method]
