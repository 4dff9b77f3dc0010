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
    """A ViT image classifier and its held-out images; items are named ``test/<index>``."""

    name: str
    model: nn.Module
    spec: ImageSpec
    images: np.ndarray  # uint8 [N, H, W]
    texts: list[str]  # item names, in a fixed order (the harness calls every item a text)
    description: str

    scores_field = "patches"
    refused = tuple(name for name in REGISTRY if PROBE in METHOD_NEEDS[name])  # ImageExplainer refuses them
    masking = "patches replaced by black pixels (normalised value (0 − mean)/std)"

    def explainer(self, max_forward_passes: int) -> ImageExplainer:
        del max_forward_passes  # no perturbation baselines for images
        return ImageExplainer(self.model, self.spec, ModelInfo(self.name, "eval"), default_methods=[])

    def _image(self, item: str) -> np.ndarray:
        return self.images[int(item.removeprefix("test/"))]

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


def fashion() -> ImageEvalModel:
    """The Fashion-MNIST ViT (model_store/recipes/fashion.py) on its 10k test images, in file order."""
    from transformers import ViTForImageClassification

    from model_store.recipes import fashion as recipe
    from model_store.recipes.archive import cached_model

    key = recipe.model_key()
    model_dir, _ = cached_model(recipe.NAME, key, lambda out: recipe.train(out, key))
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
    )


MODELS: dict[str, Callable[[], EvalModel | ImageEvalModel]] = {
    "sentiment": sentiment,
    "topics": topics,
    "fashion": fashion,
}
