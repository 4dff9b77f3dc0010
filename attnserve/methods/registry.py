"""The method registry: one name per method, used as registry key, JSON key, proto map key, SDK
argument, metrics label and test id alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from attnserve.capture import Capture


@dataclass(frozen=True)
class Method:
    """A pure function of the shared capture, plus what the capture must hold for it.

    ``fn`` returns [B, T] attributions, zero outside ``capture.players``. ``signed`` says whether the
    sign carries meaning (evidence for / against the target) or the scores are unsigned importances.
    """

    name: str
    needs: frozenset[str]
    fn: Callable[[Capture], Tensor]
    signed: bool
    summary: str


def build_registry(*groups: list[Method]) -> dict[str, Method]:
    registry: dict[str, Method] = {}
    for method in (m for group in groups for m in group):
        if method.name in registry:
            raise ValueError(f"method {method.name!r} registered twice")
        registry[method.name] = method
    return registry
