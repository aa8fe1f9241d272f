"""AsyncGLMClient and AsyncChatStream: the same API as the sync client, awaitable.

Used by compare (many settings streaming concurrently). Retry rules, parsing and metrics are
shared with the sync client through ``_base``, ``_retry`` and ``_stream_core``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx

from ._base import ClientBase, event_stream_content_type, model_ids, transport_error
from ._cancel import ConnectionHandle, done_sending, sending_for, track_sockets
from ._errors import APIError, GLMError, StreamInterrupted, make_api_error
from ._request import PreparedRequest, Prompt
from ._retry import parse_retry_after
from ._stream_core import SSEDecoder, StreamState
from ._transport import http_client_options
from ._types import ChatResult, StreamEvent

_READ_ERRORS = (httpx.TransportError,)  # mid-body: reset, cut, timeout, protocol error
_DRAIN_LIMIT = 65536  # bytes read after [DONE] to hand the connection back to the pool


class _Stopped(Exception):
    """cancel() was called while the request was being sent or retried."""


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
    """Async counterpart of ChatStream: ``async with`` / ``async for``; ``cancel()`` from anywhere.

    ``cancel()`` (any thread, or a callback on the event loop) shuts the connection down at once;
    the iteration then ends quietly with ``result.stopped`` True. Cancelling the consuming task
    also leaves ``result.stopped`` True and closes the connection.
    """

    def __init__(self, client: AsyncGLMClient, request: PreparedRequest) -> None:
        self._client = client
        self._request = request
        self.result = ChatResult(request=request.payload, model=request.payload.get("model"))
        self._cancelled = threading.Event()
        self._connection = ConnectionHandle()
        self._response: httpx.Response | None = None
        self._iterator: AsyncGenerator[StreamEvent, None] | None = None

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the stream (thread-safe): the connection is shut down immediately."""
        self._cancelled.set()
        self._connection.shutdown()

    async def aclose(self) -> None:
        if not self.result.complete and self.result.error is None and self._iterator is not None:
            self.result.stopped = True
        response = self._response
        if response is not None:
            await response.aclose()
        if self._iterator is not None:
            await self._iterator.aclose()

    async def until_done(self) -> ChatResult:
        async for _ in self:
            pass
        return self.result

    async def _send(self) -> httpx.Response:
        client, req = self._client, self._request
        token = sending_for(self._connection)
        try:
            request = client.http.build_request("POST", req.url, json=req.payload, headers=req.headers)
            response = await client.http.send(request, stream=True)
        finally:
            done_sending(token)
        self._connection.attach_response(response)
        return response

    async def _open(self, started: float) -> httpx.Response:
        """Send the request, retrying what may be retried, until a 200 response is open."""
        req = self._request
        while True:
            if self._cancelled.is_set():
                raise _Stopped
            error: GLMError
            try:
                response = await self._send()
            except httpx.TransportError as exc:
                if self._cancelled.is_set():
                    raise _Stopped from None
                error = transport_error(exc, req.url, self.result)
                retry_after = None
            else:
                if response.status_code == 200:
                    return response
                try:
                    body = await response.aread()
                except httpx.TransportError:
                    body = b""
                finally:
                    await response.aclose()
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                error = make_api_error(
                    response.status_code, body, retry_after=retry_after, partial=self.result
                )
            retryable = getattr(error, "retryable", True) if isinstance(error, APIError) else True
            await self._backoff(error, retryable, retry_after, started)

    async def _backoff(
        self, error: GLMError, retryable: bool, retry_after: float | None, started: float
    ) -> None:
        """Wait before the next attempt, or raise ``error`` when it may not be retried."""
        self._connection.release()  # back in the pool: another request may be using it now
        policy, attempt = self._client.retry_policy, self.result.metrics.retries
        wait = policy.delay(attempt, retry_after)
        if not retryable or not policy.allows(attempt, wait, started):
            raise error
        if await _wait_or_cancel(self._cancelled, wait):
            raise _Stopped
        self.result.metrics.retries = attempt + 1

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        started = time.monotonic()
        state = StreamState(self.result, started)
        try:
            while True:
                response = await self._open(started)
                self._response = response
                try:
                    async for event in self._read(response, state):
                        yield event
                except _READ_ERRORS as exc:
                    if self._cancelled.is_set():
                        raise _Stopped from None
                    if isinstance(exc, httpx.TimeoutException):
                        error: GLMError = transport_error(exc, self._request.url, self.result)
                    else:
                        error = StreamInterrupted(
                            f"StreamInterrupted: the connection broke mid-answer ({type(exc).__name__}); "
                            f"the {len(self.result.text)} characters that arrived are kept - run it again.",
                            partial=self.result,
                        )
                    if state.answered:  # text was handed out: a retry would repeat it
                        raise error from None
                    await self._backoff(error, True, None, started)
                    continue
                finally:
                    self._response = None
                    if not state.done and self.result.finish_reason is None:
                        self._connection.discard()  # ended early: keep it out of the pool
                    await response.aclose()
                if self._cancelled.is_set() and not state.done and self.result.finish_reason is None:
                    raise _Stopped
                state.finish()
                return
        except _Stopped:
            state.mark_stopped()
        except GLMError as exc:
            self.result.error = exc
            raise
        except BaseException:
            # Task cancellation, KeyboardInterrupt, or the consumer closing the generator.
            if not self.result.complete:
                state.mark_stopped()
            raise
        finally:
            self._connection.release()

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
        decoder, cancelled = SSEDecoder(), self._cancelled
        chunks = response.aiter_bytes()
        async for chunk in chunks:
            if cancelled.is_set():
                return
            for data in decoder.feed(chunk):
                for event in state.feed(data):
                    yield event
                if state.done:
                    await _drain(chunks)
                    return
        for data in decoder.flush():
            for event in state.feed(data):
                yield event


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] (normally just the end of the body) so the connection is reused."""
    seen = 0
    try:
        async for chunk in chunks:
            seen += len(chunk)
            if seen > _DRAIN_LIMIT:
                return  # a server that keeps talking: the connection is closed instead
    except httpx.TransportError:
        return  # the answer is complete; only the connection is lost


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
        self.http = httpx.AsyncClient(**http_client_options(timeout, transport))
        if transport is None:
            track_sockets(self.http)

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
        return model_ids(response)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncGLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
