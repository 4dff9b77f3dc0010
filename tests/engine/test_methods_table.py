"""Every registered method through the whole engine: one table, so a new method is enrolled in
every cross-check (batched = unbatched, padding invariance, alignment, finiteness)."""

from __future__ import annotations

import math

import pytest

from attnserve.methods import REGISTRY

# Every method the engine serves; a registered method missing here fails test_table_covers_registry.
ENROLLED = {
    "shapley_cls",
    "shapley_mutual",
    "shapley_max_mutual",
    "grad_shapley_cls",
    "grad_shapley_mutual",
    "grad_shapley_max_mutual",
    "rollout",
    "gae",
    "weighted_relevance",
    "amortized_shapley",
    "integrated_gradients",
    "kernel_shap",
    "shapley_sampling",
}

TEXTS = [
    "Not bad, actually quite fun.",
    "A gorgeous, moving film that never stops surprising, with performances that linger long after.",
    "Dull.",
]


def test_table_covers_registry() -> None:
    assert set(REGISTRY) == ENROLLED, "enrol every registered method in ENROLLED"


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_batched_equals_unbatched(explainer, method: str) -> None:
    bodies = [({"text": t, "methods": [method]}, None) for t in TEXTS]
    together = explainer.explain(bodies)
    for body, batched in zip(bodies, together, strict=True):
        (alone,) = explainer.explain([body])
        a, b = alone["attributions"][method], batched["attributions"][method]
        assert a["tokens"] == pytest.approx(b["tokens"], abs=1e-5)
        assert a["words"] == pytest.approx(b["words"], abs=1e-5)
        assert alone["probabilities"] == pytest.approx(batched["probabilities"], abs=1e-5)


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_aligned_and_finite(explainer, method: str) -> None:
    (response,) = explainer.explain([({"text": TEXTS[1], "methods": [method]}, None)])
    scores = response["attributions"][method]
    assert len(scores["tokens"]) == len(response["tokens"])
    assert len(scores["words"]) == len(response["words"])
    assert all(math.isfinite(x) for x in scores["tokens"] + scores["words"])
    assert sum(scores["words"]) == pytest.approx(sum(scores["tokens"]), abs=1e-9)
