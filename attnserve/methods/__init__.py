"""Every explanation method, by name."""

from attnserve.capture import CLS_ATTN_LAYERS, CONCEPT_GRAD_LAYERS
from attnserve.methods import amortized, baselines, relevance, shapley
from attnserve.methods.baselines import OPTION_DEFAULTS
from attnserve.methods.registry import Method, build_registry

REGISTRY: dict[str, Method] = build_registry(shapley.METHODS, relevance.METHODS, amortized.METHODS, baselines.METHODS)
# Concept sensitivity (attnserve.concepts.online): asked for in ``methods`` like the others, but answered
# per concept and layer under the response's "concepts", so it is no per-token Method.
TCAV = "tcav"
# What each method name needs from the capture pass: the batch's pass, metrics and request checks read this.
METHOD_NEEDS: dict[str, frozenset[str]] = {
    **{name: method.needs for name, method in REGISTRY.items()},
    TCAV: frozenset({CLS_ATTN_LAYERS, CONCEPT_GRAD_LAYERS}),
}
METHOD_NAMES = tuple(METHOD_NEEDS)

__all__ = ["METHOD_NAMES", "METHOD_NEEDS", "OPTION_DEFAULTS", "REGISTRY", "TCAV", "Method"]
