"""``Explanation``: one answer of the service, the same whichever transport carried it.

Its fields are the keys of the JSON response (and of the ``ExplainResponse`` proto), so
``to_dict()`` gives back exactly what the REST API sent. Two layouts: a text model answers tokens and
words (and ``truncated``), with scores per token and per word; an image model answers a patch grid
(``patches``), with one score per patch. It imports nothing heavy; the views are imported when
first used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TEXT_KEYS = ("tokens", "words")  # the score lists of the text layout
PATCH_KEYS = ("patches",)  # ... and of the image layout


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str


@dataclass(frozen=True)
class Span:
    """A token or word and its [start, end) character offsets into the request text. ``cut``: the server
    sent only the first 100 characters of a longer word (``request_text[start:end]`` is the whole word)."""

    text: str
    start: int
    end: int
    cut: bool = False


@dataclass(frozen=True)
class PatchGrid:
    """An image model's players: the ViT's patch grid, ``grid == [rows, cols]``; patch (r, c) is entry
    ``r * cols + c`` of every per-patch score list."""

    grid: list[int]

    @property
    def rows(self) -> int:
        return self.grid[0]

    @property
    def cols(self) -> int:
        return self.grid[1]


@dataclass(frozen=True)
class Attribution:
    """One method's scores: aligned with ``Explanation.tokens`` and ``Explanation.words`` (text), or one
    per patch, row-major (images). The other layout's lists are empty."""

    tokens: list[float] = field(default_factory=list)
    words: list[float] = field(default_factory=list)
    patches: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ConceptLayer:
    """A concept's sensitivity S(x) at one encoder block, and s_t aligned with tokens and words (text)
    or with the patches (images)."""

    layer: int
    sensitivity: float
    positive: bool
    tokens: list[float] = field(default_factory=list)
    words: list[float] = field(default_factory=list)
    patches: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Concept:
    """One concept's ``tcav`` answer: the CAV accuracy and the sensitivity per layer."""

    cav_accuracy: list[float]
    layers: list[ConceptLayer]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Concept:
        return cls(
            list(data["cav_accuracy"]), [ConceptLayer(**_known(layer, ConceptLayer)) for layer in data["layers"]]
        )


