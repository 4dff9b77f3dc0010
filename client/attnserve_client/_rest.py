"""REST transport (httpx): ``POST {url}/predictions/{model}`` with a JSON body and a bearer token.

The sync and async classes differ only in awaiting; request building and answer parsing are shared.
An explain request is ``{"text", ...}`` or ``{"image": base64, ...}``; a global-concepts request is
``{"kind": "global_concepts", "texts", "target", "concepts"?}`` (``_core``).
"""

from __future__ import annotations

import httpx

from attnserve_client._core import (
    Call,
    GlobalCall,
    Settings,
    global_rest_body,
    parse_global_rest,
    parse_rest,
    rest_body,
)
from attnserve_client.errors import AttnserveClientError, ServerUnavailableError, TimeoutError
from attnserve_client.explanation import Explanation
from attnserve_client.global_scores import GlobalScores


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _failure(error: httpx.HTTPError, url: str) -> AttnserveClientError:
    """No answer at all: a timeout, or a connection that failed (worth retrying)."""
    if isinstance(error, httpx.TimeoutException):
        return TimeoutError(f"no answer from {url} in time ({type(error).__name__})")
    return ServerUnavailableError(f"cannot reach {url}: {error or type(error).__name__}")


class RestTransport:
    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url.rstrip("/")
        self._settings = settings
        self._http = httpx.Client(timeout=settings.timeout)

    def _post(self, body: dict[str, object], token: str | None) -> httpx.Response:
        url = f"{self.url}/predictions/{self._settings.model}"
        try:
            return self._http.post(url, json=body, headers=_headers(token))
        except httpx.TransportError as error:
            raise _failure(error, url) from None

    def send(self, call: Call, token: str | None) -> Explanation:
        response = self._post(rest_body(call), token)
        return parse_rest(response.status_code, response.content, call)

    def send_global(self, call: GlobalCall, token: str | None) -> GlobalScores:
        response = self._post(global_rest_body(call), token)
        return parse_global_rest(response.status_code, response.content)

    def close(self) -> None:
        self._http.close()


class AsyncRestTransport:
    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url.rstrip("/")
        self._settings = settings
        self._http = httpx.AsyncClient(timeout=settings.timeout)

    async def _post(self, body: dict[str, object], token: str | None) -> httpx.Response:
        url = f"{self.url}/predictions/{self._settings.model}"
        try:
            return await self._http.post(url, json=body, headers=_headers(token))
        except httpx.TransportError as error:
            raise _failure(error, url) from None

    async def send(self, call: Call, token: str | None) -> Explanation:
        response = await self._post(rest_body(call), token)
        return parse_rest(response.status_code, response.content, call)

    async def send_global(self, call: GlobalCall, token: str | None) -> GlobalScores:
        response = await self._post(global_rest_body(call), token)
        return parse_global_rest(response.status_code, response.content)

    async def close(self) -> None:
        await self._http.aclose()
