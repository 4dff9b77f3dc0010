"""attnserve's explanation engine: pure PyTorch, no TorchServe import.

One ``capture`` pass per batch collects what the requested methods need; each method in ``REGISTRY``
is a small pure function over that capture.
"""

from attnserve.capture import Capture, capture
from attnserve.errors import AttnserveError, InvalidInput
from attnserve.explain import ModelInfo
from attnserve.explain_text import TextExplainer
from attnserve.methods import REGISTRY, Method

__all__ = ["REGISTRY", "AttnserveError", "Capture", "InvalidInput", "Method", "ModelInfo", "TextExplainer", "capture"]
