"""The latency/throughput curve of the served `sentiment` model, against what the engine alone does on the
same machine: what TorchServe, the transports and its batching add on top of the maths.

    .venv/bin/python -m bench.curve [--quick] [--batch-size N] [--max-batch-delay-ms MS] [--seconds S]
    .venv/bin/python -m bench.curve --device cuda --precision bfloat16 --json ... --plot ...   # on a GPU

One run, one fixed set of held-out sentences, five conditions: prediction only (``"methods": []``), the
bundle's default methods (``methods`` left out), ``gae``, ``amortized_shapley`` and both in one request.

- In process: ``Explainer.explain`` on one body at a time (batch-1 latency), then on batches of 1, 8, 16,
  32 and 64 bodies back to back; the best of those throughputs is "the limit" of the engine, torch using
  every core. Also the cost of the REST answer's ``json.dumps``, which the handler pays per request.
- Served: a closed loop of 1, 4, 16 and 64 clients over REST and over gRPC. Each client is an SDK
  ``AsyncClient`` with its own connection (no retries), all in one asyncio loop; it sends its next request
  when its previous answer arrives. Per cell: p50/p99 latency, requests/s, the mean batch TorchServe
  formed, the frontend's own timing of each request (queue and batch wait; the worker's round trip), and
  the CPU that the load generator, TorchServe's frontend (the JVM) and its worker spent per request, so
  that a saturated load generator shows instead of passing for a slow server.

A model loaded at start takes its batch settings from the archive's model-config.yaml before
config.properties (TorchServe 0.12, ``ModelManager.createModel``), and attnserve's config turns the
management API's registration off, so ``--batch-size`` / ``--max-batch-delay-ms`` are written into that
file in a copy of the archive. This benchmark's own TorchServe (free ports, beside any `make run` server)
serves the copy and the in-process engine loads it: both run the very same weights and settings. (The
engine code differs only if attnserve/ changed since the archive, which packs its own copy, was built.)

On a GPU host, ``--device cuda`` puts the in-process engine on the GPU; the served worker is on it
already, since TorchServe hands each worker a ``gpu_id`` whenever it sees GPUs. ``--precision`` writes
``handler.precision`` into the copy's model-config.yaml and runs the in-process engine under the same
autocast (``handlers.explain_handler.precision_context``).

Output: markdown tables on stdout (docs/performance.md holds the last full run), the raw figures as JSON
and a plot (docs/performance.json, docs/performance.png; with --quick, under var/bench/). Figures only mean
something on an otherwise idle machine: the load average is recorded, and a busy machine is warned about.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
import yaml
from attnserve_client import AsyncClient, AttnserveClientError

from attnserve.explain import Explainer, ModelInfo
from attnserve.loading import load_explainer
from deploy.launch import ROOT, Ports, TorchServe
from handlers.explain_handler import PRECISIONS, precision_context
from model_store.recipes import sentiment

MODEL = "sentiment"
ARCHIVE = ROOT / "model_store" / f"{MODEL}.mar"
MANIFEST = "MAR-INF/MANIFEST.json"
PID_FILE = ".model_server.pid"  # TorchServe's own, in the TMPDIR that deploy.launch gives each instance
TRANSPORTS = ("rest", "grpc")
EXPLANATION, PREDICTION = "gae+amortized_shapley", "prediction"
# Condition -> the request's "methods"; None leaves the field out, so the bundle's default methods run.
CONDITIONS: dict[str, list[str] | None] = {
    PREDICTION: [],
    "default": None,
    "gae": ["gae"],
    "amortized_shapley": ["amortized_shapley"],
    EXPLANATION: ["gae", "amortized_shapley"],
}
PRESETS = {
    "full": {"seconds": 4.0, "warmup": 1.0, "engine_seconds": 2.0, "clients": [1, 4, 16, 64], "rounds": 2},
    "quick": {"seconds": 0.5, "warmup": 0.2, "engine_seconds": 0.3, "clients": [1, 4], "rounds": 1},
}
ENGINE_BATCHES = {"full": [1, 8, 16, 32, 64], "quick": [1, 8]}
OUT = {"full": ROOT / "docs", "quick": ROOT / "var" / "bench"}
MAX_CELL_S = 30.0  # a cell waits for its minimum number of answers at most this long
BUSY_LOAD = 0.5  # a 1-minute load average above this: something else is using the cores
GOALS = {"latency": 1.5, "throughput": 0.70, "explanation": 0.75, "tail": 3.0}


def body(text: str, methods: list[str] | None) -> dict[str, Any]:
    return {"text": text} if methods is None else {"text": text, "methods": methods}


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# --- the archive both sides run ---------------------------------------------------------------------


def serving_copy(source: Path, store: Path, overrides: dict[str, int], handler: dict[str, str]) -> dict[str, Any]:
    """Copy ``source`` into ``store`` with ``overrides`` (TorchServe's keys) and ``handler`` (keys of its
    ``handler`` section) written into its model-config.yaml; the copy's model config. Entries are stored
    uncompressed: the copy takes a second, and TorchServe unpacks it alike."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(store / source.name, "w") as new:
        config_name = json.loads(old.read(MANIFEST))["model"]["configFile"]
        config = {**yaml.safe_load(old.read(config_name)), **overrides}
        config["handler"] = {**config.get("handler", {}), **handler}
        for entry in old.infolist():
            is_config = entry.filename == config_name
            new.writestr(entry.filename, yaml.safe_dump(config, sort_keys=False) if is_config else old.read(entry))
    return config


