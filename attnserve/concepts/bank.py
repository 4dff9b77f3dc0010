"""The concept-vector file shipped inside a model archive (`cavs.pt`), written at build, read when serving.

One file holds every CAV of a model: for each concept, K unit vectors per layer, each trained against
its own resampled counterpart set, with its held-out accuracy; plus random-vs-random CAVs, the null
that the two-sample test compares concept scores with. Layer l means the residual stream after
encoder block l (``hidden_states[l + 1]`` in transformers), the tensor whose gradient the online pass
takes. Saved with ``torch.save`` and read with ``weights_only=True``: plain tensors, lists and strings,
so loading never runs pickled code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

FORMAT = "attnserve.cavs"
FORMAT_VERSION = 1
FILE_NAME = "cavs.pt"
RANDOM = "random"  # name of the random-vs-random set; no concept may use it
COUNTERPARTS = ("random", "relative")  # vs random examples / vs the other concepts of the same set


@dataclass(frozen=True)
class CavSet:
    """K CAVs per layer for one concept (or the random baseline)."""

    name: str
    counterpart: str  # one of COUNTERPARTS
    description: str
    vectors: Tensor  # [K, L, D] float32, unit norm along D
    accuracy: Tensor  # [K, L] held-out accuracy of each CAV
    sizes: dict[str, int]  # concept examples, counterpart_pool, per_side (each side of one CAV), held_out

    @property
    def count(self) -> int:
        return self.vectors.shape[0]

    def mean_vector(self) -> Tensor:
        """[L, D]: the unit mean of the K CAVs per layer, one direction for the concept when a single
        input is explained; the K CAVs themselves are for global scores and their spread."""
        return torch.nn.functional.normalize(self.vectors.mean(0), dim=-1)

    def mean_accuracy(self) -> Tensor:
        """[L]: held-out accuracy averaged over the K CAVs, what a response reports as the CAV accuracy."""
        return self.accuracy.mean(0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counterpart": self.counterpart,
            "description": self.description,
            "vectors": self.vectors.float().contiguous(),
            "accuracy": self.accuracy.float().contiguous(),
            "sizes": dict(self.sizes),
        }


@dataclass(frozen=True)
class CavBank:
    """Every CAV of one model; ``meta`` records how they were built (model key, sources, timings)."""

    model: str
    layers: list[int]
    hidden_size: int
    representation: str  # what one training example's activation was (see model_store/recipes/cav.py)
    concepts: dict[str, CavSet]
    random: CavSet
    meta: dict[str, Any] = field(default_factory=dict)

    def stacked(self, names: list[str] | None = None) -> tuple[Tensor, list[tuple[str, int]]]:
        """All CAVs of ``names`` (default: every concept; ``RANDOM`` names the random set) as one
        [L, K, D] tensor, so one einsum serves every concept and layer (global scores); the list says
        which (name, index) each of the K columns is."""
        sets = self._lookup(names)
        vectors = torch.cat([s.vectors for s in sets]).transpose(0, 1)
        return vectors, [(s.name, i) for s in sets for i in range(s.count)]

    def directions(self, names: list[str] | None = None) -> tuple[Tensor, list[str]]:
        """One unit vector per concept and layer, [L, C, D], for explaining a single input; with the
        concept names in column order."""
        sets = self._lookup(names)
        return torch.stack([s.mean_vector() for s in sets], 1), [s.name for s in sets]

    def _lookup(self, names: list[str] | None) -> list[CavSet]:
        known = {**self.concepts, RANDOM: self.random}
        names = list(self.concepts) if names is None else names
        unknown = [n for n in names if n not in known]
        if unknown:
            raise KeyError(f"unknown concepts {unknown}; available: {', '.join(self.concepts)}")
        return [known[n] for n in names]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "layers": list(self.layers),
            "hidden_size": self.hidden_size,
            "representation": self.representation,
            "concepts": {name: s.to_dict() for name, s in self.concepts.items()},
            "random": self.random.to_dict(),
            "meta": self.meta,
        }


def save_cavs(bank: CavBank, path: Path) -> None:
    _check(bank)
    torch.save(bank.to_dict(), path)


def load_cavs(path: Path) -> CavBank:
    """Read and validate a `cavs.pt`; a file of another format or version is refused, not guessed at."""
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"{path} is not an {FORMAT} file")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} has format version {raw.get('format_version')}; this code reads {FORMAT_VERSION}")
    bank = CavBank(
        model=raw["model"],
        layers=list(raw["layers"]),
        hidden_size=int(raw["hidden_size"]),
        representation=raw["representation"],
        concepts={name: _set(name, s) for name, s in raw["concepts"].items()},
        random=_set(RANDOM, raw["random"]),
        meta=raw.get("meta", {}),
    )
    _check(bank)
    return bank


def _set(name: str, raw: dict[str, Any]) -> CavSet:
    return CavSet(name, raw["counterpart"], raw["description"], raw["vectors"], raw["accuracy"], dict(raw["sizes"]))


def _check(bank: CavBank) -> None:
    """Shapes and names must agree, or every score computed from the file would be silently wrong."""
    if RANDOM in bank.concepts:
        raise ValueError(f"{RANDOM!r} is reserved for the random baseline")
    for s in [*bank.concepts.values(), bank.random]:
        k, layers, dim = s.vectors.shape
        if (layers, dim) != (len(bank.layers), bank.hidden_size) or tuple(s.accuracy.shape) != (k, layers):
            raise ValueError(
                f"CAV set {s.name!r}: vectors {tuple(s.vectors.shape)}, accuracy {tuple(s.accuracy.shape)}"
            )
        if s.counterpart not in COUNTERPARTS:
            raise ValueError(f"CAV set {s.name!r}: unknown counterpart {s.counterpart!r}")
