"""Answer one request from a built `.mar` through the real handler in-process: the archive is unpacked
as TorchServe unpacks it, the handler is initialised with the packed model-config.yaml, and the body
goes through TorchServe's own batch decoding."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import yaml
from ts.context import Context
from ts.service import Service

from handlers.explain_handler import ExplainHandler


def answer(mar: Path, body: dict, workdir: Path, handler_class: type = ExplainHandler) -> dict:
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(workdir)
    config = yaml.safe_load((workdir / "model-config.yaml").read_text())
    context = Context(mar.stem, str(workdir), {}, 4, None, "0.12.0", model_yaml_config=config)
    handler = handler_class()
    handler.initialize(context)
    batch = [{"requestId": b"r0", "parameters": [{"name": "body", "value": body, "contentType": "application/json"}]}]
    headers, inputs, ids = Service.retrieve_data_for_inference(batch)
    context.request_ids, context.request_processor = ids, headers
    (response,) = handler.handle(inputs, context)
    return json.loads(response)
