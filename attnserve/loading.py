"""Load a model directory into its explainer: the one loader of the handler, the build and the harness.

A model directory holds a transformers checkpoint (config, weights, tokenizer or image processor) and
optionally `cavs.pt` (concept vectors) and `amortized.pt` (the learned explainer). ``settings`` are the
`handler:` settings of the model's bundle (its modality, max length, default methods, option defaults
and limits), as TorchServe hands them to the handler from the packed model-config.yaml.

A modality is one package (``attnserve.text``, ``attnserve.image``: codec, masking game, explainer) and
one line in ``MODALITIES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from attnserve.explain import Explainer, ModelInfo
from attnserve.image.explainer import ImageExplainer
from attnserve.text.explainer import TextExplainer

MODALITIES: dict[str, type[Explainer]] = {cls.modality: cls for cls in (TextExplainer, ImageExplainer)}


def load_explainer(
    model_dir: Path,
    settings: Mapping[str, Any],
    info: ModelInfo,
    device: torch.device | str = "cpu",
) -> Explainer:
    """The model in ``model_dir`` on ``device``, behind the explainer of its bundle's ``modality``."""
    modality = settings.get("modality", "text")
    if modality not in MODALITIES:
        raise ValueError(f"{model_dir}: unknown modality {modality!r}; known: {', '.join(MODALITIES)}")
    return MODALITIES[modality].load(model_dir, settings, info, device)
