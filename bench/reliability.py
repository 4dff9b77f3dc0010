"""Reliability under load and faults: what a caller using the SDK gets while workers are killed and bad
requests arrive, measured against a real TorchServe.

The integration tests show each fault handled once, alone: a worker killed mid-batch costs its caller a
retry, a malformed body is a 400. In production they come together and under load. Here many clients
send valid explain requests in a closed loop through the SDK with its default retries (what a real
user gets), while a fault injector SIGKILLs the model's worker every ``--kill-every`` seconds and a
second one sends bursts of malformed requests over raw httpx. Goals, each checked on every run:

- valid requests: none fails after the SDK's retries;
- recovery, per kill: <= 15 s from the kill to the first successful answer to a request sent after it
  (the outage);
- latency outside kill windows, per model: p99 <= 4 x p50, where a kill window runs from the kill
  until every request in flight at its recovery has been answered (the backlog the outage built);
- malformed requests: every answer a 4xx; a 5xx or no answer at all is excused only during an outage.

    .venv/bin/python -m bench.reliability [--minutes 5] [--clients 32] [--kill-every 60] [--quick] [--fashion]
    .venv/bin/python -m bench.reliability --url http://127.0.0.1:8080 --key-file var/torchserve/key_file.json

Starts its own TorchServe on free ports (beside any `make run` server) and stops it afterwards, unless
``--url`` names a running one started by deploy/launch.py (kills find its workers through the pid file
beside its key file). Prints the summary, writes it as JSON (docs/reliability.json; --quick:
var/reliability-quick.json) and exits 1 when a goal is missed. docs/reliability.md says more.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx
from attnserve_client import Client

from deploy.launch import ROOT, Ports, TorchServe
from model_store.recipes import sentiment

GOAL_RECOVERY_S = 15.0
GOAL_TAIL_RATIO = 4.0  # p99 / p50 outside kill windows
PROBE_EVERY_S = 0.25  # between failed recovery probes
PROBE_GIVE_UP_S = 120.0  # a worker not back by then has not recovered: the goal is missed
IMAGE_SHARE = 4  # with fashion served, every 4th client explains images
# What valid requests ask for, in rotation: mostly the cheap methods users call, a few with a baseline.
Mix = tuple[tuple[str, dict], ...]
TEXT_MIX: Mix = (
    *[("default", {})] * 3,
    *[("gae", {"methods": ["gae"]})] * 3,
    *[("amortized_shapley", {"methods": ["amortized_shapley"]})] * 3,
    ("kernel_shap(16)", {"methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 16}}}),
)
IMAGE_MIX: Mix = (
    ("default", {}),
    ("gae", {"methods": ["gae"]}),
    ("amortized_shapley", {"methods": ["amortized_shapley"]}),
)


@dataclass(frozen=True)
class Settings:
    duration_s: float = 300.0
    clients: int = 32
    kill_every_s: float = 60.0  # 0: no kills
    malformed_every_s: float = 5.0  # bursts at half a period, then every period; 0: none


FULL = Settings()
QUICK = Settings(duration_s=40.0, clients=8, kill_every_s=20.0, malformed_every_s=10.0)


@dataclass(frozen=True)
class Target:
    """A running server started by deploy/launch.py: where requests go, its key file, the models it
    serves (the first one text), and, through the pid file beside the key file, its workers."""

    url: str
    key_file: Path
    models: tuple[str, ...]
    grpc_target: str | None = None  # when set, every other client speaks gRPC

    @property
    def pid_file(self) -> Path:
        return self.key_file.parent / "tmp" / ".model_server.pid"  # launch.py's TMPDIR, beside key_file.json

    def token(self) -> str:
        return json.loads(self.key_file.read_text())["inference"]["key"]

    def worker(self, model: str) -> int | None:
        """The pid of ``model``'s worker, found as tests/integration/test_worker_restart.py does: a child
        of the frontend whose working directory (the unpacked archive) holds a model card naming it.
        None while it restarts."""
        frontend = self.pid_file.read_text().strip()
        children = subprocess.run(["pgrep", "-P", frontend], capture_output=True, text=True).stdout.split()
        for pid in children:
            try:
                card = json.loads(Path(f"/proc/{pid}/cwd/model_card.json").read_text())
            except (OSError, ValueError):  # not a worker, gone, or still unpacking
                continue
            if card.get("model_name") == model:
                return int(pid)
        return None


@dataclass(frozen=True)
class Call:
    """One valid request as its caller saw it, after the SDK's retries; times in seconds since the start."""

    model: str
    kind: str
    start: float
    end: float
    error: str | None = None  # None: answered


