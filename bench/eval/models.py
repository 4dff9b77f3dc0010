"""The models the harness can evaluate, by name. A model plugs in with one loader returning an
``EvalModel``: the classifier, its tokenizer and its held-out texts (text models; an image model
would need a patch masker in ``attnserve.probe`` first)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from torch import nn
from transformers import PreTrainedTokenizerBase

from attnserve import ModelInfo, TextExplainer
from attnserve.capture import PROBE, capture
from attnserve.probe import ProbeSettings, Row
from attnserve.text import collate, encode_text


@dataclass(frozen=True)
class EvalModel:
    name: str
    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    max_length: int
    texts: list[str]  # held out from training, in a fixed order
    description: str  # model and data, one line, for the report

    def explainer(self, max_forward_passes: int) -> TextExplainer:
        return TextExplainer(
            self.model,
            self.tokenizer,
            ModelInfo(self.name, "eval"),
            self.max_length,
            default_methods=[],
            max_forward_passes=max_forward_passes,
        )

    def row(self, text: str) -> Row:
        """The text as the explainer sees it, with its predicted class as target."""
        inputs, players = collate(self.tokenizer, [encode_text(self.tokenizer, text, self.max_length)])
        settings = ProbeSettings(self.tokenizer.mask_token_id, ({},))
        return capture(self.model, inputs, players, {PROBE}, probe=settings).probe.row(0)

    def n_tokens(self, text: str) -> int:
        return len(encode_text(self.tokenizer, text, self.max_length).ids)


def _from_recipe(recipe: ModuleType, held_out: list[tuple[str, int]], data: str) -> EvalModel:
    """A text model from its build cache (trained on a miss) and its recipe's held-out split."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from model_store.recipes.archive import cached_model

    key = recipe.model_key()
    model_dir, _ = cached_model(recipe.NAME, key, lambda out: recipe.train(out, key))
    card = json.loads((model_dir / "model_card.json").read_text())
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager")
    return EvalModel(
        name=recipe.NAME,
        model=model.eval().requires_grad_(False),
        tokenizer=AutoTokenizer.from_pretrained(model_dir),
        max_length=recipe.TRAIN_CONFIG["max_length"],
        texts=[text for text, _ in held_out],
        description=(
            f"all-MiniLM-L6-v2 fine-tuned on {data} (held-out accuracy {card['metrics']['accuracy']:.3f}); "
            "texts: the held-out split, in its seeded order"
        ),
    )


def sentiment() -> EvalModel:
    """The default demo model (model_store/recipes/sentiment.py)."""
    from model_store.recipes import sentiment as recipe

    _, held_out = recipe.split(recipe.load_examples(recipe.data_file()))
    return _from_recipe(recipe, held_out, "Rotten Tomatoes snippets")


def topics() -> EvalModel:
    """The 5-topic BBC News model (model_store/recipes/topics.py); articles are truncated to 128 tokens."""
    from model_store.recipes import topics as recipe

    _, held_out = recipe.split(recipe.load_articles())
    return _from_recipe(recipe, held_out, "BBC News articles (5 topics)")


MODELS: dict[str, Callable[[], EvalModel]] = {"sentiment": sentiment, "topics": topics}