def load_engine(archive: Path, model_dir: Path, config: dict[str, Any], device: str) -> Explainer:
    """The archive's model behind the explainer, loaded as the handler loads it (same settings)."""
    with zipfile.ZipFile(archive) as packed:
        packed.extractall(model_dir)
    version = str(json.loads((model_dir / "model_card.json").read_text())["version"])
    return load_explainer(model_dir, config.get("handler", {}), ModelInfo(MODEL, version), device)


# --- in process ---------------------------------------------------------------------------------------


def repeat(step: Callable[[int], None], seconds: float, at_least: int) -> tuple[list[float], float]:
    """``step(0)``, ``step(1)``, ... for ``seconds`` and at least ``at_least`` times: each call's wall
    seconds, and the CPU seconds of all of them (every thread of this process)."""
    durations: list[float] = []
    cpu, stop = time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < stop or len(durations) < at_least:
        start = time.perf_counter()
        step(len(durations))
        durations.append(time.perf_counter() - start)
    return durations, time.process_time() - cpu


def answered(explainer: Explainer, bodies: list[dict[str, Any]], *, precision: str) -> list[dict[str, Any]]:
    with precision_context(precision, explainer.device):  # as the handler runs a batch
        outcomes = explainer.explain([(one, "application/json") for one in bodies])
    for outcome in outcomes:
        if not isinstance(outcome, dict):
            raise RuntimeError(f"the engine refused a benchmark request: {outcome}")
    return outcomes


def engine_figures(
    explainer: Explainer, bodies: list[dict[str, Any]], batches: list[int], seconds: float, precision: str
) -> dict:
    """Batch-1 latency (and the REST answer's JSON encoding), then requests/s per batch size; the limit."""
    outcomes: list[dict[str, Any]] = []
    run = partial(answered, explainer, precision=precision)
    run(bodies[:1])  # warm-up
    latencies, cpu = repeat(lambda i: outcomes.extend(run([bodies[i % len(bodies)]])), seconds, 5)
    encode, _ = repeat(lambda i: json.dumps(outcomes[i % len(outcomes)]), 0, len(outcomes))
    throughput = {}
    for size in batches:
        groups = [[bodies[(k * size + j) % len(bodies)] for j in range(size)] for k in range(len(bodies))]
        run(groups[0])  # warm-up: the first pass of a shape allocates
        durations, _ = repeat(lambda i, groups=groups: run(groups[i % len(groups)]), seconds, 2)
        throughput[size] = size * len(durations) / sum(durations)
    best = max(throughput, key=throughput.__getitem__)
    return {
        "batch1_p50_ms": percentile(latencies, 50) * 1e3,
        "batch1_p99_ms": percentile(latencies, 99) * 1e3,
        "batch1_cpu_ms": cpu / len(latencies) * 1e3,
        "json_ms": percentile(encode, 50) * 1e3,
        "response_bytes": int(statistics.median(len(json.dumps(o)) for o in outcomes)),
        "rps_by_batch": throughput,
        "limit_rps": throughput[best],
        "limit_batch": best,
    }


