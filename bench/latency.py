"""REST latency of the served default model: prediction only vs prediction + explanations, measured
in the same run against the same server and sentences, so the ratio is meaningful on any machine.

    .venv/bin/python -m bench.latency [--requests 50] [--methods shapley_cls ...] [--concept negation]

With ``--concept``, the conditions are instead: prediction only, ``tcav`` on that one concept, and
``tcav`` on every concept of the model (the cost of more concepts in the one shared backward pass).

Starts its own TorchServe on free ports (beside any `make run` server) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from attnserve.methods import REGISTRY
from deploy.launch import Ports, TorchServe
from model_store.recipes import sentiment


def measure(client: httpx.Client, url: str, texts: list[str], fields: dict) -> list[float]:
    seconds = []
    for text in texts:
        start = time.perf_counter()
        response = client.post(url, json={"text": text, **fields})
        seconds.append(time.perf_counter() - start)
        response.raise_for_status()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--methods", nargs="+", default=sorted(REGISTRY))
    parser.add_argument("--concept", help="compare tcav on this concept with tcav on all concepts")
    args = parser.parse_args()
    conditions = {"prediction only": {"methods": []}}
    if args.concept:
        conditions["tcav, 1 concept"] = {"methods": ["tcav"], "concepts": [args.concept]}
        conditions["tcav, all concepts"] = {"methods": ["tcav"]}
    else:
        conditions[f"+ {len(args.methods)} methods"] = {"methods": args.methods}
    _, held_out = sentiment.split()
    texts = [text for text, _ in held_out][: args.requests]
    server = TorchServe(Path(tempfile.mkdtemp(prefix="attnserve-bench-")), ["sentiment=sentiment.mar"], Ports.free())
    server.start()
    try:
        url = f"{server.inference_url}/predictions/sentiment"
        with httpx.Client(headers={"Authorization": f"Bearer {server.token}"}, timeout=60) as client:
            for fields in conditions.values():
                measure(client, url, texts[:5], fields)  # warm-up
            # Interleave the conditions so drift on the machine hits all alike.
            rows: dict[str, list[float]] = {name: [] for name in conditions}
            for text in texts:
                for name, fields in conditions.items():
                    rows[name] += measure(client, url, [text], fields)
    finally:
        server.stop()
    base = statistics.median(rows["prediction only"])
    print(f"{len(texts)} sequential requests each, held-out sentences: {conditions}")
    print(f"{'condition':<22}{'median ms':>10}{'p90 ms':>10}{'ratio':>8}")
    for name, seconds in rows.items():
        p90 = statistics.quantiles(seconds, n=10)[-1]
        median = statistics.median(seconds)
        print(f"{name:<22}{median * 1e3:>10.1f}{p90 * 1e3:>10.1f}{median / base:>8.2f}")


if __name__ == "__main__":
    main()
