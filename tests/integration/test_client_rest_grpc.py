"""The SDK against the real TorchServe, over both transports: same numbers, same errors, same
retries. The last test restarts the server."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest
from attnserve_client import (
    AsyncClient,
    AuthError,
    BadInputError,
    Client,
    Explanation,
    ModelNotFoundError,
)

from attnserve.methods import REGISTRY
from attnserve.methods.registry import ATTRIBUTIONS
from model_store.recipes.bundles import discover

pytestmark = pytest.mark.integration
TRANSPORTS = ["rest", "grpc"]
TEXT = "A gorgeous, moving film that never bores."
TEXTS = [f"Review {i}: {t}" for i, t in enumerate(["a fine film.", "dull and far too long.", "moving, if uneven."])]


@pytest.fixture(autouse=True)
def no_token_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("ATTNSERVE_TOKEN", raising=False)
    monkeypatch.delenv("ATTNSERVE_KEY_FILE", raising=False)


def connect(server, transport: str, client_class: type = Client, **options):
    options = {"key_file": server.key_file, "model": server.model, **options}
    return client_class(server.inference_url, grpc_target=server.grpc_target, transport=transport, **options)


def assert_same(a: Explanation, b: Explanation, tolerance: float = 1e-6) -> None:
    """Equal up to ``tolerance``, apart from what depends on the batch the server formed."""
    first, second = a.to_dict(), b.to_dict()
    for key in ("timings_s", "batch_size"):
        first.pop(key), second.pop(key)
    assert first.keys() == second.keys()
    for key in ("model", "label", "target", "tokens", "words", "truncated"):
        assert first[key] == second[key], key
    assert first["probabilities"].keys() == second["probabilities"].keys()
    for label, p in first["probabilities"].items():
        assert math.isclose(p, second["probabilities"][label], abs_tol=tolerance), label
    assert first["attributions"].keys() == second["attributions"].keys()
    for method, scores in first["attributions"].items():
        for level in ("tokens", "words"):
            other = second["attributions"][method][level]
            assert len(scores[level]) == len(other)
            assert all(math.isclose(x, y, abs_tol=tolerance) for x, y in zip(scores[level], other, strict=True)), (
                method,
                level,
            )


METHOD_SETS = [[name] for name in sorted(REGISTRY)] + [None, []]


@pytest.mark.parametrize("methods", METHOD_SETS, ids=[",".join(m) if m else repr(m) for m in METHOD_SETS])
def test_rest_and_grpc_give_the_same_numbers(torchserve, methods: list[str] | None) -> None:
    with connect(torchserve, "rest") as rest, connect(torchserve, "grpc") as grpc:
        over_rest, over_grpc = rest.explain(TEXT, methods=methods), grpc.explain(TEXT, methods=methods)
    assert_same(over_rest, over_grpc)
    asked = methods if methods is not None else discover()["sentiment"].handler["default_methods"]
    expected = {name for name in asked if REGISTRY[name].output == ATTRIBUTIONS}  # tcav answers under "concepts"
    assert set(over_grpc.attributions) == expected
    assert over_grpc.label == "positive" and over_grpc.words[0].text == "A"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_target_by_label_or_index_is_the_same_target(torchserve, transport: str) -> None:
    with connect(torchserve, transport) as client:
        by_label = client.explain(TEXT, methods=["shapley_cls"], target="negative")
        by_index = client.explain(TEXT, methods=["shapley_cls"], target=0)
    assert by_label.target == by_index.target == "negative"
    assert_same(by_label, by_index)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_token_refused_missing_and_accepted(torchserve, transport: str) -> None:
    wrong = connect(torchserve, transport, token="not-the-key", key_file=None)
    with wrong, pytest.raises(AuthError, match="refused the given token"):
        wrong.predict(TEXT)
    missing = connect(torchserve, transport, key_file=None)
    with missing, pytest.raises(AuthError, match="no token was sent"):
        missing.predict(TEXT)
    with connect(torchserve, transport, token=torchserve.token, key_file=None) as client:
        assert client.predict(TEXT).label == "positive"


BAD_INPUTS = [
    ("unknown method", {"methods": ["shapley_cls", "lime"]}, "methods[1]"),
    ("unknown target", {"target": "neutral"}, "target"),
    ("target index out of range", {"target": 7}, "target"),
    (
        "options for a method not run",
        {"methods": ["shapley_cls"], "options": {"kernel_shap": {"samples": 9}}},
        "options.kernel_shap",
    ),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("case", "options", "field"), BAD_INPUTS, ids=[c[0].replace(" ", "-") for c in BAD_INPUTS])
def test_bad_input_is_a_bad_input_error_naming_the_field(torchserve, transport, case, options, field) -> None:
    with connect(torchserve, transport) as client, pytest.raises(BadInputError) as caught:
        client.explain(TEXT, **options)
    assert caught.value.field == field and caught.value.message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_empty_text_is_a_bad_input_error_on_text(torchserve, transport: str) -> None:
    with connect(torchserve, transport) as client, pytest.raises(BadInputError) as caught:
        client.explain("   ")
    assert caught.value.field == "text"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_unknown_model_is_model_not_found(torchserve, transport: str) -> None:
    with connect(torchserve, transport, model="no-such-model") as client, pytest.raises(ModelNotFoundError):
        client.predict(TEXT)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sync_and_async_clients_agree(torchserve, transport: str) -> None:
    with connect(torchserve, transport) as client:
        synchronous = client.explain(TEXTS, methods=["shapley_mutual"])

    async def explain_async() -> tuple[list[Explanation], list[Explanation]]:
        async with connect(torchserve, transport, AsyncClient) as client:
            many = await client.explain_many(TEXTS, methods=["shapley_mutual"], concurrency=2, progress=False)
            return many, await client.explain(TEXTS, methods=["shapley_mutual"])

    many, listed = asyncio.run(explain_async())
    for one, from_many, from_list in zip(synchronous, many, listed, strict=True):
        assert_same(one, from_many)
        assert_same(one, from_list)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_explain_many_keeps_input_order(torchserve, transport: str) -> None:
    texts = [f"Film number {i} was {'great' if i % 2 else 'awful'}." for i in range(12)]
    with connect(torchserve, transport) as client:
        results = client.explain_many(texts, methods=[], concurrency=8, progress=False)
    assert [r.words[2].text for r in results] == [str(i) for i in range(12)]
    assert all(not r.attributions for r in results)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_nothing_the_server_judged_is_retried(torchserve, transport: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, "attnserve_client"):
        with connect(torchserve, transport, retries=5) as client, pytest.raises(BadInputError):
            client.explain(TEXT, methods=["lime"])
        wrong = connect(torchserve, transport, retries=5, token="wrong", key_file=None)
        with wrong, pytest.raises(AuthError):
            wrong.predict(TEXT)
    assert not [record for record in caplog.records if "retrying" in record.getMessage()]


class Rows(HTMLParser):
    """method -> [(word, data-score)] from the HTML view."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[tuple[str, float]]] = {}
        self._method = ""
        self._score: float | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr":
            self._method = attributes.get("data-method") or ""
            self.rows[self._method] = []
        elif tag == "span" and attributes.get("class") == "attnserve-word":
            self._score = float(attributes["data-score"] or "nan")

    def handle_data(self, data: str) -> None:
        if self._score is not None:
            self.rows[self._method].append((data, self._score))
            self._score = None


