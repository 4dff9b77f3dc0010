"""The text masking game: one text, the class the model predicts for it as target, and the target-class
probability with absent tokens replaced by [MASK] ([CLS]/[SEP] always kept, padding never entered).

The same game serves three users, so each plays it by one definition: the perturbation baselines
(through ``attnserve.probe``), the faithfulness metrics (``attnserve.faithfulness``, the paper's
protocol, arXiv 2508.08966 §4.3) and the build that trains the learned explainer on its Shapley values.
Only torch and the text codec are imported here: a build stage's cache key hashes every repository
module this one pulls in, so no capture or method code may change that key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from attnserve.text.codec import collate, encode_text

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class TextGame:
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


def text_game(model: nn.Module, tokenizer: PreTrainedTokenizerBase, text: str, max_length: int) -> TextGame:
    """``text`` encoded as the served explainer encodes it (so its players are the tokens a response
    scores), with the class the model predicts on the full text as target."""
    inputs, players = collate(tokenizer, [encode_text(tokenizer, text, max_length)])
    device = next(model.parameters()).device
    inputs = {key: value.to(device) for key, value in inputs.items()}
    with torch.inference_mode():
        target = int(model(**inputs).logits.argmax(-1))
    return TextGame(model, inputs, players[0].to(device), target, tokenizer.mask_token_id)
