"""A user's own checkpoint (all-MiniLM-L6-v2 with a fresh 3-class head, packaged by `model_store.package`
in conftest) served beside the defaults and explained through the SDK over REST and gRPC."""

from __future__ import annotations

import pytest

from tests.integration.conftest import OWN_LABELS
from tests.integration.test_client_rest_grpc import TEXT, assert_same, connect

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_token_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("ATTNSERVE_TOKEN", raising=False)
    monkeypatch.delenv("ATTNSERVE_KEY_FILE", raising=False)


def test_the_packaged_model_explains_over_both_transports(own_model) -> None:
    methods = ["gae", "shapley_mutual", "grad_shapley_cls"]
    with connect(own_model, "rest") as rest, connect(own_model, "grpc") as grpc:
        over_rest, over_grpc = rest.explain(TEXT, methods=methods), grpc.explain(TEXT, methods=methods)
    assert over_rest.label in OWN_LABELS.values()
    assert set(over_rest.probabilities) == set(OWN_LABELS.values())
    assert set(over_rest.attributions) == set(methods)
    assert_same(over_rest, over_grpc, tolerance=1e-5)


def test_its_default_methods_are_the_packaged_defaults(own_model) -> None:
    with connect(own_model, "rest") as rest:
        assert set(rest.explain(TEXT).attributions) == {"gae"}
