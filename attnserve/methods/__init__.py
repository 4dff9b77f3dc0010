"""Every explanation method, by name."""

from attnserve.methods import relevance, shapley
from attnserve.methods.registry import Method, build_registry, lookup

REGISTRY: dict[str, Method] = build_registry(shapley.METHODS, relevance.METHODS)

__all__ = ["REGISTRY", "Method", "lookup"]
