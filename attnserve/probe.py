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

import torch
from torch import Tensor, nn

Options = Mapping[str, Mapping[str, int]]  # method name -> its options (e.g. {"kernel_shap": {"samples": 200}})


@dataclass(frozen=True)
class ProbeSettings:
    """What the caller of ``capture`` knows and the model does not."""

    mask_token_id: int
    options: tuple[Options, ...]  # per row: the methods that row runs, with their resolved options


@dataclass(frozen=True)
class Row:
    """One input without its padding. Players are indexed 0..n-1 in position order."""

    model: nn.Module
    inputs: dict[str, Tensor]  # [1, t] each
    players: Tensor  # [t] bool
    target: int
    mask_token_id: int

    @property
    def n(self) -> int:
        return int(self.players.sum())

    def masked_ids(self, present: Tensor) -> Tensor:
        """present: [k, n] (bool, or 0/1 floats) -> input_ids [k, t], absent players set to [MASK]."""
        ids = self.inputs["input_ids"].expand(present.shape[0], -1).clone()
        players = ids[:, self.players]
        ids[:, self.players] = torch.where(present.bool(), players, torch.full_like(players, self.mask_token_id))
        return ids

    def probability(self, input_ids: Tensor) -> Tensor:
        """input_ids: [k, t] -> target-class probability [k]; differentiable (the embeddings are hooked)."""
        rows = input_ids.shape[0]
        extra = {key: value.expand(rows, -1) for key, value in self.inputs.items() if key != "input_ids"}
        logits = self.model(input_ids=input_ids, **extra).logits
        return logits.float().softmax(-1)[:, self.target]

    def presence_probability(self, present: Tensor) -> Tensor:
        """present: [k, n] -> target-class probability [k] with the absent players masked."""
        with torch.inference_mode():
            return self.probability(self.masked_ids(present))

    def masking_gap(self) -> Tensor:
        """[1]: p(x) − p(every player masked), what the players jointly account for."""
        all_or_none = torch.tensor([[True], [False]], device=self.players.device).expand(2, self.n)
        probabilities = self.presence_probability(all_or_none)
        return probabilities[:1] - probabilities[1:]


@dataclass(frozen=True)
class Probe:
    """The captured batch and its resolved targets, for methods that evaluate the model again."""

    model: nn.Module
    inputs: dict[str, Tensor]  # the padded batch as captured, [B, T] each
    players: Tensor  # [B, T] bool
    targets: Tensor  # [B]
    settings: ProbeSettings

    def row(self, i: int) -> Row:
        length = int(self.inputs["attention_mask"][i].sum()) if "attention_mask" in self.inputs else None
        return Row(
            model=self.model,
            inputs={key: value[i : i + 1, :length] for key, value in self.inputs.items()},
            players=self.players[i, :length],
            target=int(self.targets[i]),
            mask_token_id=self.settings.mask_token_id,
        )

    def rows(self, method: str) -> Iterator[tuple[int, Row, Mapping[str, int]]]:
        """(batch index, row, options) for each row that asked for ``method``; others cost nothing."""
        for i, options in enumerate(self.settings.options):
            if method in options:
                yield i, self.row(i), options[method]