@dataclass(frozen=True)
class BadRequest:
    case: str
    model: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class BadCall:
    case: str
    model: str
    start: float
    end: float
    status: int | None  # None: no answer (connection failed or dropped)
    detail: str


@dataclass(frozen=True)
class Kill:
    model: str
    pid: int
    at: float


class Run:
    """The clock and everything one run records; threads only append to its lists."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.monotonic()
        self.stopped = threading.Event()  # set at the end of the duration: injectors stop waiting
        self.calls: list[Call] = []
        self.probes: list[Call] = []
        self.bad: list[BadCall] = []
        self.kills: list[Kill] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return self.now() < self.settings.duration_s

    def wait_until(self, at: float) -> bool:
        """Sleep until ``at``; False when ``at`` is past the end of the run (nothing more to do then)."""
        if at >= self.settings.duration_s:
            return False
        return not self.stopped.wait(max(0.0, at - self.now()))


# ---- inputs ----------------------------------------------------------------------------------------


def texts() -> list[str]:
    """Real review sentences of varied length: the sentiment model's held-out split."""
    _, held_out = sentiment.split()
    return [text for text, _ in held_out]


def png(seed: int, size: int = 28) -> bytes:
    """A seeded random grayscale PNG; a ViT's cost does not depend on what the picture shows."""
    from PIL import Image

    generator = random.Random(seed)
    image = Image.frombytes("L", (size, size), bytes(generator.randrange(256) for _ in range(size * size)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Workload:
    """What a model's clients send: inputs (texts, or PNG bytes) and the mix of requests, in rotation."""

    payloads: list[str] | list[bytes]
    mix: Mix

    @classmethod
    def of(cls, model: str) -> Workload:
        return cls([png(seed) for seed in range(16)], IMAGE_MIX) if model == "fashion" else cls(texts(), TEXT_MIX)


def as_json(body: object) -> bytes:
    return json.dumps(body).encode()


def text_cases(model: str) -> list[BadRequest]:
    """Bodies a text model must refuse with a 4xx, each as a client could send it by mistake or malice."""
    image = png(0)
    noise = bytes([0xFF]) + random.Random(0).randbytes(4095)  # 0xFF: never UTF-8, so never read as text
    cases = {
        "malformed JSON": (b'{"text": "unterminated', "application/json"),
        "unknown field": (as_json({"text": "A fine film.", "mehtods": ["gae"]}), "application/json"),
        "lone surrogate (escaped)": (b'{"text": "A fine \\ud800 film."}', "application/json"),
        "lone surrogate (UTF-8 bytes)": (b'{"text": "A fine \xed\xa0\x80 film."}', "application/json"),
        "huge option value": (
            as_json(
                {"text": "A fine film.", "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 10**12}}}
            ),
            "application/json",
        ),
        "5000-digit option value": (
            b'{"text": "A fine film.", "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": '
            + b"9" * 5000
            + b"}}}",
            "application/json",
        ),
        "deep nesting": (b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
        "6 MB body": (as_json({"text": "A fine film.", "padding": "x" * 6_000_000}), "application/json"),
        "7 MB body (over max_request_size)": (as_json({"text": "x" * 7_000_000}), "application/json"),
        "random bytes": (noise, "application/octet-stream"),
        "empty body": (b"", "application/json"),
        "PNG to a text model": (image, "image/png"),
        "image JSON to a text model": (as_json({"image": base64.b64encode(image).decode()}), "application/json"),
    }
    return [BadRequest(case, model, content, kind) for case, (content, kind) in cases.items()]


def image_cases(model: str) -> list[BadRequest]:
    """Bodies an image model must refuse with a 4xx."""
    encoded = base64.b64encode(png(0)).decode()
    cases = {
        "text to an image model": (as_json({"text": "A fine film."}), "application/json"),
        "corrupt PNG": (b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(2048), "image/png"),
        "baseline on an image": (as_json({"image": encoded, "methods": ["kernel_shap"]}), "application/json"),
    }
    return [BadRequest(case, model, content, kind) for case, (content, kind) in cases.items()]


# ---- the three kinds of traffic --------------------------------------------------------------------


def explain(client: Client, payload: str | bytes, fields: dict) -> None:
    if isinstance(payload, str):
        client.explain(payload, **fields)
    else:
        client.explain(image=payload, **fields)


def error_text(error: Exception) -> str:
    return f"{type(error).__name__} ({getattr(error, 'status', None)}): {error}"[:300]


def valid_client(run: Run, target: Target, model: str, work: Workload, index: int) -> None:
    """One user: a closed loop of valid requests through the SDK with its default retries and timeout."""
    grpc = target.grpc_target is not None and index % 2 == 1
    transport = {"grpc_target": target.grpc_target, "transport": "grpc"} if grpc else {}
    with Client(target.url, model=model, key_file=target.key_file, **transport) as client:
        for turn in itertools.count(index):
            if not run.running():
                return
            kind, fields = work.mix[turn % len(work.mix)]
            kind = f"{kind}/grpc" if grpc else kind
            start = run.now()
            try:
                explain(client, work.payloads[turn % len(work.payloads)], fields)
                run.calls.append(Call(model, kind, start, run.now()))
            except Exception as error:  # whatever reached the caller is a failure, SDK class or not
                run.calls.append(Call(model, kind, start, run.now(), error_text(error)))


def worker_to_kill(run: Run, target: Target, model: str) -> int:
    """The model's current worker, waiting while none runs; never one already killed."""
    killed = {kill.pid for kill in run.kills}
    while (pid := target.worker(model)) is None or pid in killed:
        time.sleep(0.2)
    return pid


def probe_until_answered(run: Run, target: Target, model: str, payload: str | bytes, after: float) -> None:
    """Cheap predictions (no retries) sent one after another from ``after`` until one is answered, so a
    recovery is measured even while every client sits in the SDK's backoff."""
    with Client(target.url, model=model, key_file=target.key_file, retries=0, timeout=60) as client:
        while run.now() - after < PROBE_GIVE_UP_S:
            start = run.now()
            try:
                explain(client, payload, {"methods": []})
            except Exception:  # the worker is not back yet
                time.sleep(PROBE_EVERY_S)
                continue
            run.probes.append(Call(model, "probe", start, run.now()))
            return


def inject_kills(run: Run, target: Target, work: dict[str, Workload]) -> None:
    """SIGKILL a worker every ``kill_every_s`` (the served models in turn), each time only after the
    previous kill has recovered."""
    every = run.settings.kill_every_s
    for number in itertools.count(1):
        if not run.wait_until(number * every):
            return
        model = target.models[(number - 1) % len(target.models)]
        pid = worker_to_kill(run, target, model)
        os.kill(pid, signal.SIGKILL)
        run.kills.append(Kill(model, pid, run.now()))
        probe_until_answered(run, target, model, work[model].payloads[0], run.kills[-1].at)


def send_bad(run: Run, target: Target, bad: BadRequest) -> BadCall:
    """One malformed request on a connection of its own (a refused body may close it)."""
    headers = {"Authorization": f"Bearer {target.token()}", "Content-Type": bad.content_type}
    start = run.now()
    try:
        response = httpx.post(f"{target.url}/predictions/{bad.model}", content=bad.content, headers=headers, timeout=60)
        status, detail = response.status_code, response.text[:200]
    except httpx.HTTPError as error:
        status, detail = None, f"{type(error).__name__}: {error}"[:200]
    return BadCall(bad.case, bad.model, start, run.now(), status, detail)


def inject_malformed(run: Run, target: Target, cases: Sequence[BadRequest]) -> None:
    """A burst of every malformed case at once (so they share batches with valid requests) at half a
    period, then every ``malformed_every_s``."""
    every = run.settings.malformed_every_s
    with ThreadPoolExecutor(len(cases)) as pool:
        for number in itertools.count():
            if not run.wait_until(every / 2 + number * every):
                return
            run.bad.extend(pool.map(lambda bad: send_bad(run, target, bad), cases))


# ---- one run and its summary -----------------------------------------------------------------------


class RetryCounter(logging.Handler):
    """Counts the SDK's retry warnings (and keeps thousands of them off stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "retrying" in record.getMessage()


def warm_up(target: Target, work: dict[str, Workload]) -> None:
    """Each request kind once per model before the clock starts: first calls pay one-off costs."""
    for model, load in work.items():
        with Client(target.url, model=model, key_file=target.key_file) as client:
            for _, fields in dict(load.mix).items():
                explain(client, load.payloads[0], fields)


def measure(target: Target, settings: Settings) -> dict:
    """Run the clients and injectors against ``target`` for ``settings.duration_s``; the summary."""
    if settings.kill_every_s:
        for model in target.models:
            if not target.pid_file.is_file() or target.worker(model) is None:
                raise LookupError(f"no worker of {model} found through {target.pid_file}; pass --kill-every 0")
    work = {model: Workload.of(model) for model in target.models}
    cases = [bad for model in target.models for bad in (image_cases if model == "fashion" else text_cases)(model)]
    warm_up(target, work)
    run = Run(settings)
    jobs: list[tuple[Callable[..., None], tuple]] = []
    for index in range(settings.clients):
        model = client_model(target.models, index)
        jobs.append((valid_client, (run, target, model, work[model], index)))
    if settings.kill_every_s:
        jobs.append((inject_kills, (run, target, work)))
    if settings.malformed_every_s:
        jobs.append((inject_malformed, (run, target, cases)))
    retries = RetryCounter()
    sdk_log = logging.getLogger("attnserve_client")
    sdk_log.addHandler(retries)
    try:
        threads = [threading.Thread(target=job, args=args, daemon=True) for job, args in jobs]
        for thread in threads:
            thread.start()
        run.stopped.wait(settings.duration_s)
        run.stopped.set()
        for thread in threads:
            thread.join()  # in-flight calls finish, through their retries; the last kill's probe too
    finally:
        sdk_log.removeHandler(retries)
    return summarize(run, retries.count)


def client_model(models: Sequence[str], index: int) -> str:
    """The first model for most clients; with more served, every ``IMAGE_SHARE``-th client uses the others."""
    others = models[1:]
    if others and index % IMAGE_SHARE == IMAGE_SHARE - 1:
        return others[(index // IMAGE_SHARE) % len(others)]
    return models[0]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in [0, 1]); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def recovery_s(kill: Kill, answered: Sequence[Call]) -> float | None:
    """From the kill to the end of the first successful answer, to a request sent after it, from the
    killed model; None when none came."""
    ends = [c.end for c in answered if c.model == kill.model and c.error is None and c.start >= kill.at]
    return min(ends) - kill.at if ends else None


@dataclass(frozen=True)
class Outage:
    """One kill as measured. Its outage runs from the kill to its recovery; its kill window goes on
    until the backlog is answered: every request (valid, malformed, probe) in flight at the recovery.
    Right after a restart the queue built meanwhile and the cold worker slow everyone down; that is
    the kill's cost, not the service's steady tail."""

    kill: Kill
    recovered: float  # math.inf: never
    drained: float

    @property
    def recovery_s(self) -> float | None:
        return None if math.isinf(self.recovered) else self.recovered - self.kill.at

    @property
    def window_s(self) -> float | None:
        return None if math.isinf(self.drained) else self.drained - self.kill.at

    def overlaps(self, start: float, end: float, *, until_drained: bool) -> bool:
        return start <= (self.drained if until_drained else self.recovered) and end >= self.kill.at


def outages(run: Run) -> list[Outage]:
    spans = [(c.start, c.end) for c in run.calls + run.probes] + [(b.start, b.end) for b in run.bad]
    found = []
    for kill in run.kills:
        recovery = recovery_s(kill, run.calls + run.probes)
        recovered = math.inf if recovery is None else kill.at + recovery
        backlog = [end for start, end in spans if start <= recovered and end >= kill.at]
        found.append(Outage(kill, recovered, max([recovered, *backlog])))
    return found


def latency(calls: Sequence[Call]) -> dict:
    spent = [c.end - c.start for c in calls]
    p50, p99 = percentile(spent, 0.5), percentile(spent, 0.99)
    return {"requests": len(spent), "p50_s": p50, "p99_s": p99, "p99_over_p50": p99 / p50 if p50 else None}


def is_4xx(bad: BadCall) -> bool:
    return bad.status is not None and 400 <= bad.status < 500


def statuses(bad: Sequence[BadCall]) -> dict[str, int]:
    return dict(Counter(str(b.status or "no answer") for b in bad))


def latencies(run: Run, found: Sequence[Outage]) -> dict[str, dict]:
    """Per model, overall and outside kill windows. Per model, since a small image model answers in a
    fraction of a text model's time: in one distribution, p99 / p50 would compare the two models."""
    answered = [c for c in run.calls if not c.error]
    quiet = [c for c in answered if not any(o.overlaps(c.start, c.end, until_drained=True) for o in found)]
    return {
        model: {
            "overall": latency([c for c in answered if c.model == model]),
            "outside_kill_windows": latency([c for c in quiet if c.model == model]),
        }
        for model in dict.fromkeys(c.model for c in run.calls)
    }


def judged(run: Run, found: Sequence[Outage]) -> tuple[list[BadCall], list[BadCall]]:
    """The malformed requests not answered with a 4xx: those excused (sent during an outage), and the rest."""
    not_4xx = [b for b in run.bad if not is_4xx(b)]
    during = [any(o.overlaps(b.start, b.end, until_drained=False) for o in found) for b in not_4xx]
    excused = [b for b, in_outage in zip(not_4xx, during, strict=True) if in_outage]
    return excused, [b for b, in_outage in zip(not_4xx, during, strict=True) if not in_outage]


def summarize(run: Run, retries: int) -> dict:
    found = outages(run)
    failed = [c for c in run.calls if c.error]
    by_model = latencies(run, found)
    ratios = [times["outside_kill_windows"]["p99_over_p50"] for times in by_model.values()]
    excused, violations = judged(run, found)
    goals = {
        "no failed valid request": not failed,
        f"p99 <= {GOAL_TAIL_RATIO:g} x p50 outside kill windows, per model": bool(ratios)
        and all(r is not None and r <= GOAL_TAIL_RATIO for r in ratios),
        f"every recovery <= {GOAL_RECOVERY_S:g} s": all(
            o.recovery_s is not None and o.recovery_s <= GOAL_RECOVERY_S for o in found
        ),
        "every malformed request a 4xx (outside outages)": not violations,
    }
    cases = dict.fromkeys(b.case for b in run.bad)
    return {
        "settings": asdict(run.settings),
        "valid": {
            "sent": len(run.calls),
            "failed": len(failed),
            "by_kind": dict(Counter(f"{c.model}/{c.kind}" for c in run.calls)),
            "sdk_retries": retries,
            "failures": [asdict(c) for c in failed],
        },
        "latency": by_model,
        "kills": [{**asdict(o.kill), "recovery_s": o.recovery_s, "window_s": o.window_s} for o in found],
        "malformed": {
            "sent": len(run.bad),
            "statuses": statuses(run.bad),
            "by_case": {case: statuses([b for b in run.bad if b.case == case]) for case in cases},
            "excused_in_outages": [asdict(b) for b in excused],
            "violations": [asdict(b) for b in violations],
        },
        "goals": goals,
        "passed": all(goals.values()),
    }


# ---- command line ----------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(summary: dict) -> str:
    valid, malformed = summary["valid"], summary["malformed"]
    lines = [
        f"settings: {summary['settings']}",
        f"valid requests: {valid['sent']} sent, {valid['failed']} failed, {valid['sdk_retries']} SDK retries",
        f"  by kind: {valid['by_kind']}",
    ]
    for model, by_model in summary["latency"].items():
        overall, quiet = by_model["overall"], by_model["outside_kill_windows"]
        lines.append(
            f"{model} latency s: overall p50 {seconds(overall['p50_s'])} p99 {seconds(overall['p99_s'])} "
            f"({overall['requests']} answered); outside kill windows p50 {seconds(quiet['p50_s'])} "
            f"p99 {seconds(quiet['p99_s'])} ({quiet['requests']} answered)"
        )
    lines += [
        f"kills: {len(summary['kills'])}; recovery s: "
        + (", ".join(f"{k['model']} {seconds(k['recovery_s'])}" for k in summary["kills"]) or "-")
        + "; kill windows s (until the backlog is answered): "
        + (", ".join(seconds(k["window_s"]) for k in summary["kills"]) or "-"),
        f"malformed: {malformed['sent']} sent, statuses {malformed['statuses']}, "
        f"{len(malformed['excused_in_outages'])} not 4xx but excused (sent during an outage)",
    ]
    lines += [
        f"  FAILED {c['model']}/{c['kind']} at {c['start']:.1f}-{c['end']:.1f} s: {c['error']}"
        for c in valid["failures"]
    ]
    lines += [
        f"  VIOLATION {b['case']} -> {b['model']} at {b['start']:.1f} s: {b['status'] or 'no answer'} {b['detail']!r}"
        for b in malformed["violations"]
    ]
    lines += [f"goal {'met   ' if met else 'MISSED'}: {goal}" for goal, met in summary["goals"].items()]
    return "\n".join(lines)


def arguments(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(description="Reliability under load, worker kills and malformed traffic.")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK}")
    parser.add_argument("--minutes", type=float, help=f"default {FULL.duration_s / 60:g}")
    parser.add_argument("--clients", type=int, help=f"concurrent SDK users; default {FULL.clients}")
    parser.add_argument(
        "--kill-every", type=float, help=f"seconds between worker kills; 0: none; default {FULL.kill_every_s:g}"
    )
    parser.add_argument(
        "--malformed-every",
        type=float,
        help=f"seconds between malformed bursts; 0: none; default {FULL.malformed_every_s:g}",
    )
    parser.add_argument("--fashion", action="store_true", help="serve fashion too: every 4th client sends images")
    parser.add_argument("--url", help="a running server's REST inference address (else one is started)")
    parser.add_argument("--key-file", type=Path, help="with --url: its key_file.json")
    parser.add_argument("--output", type=Path, help="the JSON summary (default docs/reliability.json)")
    args = parser.parse_args(argv)
    if args.url and not args.key_file:
        parser.error("--url needs --key-file")
    chosen = {
        "duration_s": args.minutes * 60 if args.minutes is not None else None,
        "clients": args.clients,
        "kill_every_s": args.kill_every,
        "malformed_every_s": args.malformed_every,
    }
    settings = replace(QUICK if args.quick else FULL, **{k: v for k, v in chosen.items() if v is not None})
    default_output = ROOT / ("var/reliability-quick.json" if args.quick else "docs/reliability.json")
    args.output = args.output or default_output
    return args, settings


def main(argv: list[str] | None = None) -> int:
    args, settings = arguments(argv)
    models = ("sentiment", "fashion") if args.fashion else ("sentiment",)
    if args.url:
        try:
            summary = measure(Target(args.url.rstrip("/"), args.key_file.resolve(), models), settings)
        except LookupError as error:  # no pid file beside the key file: not a server of deploy/launch.py
            print(f"error: {error}", file=sys.stderr)
            return 2
    else:
        workdir = Path(tempfile.mkdtemp(prefix="attnserve-reliability-"))
        server = TorchServe(workdir, [f"{m}={m}.mar" for m in models], Ports.free())
        server.start()
        try:
            summary = measure(Target(server.inference_url, server.key_file, models, server.grpc_target), settings)
        finally:
            server.stop()
        print(f"TorchServe's logs: {workdir / 'logs'}")
    print(report(summary))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary written to {args.output}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
