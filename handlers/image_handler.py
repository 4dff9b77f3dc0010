"""TorchServe entry point for image classifiers (the fashion ViT): the text handler's batch, status and
metrics logic, with the image explainer behind it. No maths here.

Bodies: PNG/JPEG bytes (REST ``Content-Type: image/png`` or ``image/jpeg``, or gRPC input ``data``),
or JSON ``{"image": base64, "methods", "target", "concepts"}``. Answers are JSON on both transports: a
serialized attnserve.v1.ExplainRequest (gRPC input ``explain_request``) is refused with a 400, since
its response message has no field for patches.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transformers import ViTForImageClassification

from attnserve import InvalidInput, ModelInfo
from attnserve.concepts import FILE_NAME, load_cavs
from attnserve.explain_image import ImageExplainer
from attnserve.image import MAX_BYTES, MAX_PIXELS, ImageSpec
from attnserve.methods.amortized import find_amortizer
from handlers.metrics import HandlerMetrics
from handlers.proto_codec import INPUT_KEY
from handlers.text_handler import TextExplainHandler, select_device

log = logging.getLogger(__name__)


class ImageExplainHandler(TextExplainHandler):
    def initialize(self, context) -> None:
        properties = context.system_properties
        model_dir = Path(properties["model_dir"])
        settings = (context.model_yaml_config or {}).get("handler", {})
        device = select_device(properties.get("gpu_id"))
        model = ViTForImageClassification.from_pretrained(model_dir, attn_implementation="eager").to(device)
        spec = ImageSpec.from_model_dir(
            model_dir,
            max_bytes=int(settings.get("max_image_bytes", MAX_BYTES)),
            max_pixels=int(settings.get("max_image_pixels", MAX_PIXELS)),
        )
        card = json.loads((model_dir / "model_card.json").read_text())
        self.explainer = ImageExplainer(
            model,
            spec,
            ModelInfo(context.model_name, str(card["version"])),
            default_methods=settings.get("default_methods", ["shapley_mutual", "grad_shapley_mutual"]),
            bank=load_cavs(model_dir / FILE_NAME) if (model_dir / FILE_NAME).exists() else None,
            amortizer=find_amortizer(model_dir, model),
        )
        self.metrics = HandlerMetrics(context.metrics, context.model_name) if context.metrics else None
        self.initialized = True
        log.info("loaded %s v%s on %s", context.model_name, card["version"], device)

    @staticmethod
    def _body(index: int, row: dict, context) -> tuple[object, str | None]:
        if INPUT_KEY in row:
            refused = InvalidInput("image models answer JSON: send the image under gRPC input 'data'", "body")
            return refused, None
        return TextExplainHandler._body(index, row, context)

    def handle(self, data: list[dict], context) -> list[str | bytes]:
        """As the text handler, but never in proto (see the module docstring)."""
        report = self.explainer.explain_batch([self._body(i, row, context) for i, row in enumerate(data)])
        if self.metrics:
            self.metrics.record(report)
        return [self._encode(i, outcome, False, context) for i, outcome in enumerate(report.outcomes)]