# --- served -------------------------------------------------------------------------------------------


class Meters:
    """What a cell reads beside its answers: the CPU seconds of the load generator (this process), of
    TorchServe's frontend (the JVM) and of its worker (the JVM's children); and the frontend's own line per
    request in ts_log.log, "Waiting time ns: W, Backend time ns: B" (W: in the queue and waiting for the
    batch to fill; B: the worker's round trip), which TorchServe's default log level (DEBUG) writes. No
    such figures where the log rolled over (at 100 MB) within a window, or where the level is raised."""

    TIMES = re.compile(rb"Waiting time ns: (\d+), Backend time ns: (\d+)")

    def __init__(self, server: TorchServe) -> None:
        self.frontend = psutil.Process(int((server.workdir / "tmp" / PID_FILE).read_text().split()[0]))
        self.log = server.workdir / "logs" / "ts_log.log"

    def read(self) -> dict[str, float]:
        def used(process: psutil.Process) -> float:
            times = process.cpu_times()
            return times.user + times.system

        workers = sum(used(child) for child in self.frontend.children(recursive=True))
        cpu = {"client": time.process_time(), "frontend": used(self.frontend), "worker": workers}
        return cpu | {"log_offset": self.log.stat().st_size}

    def between(self, before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
        start, end = int(before["log_offset"]), int(after["log_offset"])
        cpu = {name: after[name] - before[name] for name in after if name != "log_offset"}
        if end < start:
            return {"cpu_s": cpu, "log_bytes": None, "frontend_ms": []}
        with self.log.open("rb") as log:
            log.seek(start)
            written = log.read(end - start)
        # Every frontend line is there twice (TorchServe's log4j2.xml sends it to ts_log by its own logger
        # and again through the root's), so count each distinct line once.
        found = (self.TIMES.search(line) for line in set(written.splitlines()))
        frontend_ms = [(int(m[1]) / 1e6, int(m[2]) / 1e6) for m in found if m]
        return {"cpu_s": cpu, "log_bytes": len(written), "frontend_ms": frontend_ms}


@dataclass
class Window:
    """What one closed-loop cell saw between the end of its warm-up and the end of its window."""

    latencies_s: list[float]
    batch_sizes: list[int]
    seconds: float
    errors: list[str]
    answered: int  # every answer of the cell, warm-up and drain included
    measured: dict[str, Any]  # Meters.between over the window


async def closed_loop(
    clients: list[AsyncClient], texts: list[str], methods: list[str] | None, meters: Meters, settings: dict
) -> Window:
    """Each client sends its next request as soon as its previous answer arrives. Counted: the answers
    that arrive within the window, which lasts ``seconds`` and until ``rounds`` answers per client came
    (at most ``MAX_CELL_S``); requests still in flight at its end are awaited, not counted."""
    answers: list[tuple[float, float, int]] = []  # (sent, answered, batch size)
    errors: list[str] = []
    running = True

    async def client_loop(index: int, client: AsyncClient) -> None:
        k = index * len(texts) // len(clients)  # each client starts at its own sentence
        while running:
            sent = time.perf_counter()
            try:
                answer = await client.explain(texts[k % len(texts)], methods=methods)
            except AttnserveClientError as error:
                errors.append(f"{type(error).__name__}: {error}")
            else:
                answers.append((sent, time.perf_counter(), answer.batch_size))
            k += 1

    tasks = [asyncio.create_task(client_loop(i, client)) for i, client in enumerate(clients)]
    await asyncio.sleep(settings["warmup"])
    start, before = time.perf_counter(), meters.read()
    wanted = settings["rounds"] * len(clients)
    while (elapsed := time.perf_counter() - start) < settings["seconds"] or (
        sum(a[1] >= start for a in answers) < wanted and elapsed < MAX_CELL_S
    ):
        await asyncio.sleep(0.05)
    end, after = time.perf_counter(), meters.read()
    running = False
    await asyncio.gather(*tasks)
    counted = [a for a in answers if start <= a[1] <= end]
    return Window(
        latencies_s=[done - sent for sent, done, _ in counted],
        batch_sizes=[size for _, _, size in counted],
        seconds=end - start,
        errors=errors,
        answered=len(answers),
        measured=meters.between(before, after),
    )


def cell_figures(window: Window) -> dict[str, Any]:
    n, measured = len(window.latencies_s), window.measured
    p50, p99 = (percentile(window.latencies_s, q) * 1e3 for q in (50, 99))
    waits, backends = zip(*measured["frontend_ms"], strict=True) if measured["frontend_ms"] else ((), ())
    return {
        "requests": n,
        "rps": n / window.seconds,
        "p50_ms": p50,
        "p99_ms": p99,
        "p99_over_p50": p99 / p50,
        "mean_batch": statistics.fmean(window.batch_sizes) if n else float("nan"),
        "frontend_wait_p50_ms": percentile(waits, 50),
        "backend_p50_ms": percentile(backends, 50),
        "cpu_ms_per_request": {name: s / max(n, 1) * 1e3 for name, s in measured["cpu_s"].items()},
        "client_cpu_share": measured["cpu_s"]["client"] / window.seconds,  # of one core
        "ts_log_bytes_per_request": None if measured["log_bytes"] is None else measured["log_bytes"] / max(n, 1),
        "answered": window.answered,
        "errors": len(window.errors),
        "first_error": window.errors[0] if window.errors else None,
    }


async def served_figures(server: TorchServe, texts: list[str], settings: dict) -> list[dict[str, Any]]:
    """Every (transport, clients, condition) cell; a set of clients serves every condition in turn."""
    meters, token, cells = Meters(server), server.token, []
    for transport in TRANSPORTS:
        for n in settings["clients"]:
            clients = [
                AsyncClient(
                    server.inference_url,
                    grpc_target=server.grpc_target,
                    transport=transport,
                    model=MODEL,
                    token=token,
                    retries=0,
                )
                for _ in range(n)
            ]
            try:
                for condition, methods in CONDITIONS.items():
                    cell = {"transport": transport, "clients": n, "condition": condition}
                    cell |= cell_figures(await closed_loop(clients, texts, methods, meters, settings))
                    cells.append(cell)
                    print(
                        f"  {transport:<5}{n:>3} clients  {condition:<22}{cell['rps']:>8.1f} req/s"
                        f"{cell['p50_ms']:>9.1f} ms p50{cell['p99_ms']:>9.1f} ms p99",
                        flush=True,
                    )
            finally:
                for client in clients:
                    await client.close()
    return cells


# --- ratios, goals, report ----------------------------------------------------------------------------


def find(cells: list[dict], transport: str, clients: int, condition: str) -> dict:
    return next(c for c in cells if (c["transport"], c["clients"], c["condition"]) == (transport, clients, condition))


def ratios(engine: dict[str, dict], cells: list[dict], clients: list[int]) -> dict[str, dict]:
    """Served against in-process, at the fewest and at the most clients of the run (1 and 64 in full)."""
    low, high = min(clients), max(clients)
    out: dict[str, dict] = {"latency_vs_engine": {}, "throughput_vs_limit": {}, "explanation_vs_prediction": {}}
    for transport in TRANSPORTS:
        out["latency_vs_engine"][transport] = {
            c: find(cells, transport, low, c)["p50_ms"] / engine[c]["batch1_p50_ms"] for c in CONDITIONS
        }
        out["throughput_vs_limit"][transport] = {
            c: find(cells, transport, high, c)["rps"] / engine[c]["limit_rps"] for c in CONDITIONS
        }
        prediction = find(cells, transport, high, PREDICTION)["rps"]
        out["explanation_vs_prediction"][transport] = find(cells, transport, high, EXPLANATION)["rps"] / prediction
    return out


def goals(found: dict[str, dict], cells: list[dict], clients: list[int]) -> list[dict[str, Any]]:
    low, high = min(clients), max(clients)
    latency = max(v for per in found["latency_vs_engine"].values() for v in per.values())
    throughput = min(per[PREDICTION] for per in found["throughput_vs_limit"].values())
    explanation = min(found["explanation_vs_prediction"].values())
    tail = max(cell["p99_over_p50"] for cell in cells)
    return [
        {
            "goal": f"{low} client: served p50 <= {GOALS['latency']}x in-process batch-1 latency (every condition)",
            "worst": latency,
            "met": latency <= GOALS["latency"],
        },
        {
            "goal": f"{high} clients: prediction-only throughput >= {GOALS['throughput']:.0%} of the in-process limit",
            "worst": throughput,
            "met": throughput >= GOALS["throughput"],
        },
        {
            "goal": f"{high} clients: {EXPLANATION} throughput >= {GOALS['explanation']:.0%} of prediction-only",
            "worst": explanation,
            "met": explanation >= GOALS["explanation"],
        },
        {"goal": f"p99 <= {GOALS['tail']}x p50 in every cell", "worst": tail, "met": tail <= GOALS["tail"]},
    ]


def table(header: Sequence[str], rows: list[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(str(v) for v in row) + " |" for row in rows)])