def _known(data: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """The keys of ``data`` that ``cls`` has fields for (a newer server may send more)."""
    names = cls.__dataclass_fields__
    return {key: value for key, value in data.items() if key in names}


@dataclass(frozen=True)
class Explanation:
    """The predicted ``label``, the ``target`` class the attributions explain, and per-method scores.

    ``attributions`` is empty for a prediction (``predict`` or ``methods=[]``). Map order carries no
    meaning (gRPC does not keep it). ``layout`` says which players the scores are aligned with:
    ``"text"`` (``tokens``, ``words``) or ``"patches"`` (``patches.grid``, the fields of the text
    layout then empty). ``image``: the image bytes the client sent (not part of the response), used
    by ``to_png``.
    """

    model: ModelRef
    label: str
    target: str
    probabilities: dict[str, float]
    attributions: dict[str, Attribution]
    batch_size: int
    timings_s: dict[str, float]
    tokens: list[Span] = field(default_factory=list)
    words: list[Span] = field(default_factory=list)
    truncated: bool = False
    # By concept name, when the request ran ``tcav``; the JSON response has no "concepts" key otherwise.
    concepts: dict[str, Concept] = field(default_factory=dict)
    # Image models only: the patch grid (the JSON's {"patches": {"grid": [rows, cols]}}).
    patches: PatchGrid | None = None
    image: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], image: bytes | None = None) -> Explanation:
        """Build from the JSON response (``image``: the image the request sent, if any). Keys this SDK
        does not know yet are ignored, so an older client keeps working against a newer server."""
        patches = data.get("patches")
        return cls(
            model=ModelRef(**data["model"]),
            label=data["label"],
            target=data["target"],
            probabilities=dict(data["probabilities"]),
            attributions={
                name: Attribution(**_known(scores, Attribution)) for name, scores in data["attributions"].items()
            },
            batch_size=data["batch_size"],
            timings_s=dict(data["timings_s"]),
            tokens=[] if patches is not None else [Span(**span) for span in data["tokens"]],
            words=[] if patches is not None else [Span(**span) for span in data["words"]],
            truncated=False if patches is not None else data["truncated"],
            concepts={name: Concept.from_dict(concept) for name, concept in data.get("concepts", {}).items()},
            patches=None if patches is None else PatchGrid(list(patches["grid"])),
            image=image,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON response this explanation was built from."""
        fields = asdict(self)
        layout = ("tokens", "words", "truncated") if self.patches is None else ("patches",)
        order = ("model", "label", "target", "probabilities", *layout, "attributions", "concepts")
        data = {key: fields[key] for key in (*order, "batch_size", "timings_s") if key != "concepts" or self.concepts}
        for key in TEXT_KEYS if self.patches is None else ():
            data[key] = [span if span["cut"] else {k: v for k, v in span.items() if k != "cut"} for span in data[key]]
        absent = PATCH_KEYS if self.patches is None else TEXT_KEYS
        scored = [*data["attributions"].values()]
        scored += [layer for concept in data.get("concepts", {}).values() for layer in concept["layers"]]
        for scores in scored:
            for key in absent:
                del scores[key]
        return data

    @property
    def layout(self) -> Literal["text", "patches"]:
        return "text" if self.patches is None else "patches"

    @property
    def grid(self) -> tuple[int, int] | None:
        """(rows, cols) of an image model's patch grid; None for a text model."""
        return None if self.patches is None else (self.patches.rows, self.patches.cols)

    @property
    def methods(self) -> list[str]:
        return list(self.attributions)

    def _method(self, method: str | None) -> str:
        if not self.attributions:
            raise ValueError("this explanation has no attributions (it was a prediction, methods=[])")
        name = method if method is not None else next(iter(self.attributions))
        if name not in self.attributions:
            raise KeyError(f"no attributions for method {name!r}; this explanation has {', '.join(self.methods)}")
        return name

    def top_words(self, k: int = 5, method: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` words with the highest scores (most evidence for ``target``), best first.

        ``method`` defaults to the first method of the response. Text models only.
        """
        if self.patches is not None:
            raise ValueError("an image explanation has patches, not words: use top_patches")
        name = self._method(method)
        ranked = sorted(zip(self.words, self.attributions[name].words, strict=True), key=lambda pair: -pair[1])
        return [(word.text, score) for word, score in ranked[:k]]

    def top_patches(self, k: int = 5, method: str | None = None) -> list[tuple[tuple[int, int], float]]:
        """The ``k`` patches with the highest scores, best first, as ((row, col), score).

        ``method`` defaults to the first method of the response. Image models only.
        """
        if self.patches is None:
            raise ValueError("a text explanation has words, not patches: use top_words")
        name = self._method(method)
        cols = self.patches.cols
        ranked = sorted(enumerate(self.attributions[name].patches), key=lambda pair: -pair[1])
        return [((index // cols, index % cols), score) for index, score in ranked[:k]]

    def patch_scores(self, method: str | None = None) -> list[list[float]]:
        """One method's patch scores as rows x cols (row 0 at the top). Image models only."""
        if self.patches is None:
            raise ValueError("a text explanation has no patch grid")
        scores, cols = self.attributions[self._method(method)].patches, self.patches.cols
        return [scores[row * cols : (row + 1) * cols] for row in range(self.patches.rows)]

    def to_png(self, method: str | None = None, image: object = None, opacity: float = 0.6) -> bytes:
        """The image with one method's patch scores laid over it as a heatmap, as PNG bytes (needs the
        ``views`` extra, Pillow). ``image`` (bytes, a path or a PIL image) defaults to the one sent."""
        from attnserve_client._inputs import image_bytes
        from attnserve_client.views.image import overlay_png

        source = self.image if image is None else image_bytes(image)
        if source is None:
            raise ValueError("no image to draw on: pass image= (this explanation was not built from a request)")
        return overlay_png(source, self.patch_scores(method), opacity)

    def to_html(self) -> str:
        """A standalone HTML fragment: highlighted words (or a grid of patch scores), a legend, one row
        per method."""
        from attnserve_client.views.html import render_html

        return render_html(self)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_terminal(self, color: bool | None = None, k: int = 5) -> str:
        """Text for a terminal; ``color=None`` colors only a TTY and honours ``NO_COLOR``."""
        from attnserve_client.views.terminal import render_terminal

        return render_terminal(self, color=color, k=k)
