"""Text in, padded batch out; and the way back from token scores to words a client can highlight.

Words are the tokenizer's own pre-tokenizer words (for BERT: split on whitespace and punctuation, so
"isn't" is three words), because that is the unit the model's word pieces nest in exactly. Every token
and word carries [start, end) character offsets into the original text.

A text is read up to ``CHARS_PER_POSITION`` characters per position the model keeps, so a multi-MB body
costs what a full-length one does: tokenizing is linear in characters and the rest would be cut anyway.
Real text has a few characters per word piece, so only a text already cut by positions, or one that is
mostly whitespace or one giant word, is cut by characters; a word the character cut splits is dropped
whole, so every token kept is the one the full text gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from attnserve.errors import InvalidInput

CHARS_PER_POSITION = 64  # English averages under 5 characters per word piece


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    end: int

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class EncodedText:
    """One text's player tokens (no [CLS]/[SEP]), the words they form, and what was cut off."""

    ids: list[int]
    tokens: list[Span]  # token text is the word piece as the model sees it ("##ing")
    words: list[Span]  # word text is the original substring
    token_word: list[int]  # index into ``words`` for each token
    truncated: bool

    def word_sums(self, token_scores: Tensor) -> Tensor:
        """[n_tokens] -> [n_words]: a word's attribution is the sum of its pieces'."""
        index = torch.tensor(self.token_word, device=token_scores.device)
        return torch.zeros(len(self.words), dtype=token_scores.dtype, device=token_scores.device).index_add_(
            0, index, token_scores
        )


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str, max_length: int) -> EncodedText:
    """Tokenize one text; keep at most ``max_length`` positions including [CLS] and [SEP]."""
    limit = max_length * CHARS_PER_POSITION
    encoding = tokenizer(text[:limit], add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids, word_ids = encoding["input_ids"], encoding.word_ids()
    if not ids:
        raise InvalidInput("text has no characters the model can read", "text")
    keep = max_length - 2
    if len(text) > limit and word_ids[0] != word_ids[-1]:  # the last word read may be cut: drop it whole
        keep = min(keep, word_ids.index(word_ids[-1]))
    truncated = len(ids) > keep or len(text) > limit
    ids = ids[:keep]
    offsets = encoding["offset_mapping"][:keep]
    pieces = tokenizer.convert_ids_to_tokens(ids)
    word_ids = word_ids[: len(ids)]
    tokens = [Span(piece, start, end) for piece, (start, end) in zip(pieces, offsets, strict=True)]
    first: dict[int, int] = {}
    spans: list[list[int]] = []
    token_word = []
    for (start, end), word_id in zip(offsets, word_ids, strict=True):
        if word_id not in first:
            first[word_id] = len(spans)
            spans.append([start, end])
        index = first[word_id]
        spans[index][0] = min(spans[index][0], start)
        spans[index][1] = max(spans[index][1], end)
        token_word.append(index)
    words = [Span(text[start:end], start, end) for start, end in spans]
    return EncodedText(ids=ids, tokens=tokens, words=words, token_word=token_word, truncated=truncated)


def collate(tokenizer: PreTrainedTokenizerBase, texts: list[EncodedText]) -> tuple[dict[str, Tensor], Tensor]:
    """One right-padded batch: model inputs, and players [B, T] (positions 1..n of each row)."""
    width = max(len(t.ids) for t in texts) + 2
    input_ids = torch.full((len(texts), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(texts), width), dtype=torch.long)
    players = torch.zeros((len(texts), width), dtype=torch.bool)
    for row, text in enumerate(texts):
        n = len(text.ids)
        input_ids[row, : n + 2] = torch.tensor([tokenizer.cls_token_id, *text.ids, tokenizer.sep_token_id])
        attention_mask[row, : n + 2] = 1
        players[row, 1 : n + 1] = True
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "token_type_ids" in tokenizer.model_input_names:
        inputs["token_type_ids"] = torch.zeros_like(input_ids)
    return inputs, players