SERVED_HEADER = (
    *("condition", "transport", "clients", "req/s", "p50 ms", "p99 ms", "p99/p50", "mean batch"),
    *("wait ms", "backend ms", "CPU ms/req: client / frontend / worker", "client CPU", "log B/req", "errors"),
)


def engine_row(condition: str, e: dict[str, Any], batches: list[int]) -> list[object]:
    timings = [f"{e['batch1_p50_ms']:.1f}", f"{e['batch1_p99_ms']:.1f}", f"{e['batch1_cpu_ms']:.1f}"]
    by_batch = [f"{e['rps_by_batch'][b]:.1f}" for b in batches]
    return [condition, *timings, f"{e['json_ms']:.2f}", e["response_bytes"], *by_batch, f"**{e['limit_rps']:.1f}**"]


def served_row(c: dict[str, Any]) -> list[object]:
    cell = [c["condition"], c["transport"], c["clients"], f"{c['rps']:.1f}"]
    latency = [f"{c['p50_ms']:.1f}", f"{c['p99_ms']:.1f}", f"{c['p99_over_p50']:.2f}"]
    frontend = [f"{c['mean_batch']:.1f}", f"{c['frontend_wait_p50_ms']:.1f}", f"{c['backend_p50_ms']:.1f}"]
    cpu = " / ".join(f"{v:.1f}" for v in c["cpu_ms_per_request"].values())
    logged = "n/a" if c["ts_log_bytes_per_request"] is None else f"{c['ts_log_bytes_per_request']:.0f}"
    return [*cell, *latency, *frontend, cpu, f"{c['client_cpu_share']:.0%}", logged, c["errors"]]


