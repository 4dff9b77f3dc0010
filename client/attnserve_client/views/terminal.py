"""Terminal view: label and probabilities, then per method the highlighted text and its top words (an
image model: the patch grid as colored cells and the top patches).

Colors use the 256-color palette (green for the target class, red against it). ``NO_COLOR``
(https://no-color.org) and a non-TTY output turn them off; the plain text still lists the top words.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from attnserve_client.explanation import Explanation
from attnserve_client.views._layout import normalized, separators

FOR = (194, 157, 120, 83, 46)  # pale to strong green backgrounds
AGAINST = (224, 217, 210, 203, 196)  # pale to strong red backgrounds
RESET = "\x1b[0m"
BOLD = "\x1b[1m"
BAR_WIDTH = 24


def use_color(stream: TextIO | None = None) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def shade(weight: float) -> str:
    """The ANSI background for a score scaled into [-1, 1]; empty for (near) zero."""
    level = min(len(FOR), round(abs(weight) * len(FOR)))
    if level == 0:
        return ""
    palette = FOR if weight > 0 else AGAINST
    return f"\x1b[30;48;5;{palette[level - 1]}m"


def _highlighted(explanation: Explanation, method: str) -> str:
    scores = explanation.attributions[method].words
    parts = []
    for word, weight, gap in zip(explanation.words, normalized(scores), separators(explanation.words), strict=True):
        color = shade(weight)
        parts.append(f"{gap}{color}{word.text}{RESET}" if color else f"{gap}{word.text}")
    return "".join(parts)


def render_terminal(explanation: Explanation, color: bool | None = None, k: int = 5) -> str:
    color = use_color() if color is None else color
    bold, reset = (BOLD, RESET) if color else ("", "")
    model = f"{explanation.model.name} v{explanation.model.version}"
    lines = [f"{bold}{explanation.label}{reset}  ({model}; attributions explain {explanation.target!r})"]
    for label, p in sorted(explanation.probabilities.items(), key=lambda item: -item[1]):
        lines.append(f"  {label:<12} {p:6.3f} {'█' * round(p * BAR_WIDTH)}")
    if explanation.truncated:
        lines.append("  (text truncated to the model's maximum length)")
    if explanation.grid is not None:
        rows, cols = explanation.grid
        lines.append(f"  {rows}x{cols} patches; (row, col) counted from the top left")
    for method in explanation.attributions:
        lines.append(f"{bold}{method}{reset}")
        if explanation.grid is not None:
            if color:
                lines.extend(f"  {row}" for row in _heat_rows(explanation, method))
            top = ", ".join(f"({r}, {c}) {score:+.3f}" for (r, c), score in explanation.top_patches(k, method))
            lines.append(f"  top patches: {top}")
            continue
        if color:
            lines.append(f"  {_highlighted(explanation, method)}")
        top = ", ".join(f"{word} {score:+.3f}" for word, score in explanation.top_words(k, method))
        lines.append(f"  top words: {top}")
    return "\n".join(lines)


def _heat_rows(explanation: Explanation, method: str) -> list[str]:
    """The patch grid as colored cells, one line per row of patches."""
    grid = explanation.patch_scores(method)
    weights = normalized([score for row in grid for score in row])
    cols = len(grid[0]) if grid else 0
    return [
        "".join(f"{shade(weight) or ''}  {RESET}" for weight in weights[r * cols : (r + 1) * cols])
        for r in range(len(grid))
    ]
