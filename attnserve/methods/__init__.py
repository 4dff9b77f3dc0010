"""Every explanation method, by name."""

from attnserve.methods import baselines, relevance, shapley
from attnserve.methods.baselines import OPTION_DEFAULTS
from attnserve.methods.registry import Method, build_registry, lookup

REGISTRY: dict[str, Method] = build_registry(shapley.METHODS, relevance.METHODS, baselines.METHODS)

__all__ = ["OPTION_DEFAULTS", "REGISTRY", "Method", "lookup"]
