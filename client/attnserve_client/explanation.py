"""``Explanation``: one answer of the service, the same whichever transport carried it.

Its fields are the keys of the JSON response (and of the ``ExplainResponse`` proto), so
``to_dict()`` gives back exactly what the REST API sent. It imports nothing heavy; the views are
imported when first used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str


@dataclass(frozen=True)
class Span:
    """A token or word and its [start, end) character offsets into the request text."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Attribution:
    """One method's scores, aligned with ``Explanation.tokens`` and ``Explanation.words``."""

    tokens: list[float]
    words: list[float]


@dataclass(frozen=True)
class ConceptLayer:
    """A concept's sensitivity S(x) at one encoder block, and s_t aligned with tokens and words."""

    layer: int
    sensitivity: float
    positive: bool
    tokens: list[float]
    words: list[float]


@dataclass(frozen=True)
class Concept:
    """One concept's ``tcav`` answer: the CAV accuracy and the sensitivity per layer."""

    cav_accuracy: list[float]
    layers: list[ConceptLayer]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Concept:
        return cls(list(data["cav_accuracy"]), [ConceptLayer(**layer) for layer in data["layers"]])


@dataclass(frozen=True)
class Explanation:
    """The predicted ``label``, the ``target`` class the attributions explain, and per-method scores.

    ``attributions`` is empty for a prediction (``predict`` or ``methods=[]``). Map order carries no
    meaning (gRPC does not keep it).
    """

    model: ModelRef
    label: str
    target: str
    probabilities: dict[str, float]
    tokens: list[Span]
    words: list[Span]
    truncated: bool
    attributions: dict[str, Attribution]
    batch_size: int
    timings_s: dict[str, float]
    # By concept name, when the request ran ``tcav``; the JSON response has no "concepts" key otherwise.
    concepts: dict[str, Concept] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """Build from the JSON response. Keys this SDK does not know yet are ignored, so an older
        client keeps working against a newer server."""
        return cls(
            model=ModelRef(**data["model"]),
            label=data["label"],
            target=data["target"],
            probabilities=dict(data["probabilities"]),
            tokens=[Span(**span) for span in data["tokens"]],
            words=[Span(**span) for span in data["words"]],
            truncated=data["truncated"],
            attributions={
                name: Attribution(tokens=list(scores["tokens"]), words=list(scores["words"]))
                for name, scores in data["attributions"].items()
            },
            batch_size=data["batch_size"],
            timings_s=dict(data["timings_s"]),
            concepts={name: Concept.from_dict(concept) for name, concept in data.get("concepts", {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON response this explanation was built from."""
        data = asdict(self)
        if not self.concepts:
            del data["concepts"]
        return data

    @property
    def methods(self) -> list[str]:
        return list(self.attributions)

    def top_words(self, k: int = 5, method: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` words with the highest scores (most evidence for ``target``), best first.

        ``method`` defaults to the first method of the response.
        """
        if not self.attributions:
            raise ValueError("this explanation has no attributions (it was a prediction, methods=[])")
        name = method if method is not None else next(iter(self.attributions))
        if name not in self.attributions:
            raise KeyError(f"no attributions for method {name!r}; this explanation has {', '.join(self.methods)}")
        ranked = sorted(zip(self.words, self.attributions[name].words, strict=True), key=lambda pair: -pair[1])
        return [(word.text, score) for word, score in ranked[:k]]

    def to_html(self) -> str:
        """A standalone HTML fragment: highlighted words, a legend, one row per method."""
        from attnserve_client.views.html import render_html

        return render_html(self)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_terminal(self, color: bool | None = None, k: int = 5) -> str:
        """Text for a terminal; ``color=None`` colors only a TTY and honours ``NO_COLOR``."""
        from attnserve_client.views.terminal import render_terminal

        return render_terminal(self, color=color, k=k)
