"""TorchServe entry point for image classifiers (the fashion ViT): the text handler's batch, status and
metrics logic, with the image explainer behind it. No maths here.

Bodies: PNG/JPEG bytes (REST ``Content-Type: image/png`` or ``image/jpeg``, or gRPC input ``data``),
or JSON ``{"image": base64, "methods", "target", "concepts"}``. Answers are JSON on both transports: a
serialized attnserve.v1.ExplainRequest (gRPC input ``explain_request``) is refused with a 400, since
its response message has no field for patches.
"""

from __future__ import annotations

from attnserve.errors import InvalidInput
from handlers.proto_codec import INPUT_KEY
from handlers.text_handler import TextExplainHandler


class ImageExplainHandler(TextExplainHandler):
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
