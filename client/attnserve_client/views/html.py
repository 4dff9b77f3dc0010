"""HTML view: the prediction, a legend, and one row of highlighted words per method (an image model: a
grid of colored patch cells per method).

Self-contained (inline styles, no scripts) so it renders the same in a notebook, a saved file or an
e-mail. Every piece of text from the request or the server is escaped.
"""

from __future__ import annotations

from html import escape

from attnserve_client.explanation import Explanation
from attnserve_client.views._layout import normalized, separators

FOR = (22, 163, 74)  # green: evidence for the target class
AGAINST = (220, 38, 38)  # red: evidence against it
MAX_ALPHA = 0.85


def background(weight: float) -> str:
    """CSS color for a score scaled into [-1, 1]."""
    red, green, blue = FOR if weight >= 0 else AGAINST
    return f"rgba({red}, {green}, {blue}, {abs(weight) * MAX_ALPHA:.3f})"


def _summary(explanation: Explanation) -> str:
    ranked = sorted(explanation.probabilities.items(), key=lambda item: -item[1])
    probabilities = ", ".join(f"{escape(label)} {p:.3f}" for label, p in ranked)
    model = f"{escape(explanation.model.name)} v{escape(explanation.model.version)}"
    truncated = ' <em class="attnserve-truncated">(text truncated to the model\'s maximum length)</em>'
    return (
        f'<p class="attnserve-summary"><strong>{escape(explanation.label)}</strong> · {probabilities} · '
        f"{model}{truncated if explanation.truncated else ''}</p>"
    )


def _legend(target: str) -> str:
    swatches = [(-1.0, f"against {target}"), (0.0, "neutral"), (1.0, f"for {target}")]
    items = "".join(
        f'<span style="background-color: {background(weight)}; padding: 0 0.4em; margin-right: 0.5em">'
        f"{escape(text)}</span>"
        for weight, text in swatches
    )
    return f'<p class="attnserve-legend">{items}<small>(each row scaled to its largest |score|)</small></p>'


def _row(method: str, explanation: Explanation) -> str:
    scores = explanation.attributions[method].words
    cells = "".join(
        f'{gap}<span class="attnserve-word" data-score="{score!r}" title="{score:+.4f}" '
        f'style="background-color: {background(weight)}; border-radius: 3px">{escape(word.text)}</span>'
        for word, score, weight, gap in zip(
            explanation.words, scores, normalized(scores), separators(explanation.words), strict=True
        )
    )
    return (
        f'<tr class="attnserve-method" data-method="{escape(method)}">'
        f'<th style="text-align: left; padding-right: 1em; vertical-align: top">{escape(method)}</th>'
        f'<td style="line-height: 1.8">{cells}</td></tr>'
    )


def _patch_row(method: str, explanation: Explanation) -> str:
    """One method's patch scores as a grid of colored cells (row 0 at the top)."""
    grid = explanation.patch_scores(method)
    weights = normalized([score for row in grid for score in row])
    cols = len(grid[0]) if grid else 0
    lines = []
    for r, row in enumerate(grid):
        cells = "".join(
            f'<td class="attnserve-patch" data-row="{r}" data-col="{c}" data-score="{score!r}" '
            f'title="({r}, {c}) {score:+.4f}" style="width: 1.2em; height: 1.2em; '
            f'background-color: {background(weights[r * cols + c])}"></td>'
            for c, score in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return (
        f'<tr class="attnserve-method" data-method="{escape(method)}">'
        f'<th style="text-align: left; padding-right: 1em; vertical-align: top">{escape(method)}</th>'
        f'<td><table class="attnserve-patches" style="border-collapse: collapse">{"".join(lines)}</table></td></tr>'
    )


def render_html(explanation: Explanation) -> str:
    if explanation.attributions:
        row = _row if explanation.grid is None else _patch_row
        rows = "".join(row(method, explanation) for method in explanation.attributions)
        body = f'{_legend(explanation.target)}<table class="attnserve-rows">{rows}</table>'
    else:
        body = '<p class="attnserve-note">Prediction only: no explanation methods were run.</p>'
    return f'<div class="attnserve-explanation" style="font-family: sans-serif">{_summary(explanation)}{body}</div>'
