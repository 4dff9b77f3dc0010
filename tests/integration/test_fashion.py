"""The fashion ViT through the real TorchServe: PNG bytes or base64 JSON in, patch attributions and
texture-concept sensitivity out; what is not an acceptable image is a 400 on ``image``."""

from __future__ import annotations

import base64
import io
import zlib

import jsonschema
import pytest
from PIL import Image

from model_store.recipes import fashion
from tests.integration.test_rest import SCHEMA, post

pytestmark = pytest.mark.integration
# Every method the image explainer serves (the [MASK] baselines are refused for patches).
IMAGE_METHODS = [
    "shapley_cls",
    "shapley_mutual",
    "grad_shapley_mutual",
    "rollout",
    "gae",
    "weighted_relevance",
    "amortized_shapley",
]


@pytest.fixture(scope="module")
def test_image() -> tuple[bytes, str]:
    """The first Fashion-MNIST test image as PNG, with its class index."""
    images, labels = fashion.load_split("test")
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, "PNG")
    return buffer.getvalue(), int(labels[0])


def test_png_bytes_get_the_default_methods_over_patches(fashion_model, test_image) -> None:
    png, label = test_image
    response = post(fashion_model, png, "image/png")
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, SCHEMA)
    assert body["label"] == list(body["probabilities"])[label] and body["patches"] == {"grid": [7, 7]}
    assert set(body["attributions"]) == {"amortized_shapley"}  # chosen by its evaluation (bundle.yaml)
    assert all(len(scores["patches"]) == 49 for scores in body["attributions"].values())


def test_json_with_every_image_method_and_texture_concepts(fashion_model, test_image) -> None:
    png, _ = test_image
    request = {"image": base64.b64encode(png).decode(), "methods": [*IMAGE_METHODS, "tcav"], "target": 0}
    response = post(fashion_model, request)
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, SCHEMA)
    assert body["target"] == next(iter(body["probabilities"])) and set(body["attributions"]) == set(IMAGE_METHODS)
    assert set(body["concepts"]) == {"striped", "dotted", "zigzag", "solid"}
    for concept in body["concepts"].values():
        assert all(len(layer["patches"]) == 49 for layer in concept["layers"])


def bomb() -> bytes:
    """A PNG header claiming 20000×20000 pixels: a few bytes on the wire, 400 MB once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (20000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (bomb(), "image/png", "image"),
        (b"plainly not an image", "image/png", "image"),
        ({"image": "not base64!"}, "application/json", "image"),
        ({"image": "", "methods": ["kernel_shap"]}, "application/json", "methods[0]"),
    ],
    ids=["decompression-bomb", "not-an-image", "bad-base64", "baseline"],
)
def test_unacceptable_images_are_400s(fashion_model, body, content_type: str, field: str) -> None:
    response = post(fashion_model, body, content_type)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
