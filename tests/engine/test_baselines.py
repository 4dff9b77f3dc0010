"""The Captum baselines against what is checkable: exact Shapley values of the [MASK] game by enumeration,
efficiency and completeness, the documented forward-pass costs; and their per-request options and budget.

A random tiny BERT barely reacts to its tokens (its pooled output is almost constant), so these run on
a small bag-of-embeddings model whose probability moves by tenths when a token is masked.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from attnserve.errors import InvalidInput
from attnserve.explain import Busy, ModelInfo
from attnserve.methods import REGISTRY
from attnserve.request import parse_request
from attnserve.text.codec import encode_text
from attnserve.text.explainer import TextExplainer
from handlers.statuses import http_status
from tests.conftest import LABELS
from tests.reference.masking_game import masking_game
from tests.reference.shapley_bruteforce import shapley_values

SHORT = "Dull and slow."  # 4 tokens
LONG = "A gorgeous, moving film that never stops surprising."  # 10 tokens
BASELINES = ("integrated_gradients", "kernel_shap", "shapley_sampling")


class BagModel(nn.Module):
    """Mean of the token embeddings through a tanh MLP: non-additive, differentiable, sensitive."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embeddings = nn.Embedding(vocab_size, 8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, len(LABELS)))
        self.config = SimpleNamespace(id2label=dict(enumerate(LABELS)), num_labels=len(LABELS))

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> SimpleNamespace:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        mean = (self.embeddings(input_ids) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return SimpleNamespace(logits=3 * self.mlp(4 * mean))


@pytest.fixture(scope="module")
def bag(tokenizer) -> BagModel:
    return BagModel(tokenizer.vocab_size).eval()


def make_explainer(bag, tokenizer, **kwargs) -> TextExplainer:
    return TextExplainer(bag, tokenizer, ModelInfo("bag", "0"), max_length=64, default_methods=[], **kwargs)


@pytest.fixture(scope="module")
def explainer(bag, tokenizer) -> TextExplainer:
    return make_explainer(bag, tokenizer, max_forward_passes=100_000)


def scores(explainer: TextExplainer, text: str, method: str, **options: int) -> torch.Tensor:
    (response,) = explainer.explain([({"text": text, "methods": [method], "options": {method: options}}, None)])
    return torch.tensor(response["attributions"][method]["tokens"], dtype=torch.float64)


def game(bag, tokenizer, text: str):
    """The masking game of ``text`` for its predicted class, and its number of players."""
    ids = encode_text(tokenizer, text, 64).ids
    special = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id)
    full = [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]
    target = int(bag(input_ids=torch.tensor([full])).logits.argmax())
    return masking_game(bag, ids, special, target), len(ids)


def gap(bag, tokenizer, text: str) -> float:
    """p(x) − p(all [MASK]): what efficiency and completeness say the attributions add up to."""
    v, n = game(bag, tokenizer, text)
    return v(frozenset(range(n))) - v(frozenset())


def test_shapley_sampling_is_exact_when_permutations_cover_all_orders(explainer, bag, tokenizer) -> None:
    v, n = game(bag, tokenizer, SHORT)
    expected = torch.tensor(shapley_values(n, v))
    torch.testing.assert_close(
        scores(explainer, SHORT, "shapley_sampling", permutations=24), expected, atol=1e-6, rtol=0
    )


def test_kernel_shap_approaches_the_exact_values(explainer, bag, tokenizer) -> None:
    v, n = game(bag, tokenizer, SHORT)
    expected = torch.tensor(shapley_values(n, v))  # entries 0.08-0.21
    torch.testing.assert_close(scores(explainer, SHORT, "kernel_shap", samples=2000), expected, atol=0.03, rtol=0)


def test_sampled_shapley_is_efficient_seeded_and_follows_its_options(explainer, bag, tokenizer) -> None:
    three = scores(explainer, LONG, "shapley_sampling", permutations=3)
    assert float(three.sum()) == pytest.approx(gap(bag, tokenizer, LONG), abs=1e-6)  # every permutation telescopes
    assert torch.equal(three, scores(explainer, LONG, "shapley_sampling", permutations=3))
    assert not torch.allclose(three, scores(explainer, LONG, "shapley_sampling", permutations=4))


def test_integrated_gradients_is_complete(explainer, bag, tokenizer) -> None:
    attributions = scores(explainer, LONG, "integrated_gradients", steps=64)
    assert float(attributions.sum()) == pytest.approx(gap(bag, tokenizer, LONG), abs=1e-5)


