"""What a modality's concept builder (concepts_text.py, concepts_image.py) hands the concepts stage
(concepts.py): each concept's inputs, already turned into activations, and the random pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class ConceptExamples:
    """One concept's training inputs, already turned into activations by the modality's builder."""

    name: str
    description: str
    counterpart: str  # "random" or "relative" (see attnserve.concepts.bank.COUNTERPARTS)
    activations: Tensor  # [P, L, D]
    counterparts: Tensor  # [Q, L, D]: the pool each CAV draws its counterpart sample from
    preview: list[str]  # a few of the concept's inputs, for the summary


@dataclass(frozen=True)
class Examples:
    concepts: list[ConceptExamples]
    random_pool: Tensor  # [N, L, D]: random-vs-random CAVs draw both sides from here
    random_preview: list[str]
