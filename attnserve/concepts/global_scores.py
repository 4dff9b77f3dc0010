"""Global TCAV scores (arXiv 2508.08966 §3): over N inputs of one target class, the share with S(x) > 0 for every
CAV of each concept and of the random set, at every layer, then the concept's mean, spread and tests.

One capture pass serves it all: the concept-gradient need is given the stacked [L, K, D] CAVs instead
of one mean direction per concept, so the hook reduces each block's gradient to [B, T, K] at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attnserve.capture import CLS_ATTN_LAYERS, CONCEPT_GRAD_LAYERS, ConceptSettings, capture
from attnserve.concepts.bank import RANDOM
from attnserve.concepts.stats import by_concept
from attnserve.concepts.tcav import attention_weighted, tcav_scores
from attnserve.errors import InvalidInput
from attnserve.request import checked_text, field_name, shown
from attnserve.text.codec import encode_text

MAX_TEXTS = 256  # per request: one padded pass holds B·T·(K·concepts) floats per layer


def parse_global(body: dict, labels: Sequence[str], known: Sequence[str], cap: int = MAX_TEXTS) -> tuple:
    """``{"texts", "target", "concepts"?}`` -> (texts, target index, concept names); 400s name the field."""
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts:
        raise InvalidInput("texts must be a non-empty list of non-empty strings", "texts")
    if len(texts) > cap:
        raise InvalidInput(f"at most {cap} texts per request, got {len(texts)}; split the set", "texts")
    texts = [checked_text(text, f"texts[{i}]") for i, text in enumerate(texts)]
    target = body.get("target")
    if target not in labels:
        raise InvalidInput(f"target must be one of {list(labels)}, got {shown(target)}", "target")
    names = body.get("concepts", list(known))
    if not isinstance(names, list) or not names or any(n not in known for n in names):
        raise InvalidInput(
            f"concepts must be a non-empty list drawn from {list(known)}, got {shown(names)}", "concepts"
        )
    unknown = sorted(map(str, set(body) - {"texts", "target", "concepts"}))
    if unknown:
        raise InvalidInput(
            f"unknown fields {shown(unknown)}; accepted: texts, target, concepts", field_name(unknown[0])
        )
    return texts, labels.index(target), list(dict.fromkeys(names))


def global_scores(explainer: Any, texts: Sequence[str], target: int, names: Sequence[str]) -> dict[str, Any]:
    """The response body of a global request; ``explainer``: a ``TextExplainer`` with a CAV bank."""
    bank = explainer.bank
    cavs, owners = bank.stacked([*names, RANDOM])
    batch = explainer.collate([_encoded(explainer, text, f"texts[{i}]") for i, text in enumerate(texts)])
    inputs = {key: value.to(explainer.device) for key, value in batch.inputs.items()}
    result = capture(
        explainer.model,
        inputs,
        batch.players.to(explainer.device),
        {CONCEPT_GRAD_LAYERS, CLS_ATTN_LAYERS},
        [target] * len(texts),
        concepts=ConceptSettings(tuple(bank.layers), cavs),
    )
    cls_attn = result.cls_attn_layers[list(bank.layers)]
    found = attention_weighted(result.concept_grad_layers, cls_attn, batch.real.to(cls_attn.device))
    scores = tcav_scores(found.score).cpu()  # [L, K]
    tests = by_concept(scores, owners)
    concepts = {}
    for name in names:
        columns = [c for c, (owner, _) in enumerate(owners) if owner == name]
        summary = tests[name].to_dict()
        accuracy = bank.concepts[name].mean_accuracy().tolist()
        concepts[name] = {
            "layers": [
                {
                    "layer": layer,
                    "score_mean": summary["mean"][slot],
                    "score_std": summary["std"][slot],
                    "scores": scores[slot, columns].tolist(),
                    "p_vs_half": summary["p_vs_half"][slot],
                    "p_vs_random": summary["p_vs_random"][slot],
                    "cav_accuracy": float(accuracy[slot]),
                }
                for slot, layer in enumerate(bank.layers)
            ]
        }
    info = explainer.info
    return {
        "model": {"name": info.name, "version": info.version},
        "target": explainer.labels[target],
        "inputs": len(texts),
        "concepts": concepts,
    }


def _encoded(explainer: Any, text: str, field: str) -> Any:
    """One text of the set, encoded as an explain request's is; a text the model cannot read is a 400
    naming its place in ``texts``."""
    try:
        return encode_text(explainer.tokenizer, text, explainer.max_length)
    except InvalidInput as error:
        raise InvalidInput(error.message, field) from None