def markdown(result: dict[str, Any]) -> str:
    """The run as markdown tables: in process, served, the ratios, the goals (what docs/performance.md shows)."""
    engine, cells, found, settings = result["engine"], result["served"], result["ratios"], result["settings"]
    batches = settings["engine_batches"]
    in_process = table(
        ["condition", "batch-1 p50 ms", "batch-1 p99 ms", "CPU ms/req", "JSON ms", "answer bytes"]
        + [f"req/s b={b}" for b in batches]
        + ["limit req/s"],
        [engine_row(condition, e, batches) for condition, e in engine.items()],
    )
    conditions = [*CONDITIONS]
    rows = sorted(cells, key=lambda c: (conditions.index(c["condition"]), TRANSPORTS.index(c["transport"])))
    served = table(SERVED_HEADER, [served_row(c) for c in rows])
    low, high = min(settings["clients"]), max(settings["clients"])
    ratio = table(
        ["condition", "transport", f"served p50 @{low} / in-process batch-1", f"served req/s @{high} / limit"],
        [
            [c, t, f"{found['latency_vs_engine'][t][c]:.2f}", f"{found['throughput_vs_limit'][t][c]:.2f}"]
            for c in CONDITIONS
            for t in TRANSPORTS
        ],
    )
    explained = ", ".join(f"{t} {v:.2f}" for t, v in found["explanation_vs_prediction"].items())
    goal_lines = [
        f"- {'met' if g['met'] else 'NOT met'}: {g['goal']} (worst {g['worst']:.2f})" for g in result["goals"]
    ]
    return "\n\n".join(
        [
            f"In process (torch threads: {result['machine']['torch_threads']}):\n\n{in_process}",
            f"Served (closed loop; batchSize {settings['batchSize']}, maxBatchDelay {settings['maxBatchDelay']} ms):"
            f"\n\n{served}",
            f"Ratios:\n\n{ratio}\n\n{EXPLANATION} / {PREDICTION} throughput at {high} clients: {explained}",
            "Goals:\n\n" + "\n".join(goal_lines),
        ]
    )