def test_the_html_view_of_a_served_explanation(torchserve) -> None:
    methods = ["shapley_mutual", "grad_shapley_cls"]
    with connect(torchserve, "grpc") as client:
        explanation = client.explain("A <b>gorgeous</b> film & a moving one.", methods=methods)
    parser = Rows()
    parser.feed(explanation.to_html())
    assert sorted(parser.rows) == sorted(methods)
    for method, row in parser.rows.items():
        assert [word for word, _ in row] == [word.text for word in explanation.words]
        assert max(row, key=lambda cell: cell[1])[0] == explanation.top_words(1, method)[0][0]
    assert "<b>" not in explanation.to_html()


def test_retries_ride_out_a_server_restart(torchserve, caplog) -> None:
    """Stop the server, call on both transports, start it again: both calls succeed after retries, with
    the new key (TorchServe writes new keys at every start) read from the key file."""
    clients = {transport: connect(torchserve, transport, retries=40) for transport in TRANSPORTS}
    for client in clients.values():
        client.predict(TEXT)  # the key file's current key is now known
    torchserve.stop()

    def restart() -> None:
        time.sleep(2.0)
        torchserve.start()

    with caplog.at_level(logging.WARNING, "attnserve_client"), ThreadPoolExecutor(3) as pool:
        restarted = pool.submit(restart)
        calls = {t: pool.submit(client.predict, TEXT) for t, client in clients.items()}
        restarted.result()
        labels = {t: call.result().label for t, call in calls.items()}
    for client in clients.values():
        client.close()
    assert labels == {"rest": "positive", "grpc": "positive"}
    retries = [record.getMessage() for record in caplog.records if "retrying" in record.getMessage()]
    assert any(torchserve.inference_url in message for message in retries), retries
    assert any(torchserve.inference_url not in message for message in retries), retries
