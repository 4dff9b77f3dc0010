"""Tokens and words carry offsets into the original text; truncation is reported."""

from __future__ import annotations

import pytest
import torch

from attnserve.errors import InvalidInput
from attnserve.text.codec import CHARS_PER_POSITION, collate, encode_text


def test_offsets_point_into_the_original_text(tokenizer) -> None:
    text = "  Unbelievably DULL, isn't it?  Café crème."
    encoded = encode_text(tokenizer, text, 64)
    assert [w.text for w in encoded.words] == [
        "Unbelievably",
        "DULL",
        ",",
        "isn",
        "'",
        "t",
        "it",
        "?",
        "Café",
        "crème",
        ".",
    ]
    for word in encoded.words:
        assert text[word.start : word.end] == word.text
    pieces_of_first_word = [t.text for t, w in zip(encoded.tokens, encoded.token_word, strict=True) if w == 0]
    assert len(pieces_of_first_word) > 1
    assert "".join(p.removeprefix("##") for p in pieces_of_first_word) == "unbelievably"
    for token, word_index in zip(encoded.tokens, encoded.token_word, strict=True):
        word = encoded.words[word_index]
        assert word.start <= token.start < token.end <= word.end
    assert not encoded.truncated


def test_word_sums_add_their_pieces(tokenizer) -> None:
    encoded = encode_text(tokenizer, "Unbelievably dull", 64)
    scores = torch.arange(len(encoded.ids), dtype=torch.float64)
    sums = encoded.word_sums(scores)
    n_first = encoded.token_word.count(0)
    assert sums.tolist() == [sum(range(n_first)), float(n_first)]


def test_truncation_keeps_the_limit_and_says_so(tokenizer) -> None:
    encoded = encode_text(tokenizer, "word " * 100, 16)
    assert len(encoded.ids) == 14 and encoded.truncated
    assert len(encoded.words) == 14
    inputs, _players = collate(tokenizer, [encoded])
    assert inputs["input_ids"].shape == (1, 16)


def test_text_without_readable_characters_is_rejected(tokenizer) -> None:
    with pytest.raises(InvalidInput) as caught:
        encode_text(tokenizer, "\u200b\u200b", 64)
    assert caught.value.field == "text"


def test_collate_pads_and_marks_players(tokenizer) -> None:
    texts = [encode_text(tokenizer, t, 64) for t in ("short", "a little longer text")]
    inputs, players = collate(tokenizer, texts)
    assert players.sum(1).tolist() == [1, 4]
    assert inputs["attention_mask"].sum(1).tolist() == [3, 6]
    assert inputs["input_ids"][0, 0] == tokenizer.cls_token_id and inputs["input_ids"][0, 2] == tokenizer.sep_token_id


def test_a_huge_text_is_read_only_as_far_as_the_model_could_keep(tokenizer) -> None:
    """6 MB costs what a full-length text does, and the tokens kept are those of the whole text."""

    class Reading:  # the tokenizer, noting how many characters it was handed
        def __init__(self) -> None:
            self.read: list[int] = []

        def __call__(self, text: str, **options: object) -> object:
            self.read.append(len(text))
            return tokenizer(text, **options)

        def __getattr__(self, name: str) -> object:
            return getattr(tokenizer, name)

    words = "a thoughtful and sometimes unbearably sad film " * 140_000
    reading = Reading()
    cut = encode_text(reading, words, 64)
    assert reading.read == [64 * CHARS_PER_POSITION]
    whole = encode_text(tokenizer, words[:2000], 64)
    assert cut.truncated and cut.ids == whole.ids and cut.words == whole.words


@pytest.mark.parametrize("filler", [" ", "x"])
def test_a_text_cut_by_characters_says_so_and_keeps_no_split_word(tokenizer, filler: str) -> None:
    """Mostly whitespace or one giant word: few positions, many characters. The word the character cut
    falls in is dropped whole (a giant word is kept only when it is the first)."""
    text = "dull " + filler * (64 * CHARS_PER_POSITION) + " end"
    encoded = encode_text(tokenizer, text, 64)
    assert encoded.truncated
    assert encoded.words[0].text == "dull"
    assert all(word.end <= 64 * CHARS_PER_POSITION for word in encoded.words)
    if filler == "x":  # "xxx…" is one word cut by the limit: dropped, not served as a shorter word
        assert [word.text for word in encoded.words] == ["dull"]
