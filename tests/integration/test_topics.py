"""The BBC topics model through the real TorchServe: five classes, and any of them can be explained."""

from __future__ import annotations

import jsonschema
import pytest

from tests.integration.test_rest import SCHEMA, post

pytestmark = pytest.mark.integration
TEXT = "The striker scored twice as United beat Chelsea to reach the cup final at Wembley."
LABELS = {"business", "entertainment", "politics", "sports", "tech"}
GRADIENT_METHODS = ["grad_shapley_cls", "grad_shapley_mutual", "gae"]


def test_predicts_one_of_five_topics(topics) -> None:
    response = post(topics, {"text": TEXT, "methods": []})
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, SCHEMA)
    assert set(body["probabilities"]) == LABELS and body["label"] == "sports" == body["target"]
    assert body["model"]["name"] == "topics"


def test_any_class_can_be_the_target(topics) -> None:
    """Gradient methods differentiate the named class's logit, so explaining 'business' on a sports
    text gives other attributions than explaining the predicted class."""
    predicted = post(topics, {"text": TEXT, "methods": GRADIENT_METHODS}).json()
    other = post(topics, {"text": TEXT, "methods": GRADIENT_METHODS, "target": "business"}).json()
    by_index = post(topics, {"text": TEXT, "methods": GRADIENT_METHODS, "target": 0}).json()
    assert predicted["target"] == "sports" and other["target"] == "business" == by_index["target"]
    assert other["label"] == "sports"
    for method in GRADIENT_METHODS:
        assert other["attributions"][method] == by_index["attributions"][method]
        assert other["attributions"][method]["tokens"] != predicted["attributions"][method]["tokens"]


def test_unknown_topic_is_a_400(topics) -> None:
    response = post(topics, {"text": TEXT, "target": "weather"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "target"