def plot(result: dict[str, Any], path: Path) -> None:
    """Per condition: p50 (solid) and p99 (dashed) latency against throughput, one line per transport,
    each point labelled with its clients; grey: the in-process batch-1 latency and the limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(CONDITIONS), figsize=(4 * len(CONDITIONS), 4), sharey=True)
    for ax, condition in zip(axes, CONDITIONS, strict=True):
        engine = result["engine"][condition]
        for transport, colour in zip(TRANSPORTS, ("tab:blue", "tab:orange"), strict=True):
            cells = sorted(
                (c for c in result["served"] if (c["condition"], c["transport"]) == (condition, transport)),
                key=lambda c: c["clients"],
            )
            rps = [c["rps"] for c in cells]
            ax.plot(rps, [c["p50_ms"] for c in cells], "o-", color=colour, label=f"{transport} p50")
            ax.plot(rps, [c["p99_ms"] for c in cells], "x--", color=colour, alpha=0.6, label=f"{transport} p99")
            for c in cells:
                ax.annotate(str(c["clients"]), (c["rps"], c["p50_ms"]), textcoords="offset points", xytext=(4, 4))
        ax.axhline(engine["batch1_p50_ms"], color="grey", linestyle=":", label="in-process batch-1 p50")
        ax.axvline(engine["limit_rps"], color="grey", linestyle="--", label="in-process limit")
        ax.set(title=condition, xlabel="requests/s", yscale="log")
    axes[0].set_ylabel("latency ms (log)")
    axes[0].legend(fontsize="small")
    settings = result["settings"]
    figure.suptitle(
        f"{MODEL}: served latency vs throughput, points labelled by clients "
        f"(batchSize {settings['batchSize']}, maxBatchDelay {settings['maxBatchDelay']} ms)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- main ---------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: few requests per cell, 1 and 4 clients")
    parser.add_argument("--batch-size", type=int, help="TorchServe batchSize for the run (default: the archive's)")
    parser.add_argument(
        "--max-batch-delay-ms",
        type=int,
        help="TorchServe maxBatchDelay for the run (default: the archive's); at least 1, since TorchServe "
        "replaces 0 by its own default of 100 ms (for no wait at all, use --batch-size 1)",
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per served cell (full 4, quick 0.5)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each cell (full 1, quick 0.2)")
    parser.add_argument("--engine-seconds", type=float, help="seconds per in-process figure (full 2, quick 0.3)")
    parser.add_argument("--clients", type=int, nargs="+", help="concurrent clients (full 1 4 16 64, quick 1 4)")
    parser.add_argument("--engine-batches", type=int, nargs="+", help="in-process batch sizes (full 1 8 16 32 64)")
    parser.add_argument("--texts", type=int, default=64, help="held-out sentences the requests cycle through")
    parser.add_argument("--device", default="cpu", help="the in-process engine's device, e.g. cuda (default cpu)")
    parser.add_argument(
        "--precision", choices=list(PRECISIONS), default="float32", help="handler.precision on both sides"
    )
    parser.add_argument("--json", type=Path, help="raw figures (default docs/performance.json)")
    parser.add_argument("--plot", type=Path, help="the plot (default docs/performance.png)")
    args = parser.parse_args()
    if args.max_batch_delay_ms is not None and args.max_batch_delay_ms < 1:
        parser.error("--max-batch-delay-ms must be at least 1 (TorchServe reads 0 as its default, 100 ms)")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    return args


def measure(settings: dict[str, Any], overrides: dict[str, int], texts: list[str]) -> tuple[dict, list[dict], Path]:
    """In process, then served, on one copy of the archive: (engine figures, served cells, server logs).
    Fills in ``settings`` what the copy's config says: batchSize, maxBatchDelay, default_methods."""
    with tempfile.TemporaryDirectory(prefix="attnserve-curve-") as scratch:
        store = Path(scratch, "store")
        store.mkdir()
        config = serving_copy(ARCHIVE, store, overrides, {"precision": settings["precision"]})
        settings |= {key: config[key] for key in ("batchSize", "maxBatchDelay")}
        settings["default_methods"] = config.get("handler", {}).get("default_methods")
        print(f"{len(texts)} held-out sentences; conditions {CONDITIONS} (default = {settings['default_methods']})")
        explainer = load_engine(store / ARCHIVE.name, Path(scratch, "model"), config, settings["device"])
        engine = {}
        for condition, methods in CONDITIONS.items():
            bodies = [body(text, methods) for text in texts]
            engine[condition] = engine_figures(
                explainer, bodies, settings["engine_batches"], settings["engine_seconds"], settings["precision"]
            )
            print(f"  in process  {condition:<22}{engine[condition]['limit_rps']:>8.1f} req/s limit", flush=True)
        del explainer  # its memory, before the worker loads its own copy
        workdir = Path(tempfile.mkdtemp(prefix="attnserve-curve-ts-"))
        server = TorchServe(workdir, [f"{MODEL}={ARCHIVE.name}"], Ports.free(), store)
        server.start()
        try:
            cells = asyncio.run(served_figures(server, texts, settings))
        finally:
            server.stop()
    return engine, cells, workdir / "logs"


