"""The dearest batch a client can build, timed in-process against the worker's timeout: the proof that
the batch budget keeps every batch inside ``responseTimeout`` on this machine.

TorchServe kills a worker whose batch outruns ``responseTimeout`` and fails every request in it. What a
client controls is capped per request (length, options, the 2,000-pass baseline budget), per batch
(the batch budget: perturbation work beyond what a batch has left is refused with a 503, unrun) and per
kind (one global TCAV set per batch). The dearest batch is then ``batchSize`` requests at full length,
each asking for every method the model serves with its baselines at the per-request cap: one of them
runs its baselines, the others are refused theirs; plus one global TCAV set of 256 full-length texts,
which the handler scores in the same batch. Timed on the shipped model, the ratio to the timeout is
what the docs quote.

    .venv/bin/python -m bench.dearest_batch [--model sentiment] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time

from attnserve.concepts.global_scores import MAX_TEXTS, global_scores
from attnserve.explain import Busy, ModelInfo
from attnserve.loading import load_explainer
from attnserve.methods import REGISTRY
from model_store.recipes.bundles import discover


def full_length_text(words: int) -> str:
    """A review long enough to fill every position (real words, so each is one or two word pieces)."""
    sentence = "a thoughtful , funny and sometimes unbearably sad film that never once looks away from its people ."
    return " ".join([sentence] * (words // len(sentence.split()) + 1))


def dearest_bodies(explainer, batch_size: int) -> list[dict]:
    """``batch_size`` full-length requests for every method the model serves, with the baselines'
    options at the per-request cap."""
    text = full_length_text(4 * explainer.max_length)
    methods = [name for name in REGISTRY if name not in explainer.refused]
    n = explainer.max_length - 2
    options = {"shapley_sampling": {"permutations": max(1, (explainer.max_forward_passes - 1) // n)}}
    methods = [m for m in methods if m not in ("kernel_shap", "integrated_gradients")]  # one baseline fills it
    concepts = list(explainer.concepts)
    body = {"text": text, "methods": methods, "options": options, **({"concepts": concepts} if concepts else {})}
    return [body] * batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from model_store.recipes.build import release_dir, staged

    bundle = discover()[args.model]
    model_dir, _ = staged(bundle, release_dir(bundle))
    explainer = load_explainer(model_dir, bundle.handler_settings(), ModelInfo(bundle.name, "bench"))
    batch_size, timeout = bundle.torchserve["batchSize"], bundle.torchserve["responseTimeout"]
    bodies = [(body, "application/json") for body in dearest_bodies(explainer, batch_size)]
    texts = [full_length_text(4 * explainer.max_length)] * MAX_TEXTS
    explainer.explain(bodies[:1])  # warm up: lazy imports, first-call allocations
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        outcomes = explainer.explain(bodies)
        explained = time.perf_counter() - started
        if explainer.bank is not None:
            global_scores(explainer, texts, 0, list(explainer.concepts))
        seconds.append((explained, time.perf_counter() - started))
    refused = sum(isinstance(outcome, Busy) for outcome in outcomes)
    worst = max(total for _, total in seconds)
    report = {
        "model": bundle.name,
        "batch_size": batch_size,
        "methods_per_request": len(bodies[0][0]["methods"]),
        "baseline_passes_per_request": explainer.max_forward_passes,
        "batch_budget": explainer.max_batch_forward_passes,
        "refused_busy": refused,
        "global_texts": MAX_TEXTS if explainer.bank is not None else 0,
        "explain_s": [round(e, 2) for e, _ in seconds],
        "with_global_s": [round(t, 2) for _, t in seconds],
        "response_timeout_s": timeout,
        "worst_over_timeout": round(worst / timeout, 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
