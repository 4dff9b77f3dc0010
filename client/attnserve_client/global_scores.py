"""Global TCAV scores as the server answers them: per concept and layer, the share of inputs with
positive sensitivity for each CAV, their mean and spread, and the two p-values (paper1 §3).

A typed view so callers never index raw JSON, with a plain-text table and an optional PNG bar plot
(matplotlib is imported only there: it is heavy and not needed for the numbers).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from attnserve_client.errors import ServerError


@dataclass(frozen=True)
class LayerScore:
    layer: int
    score_mean: float
    score_std: float
    scores: list[float]
    p_vs_half: float | None
    p_vs_random: float | None
    cav_accuracy: float


@dataclass(frozen=True)
class GlobalScores:
    model: str
    target: str
    inputs: int
    concepts: dict[str, list[LayerScore]]

    @classmethod
    def from_dict(cls, data: Any) -> GlobalScores:
        try:
            concepts = {
                name: [LayerScore(**layer) for layer in concept["layers"]] for name, concept in data["concepts"].items()
            }
            return cls(data["model"]["name"], data["target"], int(data["inputs"]), concepts)
        except (KeyError, TypeError) as error:
            raise ServerError(f"the server's global scores lack a field: {error}") from None

    def table(self) -> str:
        """Concept × layer: TCAV score mean ± std over the CAVs, both p-values, CAV accuracy."""
        rows = [f"{self.model}: target {self.target!r}, {self.inputs} inputs"]
        rows.append(f"{'concept':<16} {'layer':>5} {'score':>13} {'p vs 0.5':>9} {'p vs rand':>9} {'CAV acc':>7}")
        for name, layers in self.concepts.items():
            for s in layers:
                score = f"{s.score_mean:.3f} ± {s.score_std:.3f}"
                rows.append(
                    f"{name:<16} {s.layer:>5} {score:>13} {_p(s.p_vs_half):>9} {_p(s.p_vs_random):>9} "
                    f"{s.cav_accuracy:>7.3f}"
                )
        return "\n".join(rows)

    def to_png(self) -> bytes:
        """Grouped bars (one group per concept, one bar per layer) with the spread as error bars."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            from matplotlib import pyplot
        except ImportError:
            raise ImportError("the TCAV plot needs matplotlib: pip install matplotlib") from None
        figure, axes = pyplot.subplots(figsize=(max(4, 1.6 * len(self.concepts)), 3.2))
        names = list(self.concepts)
        layers = max(len(v) for v in self.concepts.values())
        width = 0.8 / layers
        for slot in range(layers):
            xs = [i + (slot - (layers - 1) / 2) * width for i in range(len(names))]
            means = [self.concepts[n][slot].score_mean for n in names]
            stds = [self.concepts[n][slot].score_std for n in names]
            axes.bar(xs, means, width, yerr=stds, label=f"layer {self.concepts[names[0]][slot].layer}")
        axes.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
        axes.set(xticks=range(len(names)), xticklabels=names, ylim=(0, 1), ylabel="TCAV score")
        axes.set_title(f"{self.model}: target {self.target} ({self.inputs} inputs)")
        axes.legend(fontsize=7)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120)
        pyplot.close(figure)
        return buffer.getvalue()


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"
