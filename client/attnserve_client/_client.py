"""``Client`` and ``AsyncClient``: one API over REST and gRPC.

Both are thin shells over ``_core`` (request building, answer parsing, the retry decision); they
differ only in blocking versus awaiting. ``explain`` on a list and ``explain_many`` send requests
concurrently, so TorchServe can batch them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import TracebackType
from typing import ClassVar, Literal, Self

from attnserve_client._core import DEFAULT_CONCURRENCY, Call, Options, Settings, Target, make_calls
from attnserve_client._grpc import AsyncGrpcTransport, GrpcTransport
from attnserve_client._progress import Progress
from attnserve_client._rest import AsyncRestTransport, RestTransport
from attnserve_client.auth import TokenSource
from attnserve_client.errors import AttnserveClientError, BadInputError
from attnserve_client.explanation import Explanation
from attnserve_client.global_scores import GlobalScores

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_GRPC_TARGET = "127.0.0.1:7070"
Transport = Literal["rest", "grpc"]


class _Shell:
    """Constructor and argument handling shared by the sync and async clients.

    ``url`` is the REST inference address, ``grpc_target`` the gRPC inference ``host:port``;
    ``transport`` picks which one is used. ``token``/``key_file`` (else ``ATTNSERVE_TOKEN`` /
    ``ATTNSERVE_KEY_FILE``): see ``attnserve_client.auth``. ``timeout`` is per attempt, in seconds;
    ``retries`` is how many times an unreachable or overloaded server is retried.
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
        timeout: float = 60.0,
        retries: int = 3,
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
    """Blocking client. ``explain("text")`` returns one ``Explanation``; a list returns a list."""

    _transports: ClassVar[dict[str, type]] = {"rest": RestTransport, "grpc": GrpcTransport}
    _transport: RestTransport | GrpcTransport

    def explain(
        self,
        text_or_texts: str | Sequence[str],
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
    ) -> Explanation | list[Explanation]:
        """Explain ``target`` (default: the predicted class) with ``methods`` (default: the model's);
        ``options`` tunes sampling baselines, e.g. ``{"kernel_shap": {"samples": 200}}``."""
        calls, single = make_calls(text_or_texts, methods, target, concepts, options)
        results = self._run(calls, DEFAULT_CONCURRENCY, progress=False)
        return results[0] if single else results

    def predict(self, text_or_texts: str | Sequence[str], target: Target = None) -> Explanation | list[Explanation]:
        """Label and probabilities only (``methods=[]``): no attribution cost on the server."""
        return self.explain(text_or_texts, methods=[], target=target)

    def explain_many(
        self,
        texts: Sequence[str],
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = True,
    ) -> list[Explanation]:
        """Explain many texts with at most ``concurrency`` requests in flight; results keep input order."""
        calls, _ = make_calls(texts, methods, target, concepts, options)
        return self._run(calls, concurrency, progress)

    def tcav_scores(self, texts: Sequence[str], target: str, concepts: Sequence[str] | None = None) -> GlobalScores:
        """Global TCAV scores of ``concepts`` (default: all the model ships) over ``texts``, inputs of
        class ``target``: per concept and layer, the share with positive sensitivity per CAV and its tests.
        REST only: the answer is a whole set's table, which the gRPC explain message does not carry."""
        if self.transport != "rest":
            raise BadInputError("global TCAV scores are served over REST; use transport='rest'", field="transport")
        body: dict[str, object] = {"texts": list(texts), "target": target}
        if concepts is not None:
            body["concepts"] = list(concepts)
        attempt = 0
        while True:
            try:
                return GlobalScores.from_dict(self._transport.post(body, self._settings.tokens.bearer()))
            except AttnserveClientError as error:
                time.sleep(self._settings.after_failure(error, attempt))
                attempt += 1

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
        attempt = 0
        while True:
            try:
                return self._transport.send(call, self._settings.tokens.bearer())
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
        text_or_texts: str | Sequence[str],
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
    ) -> Explanation | list[Explanation]:
        calls, single = make_calls(text_or_texts, methods, target, concepts, options)
        results = await self._run(calls, DEFAULT_CONCURRENCY, progress=False)
        return results[0] if single else results

    async def predict(
        self, text_or_texts: str | Sequence[str], target: Target = None
    ) -> Explanation | list[Explanation]:
        return await self.explain(text_or_texts, methods=[], target=target)

    async def explain_many(
        self,
        texts: Sequence[str],
        methods: Sequence[str] | None = None,
        target: Target = None,
        concepts: Sequence[str] | None = None,
        options: Options | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        progress: bool = True,
    ) -> list[Explanation]:
        calls, _ = make_calls(texts, methods, target, concepts, options)
        return await self._run(calls, concurrency, progress)

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
        attempt = 0
        while True:
            try:
                return await self._transport.send(call, self._settings.tokens.bearer())
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
