"""AsyncGLMClient and AsyncChatStream: the same API as the sync client, awaitable.

Used by compare (many settings streaming concurrently). Retry rules, parsing and metrics are
shared with the sync client through ``_base``, ``_retry`` and ``_stream_core``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import EventSource

from ._base import ClientBase, PreparedRequest, event_stream_content_type, shutdown_socket, transport_error
from ._errors import APIError, GLMError, StreamInterrupted, make_api_error
from ._request import Prompt
from ._retry import parse_retry_after
from ._stream_core import StreamState
from ._types import ChatResult, StreamEvent

_READ_ERRORS = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout)


async def _wait_or_cancel(flag: threading.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``flag`` is set meanwhile; True if it was set."""
    end = time.monotonic() + seconds
    while not flag.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.05))
    return True


class AsyncChatStream:
    """Async counterpart of ChatStream: ``async with`` / ``async for``; ``cancel()`` from anywhere."""

    def __init__(self, client: AsyncGLMClient, request: PreparedRequest) -> None:
        self._client = client
        self._request = request
        self.result = ChatResult(request=request.payload, model=request.payload.get("model"))
        self._cancelled = threading.Event()
        self._response: httpx.Response | None = None
        self._iterator: AsyncIterator[StreamEvent] | None = None

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    def cancel(self) -> None:
        """Stop the stream (thread-safe): the connection is shut down immediately."""
        self._cancelled.set()
        shutdown_socket(self._response)

    async def aclose(self) -> None:
        if not self.result.complete and self.result.error is None and self._iterator is not None:
            self.result.stopped = True
        if self._response is not None:
            await self._response.aclose()
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]

    async def until_done(self) -> ChatResult:
        async for _ in self:
            pass
        return self.result

    async def _open(self, started: float) -> httpx.Response:
        client, req, policy = self._client, self._request, self._client.retry_policy
        attempt = self.result.metrics.retries
        while True:
            error: GLMError
            try:
                response = await client.http.send(
                    client.http.build_request("POST", req.url, json=req.payload, headers=req.headers),
                    stream=True,
                )
            except httpx.TransportError as exc:
                error = transport_error(exc, req.url, self.result)
                retry_after = None
            else:
                if response.status_code == 200:
                    return response
                body = await response.aread()
                await response.aclose()
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                error = make_api_error(
                    response.status_code, body, retry_after=retry_after, partial=self.result
                )
            retryable = getattr(error, "retryable", True) if isinstance(error, APIError) else True
            wait = policy.delay(attempt, retry_after)
            if not retryable or self._cancelled.is_set() or not policy.allows(attempt, wait, started):
                raise error
            if await _wait_or_cancel(self._cancelled, wait):
                raise error
            attempt += 1
            self.result.metrics.retries = attempt

    async def _events(self) -> AsyncIterator[StreamEvent]:
        started = time.monotonic()
        state = StreamState(self.result, started)
        try:
            while True:
                if self._cancelled.is_set():
                    state.mark_stopped()
                    return
                response = await self._open(started)
                self._response = response
                try:
                    async for event in self._read(response, state):
                        yield event
                except _READ_ERRORS as exc:
                    if self._cancelled.is_set():
                        state.mark_stopped()
                        return
                    policy = self._client.retry_policy
                    attempt = self.result.metrics.retries
                    if not state.answered and policy.allows(attempt, policy.delay(attempt, None), started):
                        self.result.metrics.retries += 1
                        continue
                    if isinstance(exc, httpx.ReadTimeout):
                        raise transport_error(exc, self._request.url, self.result) from None
                    raise StreamInterrupted(
                        f"StreamInterrupted: the connection broke mid-answer ({type(exc).__name__}); "
                        f"the {len(self.result.text)} characters that arrived are kept - run it again.",
                        partial=self.result,
                    ) from None
                finally:
                    await response.aclose()
                if self._cancelled.is_set() and not state.done and self.result.finish_reason is None:
                    state.mark_stopped()
                    return
                state.finish()
                return
        except GLMError as exc:
            self.result.error = exc
            raise
        except BaseException:
            if not self.result.complete:
                state.mark_stopped()
            raise

    async def _read(self, response: httpx.Response, state: StreamState) -> AsyncIterator[StreamEvent]:
        kind = event_stream_content_type(response)
        if kind == "application/json":
            await response.aread()
            for event in state.feed_completion(response.json()):
                yield event
            return
        if kind != "text/event-stream":
            raise make_api_error(
                response.status_code,
                f"expected text/event-stream, got {kind or 'no content type'}",
                partial=self.result,
            )
        async for sse in EventSource(response).aiter_sse():
            if not sse.data:
                continue
            for event in state.feed(sse.data):
                yield event
            if state.done:
                return


class AsyncGLMClient(ClientBase):
    """The async client: same arguments and methods as GLMClient, awaitable."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        retry_deadline: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            provider=provider,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            retry_deadline=retry_deadline,
        )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    def stream(
        self, prompt: Prompt, *, model: str | None = None, system: str | None = None, **options: Any
    ) -> AsyncChatStream:
        """Start a streamed chat (use with ``async with``); options are validated now."""
        return AsyncChatStream(self, self.prepare(prompt, model=model, system=system, options=options))

    async def chat(
        self, prompt: Prompt, *, model: str | None = None, system: str | None = None, **options: Any
    ) -> ChatResult:
        async with self.stream(prompt, model=model, system=system, **options) as stream:
            return await stream.until_done()

    async def models(self) -> list[str]:
        url, headers = self.models_request()
        try:
            response = await self.http.get(url, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from None
        if response.status_code != 200:
            raise make_api_error(response.status_code, response.content)
        return [m.get("id") for m in response.json().get("data", []) if m.get("id")]

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncGLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
