"""The text codec of the explainer: a JSON or plain-text body, word pieces as tokens, words as their sums."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from attnserve.concepts.bank import CavBank
from attnserve.explain import Batch, Explainer, ModelInfo
from attnserve.request import ExplainRequest, parse_request
from attnserve.text import EncodedText, collate, encode_text


class TextExplainer(Explainer[EncodedText]):
    """A text classifier with its tokenizer; texts are cut to ``max_length`` positions."""

    modality = "text"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        info: ModelInfo,
        max_length: int,
        default_methods: Sequence[str],
        method_options: Mapping[str, Mapping[str, int]] | None = None,
        max_forward_passes: int | None = None,
        bank: CavBank | None = None,
        amortizer: nn.Module | None = None,
    ) -> None:
        super().__init__(model, info, default_methods, method_options, max_forward_passes, bank, amortizer)
        self.tokenizer = tokenizer
        self.max_length = max_length

    def parse(self, body: object, content_type: str | None) -> ExplainRequest:
        return parse_request(body, content_type, self.labels, self.default_methods, self.concepts, self.refused)

    def encode(self, request: ExplainRequest) -> EncodedText:
        return encode_text(self.tokenizer, request.text, self.max_length)

    def players(self, item: EncodedText) -> int:
        return len(item.ids)

    def collate(self, items: list[EncodedText]) -> Batch:
        inputs, players = collate(self.tokenizer, items)
        return Batch(inputs, players, inputs["attention_mask"].bool())

    def describe(self, item: EncodedText) -> dict[str, Any]:
        return {
            "tokens": [token.to_dict() for token in item.tokens],
            "words": [word.to_dict() for word in item.words],
            "truncated": item.truncated,
        }

    def fold(self, item: EncodedText, row: Tensor) -> dict[str, list[float]]:
        """Positions 1..n are the word pieces ([CLS] at 0 and [SEP] after them are not listed)."""
        per_token = row[1 : len(item.ids) + 1].double()
        return {"tokens": per_token.tolist(), "words": item.word_sums(per_token).tolist()}

    @property
    def mask_token_id(self) -> int | None:
        return self.tokenizer.mask_token_id
