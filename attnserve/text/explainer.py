"""The text modality's explainer: a JSON or plain-text body, word pieces as tokens, words as their sums.

The text modality is this package: ``codec`` (text to word pieces, words and offsets; the padded
batch), ``game`` (the [MASK] game its attributions are measured and learned on) and this module (the
``Explainer`` protocol over them, and how a text model directory is loaded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from attnserve.concepts.bank import CavBank
from attnserve.explain import DEFAULT_METHODS, Batch, Explainer, ModelInfo
from attnserve.request import ExplainRequest, parse_request
from attnserve.text.codec import EncodedText, collate, encode_text

WORD_CHARS = 100  # the longest word WordPiece splits into pieces; a longer one is a single [UNK]


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
        max_batch_forward_passes: int | None = None,
    ) -> None:
        super().__init__(
            model, info, default_methods, method_options, max_forward_passes, bank, amortizer, max_batch_forward_passes
        )
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def load(cls, model_dir: Path, settings: Mapping[str, Any], info: ModelInfo, device: str) -> TextExplainer:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager")
        model = model.to(device).eval()
        return cls(
            model,
            AutoTokenizer.from_pretrained(model_dir),
            info,
            max_length=int(settings.get("max_length", 128)),
            default_methods=settings.get("default_methods", DEFAULT_METHODS),
            method_options=settings.get("method_options"),
            max_forward_passes=settings.get("max_forward_passes"),
            max_batch_forward_passes=settings.get("max_batch_forward_passes"),
            **cls.resources(model_dir, model),
        )

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
            "words": [_shown(word.to_dict()) for word in item.words],
            "truncated": item.truncated,
        }

    def fold(self, item: EncodedText, row: Tensor) -> dict[str, list[float]]:
        """Positions 1..n are the word pieces ([CLS] at 0 and [SEP] after them are not listed)."""
        per_token = row[1 : len(item.ids) + 1].double()
        return {"tokens": per_token.tolist(), "words": item.word_sums(per_token).tolist()}

    @property
    def mask_token_id(self) -> int | None:
        return self.tokenizer.mask_token_id

    def without(self, inputs: dict[str, Tensor], absent: Tensor) -> dict[str, Tensor]:
        """Absent tokens become [MASK]; [CLS], [SEP] and padding are never players, so they stay."""
        return {**inputs, "input_ids": inputs["input_ids"].masked_fill(absent, self.tokenizer.mask_token_id)}


def _shown(word: dict[str, Any]) -> dict[str, Any]:
    """A word as a response lists it: a word longer than ``WORD_CHARS`` (one giant "word" of a hostile
    body) is cut there and flagged ``"cut": true``; its offsets still span it whole in the request text."""
    if len(word["text"]) <= WORD_CHARS:
        return word
    return {**word, "text": word["text"][:WORD_CHARS], "cut": True}
