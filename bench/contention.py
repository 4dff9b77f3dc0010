"""Several served models busy at once on one host: how much each keeps of what it serves alone, and what
helps: fewer torch threads per worker (the bundle's ``handler.torch_threads``) or threads that poll less
before they sleep (GOMP_SPINCOUNT, which deploy/launch.py sets for every worker).

    .venv/bin/python -m bench.contention [--threads 0 1] [--spin libgomp 1000] [--clients 8] [--seconds 6]

Every worker's torch takes every core by default, so with the three shipped models busy together a
2-core host runs six compute threads, and libgomp's idle threads poll for milliseconds on cores the
other workers need. For each configuration (threads x spin; threads 0 = torch's own default, spin
"libgomp" = libgomp's own default), one TorchServe serves copies of every archive, and a closed loop of
``--clients`` SDK clients per busy model sends its default explanation request (``methods`` left out)
for ``--seconds``: first each model alone, then all of them at once. The answer is per model:
requests/s, p50/p99 latency, and, when all are busy, its throughput as a share of its alone figure; the
JSON keeps the raw figures (default var/bench/contention.json). Needs the fashion images
(`make debian-data`) and an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from attnserve_client import AsyncClient, AttnserveClientError
from PIL import Image

from bench.curve import percentile, serving_copy, table
from deploy.launch import ROOT, SPIN_COUNT, Ports, TorchServe
from model_store.recipes import fashion, sentiment, topics

MODELS = ("sentiment", "topics", "fashion")
STORE = ROOT / "model_store"
INPUTS_PER_MODEL = 32


def inputs() -> dict[str, list[dict[str, Any]]]:
    """Keyword arguments of ``AsyncClient.explain`` per model: held-out texts, test images."""
    images, _ = fashion.load_split("test")
    return {
        "sentiment": [{"text_or_texts": t} for t, _ in sentiment.split()[1][:INPUTS_PER_MODEL]],
        "topics": [{"text_or_texts": t} for t, _ in topics.split()[1][:INPUTS_PER_MODEL]],
        "fashion": [{"image": Image.fromarray(images[i])} for i in range(INPUTS_PER_MODEL)],
    }


async def busy(server: TorchServe, models: list[str], work: dict, clients: int, warmup: float, seconds: float) -> dict:
    """A closed loop of ``clients`` per model in ``models``, all at once; per model what its window saw."""
    found: dict[str, list[tuple[float, float]]] = {m: [] for m in models}
    errors: dict[str, list[str]] = {m: [] for m in models}
    running = True

    async def loop(model: str, index: int) -> None:
        client = AsyncClient(
            server.inference_url, grpc_target=server.grpc_target, model=model, token=server.token, retries=0
        )
        k = index
        try:
            while running:
                sent = time.perf_counter()
                try:
                    await client.explain(**work[model][k % len(work[model])])
                except AttnserveClientError as error:
                    errors[model].append(f"{type(error).__name__}: {error}")
                else:
                    found[model].append((sent, time.perf_counter()))
                k += 1
        finally:
            await client.close()

    tasks = [asyncio.create_task(loop(m, i)) for m in models for i in range(clients)]
    await asyncio.sleep(warmup)
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    end = time.perf_counter()
    running = False
    await asyncio.gather(*tasks)
    result = {}
    for model in models:
        latencies = [done - sent for sent, done in found[model] if start <= done <= end]
        result[model] = {
            "rps": len(latencies) / (end - start),
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3,
            "errors": len(errors[model]),
            "first_error": errors[model][0] if errors[model] else None,
        }
    return result


def measure(threads: int, spin: str, work: dict, args: argparse.Namespace) -> dict[str, Any]:
    """Every model alone, then all at once, on one server whose workers run ``threads`` torch threads
    that spin ``spin`` times (GOMP_SPINCOUNT; "libgomp": its own default) before they sleep."""
    with tempfile.TemporaryDirectory(prefix="attnserve-contention-") as scratch:
        store = Path(scratch)
        for model in MODELS:
            serving_copy(STORE / f"{model}.mar", store, {}, {"torch_threads": threads} if threads else {})
        models = [f"{m}={m}.mar" for m in MODELS]
        spin_count = None if spin == "libgomp" else int(spin)
        server = TorchServe(Path(scratch, "ts"), models, Ports.free(), store, spin_count=spin_count)
        server.start()
        try:
            scenarios = {}
            for models in [[m] for m in MODELS] + [list(MODELS)]:
                name = "+".join(models) if len(models) > 1 else f"{models[0]} alone"
                scenarios[name] = asyncio.run(busy(server, models, work, args.clients, args.warmup, args.seconds))
                for model, cell in scenarios[name].items():
                    print(f"  {label(threads, spin)}  {name:<28}{model:<10}{cell['rps']:>7.1f} req/s", flush=True)
        finally:
            server.stop()
    return scenarios


def label(threads: int, spin: str) -> str:
    return f"threads {threads or 'default'}, spin {spin}"


def report(runs: list[dict[str, Any]]) -> str:
    rows = []
    together = "+".join(MODELS)
    for run in runs:
        workers, scenarios = label(run["threads"], run["spin"]), run["scenarios"]
        for model in MODELS:
            alone, shared = scenarios[f"{model} alone"][model], scenarios[together][model]
            rows.append(
                [
                    workers,
                    model,
                    f"{alone['rps']:.1f}",
                    f"{alone['p50_ms']:.0f} / {alone['p99_ms']:.0f}",
                    f"{shared['rps']:.1f}",
                    f"{shared['p50_ms']:.0f} / {shared['p99_ms']:.0f}",
                    f"{shared['rps'] / alone['rps']:.2f}",
                    alone["errors"] + shared["errors"],
                ]
            )
    header = ["workers", "model", "alone req/s", "alone p50 / p99 ms", "all busy req/s",
              "all busy p50 / p99 ms", "all busy / alone", "errors"]  # fmt: skip
    return table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="torch threads per worker (0: default)")
    parser.add_argument(
        "--spin",
        nargs="+",
        default=["libgomp", str(SPIN_COUNT)],
        help=f"GOMP_SPINCOUNT for the workers ('libgomp': its own default; the launcher's: {SPIN_COUNT})",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients per busy model")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each scenario")
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench" / "contention.json")
    args = parser.parse_args()
    if "GOMP_SPINCOUNT" in os.environ:
        parser.error("unset GOMP_SPINCOUNT: this benchmark sets it per configuration")
    work = inputs()
    load_before = os.getloadavg()[0]
    runs = [
        {"threads": t, "spin": spin, "scenarios": measure(t, spin, work, args)}
        for t in args.threads
        for spin in args.spin
    ]
    text = report(runs)
    print(f"\n{text}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in ("threads", "spin", "clients", "seconds", "warmup")}
    machine = {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg()[0]}
    args.json.write_text(json.dumps({"settings": settings, "machine": machine, "runs": runs}, indent=2) + "\n")
    print(f"figures: {args.json}")


if __name__ == "__main__":
    main()
