"""Global TCAV scores on the tiny model against a from-scratch computation (retained hidden states,
autograd on the target logit, every CAV of the stacked bank), plus the request checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnserve.concepts.bank import RANDOM
from attnserve.concepts.global_scores import global_scores, parse_global
from attnserve.concepts.tcav import sensitivity
from attnserve.errors import InvalidInput
from attnserve.text.codec import collate, encode_text
from tests.conftest import CONCEPTS as NAMES

TEXTS = [
    "A gorgeous, moving film.",
    "The plot is not good at all, and the acting is worse.",
    "Dull.",
    "I loved every minute of it.",
    "Not worth the ticket.",
]


def reference_scores(model, tokenizer, bank, target: int) -> torch.Tensor:
    """[L, K] share of inputs with S > 0 per CAV, one text at a time."""
    cavs, _ = bank.stacked([*NAMES, RANDOM])
    signs = []
    for text in TEXTS:
        inputs, _ = collate(tokenizer, [encode_text(tokenizer, text, 64)])
        with torch.enable_grad():
            model.requires_grad_(True)
            out = model(**inputs, output_hidden_states=True, output_attentions=True)
            grads = torch.autograd.grad(out.logits[0, target], out.hidden_states[1:])
            model.requires_grad_(False)
        cls_attn = torch.stack([a[:, :, 0].mean(1) for a in out.attentions]).detach()
        found = sensitivity(torch.stack(grads), cls_attn, inputs["attention_mask"].bool(), cavs)
        signs.append(found.score[:, 0] > 0)
    return torch.stack(signs, 1).float().mean(1)


def test_scores_equal_a_from_scratch_computation(concept_explainer, tiny_bert, tokenizer, tiny_bank) -> None:
    answer = global_scores(concept_explainer, TEXTS, 1, NAMES)
    expected = reference_scores(tiny_bert, tokenizer, tiny_bank, 1)
    assert answer["inputs"] == len(TEXTS) and answer["target"] == concept_explainer.labels[1]
    start = 0
    for name in NAMES:
        k = tiny_bank.concepts[name].count
        for slot, layer in enumerate(answer["concepts"][name]["layers"]):
            assert layer["layer"] == tiny_bank.layers[slot]
            assert layer["scores"] == pytest.approx(expected[slot, start : start + k].tolist())
            assert all(0.0 <= s <= 1.0 for s in layer["scores"])
            assert layer["score_mean"] == pytest.approx(np.mean(layer["scores"]))
            for p in (layer["p_vs_half"], layer["p_vs_random"]):
                assert p is None or 0.0 <= p <= 1.0
        start += k


def test_a_single_concept_is_scored_alone(concept_explainer) -> None:
    both = global_scores(concept_explainer, TEXTS, 0, NAMES)
    alone = global_scores(concept_explainer, TEXTS, 0, ["sports"])
    assert list(alone["concepts"]) == ["sports"]
    assert alone["concepts"]["sports"] == both["concepts"]["sports"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"texts": [], "target": "negative"}, "texts"),
        ({"texts": ["a", 3], "target": "negative"}, "texts[1]"),
        ({"texts": ["a", "\ud800"], "target": "negative"}, "texts[1]"),
        ({"texts": ["a"] * 5, "target": "negative"}, "texts"),
        ({"texts": ["a"], "target": "neutral"}, "target"),
        ({"texts": ["a"], "target": "negative", "concepts": ["stripes"]}, "concepts"),
        ({"texts": ["a"], "target": "negative", "method": "tcav"}, "method"),
    ],
)
def test_bad_requests_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_global(body, ["negative", "positive"], NAMES, cap=4)
    assert error.value.field == field
