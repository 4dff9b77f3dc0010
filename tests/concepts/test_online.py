"""The served ``tcav`` method against a plain recomputation: hidden states retained, autograd on the
target logit, then ``attnserve.concepts.sensitivity``; and batching must not change any answer."""

from __future__ import annotations

import pytest
import torch

from attnserve.concepts.bank import CavBank
from attnserve.concepts.tcav import sensitivity
from attnserve.errors import InvalidInput
from attnserve.explain import ModelInfo
from attnserve.text.codec import collate, encode_text
from attnserve.text.explainer import TextExplainer
from tests.conftest import CONCEPTS as NAMES

TEXTS = ["A gorgeous, moving film.", "The plot is not good at all, and the acting is worse.", "Dull."]


def reference(model, tokenizer, bank: CavBank, text: str, target: int | None = None):
    """S [L, C] and s [L, T, C] for one text, from retained hidden states and attention maps."""
    inputs, _ = collate(tokenizer, [encode_text(tokenizer, text, 64)])
    with torch.enable_grad():
        model.requires_grad_(True)
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
        hidden = out.hidden_states[1:]
        chosen = int(out.logits.argmax()) if target is None else target
        grads = torch.autograd.grad(out.logits[0, chosen], hidden)
        model.requires_grad_(False)
    cls_attn = torch.stack([a[:, :, 0].mean(1) for a in out.attentions]).detach()
    directions, _ = bank.directions(NAMES)
    found = sensitivity(torch.stack(grads), cls_attn, inputs["attention_mask"].bool(), directions)
    return found.score[:, 0], found.tokens[:, 0]


def test_served_values_equal_the_reference(concept_explainer, tiny_bert, tokenizer, tiny_bank) -> None:
    for target in (None, 0):
        body = {"text": TEXTS[1], "methods": ["tcav"], "target": target}
        (served,) = concept_explainer.explain([(body, None)])
        score, tokens = reference(tiny_bert, tokenizer, tiny_bank, TEXTS[1], target)
        assert list(served["concepts"]) == NAMES and served["attributions"] == {}
        for column, name in enumerate(NAMES):
            concept = served["concepts"][name]
            assert concept["cav_accuracy"] == pytest.approx(tiny_bank.concepts[name].mean_accuracy().tolist())
            for layer, answer in enumerate(concept["layers"]):
                assert answer["layer"] == layer and answer["positive"] == (answer["sensitivity"] > 0)
                assert answer["sensitivity"] == pytest.approx(float(score[layer, column]), rel=1e-4, abs=1e-7)
                n = len(served["tokens"])
                expected = tokens[layer, 1 : n + 1, column].tolist()
                assert answer["tokens"] == pytest.approx(expected, rel=1e-4, abs=1e-7)
                assert sum(answer["words"]) == pytest.approx(sum(answer["tokens"]), abs=1e-9)


def test_batched_equals_unbatched(concept_explainer) -> None:
    bodies = [({"text": text, "methods": ["tcav", "grad_shapley_mutual"]}, None) for text in TEXTS]
    batched = concept_explainer.explain(bodies)
    for body, together in zip(bodies, batched, strict=True):
        (alone,) = concept_explainer.explain([body])
        for name in NAMES:
            for a, b in zip(alone["concepts"][name]["layers"], together["concepts"][name]["layers"], strict=True):
                assert a["sensitivity"] == pytest.approx(b["sensitivity"], rel=1e-4, abs=1e-7)
                assert a["tokens"] == pytest.approx(b["tokens"], rel=1e-4, abs=1e-7)


def test_each_request_gets_its_own_concepts(concept_explainer) -> None:
    one, every, none = concept_explainer.explain(
        [
            ({"text": TEXTS[0], "methods": ["tcav"], "concepts": ["sports"]}, None),
            ({"text": TEXTS[0], "methods": ["tcav"]}, None),
            ({"text": TEXTS[0], "methods": ["shapley_mutual"]}, None),
        ]
    )
    assert list(one["concepts"]) == ["sports"] and list(every["concepts"]) == NAMES and "concepts" not in none
    assert one["concepts"]["sports"] == every["concepts"]["sports"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"methods": ["tcav"], "concepts": ["sports", "stripes"]}, "concepts[1]"),
        ({"methods": ["tcav"], "concepts": []}, "concepts"),
        ({"methods": ["shapley_mutual"], "concepts": ["sports"]}, "concepts"),
        ({"methods": ["tcav"], "options": {"tcav": {"steps": 2}}}, "options.tcav"),
    ],
)
def test_bad_concept_requests_name_their_field(concept_explainer, body, field) -> None:
    (outcome,) = concept_explainer.explain([({"text": TEXTS[0], **body}, None)])
    assert isinstance(outcome, InvalidInput) and outcome.field == field


def test_a_model_without_cavs_refuses_tcav(tiny_bert, tokenizer) -> None:
    plain = TextExplainer(tiny_bert, tokenizer, ModelInfo("tiny", "0"), 64, [])
    (outcome,) = plain.explain([({"text": TEXTS[0], "methods": ["shapley_cls", "tcav"]}, None)])
    assert isinstance(outcome, InvalidInput) and outcome.field == "methods[1]" and "CAV" in outcome.message
