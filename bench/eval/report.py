"""The three outputs of a run: ``<model>.md`` (the table a reader compares methods with), ``<model>.json``
(everything, per text) and ``<model>_pareto.png`` (comprehensiveness against latency ratio)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from attnserve.faithfulness import AOPC_BINS, PAPER_BINS
from bench.eval.run import Measurements
from bench.eval.stats import Analysis, Estimate, Summary, paired

HEAD_TO_HEAD = ("weighted_relevance", "gae")  # the question arXiv 2308.10240 raises


def write(out: Path, model: str, context: dict, measured: Measurements, analysis: Analysis) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{model}.md", out / f"{model}.json", out / f"{model}_pareto.png"]
    paths[0].write_text(markdown(model, context, measured, analysis, paths[2].name))
    paths[1].write_text(json.dumps(_json(context, measured, analysis), indent=1) + "\n")
    plot(analysis, model, paths[2])
    return paths


def _pm(estimate: Estimate, digits: int = 3) -> str:
    return f"{estimate.mean:.{digits}f} ± {estimate.se:.{digits}f}"


def _delta(summary: Summary, analysis: Analysis, metric: str) -> str:
    if analysis.best[metric] == summary.name:
        return "best"
    return f"{summary.vs_best[metric].mean:+.3f} ± {summary.vs_best[metric].se:.3f}"


def _ms(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def head_to_head(measured: Measurements) -> dict[str, Estimate] | None:
    records = {record.name: record for record in measured.records}
    a, b = HEAD_TO_HEAD
    if a not in records or b not in records:
        return None
    return {metric: paired(records[a], records[b], metric) for metric in records[a].metrics}


def markdown(model: str, context: dict, measured: Measurements, analysis: Analysis, plot_name: str) -> str:
    machine, settings = context["machine"], context["settings"]
    ranked = sorted(analysis.summaries, key=lambda s: -s.metrics["comp"].mean)
    lines = [
        f"# Faithfulness and cost of explanation methods: `{model}`",
        "",
        f"{context['description']}. {len(measured.texts)} texts.",
        "",
        f"Command: `{context['command']}`  ",
        f"Machine: {machine['cpu']}, `nproc` = {machine['nproc']}, torch {machine['torch']} "
        f"(`torch.set_num_threads({machine['threads']})`), Python {machine['python']}; run {context['date']}.  ",
        "Settings: " + ", ".join(f"{key} {value}" for key, value in settings.items() if key != "methods") + ".  ",
        "Methods run: " + ", ".join(f"`{name}`" for name in settings["methods"]) + ".",
        *(["", f"Not run: {context['skipped']}"] if context.get("skipped") else []),
        "",
        "| method | scores | comp ↑ | Δ comp vs best | suff ↓ | Δ suff vs best | AOPC comp ↑ | AOPC suff ↓ "
        "| comp del ↑ | median ms | p90 ms | × forward | Pareto |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in ranked:
        lines.append(
            f"| `{s.name}` | {'signed' if s.signed else 'unsigned'} | {_pm(s.metrics['comp'])} "
            f"| {_delta(s, analysis, 'comp')} | {_pm(s.metrics['suff'])} | {_delta(s, analysis, 'suff')} "
            f"| {_pm(s.metrics['aopc_comp'])} | {_pm(s.metrics['aopc_suff'])} "
            f"| {_pm(s.metrics['comp_del']) if 'comp_del' in s.metrics else 'n/a'} | {_ms(s.median_ms)} "
            f"| {_ms(s.p90_ms)} | {_ms(s.latency_ratio, 2)} | {'yes' if s.name in analysis.pareto else ''} |"
        )
    lines += [
        "",
        f"- **comp / suff**: the attention-Shapley paper's protocol, bins {_bins(PAPER_BINS)} % of the tokens, "
        f"k = ceil(n·k/100), {context.get('masking', 'tokens replaced by `[MASK]` ([CLS]/[SEP] kept)')}, "
        "probability of the class predicted "
        f"on the full text, divisor |K|+1 = {len(PAPER_BINS) + 1}. **AOPC**: ERASER's bins "
        f"{_bins(AOPC_BINS)} %, divisor |B|+1 = {len(AOPC_BINS) + 1}, same masking. Mean ± standard error over texts.",
        "- **comp del**: comp with the top-k tokens *deleted* (the sequence shorter, [CLS]/[SEP] and the other "
        "tokens kept in order) instead of masked, same bins and divisor, so a method is not rewarded for "
        "following this model's reaction to `[MASK]` alone"
        + (" (n/a: image patches cannot be removed from the grid)." if "comp_del" not in analysis.best else "."),
        "- **scores**: *signed* methods are ranked by signed value, so the protocol meets the evidence *for* the "
        "predicted class first; *unsigned* scores (every attention method) carry no direction and are ranked by "
        "value. `random` is a seeded uniform ranking, the floor a method must clear.",
        "- **Δ vs best**: paired difference (method − best) over the same texts ± its standard error; a gap "
        "within about two standard errors is noise.",
        f"- **× forward**: median latency of one explanation (batch size 1, in-process, request parsing to "
        f"response) over the median of a plain prediction in the same run ({analysis.forward_median_ms:.1f} ms).",
        "",
    ]
    duel = head_to_head(measured)
    if duel:
        a, b = HEAD_TO_HEAD
        lines += [
            f"## `{a}` against `{b}`",
            "",
            "Paired over the same texts (positive Δ comp and negative Δ suff favour the first): "
            + "; ".join(f"Δ {metric} = {estimate.mean:+.4f} ± {estimate.se:.4f}" for metric, estimate in duel.items())
            + ".",
            "",
        ]
    lines += [
        "## Faithfulness against cost",
        "",
        f"![comprehensiveness against latency ratio]({plot_name})",
        "",
        "On the Pareto front (no method is both cheaper and more comprehensive), cheapest first: "
        + ", ".join(f"`{name}`" for name in analysis.pareto)
        + ". The front takes median latencies at face value: methods that share the one pass differ by a "
        "few milliseconds, within the noise of the machine.",
        "",
        "## Rank agreement",
        "",
        "Spearman ρ between two methods' token scores, mean over texts with at least 3 tokens. Columns are "
        "numbered as the rows.",
        "",
    ]
    names = [s.name for s in analysis.summaries]
    lines.append("| | method | " + " | ".join(str(i + 1) for i in range(len(names))) + " |")
    lines.append("|---|---|" + "---|" * len(names))
    for i, a in enumerate(names):
        cells = " | ".join(_rho(analysis.spearman[a][b]) for b in names)
        lines.append(f"| {i + 1} | `{a}` | {cells} |")
    return "\n".join(lines) + "\n"


def _bins(bins: tuple[int, ...]) -> str:
    return "{" + ", ".join(map(str, bins)) + "}"


def _rho(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


def _json(context: dict, measured: Measurements, analysis: Analysis) -> dict:
    duel = head_to_head(measured)
    return {
        **context,
        "summaries": [asdict(s) for s in analysis.summaries],
        "best": analysis.best,
        "forward_median_ms": analysis.forward_median_ms,
        "pareto": analysis.pareto,
        "head_to_head": {"pair": HEAD_TO_HEAD, **{k: asdict(v) for k, v in duel.items()}} if duel else None,
        "spearman": analysis.spearman,
        "per_text": {
            "texts": measured.texts,
            "forward_seconds": measured.forward_seconds,
            "methods": {r.name: {"seconds": r.seconds, **r.metrics} for r in measured.records},
        },
    }


def plot(analysis: Analysis, model: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    timed = [s for s in analysis.summaries if s.latency_ratio is not None]
    front = [analysis.summary(name) for name in analysis.pareto]
    figure, axes = plt.subplots(figsize=(9, 6))
    placed: list[tuple[float, float]] = []
    for s in sorted(timed, key=lambda s: s.metrics["comp"].mean):
        on_front = s.name in analysis.pareto
        axes.errorbar(
            s.latency_ratio,
            s.metrics["comp"].mean,
            yerr=s.metrics["comp"].se,
            fmt="o" if s.signed else "s",
            color="tab:red" if on_front else "tab:blue",
            capsize=2,
        )
        point = (s.latency_ratio, s.metrics["comp"].mean)
        crowd = sum(abs(math.log(x / point[0])) < 0.3 and abs(y - point[1]) < 0.01 for x, y in placed)
        placed.append(point)
        axes.annotate(s.name, point, fontsize=7, xytext=(4, 3 + 9 * crowd), textcoords="offset points")
    axes.step([s.latency_ratio for s in front], [s.metrics["comp"].mean for s in front], where="post", color="tab:red")
    floor = next((s for s in analysis.summaries if s.latency_ratio is None), None)
    if floor:
        axes.axhline(floor.metrics["comp"].mean, color="grey", linestyle=":", label=f"{floor.name} ranking")
        axes.legend(loc="lower right")
    axes.set_xscale("log")
    axes.set_xlabel("median latency / plain prediction (log scale)")
    axes.set_ylabel("comprehensiveness (higher is better)")
    axes.set_title(f"{model}: faithfulness against cost (red: Pareto front; circles signed, squares unsigned)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
