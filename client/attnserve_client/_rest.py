"""REST transport (httpx): ``POST {url}/predictions/{model}`` with a JSON body and a bearer token.

The sync and async classes differ only in awaiting; request building and answer parsing are shared.
"""

from __future__ import annotations

import httpx

from attnserve_client._core import Call, Settings, parse_json, parse_rest, rest_body
from attnserve_client.errors import AttnserveClientError, ServerUnavailableError, TimeoutError
from attnserve_client.explanation import Explanation


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

    def send(self, call: Call, token: str | None) -> Explanation:
        url = f"{self.url}/predictions/{self._settings.model}"
        try:
            response = self._http.post(url, json=rest_body(call), headers=_headers(token))
        except httpx.TransportError as error:
            raise _failure(error, url) from None
        return parse_rest(response.status_code, response.content)

    def post(self, body: dict[str, object], token: str | None) -> object:
        """Any JSON body to the model's route, the JSON answer back (errors raised as for ``send``)."""
        url = f"{self.url}/predictions/{self._settings.model}"
        try:
            response = self._http.post(url, json=body, headers=_headers(token))
        except httpx.TransportError as error:
            raise _failure(error, url) from None
        return parse_json(response.status_code, response.content)

    def close(self) -> None:
        self._http.close()


class AsyncRestTransport:
    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url.rstrip("/")
        self._settings = settings
        self._http = httpx.AsyncClient(timeout=settings.timeout)

    async def send(self, call: Call, token: str | None) -> Explanation:
        url = f"{self.url}/predictions/{self._settings.model}"
        try:
            response = await self._http.post(url, json=rest_body(call), headers=_headers(token))
        except httpx.TransportError as error:
            raise _failure(error, url) from None
        return parse_rest(response.status_code, response.content)

    async def close(self) -> None:
        await self._http.aclose()
