"""attnserve's Python SDK: predictions and explanations of text and image models over REST or gRPC,
sync or async.

    from attnserve_client import Client

    with Client("http://127.0.0.1:8080", key_file="key_file.json") as client:
        explanation = client.explain("A gorgeous, moving film.", methods=["shapley_mutual"])
    print(explanation.label, explanation.top_words(3))

Names are imported on first use, so importing the package costs nothing until one is used. The
generated messages live in their own package, ``attnserve_protos``, shipped in the same distribution.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attnserve_client._client import AsyncClient, Client
    from attnserve_client.errors import (
        AttnserveClientError,
        AuthError,
        BadInputError,
        ModelNotFoundError,
        ServerError,
        ServerUnavailableError,
        TimeoutError,
    )
    from attnserve_client.explanation import (
        Attribution,
        Concept,
        ConceptLayer,
        Explanation,
        ModelRef,
        PatchGrid,
        Span,
    )
    from attnserve_client.global_scores import GlobalScores, LayerScore

_EXPORTS = {
    "Client": "_client",
    "AsyncClient": "_client",
    "Explanation": "explanation",
    "Attribution": "explanation",
    "Concept": "explanation",
    "ConceptLayer": "explanation",
    "ModelRef": "explanation",
    "PatchGrid": "explanation",
    "Span": "explanation",
    "GlobalScores": "global_scores",
    "LayerScore": "global_scores",
    "AttnserveClientError": "errors",
    "AuthError": "errors",
    "BadInputError": "errors",
    "ModelNotFoundError": "errors",
    "ServerError": "errors",
    "ServerUnavailableError": "errors",
    "TimeoutError": "errors",
}
__all__ = [
    "AsyncClient",
    "AttnserveClientError",
    "Attribution",
    "AuthError",
    "BadInputError",
    "Client",
    "Concept",
    "ConceptLayer",
    "Explanation",
    "GlobalScores",
    "LayerScore",
    "ModelNotFoundError",
    "ModelRef",
    "PatchGrid",
    "ServerError",
    "ServerUnavailableError",
    "Span",
    "TimeoutError",
]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'attnserve_client' has no attribute {name!r}")
    return getattr(import_module(f"attnserve_client.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