def main() -> None:
    args = parse_args()
    mode = "quick" if args.quick else "full"
    settings = {
        key: value if getattr(args, key, None) is None else getattr(args, key) for key, value in PRESETS[mode].items()
    }
    settings["engine_batches"] = args.engine_batches or ENGINE_BATCHES[mode]
    settings |= {"device": args.device, "precision": args.precision}
    overrides = {"batchSize": args.batch_size, "maxBatchDelay": args.max_batch_delay_ms}
    torch.set_num_threads(os.cpu_count() or 1)
    machine = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    if torch.cuda.is_available():
        machine["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    machine["load_before"] = os.getloadavg()[0]
    if machine["load_before"] > BUSY_LOAD:
        print(f"warning: load average {machine['load_before']:.1f}: the cores are busy, the figures will be distorted")
    _, held_out = sentiment.split()
    texts = [text for text, _ in held_out][: args.texts]
    engine, cells, logs = measure(settings, {k: v for k, v in overrides.items() if v is not None}, texts)
    machine["load_after"] = os.getloadavg()[0]
    found = ratios(engine, cells, settings["clients"])
    result = {
        "model": MODEL,
        "settings": settings | {"texts": len(texts), "conditions": CONDITIONS},
        "machine": machine,
        "engine": engine,
        "served": cells,
        "ratios": found,
        "goals": goals(found, cells, settings["clients"]),
    }
    print(f"\n{markdown(result)}\n\nTorchServe's logs of the run: {logs}")
    json_path = args.json or OUT[mode] / "performance.json"
    plot_path = args.plot or OUT[mode] / "performance.png"
    for path in (json_path, plot_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1))
    plot(result, plot_path)
    print(f"figures: {json_path}, plot: {plot_path}")


if __name__ == "__main__":
    main()