@pytest.mark.parametrize("method", ["kernel_shap", "shapley_sampling"])
def test_one_token_gets_the_whole_gap(explainer, bag, tokenizer, method: str) -> None:
    assert scores(explainer, "Dull", method).tolist() == pytest.approx([gap(bag, tokenizer, "Dull")], abs=1e-6)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("integrated_gradients", {"steps": 5}),
        ("kernel_shap", {"samples": 30}),
        ("shapley_sampling", {"permutations": 3}),
    ],
)
def test_documented_cost_is_the_forward_passes_made(explainer, bag, method: str, options: dict) -> None:
    rows = []
    hook = bag.register_forward_hook(
        lambda _m, args, kwargs, _out: rows.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    try:
        scores(explainer, LONG, method, **options)
    finally:
        hook.remove()
    assert sum(rows) - 1 == REGISTRY[method].cost(options, 10)  # less the capture pass


def test_each_request_in_a_batch_gets_its_own_options(explainer) -> None:
    bodies = [
        ({"text": LONG, "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 40}}}, None),
        ({"text": SHORT, "methods": []}, None),
        ({"text": LONG, "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 60}}}, None),
        ({"text": SHORT, "methods": list(BASELINES), "options": {"shapley_sampling": {"permutations": 2}}}, None),
    ]
    together = explainer.explain(bodies)
    for body, batched in zip(bodies, together, strict=True):
        (alone,) = explainer.explain([body])
        assert alone["attributions"] == batched["attributions"]
    assert together[0]["attributions"] != together[2]["attributions"]
    assert together[1]["attributions"] == {}


def test_budget_rejects_only_the_dear_request_and_names_the_option(bag, tokenizer) -> None:
    explainer = make_explainer(bag, tokenizer, max_forward_passes=100)
    outcomes = explainer.explain(
        [
            ({"text": LONG, "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 150}}}, None),
            ({"text": LONG, "methods": ["shapley_sampling"]}, None),  # default 10 permutations · 10 tokens + 1
            ({"text": LONG, "methods": ["integrated_gradients", "kernel_shap"]}, None),  # 34 + 200
            ({"text": LONG, "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 99}}}, None),
        ]
    )
    fields = [o.field if isinstance(o, InvalidInput) else None for o in outcomes]
    assert fields == [
        "options.kernel_shap.samples",
        "options.shapley_sampling.permutations",
        "options.kernel_shap.samples",
        None,
    ]
    assert "budget is 100" in outcomes[0].message and outcomes[0].code == "INVALID_INPUT"


def test_a_batch_runs_no_more_perturbation_work_than_its_budget(tiny_bert, tokenizer) -> None:
    """Requests are accepted in order while their extra passes fit the batch's budget; the rest get a
    503 (``Busy``, retried by the SDK) and are never run. Cheap requests always run, and a request
    alone always fits (the batch budget is at least the per-request one)."""
    explainer = make_explainer(tiny_bert, tokenizer, max_forward_passes=100, max_batch_forward_passes=150)
    samples = {"text": LONG, "methods": ["kernel_shap"], "options": {"kernel_shap": {"samples": 90}}}
    cheap = {"text": LONG, "methods": ["gae"]}
    outcomes = explainer.explain([(samples, None), (cheap, None), (samples, None), (cheap, None)])
    assert isinstance(outcomes[0], dict) and isinstance(outcomes[1], dict) and isinstance(outcomes[3], dict)
    busy = outcomes[2]
    assert isinstance(busy, Busy) and busy.code == "UNAVAILABLE" and http_status(busy) == (503, "Service Unavailable")
    assert "60 of its 150 left" in busy.message and "send it again" in busy.message
    (alone,) = explainer.explain([(samples, None)])
    assert alone["attributions"]["kernel_shap"] == outcomes[0]["attributions"]["kernel_shap"]


def test_a_batch_budget_below_the_request_budget_is_refused(bag, tokenizer) -> None:
    with pytest.raises(ValueError, match="at least max_forward_passes"):
        make_explainer(bag, tokenizer, max_forward_passes=100, max_batch_forward_passes=50)


def test_configured_defaults_apply_and_are_validated(bag, tokenizer, explainer) -> None:
    configured = make_explainer(bag, tokenizer, method_options={"kernel_shap": {"samples": 25}})
    (response,) = configured.explain([({"text": LONG, "methods": ["kernel_shap"]}, None)])
    expected = scores(explainer, LONG, "kernel_shap", samples=25)
    assert torch.tensor(response["attributions"]["kernel_shap"]["tokens"], dtype=torch.float64).equal(expected)
    with pytest.raises(ValueError, match=r"method_options\.kernel_shap\.sample"):
        make_explainer(bag, tokenizer, method_options={"kernel_shap": {"sample": 25}})
    with pytest.raises(ValueError, match="max_forward_passes"):
        make_explainer(bag, tokenizer, max_forward_passes="2000")


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ([1], "options", "must be an object"),
        ({"kernel_shapp": {}}, "options.kernel_shapp", "unknown method"),
        ({"gae": {}}, "options.gae", "takes no options"),
        ({"shapley_sampling": {}}, "options.shapley_sampling", "does not run"),
        ({"kernel_shap": 200}, "options.kernel_shap", "must be an object"),
        ({"kernel_shap": {"sample": 200}}, "options.kernel_shap.sample", "accepted: samples"),
        ({"kernel_shap": {"samples": 0}}, "options.kernel_shap.samples", "positive integer"),
        ({"kernel_shap": {"samples": "200"}}, "options.kernel_shap.samples", "positive integer"),
        ({"kernel_shap": {"samples": True}}, "options.kernel_shap.samples", "positive integer"),
    ],
)
def test_option_rejections_name_the_field(options, field: str, message: str) -> None:
    body = {"text": "x", "methods": ["kernel_shap", "gae"], "options": options}
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_request(body, None, LABELS, ())
    assert caught.value.field == field
