"""The training and evaluation loop shared by the recipes written after `sentiment` (topics, fashion).

Part of each such recipe's model key: an edit here changes how weights come out, so it retrains them.
A recipe supplies only how a batch of example indices becomes a loss or logits, so one loop serves
text and images alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

BatchFn = Callable[[list[int]], Tensor]  # example indices -> loss (training) or logits [n, C] (evaluation)


def set_threads() -> int:
    """Half the cores unless ATTNSERVE_TRAIN_THREADS says otherwise; returns the count used.

    The build box is shared (TorchServe, tests, other builds): intra-op threads beyond the free cores
    spin and wait, measured 4× slower per step (590 vs 145 ms for the fashion ViT on 2 busy cores)."""
    threads = int(os.environ.get("ATTNSERVE_TRAIN_THREADS") or 0) or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(threads)
    return threads


def fit(model: nn.Module, size: int, loss_of: BatchFn, cfg: Mapping[str, Any], seed: int) -> float:
    """AdamW with linear warmup/decay over seeded shuffled batches; returns the wall time in seconds.

    ``cfg`` holds lr, batch_size, epochs, warmup_ratio, weight_decay and max_grad_norm."""
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

    steps = cfg["epochs"] * -(-size // cfg["batch_size"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg["warmup_ratio"] * steps), steps)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    model.train()
    with tqdm(total=steps, desc="train", unit="step") as bar:
        for epoch in range(cfg["epochs"]):
            for idx in torch.randperm(size, generator=generator).split(cfg["batch_size"]):
                loss = loss_of(idx.tolist())
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["max_grad_norm"])
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
                bar.update()
    model.eval()
    return time.perf_counter() - started


def predict(size: int, logits_of: BatchFn, batch_size: int) -> list[int]:
    """Arg-max class of every example, in batches under inference mode."""
    from tqdm import tqdm

    preds: list[int] = []
    with torch.inference_mode():
        for start in tqdm(range(0, size, batch_size), desc="eval", unit="batch"):
            preds += logits_of(list(range(start, min(size, start + batch_size)))).argmax(-1).tolist()
    return preds


def accuracy_report(preds: Sequence[int], gold: Sequence[int], id2label: Mapping[int, str]) -> dict[str, Any]:
    """Accuracy overall and per class (a model collapsed onto a few classes shows up per class)."""
    hits = [p == y for p, y in zip(preds, gold, strict=True)]
    per_class = {
        label: round(sum(h for h, y in zip(hits, gold, strict=True) if y == c) / max(1, list(gold).count(c)), 4)
        for c, label in id2label.items()
    }
    return {"accuracy": round(sum(hits) / len(gold), 4), "per_class_accuracy": per_class}
