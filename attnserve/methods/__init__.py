"""Every explanation method, by name: one record each (``registry.Method``), in the module of its family."""

from attnserve.methods import amortized, baselines, gradients, relevance, shapley, tcav
from attnserve.methods.registry import Method, build_registry

REGISTRY: dict[str, Method] = build_registry(
    shapley.METHODS, relevance.METHODS, gradients.METHODS, amortized.METHODS, baselines.METHODS, tcav.METHODS
)
METHOD_NAMES = tuple(REGISTRY)
# Each method that takes options, with their defaults (what a request that leaves one out gets).
OPTION_DEFAULTS: dict[str, dict[str, int]] = {name: m.option_defaults for name, m in REGISTRY.items() if m.options}

__all__ = ["METHOD_NAMES", "OPTION_DEFAULTS", "REGISTRY", "Method"]
