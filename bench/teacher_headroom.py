"""How much faithfulness more Shapley sampling buys, and how close the learned explainer and the teacher
come to a high-order reference: the diagnostics that choose the next learned explainer's recipe.

    .venv/bin/python -m bench.teacher_headroom [--model sentiment] [--count 30] [--orders 6 12 24 50 100]

Run on the model's **training split only**: the inputs the learned explainer's build held aside for
validation (its network never fit them), so nothing here touches the held-out set the published
tables are measured on. For each input:

- one stream of antithetic permutation orders (the teacher's own estimator, ``shapley_targets``) read
  at every count in ``--orders``: comp/suff/AOPC of each estimate tell how much headroom pure imitation
  of a better teacher has;
- an independent stream of ``--reference`` orders (another seed) as the reference; Spearman ρ and
  top-k overlap (the 10 % and 20 % bins' token sets) of every estimate and of the served explainers
  against it tell whether the learned explainer is farther from the truth than the teacher it copies;
- a best-of-teachers oracle: per input, whichever of the 12-order teacher, integrated gradients,
  KernelSHAP and ``gae`` scores the best comp − suff, to bound what per-input target selection gains.

Writes docs/eval/teacher-headroom-<model>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

from attnserve.faithfulness import faithfulness, top
from bench.eval.models import MODELS, EvalModel
from model_store.recipes.amortized import choose, load_settings, split
from model_store.recipes.bundles import discover
from model_store.recipes.shapley_targets import permutation_shapley

SERVED = {"amortized_shapley": {}, "gae": {}, "integrated_gradients": {"steps": 50}, "kernel_shap": {"samples": 200}}
ORACLE = ("sampling-12", "integrated_gradients", "kernel_shap", "gae")  # the teachers an oracle may pick from
METRICS = ("comp", "suff", "aopc_comp", "aopc_suff", "rho", "top10", "top20")
BATCH = 256


def validation_items(model: str, count: int) -> list[str]:
    """The first ``count`` validation inputs of the model's learned-explainer build (training split)."""
    bundle = discover()[model]
    settings = load_settings(bundle)
    items = choose(bundle.recipe.training_items(), settings)
    _, validation = split(settings, len(items))
    return [items[i] for i in validation[:count].tolist()]


def streamed(game, counts: list[int], seed: int) -> dict[int, Tensor]:
    """Antithetic permutation estimates at every count in ``counts``, read off one stream of orders: pair
    by pair, so the estimate at 6 orders is the first 6 orders of the one at 100."""
    generator = torch.Generator().manual_seed(seed)
    total, found = torch.zeros(game.n), {}
    for pair in range(1, max(counts) // 2 + 1):
        total += permutation_shapley(game.presence_probability, game.n, 2, generator, BATCH)
        if 2 * pair in counts:
            found[2 * pair] = total / pair
    return found


def overlap(scores: Tensor, reference: Tensor, percent: int) -> float:
    """Share of the reference's top-``percent`` tokens that ``scores`` also puts in its top ``percent``."""
    mine, theirs = set(top(scores, percent).tolist()), set(top(reference, percent).tolist())
    return len(mine & theirs) / len(theirs)


def scored(game, scores: Tensor, reference: Tensor) -> dict[str, float]:
    found = {k: v for k, v in faithfulness(game, scores).items() if k in METRICS}
    found["rho"] = float(spearmanr(scores.numpy(), reference.numpy())[0]) if game.n > 2 else math.nan
    found["top10"], found["top20"] = overlap(scores, reference, 10), overlap(scores, reference, 20)
    return found


def run(model: str, count: int, counts: list[int], reference_orders: int) -> dict:
    subject = MODELS[model]()
    if not isinstance(subject, EvalModel):
        raise SystemExit(f"{model}: text models only (image patches have no token ranking to imitate)")
    explainer = subject.explainer(max_forward_passes=10**7)
    items = validation_items(model, count)
    rows: dict[str, list[dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for index, text in enumerate(items):
        game = subject.row(text)
        t = time.perf_counter()
        reference = streamed(game, [reference_orders], seed=10_000 + index)[reference_orders]
        seconds["reference"] = seconds.get("reference", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        estimates = {f"sampling-{k}": v for k, v in streamed(game, counts, seed=index).items()}
        seconds["sampling"] = seconds.get("sampling", 0.0) + time.perf_counter() - t
        for name, options in SERVED.items():
            body = {"text": text, "methods": [name]} | ({"options": {name: options}} if options else {})
            (response,) = explainer.explain([(body, None)])
            estimates[name] = torch.tensor(response["attributions"][name]["tokens"])
        results = {name: scored(game, scores, reference) for name, scores in estimates.items()}
        best = max(ORACLE, key=lambda name: results[name]["comp"] - results[name]["suff"])
        results["oracle"] = results[best]
        for name, found in results.items():
            rows.setdefault(name, []).append(found)
        print(f"[{index + 1}/{len(items)}] n={game.n} oracle picks {best}", flush=True)
    summary = {
        name: {
            metric: {"mean": float(np.nanmean(v)), "se": float(np.nanstd(v, ddof=1) / math.sqrt(np.isfinite(v).sum()))}
            for metric in METRICS
            for v in [np.array([row[metric] for row in found], dtype=float)]
        }
        for name, found in rows.items()
    }
    return {
        "model": model,
        "inputs": len(items),
        "orders": counts,
        "reference_orders": reference_orders,
        "served_options": SERVED,
        "seconds": {k: round(v, 1) for k, v in seconds.items()} | {"total": round(time.perf_counter() - started, 1)},
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "summary": summary,
    }


def markdown(result: dict) -> str:
    lines = [
        f"# Teacher headroom: `{result['model']}`",
        "",
        f"{result['inputs']} inputs of the training split (the learned explainer's validation inputs), "
        f"{result['date']}. Command: `.venv/bin/python -m bench.teacher_headroom --model {result['model']} "
        f"--count {result['inputs']} --orders {' '.join(map(str, result['orders']))} "
        f"--reference {result['reference_orders']}`.",
        "",
        f"Reference: antithetic permutation sampling with {result['reference_orders']} orders, an independent "
        "stream. `sampling-k`: the teacher's estimator at k orders. ρ: Spearman against the reference; "
        "top10/top20: share of the reference's top 10 % / 20 % tokens found in the same bin. comp/suff: the "
        "paper protocol (bins 0/10/20/50 %, [MASK]); AOPC: ERASER's bins. Mean ± standard error over inputs. "
        "`oracle`: per input, the best of sampling-12, integrated_gradients, kernel_shap and gae on comp − suff.",
        "",
        "| ranking | comp ↑ | suff ↓ | AOPC comp ↑ | AOPC suff ↓ | ρ vs reference | top10 | top20 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, found in result["summary"].items():
        cells = [f"{found[m]['mean']:.3f} ± {found[m]['se']:.3f}" for m in METRICS]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", f"Seconds: {result['seconds']}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.teacher_headroom", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sentiment", choices=sorted(MODELS))
    parser.add_argument("--count", type=int, default=30, help="training-split inputs (default 30)")
    parser.add_argument("--orders", type=int, nargs="+", default=[6, 12, 24, 50, 100], help="even counts")
    parser.add_argument("--reference", type=int, default=100, help="orders of the reference (even)")
    parser.add_argument("--out", type=Path, default=Path("docs/eval"))
    args = parser.parse_args(argv)
    if any(k % 2 for k in (*args.orders, args.reference)):
        parser.error("order counts must be even: orders come in antithetic pairs")
    result = run(args.model, args.count, sorted(set(args.orders)), args.reference)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"teacher-headroom-{args.model}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
