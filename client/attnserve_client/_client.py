"""``Client`` and ``AsyncClient``: one API over REST and gRPC, for text and image models.

Both are thin shells over ``_core`` (request building, answer parsing, the retry decision); they
differ only in blocking versus awaiting, and have the same methods with the same parameters
(tests/client/test_sdk_client.py checks). ``explain`` on a list and ``explain_many`` send requests
concurrently, so TorchServe can batch them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import TracebackType
from typing import ClassVar, Literal, Self, TypeVar

from attnserve_client._core import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    Call,
    Options,
    Settings,
    Target,
    make_calls,
    make_global_call,
)
from attnserve_client._grpc import AsyncGrpcTransport, GrpcTransport
from attnserve_client._inputs import ImageInput
from attnserve_client._progress import Progress
from attnserve_client._rest import AsyncRestTransport, RestTransport
from attnserve_client.auth import TokenSource
from attnserve_client.errors import AttnserveClientError
from attnserve_client.explanation import Explanation
from attnserve_client.global_scores import GlobalScores

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_GRPC_TARGET = "127.0.0.1:7070"
Transport = Literal["rest", "grpc"]
Images = ImageInput | Sequence[ImageInput]  # one image (bytes, a path, a PIL image) or a list of them
Result = TypeVar("Result")


class _Shell:
    """Constructor and argument handling shared by the sync and async clients.

    ``url`` is the REST inference address, ``grpc_target`` the gRPC inference ``host:port``;
    ``transport`` picks which one is used. ``token``/``key_file`` (else ``ATTNSERVE_TOKEN`` /
    ``ATTNSERVE_KEY_FILE``): see ``attnserve_client.auth``. ``timeout`` is per attempt, in seconds,
    above the server's own (``responseTimeout``, 120 s for the text models), so the server's verdict
    arrives first; ``retries`` is how many times an unreachable, overloaded or restarting server is
    retried: the default's backoff waits 16 to 32 s in all, longer than a worker restart.
    """

    _transports: ClassVar[dict[str, type]]

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        grpc_target: str = DEFAULT_GRPC_TARGET,
        transport: Transport = "rest",
        model: str = "sentiment",
        token: str | None = None,
        key_file: str | os.PathLike | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        if transport not in self._transports:
            raise ValueError(f"transport must be 'rest' or 'grpc', got {transport!r}")
        self.url = url
        self.grpc_target = grpc_target
        self.transport = transport
        self._settings = Settings(model=model, timeout=timeout, retries=retries, tokens=TokenSource(token, key_file))
        self._transport = self._transports[transport](url if transport == "rest" else grpc_target, self._settings)

    @property
    def model(self) -> str:
        return self._settings.model


class Client(_Shell):
    """Blocking client. ``explain("text")`` or ``explain(image=...)`` returns one ``Explanation``; a list
    returns a list."""

    _transports: ClassVar[dict[str, type]] = {"rest": RestTransport, "grpc": GrpcTransport}
    _transport: RestTransport | GrpcTransport

    def explain(
        self,
        text_or_texts: str | Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
        *,
        image: Images | None = None,
    ) -> Explanation | list[Explanation]:
        """Explain ``target`` (default: the predicted class) with ``methods`` (default: the model's);
        ``options`` tunes sampling baselines, e.g. ``{"kernel_shap": {"samples": 200}}``. Give a text
        (or a list) to a text model, ``image=`` (PNG/JPEG bytes, a path or a PIL image, or a list) to
        an image model."""
        calls, single = make_calls(text_or_texts, methods, target, concepts, options, image)
        results = self._run(calls, DEFAULT_CONCURRENCY, progress=False)
        return results[0] if single else results

    def predict(
        self, text_or_texts: str | Sequence[str] | None = None, target: Target = None, *, image: Images | None = None
    ) -> Explanation | list[Explanation]:
        """Label and probabilities only (``methods=[]``): no attribution cost on the server."""
        return self.explain(text_or_texts, methods=[], target=target, image=image)

    def explain_many(
        self,
        texts: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = True,
        *,
        images: Sequence[ImageInput] | None = None,
    ) -> list[Explanation]:
        """Explain many texts (or ``images``) with at most ``concurrency`` requests in flight; results keep
        input order."""
        calls, _ = make_calls(texts, methods, target, concepts, options, _listed(images))
        return self._run(calls, concurrency, progress)

    def tcav_scores(self, texts: Sequence[str], target: str, concepts: Sequence[str] | None = None) -> GlobalScores:
        """Global TCAV scores of ``concepts`` (default: all the model ships) over ``texts``, inputs of
        class ``target``: per concept and layer, the share with positive sensitivity per CAV and its tests.
        Text models with CAVs; the request kind ``global_concepts`` on either transport."""
        call = make_global_call(texts, target, concepts)
        return self._retrying(lambda token: self._transport.send_global(call, token))

    def _run(self, calls: list[Call], concurrency: int, progress: bool) -> list[Explanation]:
        if len(calls) == 1 and not progress:
            return [self._send(calls[0])]
        results: list[Explanation | None] = [None] * len(calls)
        with Progress(len(calls), progress) as bar, ThreadPoolExecutor(max(1, min(concurrency, len(calls)))) as pool:
            futures = {pool.submit(self._send, call): index for index, call in enumerate(calls)}
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results  # type: ignore[return-value]

    def _send(self, call: Call) -> Explanation:
        return self._retrying(lambda token: self._transport.send(call, token))

    def _retrying(self, attempt_with: Callable[[str | None], Result]) -> Result:
        """One request, retried as ``Settings.after_failure`` decides; the token is read per attempt."""
        attempt = 0
        while True:
            try:
                return attempt_with(self._settings.tokens.bearer())
            except AttnserveClientError as error:
                time.sleep(self._settings.after_failure(error, attempt))
                attempt += 1

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(_Shell):
    """The same API as ``Client``, awaited; use ``async with`` or ``await client.close()``."""

    _transports: ClassVar[dict[str, type]] = {"rest": AsyncRestTransport, "grpc": AsyncGrpcTransport}
    _transport: AsyncRestTransport | AsyncGrpcTransport

    async def explain(
        self,
        text_or_texts: str | Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
        *,
        image: Images | None = None,
    ) -> Explanation | list[Explanation]:
        calls, single = make_calls(text_or_texts, methods, target, concepts, options, image)
        results = await self._run(calls, DEFAULT_CONCURRENCY, progress=False)
        return results[0] if single else results

    async def predict(
        self, text_or_texts: str | Sequence[str] | None = None, target: Target = None, *, image: Images | None = None
    ) -> Explanation | list[Explanation]:
        return await self.explain(text_or_texts, methods=[], target=target, image=image)

    async def explain_many(
        self,
        texts: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = True,
        *,
        images: Sequence[ImageInput] | None = None,
    ) -> list[Explanation]:
        calls, _ = make_calls(texts, methods, target, concepts, options, _listed(images))
        return await self._run(calls, concurrency, progress)

    async def tcav_scores(
        self, texts: Sequence[str], target: str, concepts: Sequence[str] | None = None
    ) -> GlobalScores:
        call = make_global_call(texts, target, concepts)
        return await self._retrying(lambda token: self._transport.send_global(call, token))

    async def _run(self, calls: list[Call], concurrency: int, progress: bool) -> list[Explanation]:
        slots = asyncio.Semaphore(max(1, concurrency))
        with Progress(len(calls), progress) as bar:

            async def one(call: Call) -> Explanation:
                async with slots:
                    result = await self._send(call)
                bar.update()
                return result

            tasks = [asyncio.ensure_future(one(call)) for call in calls]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise

    async def _send(self, call: Call) -> Explanation:
        return await self._retrying(lambda token: self._transport.send(call, token))

    async def _retrying(self, attempt_with: Callable[[str | None], Awaitable[Result]]) -> Result:
        attempt = 0
        while True:
            try:
                return await attempt_with(self._settings.tokens.bearer())
            except AttnserveClientError as error:
                await asyncio.sleep(self._settings.after_failure(error, attempt))
                attempt += 1

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()


def _listed(images: Sequence[ImageInput] | None) -> list[ImageInput] | None:
    """``explain_many``'s images are always a list, even of one."""
    if images is None:
        return None
    if isinstance(images, bytes | bytearray | str):
        raise TypeError("images must be a list of images (bytes, paths or PIL images)")
    return list(images)
