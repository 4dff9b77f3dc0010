"""The SDK and the CLI against the fashion ViT served by the real TorchServe: an image explained over
gRPC (an ExplainResponse with typed patch fields) gives what REST gives, from bytes, a path or a PIL
image, sync and async; the patch views work on the real answer."""

from __future__ import annotations

import asyncio
import io
import json
import math

import pytest
from attnserve_client import AsyncClient, BadInputError, Client, Explanation
from PIL import Image

from model_store.recipes import fashion
from tests.integration.test_client_cli import attnserve

pytestmark = pytest.mark.integration
METHODS = ["shapley_mutual", "gae"]


@pytest.fixture(scope="module")
def item() -> tuple[bytes, int]:
    """The first Fashion-MNIST test image as PNG, with its class index."""
    images, labels = fashion.load_split("test")
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, "PNG")
    return buffer.getvalue(), int(labels[0])


@pytest.fixture(autouse=True)
def no_token_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("ATTNSERVE_TOKEN", raising=False)
    monkeypatch.delenv("ATTNSERVE_KEY_FILE", raising=False)


def connect(server, transport: str, client_class: type = Client):
    options = {"grpc_target": server.grpc_target, "transport": transport, "key_file": server.key_file}
    return client_class(server.inference_url, model=server.model, **options)


def assert_same(a: Explanation, b: Explanation, tolerance: float = 1e-6) -> None:
    """Equal up to ``tolerance``, apart from what depends on the batch the server formed."""
    first, second = a.to_dict(), b.to_dict()
    for key in ("timings_s", "batch_size"):
        first.pop(key), second.pop(key)
    assert first.keys() == second.keys()
    for key in ("model", "label", "target", "patches"):
        assert first[key] == second[key], key
    for label, p in first["probabilities"].items():
        assert math.isclose(p, second["probabilities"][label], abs_tol=tolerance), label
    assert first["attributions"].keys() == second["attributions"].keys()
    for method, scores in first["attributions"].items():
        assert scores["patches"] == pytest.approx(second["attributions"][method]["patches"], abs=tolerance), method


def test_an_image_over_grpc_is_what_rest_answers(fashion_model, item) -> None:
    png, label = item
    with connect(fashion_model, "rest") as rest, connect(fashion_model, "grpc") as grpc:
        over_rest = rest.explain(image=png, methods=METHODS)
        over_grpc = grpc.explain(image=png, methods=METHODS)
    assert_same(over_rest, over_grpc)
    assert over_grpc.layout == "patches" and over_grpc.grid == (7, 7) and over_grpc.tokens == []
    # gRPC maps keep no order, so the class index is read from REST's JSON (label order)
    assert over_grpc.label == list(over_rest.probabilities)[label] and set(over_grpc.methods) == set(METHODS)
    assert all(len(scores.patches) == 49 for scores in over_grpc.attributions.values())
    (row, col), best = over_grpc.top_patches(1, "gae")[0]
    assert over_grpc.patch_scores("gae")[row][col] == best == max(over_grpc.attributions["gae"].patches)


def test_a_path_a_pil_image_and_a_list_are_the_same_image(fashion_model, item, tmp_path) -> None:
    png, _ = item
    path = tmp_path / "item.png"
    path.write_bytes(png)
    pil = Image.open(io.BytesIO(png))
    with connect(fashion_model, "grpc") as client:
        from_bytes = client.predict(image=png)
        from_path, from_pil = client.predict(image=[path, pil])
        many = client.explain_many(images=[png, path], methods=["gae"], progress=False)
    for other in (from_path, from_pil):
        assert_same(from_bytes, other)
    assert from_bytes.attributions == {} and [m.grid for m in many] == [(7, 7), (7, 7)]


def test_tcav_over_grpc_carries_per_patch_sensitivity(fashion_model, item) -> None:
    png, _ = item
    with connect(fashion_model, "rest") as rest, connect(fashion_model, "grpc") as grpc:
        over_rest = rest.explain(image=png, methods=["tcav"], target=0)
        over_grpc = grpc.explain(image=png, methods=["tcav"], target=0)
    assert set(over_grpc.concepts) == {"striped", "dotted", "zigzag", "solid"}
    for name, concept in over_grpc.concepts.items():
        for mine, theirs in zip(concept.layers, over_rest.concepts[name].layers, strict=True):
            assert len(mine.patches) == 49 and mine.tokens == [] and mine.positive == theirs.positive
            assert mine.patches == pytest.approx(theirs.patches, abs=1e-6)


def test_the_async_client_explains_images_on_both_transports(fashion_model, item) -> None:
    png, _ = item
    with connect(fashion_model, "rest") as client:
        expected = client.explain(image=png, methods=["gae"])

    async def run() -> list[Explanation]:
        async with (
            connect(fashion_model, "rest", AsyncClient) as rest,
            connect(fashion_model, "grpc", AsyncClient) as grpc,
        ):
            return list(
                await asyncio.gather(rest.explain(image=png, methods=["gae"]), grpc.explain(image=png, methods=["gae"]))
            )

    for explanation in asyncio.run(run()):
        assert_same(expected, explanation)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_image_errors_name_the_field_on_both_transports(fashion_model, transport: str) -> None:
    with connect(fashion_model, transport) as client:
        with pytest.raises(BadInputError) as caught:
            client.explain(image=b"plainly not an image")
        assert caught.value.field == "image"
        with pytest.raises(BadInputError) as caught:
            client.explain("a text for an image model")
        assert caught.value.field == "text"
        with pytest.raises(BadInputError) as caught:
            client.tcav_scores(["a text"], "Shirt")  # global scores are for text models
        assert caught.value.field == "kind"


def test_the_overlay_of_a_served_explanation(fashion_model, item) -> None:
    png, _ = item
    with connect(fashion_model, "grpc") as client:
        explanation = client.explain(image=png, methods=["gae"])
    overlay = Image.open(io.BytesIO(explanation.to_png("gae")))
    assert overlay.format == "PNG" and overlay.size == Image.open(io.BytesIO(png)).size
    assert explanation.to_html().count('class="attnserve-patch"') == 49


def test_cli_explains_an_image_file(fashion_model, item, tmp_path) -> None:
    png, _ = item
    image, overlay = tmp_path / "item.png", tmp_path / "overlay.png"
    image.write_bytes(png)
    result = attnserve(
        fashion_model,
        "explain",
        f"--image={image}",
        "--model=fashion",
        "--grpc",
        "--method=gae",
        "--png",
        str(overlay),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["patches"] == {"grid": [7, 7]} and set(body["attributions"]) == {"gae"}
    assert overlay.read_bytes().startswith(b"\x89PNG")
