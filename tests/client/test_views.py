"""Views: the HTML parses with highlighted words and escaped text, the terminal view honours
NO_COLOR, and the PNG overlay draws where the scores are."""

from __future__ import annotations

import dataclasses
import io
import re
import sys
from html.parser import HTMLParser

import pytest
from attnserve_client import Explanation
from attnserve_client.views.image import overlay_png
from attnserve_client.views.terminal import render_terminal, shade, use_color


class Collector(HTMLParser):
    """Rows (by data-method) of (word text, data-score, background alpha); every start tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list]] = {}
        self.tags: list[str] = []
        self._row: str | None = None
        self._word: list | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "tr" and "data-method" in attributes:
            self._row = attributes["data-method"]
            self.rows[self._row] = []
        if tag == "span" and attributes.get("class") == "attnserve-word":
            alpha = float(re.search(r"rgba\([^)]*, ([\d.]+)\)", attributes["style"]).group(1))
            self._word = ["", float(attributes["data-score"]), alpha]
            self.rows[self._row].append(self._word)

    def handle_data(self, data: str) -> None:
        if self._word is not None:
            self._word[0] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._word = None


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    return collector


def test_html_has_one_row_per_method_of_highlighted_words(response: dict) -> None:
    explanation = Explanation.from_dict(response)
    page = parse(explanation.to_html())
    assert list(page.rows) == explanation.methods
    for method, row in page.rows.items():
        assert [text for text, _, _ in row] == [word.text for word in explanation.words]
        assert [score for _, score, _ in row] == explanation.attributions[method].words
        strongest = max(row, key=lambda cell: cell[2])[0]
        assert strongest == explanation.top_words(1, method)[0][0] == "gorgeous"
    assert "attnserve-legend" in explanation.to_html() and "for positive" in explanation.to_html()
    assert explanation._repr_html_() == explanation.to_html()


def test_html_escapes_the_text_and_everything_from_the_server(response: dict) -> None:
    explanation = Explanation.from_dict(response)
    hostile = dataclasses.replace(
        explanation,
        label='<script>alert("label")</script>',
        attributions={'"><img src=x>': explanation.attributions["shapley_mutual"]},
    )
    html = hostile.to_html()
    page = parse(html)
    assert "script" not in page.tags and "img" not in page.tags
    assert "&lt;film&gt;" not in html and "&lt;" in html and "&amp;" in html  # words "<", "film", ">" apart
    assert list(page.rows) == ['"><img src=x>']


def test_html_of_a_prediction_says_so(response: dict) -> None:
    html = Explanation.from_dict({**response, "attributions": {}}).to_html()
    assert parse(html).rows == {} and "Prediction only" in html


def test_terminal_plain_lists_label_probabilities_and_top_words(response: dict) -> None:
    text = render_terminal(Explanation.from_dict(response), color=False, k=2)
    assert "\x1b" not in text
    assert text.splitlines()[0].startswith("positive")
    assert "0.875" in text and "top words: gorgeous +0.600, film +0.250" in text


def test_terminal_colored_highlights_the_words(response: dict) -> None:
    text = render_terminal(Explanation.from_dict(response), color=True)
    assert f"{shade(1.0)}gorgeous\x1b[0m" in text
    assert shade(0.0) == "" and shade(0.5) != shade(-0.5)


def test_no_color_and_non_tty_turn_colors_off(monkeypatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(Tty()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())


def png(width: int, height: int) -> bytes:
    image_module = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image_module.new("RGB", (width, height), (255, 255, 255)).save(out, format="PNG")
    return out.getvalue()


def test_overlay_tints_the_high_scoring_patch() -> None:
    image_module = pytest.importorskip("PIL.Image")
    result = image_module.open(io.BytesIO(overlay_png(png(64, 32), [[1.0, 0.0], [-1.0, 0.0]]))).convert("RGB")
    assert result.size == (64, 32)
    tinted, clear, negative = result.getpixel((2, 2)), result.getpixel((60, 28)), result.getpixel((2, 30))
    assert tinted[1] < 200 and clear == (255, 255, 255) and negative == (255, 255, 255)


@pytest.mark.parametrize("grid", [[], [[]], [[1.0, 2.0], [3.0]]], ids=["no rows", "empty row", "ragged"])
def test_overlay_rejects_grids_that_are_not_rectangular(grid: list) -> None:
    with pytest.raises(ValueError, match="rectangular"):
        overlay_png(png(4, 4), grid)


def test_overlay_without_pillow_says_which_extra_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"attnserve-client\[views\]"):
        overlay_png(b"", [[1.0]])


def test_the_views_of_an_image_explanation_show_the_patch_grid(image_response: dict) -> None:
    explanation = Explanation.from_dict(image_response)
    text = render_terminal(explanation, color=False, k=2)
    assert "2x3 patches" in text and "top patches: (0, 1) +0.500, (1, 1) +0.300" in text
    assert "top words" not in text
    colored = render_terminal(explanation, color=True)
    assert colored.count(shade(1.0)) >= 2  # each method's strongest patch
    html = explanation.to_html()
    cells = re.findall(r'class="attnserve-patch" data-row="(\d)" data-col="(\d)" data-score="([^"]+)"', html)
    assert len(cells) == 2 * 6 and ("0", "2", "0.9") in cells
    assert [m for m in re.findall(r'data-method="([^"]+)"', html)] == ["shapley_mutual", "gae"]
