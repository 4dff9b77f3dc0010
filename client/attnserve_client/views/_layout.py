"""What the HTML and terminal views share: score scaling and the spacing between words."""

from __future__ import annotations

from collections.abc import Sequence

from attnserve_client.explanation import Span


def normalized(scores: Sequence[float]) -> list[float]:
    """Scores scaled into [-1, 1] by the row's largest magnitude, so each method's row uses the
    whole color range whatever its units (signed Shapley values, unsigned importances)."""
    peak = max((abs(score) for score in scores), default=0.0)
    return [score / peak if peak > 0 else 0.0 for score in scores]


def separators(words: Sequence[Span]) -> list[str]:
    """The text to put before each word: a space where the original text had a gap (the words'
    offsets say where), nothing before punctuation that was attached."""
    return ["" if i == 0 or word.start <= words[i - 1].end else " " for i, word in enumerate(words)]
