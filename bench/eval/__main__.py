"""Evaluate every explanation method on a model's held-out texts: faithfulness and cost, side by side.

    .venv/bin/python -m bench.eval [--model sentiment] [--quick] [--count N] [--methods a,b] [--out DIR] ...

Full run (``make eval``): 100 texts, IG 50 steps, KernelSHAP 200 samples, Shapley sampling 25
permutations, shap Partition 500 evaluations; writes docs/eval/<model>.{md,json} and <model>_pareto.png.
``--quick`` (CI) runs a few texts with small budgets into var/eval-quick/ so it never overwrites docs/.
``--methods`` measures only the named candidates, to rerun one method without paying for the others.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

from attnserve.methods import REGISTRY
from bench.eval.candidates import NAMES, SCORED, candidates
from bench.eval.models import MODELS, ImageEvalModel
from bench.eval.report import write
from bench.eval.run import measure
from bench.eval.stats import analyse

FULL = {"count": 100, "steps": 50, "samples": 200, "permutations": 25, "partition_evals": 500, "out": "docs/eval"}
QUICK = {"count": 4, "steps": 4, "samples": 24, "permutations": 2, "partition_evals": 40, "out": "var/eval-quick"}
MAX_FORWARD_PASSES = 1_000_000  # the harness sets its budgets explicitly; the serving budget does not apply
BUDGETS = {  # setting -> (the candidate it applies to, its option), so a budget shows only where it was spent
    "integrated_gradients steps": ("integrated_gradients", "steps"),
    "kernel_shap samples": ("kernel_shap", "samples"),
    "shapley_sampling permutations": ("shapley_sampling", "permutations"),
    "shap_partition max_evals": ("shap_partition", "partition_evals"),
}


def method_names(value: str) -> list[str]:
    """A comma-separated list of candidate names, checked here so a typo fails before the model loads."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown method(s) {', '.join(map(repr, unknown)) or '(none given)'}; known: {', '.join(NAMES)}"
        )
    return list(dict.fromkeys(names))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="sentiment")
    parser.add_argument("--quick", action="store_true", help="a few texts, small budgets, output to var/")
    parser.add_argument("--count", type=int, help="held-out texts to evaluate (full: 100)")
    parser.add_argument("--steps", type=int, help="integrated_gradients steps (full: 50)")
    parser.add_argument("--samples", type=int, help="kernel_shap samples (full: 200)")
    parser.add_argument("--permutations", type=int, help="shapley_sampling permutations (full: 25)")
    parser.add_argument("--partition-evals", type=int, help="shap Partition max_evals (full: 500)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for everything timed (default 1: stable on shared cores)"
    )
    parser.add_argument(
        "--methods",
        type=method_names,
        help=f"comma-separated candidates to measure (default: all the model runs); known: {', '.join(NAMES)}",
    )
    parser.add_argument("--out", type=Path, help="output folder (full: docs/eval)")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, Path(value) if key == "out" else value)
    return args


def machine() -> dict[str, object]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or platform.machine(),
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    subject = MODELS[args.model]()
    explainer = subject.explainer(MAX_FORWARD_PASSES)
    options = {method: {option: getattr(args, option)} for method, option in BUDGETS.values() if method in REGISTRY}
    chosen = candidates(subject, explainer, options, args.partition_evals, args.methods or NAMES)
    run = [c.name for c in chosen]
    if args.methods and (missing := [name for name in args.methods if name not in run]):
        raise SystemExit(f"python -m bench.eval: error: --methods: {args.model} cannot run {', '.join(missing)}")
    measured = measure(subject, explainer, chosen, subject.texts[: args.count])
    shown = shlex.join(argv if argv is not None else sys.argv[1:])
    context = {
        "model": args.model,
        "description": subject.description,
        "command": f".venv/bin/python -m bench.eval {shown}".strip(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            "texts": len(measured.texts),
            **{key: getattr(args, option) for key, (method, option) in BUDGETS.items() if method in run},
            "methods": run,
        },
        "masking": subject.masking,
    }
    refused = [name for name in SCORED if name in explainer.refused]
    if refused:
        context["skipped"] = "; ".join(explainer.refused[name] for name in refused) + (
            "; shap_partition masks tokens too. Patches are masked here with black pixels."
            if isinstance(subject, ImageEvalModel)
            else ""
        )
    for path in write(args.out, args.model, context, measured, analyse(measured)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
