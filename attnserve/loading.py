"""Load a model directory into its explainer: the one loader of the handler, the build and the harness.

A model directory holds a transformers checkpoint (config, weights, tokenizer or image processor) and
optionally `cavs.pt` (concept vectors) and `amortized.pt` (the learned explainer). ``settings`` are the
`handler:` settings of the model's bundle (its modality, max length, default methods, option defaults
and limits), as TorchServe hands them to the handler from the packed model-config.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from attnserve.concepts.bank import FILE_NAME as CAVS_FILE
from attnserve.concepts.bank import load_cavs
from attnserve.explain import Explainer, ModelInfo
from attnserve.explain_image import ImageExplainer
from attnserve.explain_text import TextExplainer
from attnserve.image import MAX_BYTES, MAX_PIXELS, ImageSpec
from attnserve.methods.amortized import find_amortizer

DEFAULT_METHODS = ("shapley_mutual", "grad_shapley_mutual")


def load_explainer(
    model_dir: Path,
    settings: Mapping[str, Any],
    info: ModelInfo,
    device: torch.device | str = "cpu",
) -> Explainer:
    """The model in ``model_dir`` with eager attention (sdpa returns no attention maps) on ``device``,
    behind the explainer of its modality."""
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification, AutoTokenizer

    modality = settings.get("modality", "text")
    defaults = list(settings.get("default_methods", DEFAULT_METHODS))
    bank = load_cavs(model_dir / CAVS_FILE) if (model_dir / CAVS_FILE).is_file() else None
    if modality == "image":
        model = AutoModelForImageClassification.from_pretrained(model_dir, attn_implementation="eager")
        model = model.to(device).eval()
        spec = ImageSpec.from_model_dir(
            model_dir,
            max_bytes=int(settings.get("max_image_bytes", MAX_BYTES)),
            max_pixels=int(settings.get("max_image_pixels", MAX_PIXELS)),
        )
        return ImageExplainer(model, spec, info, defaults, bank=bank, amortizer=find_amortizer(model_dir, model))
    if modality != "text":
        raise ValueError(f"{model_dir}: unknown modality {modality!r}")
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager")
    model = model.to(device).eval()
    return TextExplainer(
        model,
        AutoTokenizer.from_pretrained(model_dir),
        info,
        max_length=int(settings.get("max_length", 128)),
        default_methods=defaults,
        method_options=settings.get("method_options"),
        max_forward_passes=settings.get("max_forward_passes"),
        bank=bank,
        amortizer=find_amortizer(model_dir, model),
    )
