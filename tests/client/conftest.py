"""A hand-made response in the service's JSON shape, for SDK tests that need no model and no server.

Its text has markup characters ("<film>", "&") so the views' escaping is exercised, and one word made
of two tokens so token and word scores differ.
"""

from __future__ import annotations

import copy

import pytest

TEXT = "A gorgeous <film> & more"
WORDS = [("A", 0, 1), ("gorgeous", 2, 10), ("<", 11, 12), ("film", 12, 16), (">", 16, 17), ("&", 18, 19)]
WORDS += [("more", 20, 24)]
TOKENS = [("a", 0, 1), ("gorg", 2, 6), ("##eous", 6, 10), *WORDS[2:]]
RESPONSE = {
    "model": {"name": "sentiment", "version": "1"},
    "label": "positive",
    "target": "positive",
    "probabilities": {"negative": 0.125, "positive": 0.875},
    "tokens": [{"text": t, "start": s, "end": e} for t, s, e in TOKENS],
    "words": [{"text": t, "start": s, "end": e} for t, s, e in WORDS],
    "truncated": False,
    "attributions": {
        "shapley_mutual": {
            "tokens": [0.1, 0.4, 0.2, -0.05, 0.25, -0.05, 0.0, -0.3],
            "words": [0.1, 0.6000000000000001, -0.05, 0.25, -0.05, 0.0, -0.3],
        },
        "grad_shapley_cls": {
            "tokens": [0.0, 0.5, 0.5, 0.0, 0.125, 0.0, 0.0, 0.0],
            "words": [0.0, 1.0, 0.0, 0.125, 0.0, 0.0, 0.0],
        },
    },
    "batch_size": 2,
    "timings_s": {"preprocess": 0.001, "forward": 0.01, "methods": 0.002},
}


@pytest.fixture
def response() -> dict:
    return copy.deepcopy(RESPONSE)


# An image model's answer (the fashion ViT's shape, on a 2x3 grid): patches instead of tokens and words,
# per-patch scores in the attributions and in tcav's layers.
IMAGE_RESPONSE = {
    "model": {"name": "fashion", "version": "1"},
    "label": "shirt",
    "target": "shirt",
    "probabilities": {"shirt": 0.75, "shoe": 0.25},
    "patches": {"grid": [2, 3]},
    "attributions": {
        "shapley_mutual": {"patches": [0.1, 0.5, -0.2, 0.0, 0.3, 0.05]},
        "gae": {"patches": [0.0, 0.0, 0.9, 0.1, 0.0, 0.0]},
    },
    "concepts": {
        "striped": {
            "cav_accuracy": [0.8],
            "layers": [{"layer": 0, "sensitivity": 0.5, "positive": True, "patches": [0, 1, 0, 0, 0, 2.0]}],
        }
    },
    "batch_size": 1,
    "timings_s": {"preprocess": 0.001, "forward": 0.01, "methods": 0.002},
}


@pytest.fixture
def image_response() -> dict:
    return copy.deepcopy(IMAGE_RESPONSE)
