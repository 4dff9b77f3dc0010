"""The measurement loop: every candidate on every text, with the faithfulness metrics and the latency of
each explanation beside that of a plain prediction, interleaved text by text so machine drift hits all
alike. In-process, batch size 1, one thread setting for the whole run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tqdm import tqdm

from attnserve.explain import Explainer
from attnserve.faithfulness import faithfulness
from bench.eval.candidates import Candidate
from bench.eval.models import EvalModel, ImageEvalModel


@dataclass
class Record:
    """One candidate's per-text results, in text order. A metric the model's rows cannot give (``comp_del``
    for images) has no entry rather than an empty list, so nothing downstream averages nothing."""

    name: str
    signed: bool
    timed: bool
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)


@dataclass
class Measurements:
    texts: list[str]
    forward_seconds: list[float]  # a plain prediction (``"methods": []``) of each text
    records: list[Record]


def timed(call, *args) -> tuple[object, float]:
    start = time.perf_counter()
    result = call(*args)
    return result, time.perf_counter() - start


def measure(
    subject: EvalModel | ImageEvalModel, explainer: Explainer, candidates: list[Candidate], texts: list[str]
) -> Measurements:
    predict = {"methods": []}
    for candidate in candidates:  # warm-up: lazy imports, JIT compilation, allocator growth
        candidate.explain(texts[0], 0)
    explainer.explain([(predict | subject.body(texts[0]), None)])
    records = [Record(c.name, c.signed, c.timed) for c in candidates]
    forward_seconds = []
    bar = tqdm(texts, desc=f"eval {subject.name}", unit="text")
    for index, text in enumerate(bar):
        row = subject.row(text)
        forward_seconds.append(timed(explainer.explain, [(predict | subject.body(text), None)])[1])
        for candidate, record in zip(candidates, records, strict=True):
            bar.set_postfix_str(candidate.name)
            scores, seconds = timed(candidate.explain, text, index)
            for metric, value in faithfulness(row, scores).items():
                record.metrics.setdefault(metric, []).append(value)
            record.seconds.append(seconds)
            record.scores.append(scores.tolist())
    return Measurements(texts, forward_seconds, records)
