"""``Explanation``: built from the JSON response, gives it back, and ranks words."""

from __future__ import annotations

import dataclasses

import pytest
from attnserve_client import Explanation


def test_round_trip_and_typed_access(response: dict) -> None:
    explanation = Explanation.from_dict(response)
    assert explanation.to_dict() == response
    assert explanation.label == "positive" and explanation.probabilities["positive"] == 0.875
    assert explanation.words[1].text == "gorgeous" and explanation.tokens[2].text == "##eous"
    assert explanation.attributions["grad_shapley_cls"].words[1] == 1.0
    assert explanation.methods == ["shapley_mutual", "grad_shapley_cls"]


def test_keys_from_a_newer_server_are_ignored(response: dict) -> None:
    assert Explanation.from_dict({**response, "heatmap": {"stripes": 0.9}}).to_dict() == response


def test_concepts_are_typed_and_round_trip(response: dict) -> None:
    layer = {"layer": 0, "sensitivity": -0.25, "positive": False, "tokens": [0.5, -1.0], "words": [-0.5]}
    with_concepts = {**response, "concepts": {"negation": {"cav_accuracy": [0.75], "layers": [layer]}}}
    explanation = Explanation.from_dict(with_concepts)
    assert explanation.concepts["negation"].layers[0].sensitivity == -0.25
    assert explanation.to_dict() == with_concepts and Explanation.from_dict(response).concepts == {}


def test_it_is_frozen(response: dict) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Explanation.from_dict(response).label = "negative"  # type: ignore[misc]


def test_top_words_best_first_for_the_first_or_named_method(response: dict) -> None:
    explanation = Explanation.from_dict(response)
    assert explanation.top_words(2) == [("gorgeous", 0.6000000000000001), ("film", 0.25)]
    assert explanation.top_words(1, "grad_shapley_cls") == [("gorgeous", 1.0)]
    assert len(explanation.top_words(100)) == len(explanation.words)
    with pytest.raises(KeyError, match="has shapley_mutual, grad_shapley_cls"):
        explanation.top_words(3, "rollout")


def test_a_prediction_has_no_top_words(response: dict) -> None:
    prediction = Explanation.from_dict({**response, "attributions": {}})
    assert prediction.methods == []
    with pytest.raises(ValueError, match="prediction"):
        prediction.top_words()


def test_an_image_response_is_a_patch_grid_and_round_trips(image_response: dict) -> None:
    explanation = Explanation.from_dict(image_response)
    assert explanation.to_dict() == image_response
    assert (explanation.layout, explanation.grid, explanation.patches.rows) == ("patches", (2, 3), 2)
    assert explanation.tokens == explanation.words == [] and explanation.truncated is False
    assert explanation.attributions["gae"].patches[2] == 0.9 and explanation.attributions["gae"].words == []
    assert explanation.concepts["striped"].layers[0].patches[-1] == 2.0
    assert Explanation.from_dict(image_response, image=b"png").image == b"png"
    assert Explanation.from_dict(image_response, image=b"png") == explanation  # the input is not compared


def test_a_text_response_has_the_text_layout(response: dict) -> None:
    explanation = Explanation.from_dict(response)
    assert (explanation.layout, explanation.grid, explanation.patches) == ("text", None, None)
    assert "patches" not in explanation.to_dict()["attributions"]["shapley_mutual"]


def test_top_patches_are_row_and_column_best_first(image_response: dict) -> None:
    explanation = Explanation.from_dict(image_response)
    assert explanation.top_patches(2) == [((0, 1), 0.5), ((1, 1), 0.3)]
    assert explanation.top_patches(1, "gae") == [((0, 2), 0.9)]
    assert explanation.patch_scores("gae") == [[0.0, 0.0, 0.9], [0.1, 0.0, 0.0]]
    with pytest.raises(ValueError, match="top_patches"):
        explanation.top_words()
    with pytest.raises(KeyError, match="rollout"):
        explanation.top_patches(1, "rollout")


def test_a_text_explanation_has_no_patches(response: dict) -> None:
    with pytest.raises(ValueError, match="top_words"):
        Explanation.from_dict(response).top_patches()


def test_to_png_draws_over_the_image_the_request_sent(image_response: dict) -> None:
    image_module = pytest.importorskip("PIL.Image")
    import io

    buffer = io.BytesIO()
    image_module.new("L", (30, 20), 255).save(buffer, format="PNG")
    sent = Explanation.from_dict(image_response, image=buffer.getvalue())
    overlay = image_module.open(io.BytesIO(sent.to_png("gae")))
    assert overlay.size == (30, 20) and overlay.convert("RGB").getpixel((28, 2)) != (255, 255, 255)
    pil = image_module.new("RGB", (30, 20), (255, 255, 255))
    assert Explanation.from_dict(image_response).to_png("gae", image=pil).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="no image"):
        Explanation.from_dict(image_response).to_png()
