"""AsyncGLMClient and AsyncChatStream: the asyncio driver of the request engine.

Same API as the sync client, awaitable. AsyncChatStream does only the I/O that
``_engine.Exchange`` asks for, on an ``httpx.AsyncClient``; blocking steps (starting the offline
model) run in a worker thread so the event loop keeps going. ``AsyncGLMClient.from_client()``
runs on a sync client's endpoint, retry policy and (when it can) transport: compare and batch
runs use it to stay on the caller's client.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

import httpx

from .._types import ChatResult, Notice, StreamEvent
from ._base import ClientBase, StreamBase, model_ids, models_body
from ._engine import Call, Close, Emit, Exchange, Pump, Read, Send, Sleep, Step
from ._failures import send_error
from ._request import PreparedRequest, Prompt
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from ..tools._functions import Approver
    from ..tools._loop import ToolLoop
    from ._sync import GLMClient
    from ._tool_stream import AsyncToolChatStream


async def _wait_or_cancel(flag: threading.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``flag`` is set meanwhile; True if it was set."""
    end = time.monotonic() + seconds
    while not flag.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.05))
    return True


def raw_reads(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's raw reads (see ``_sync.raw_reads``)."""
    if hasattr(response, "_content"):
        return response.stream.__aiter__()  # type: ignore[union-attr]
    return response.aiter_raw()


class AsyncChatStream(StreamBase):
    """Async counterpart of ChatStream: ``async with`` / ``async for``; ``cancel()`` from anywhere.

    ``cancel()`` (any thread, or a callback on the event loop) shuts the connection down at once;
    the iteration then ends quietly with ``result.stopped`` True. Cancelling the consuming task
    also leaves ``result.stopped`` True and closes the connection. ``on_notice(callback)`` is
    called on the event loop.
    """

    _http: httpx.AsyncClient

    def __init__(self, exchange: Exchange, http: httpx.AsyncClient) -> None:
        super().__init__(exchange, http)
        self._iterator: AsyncGenerator[StreamEvent, None] | None = None

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def aclose(self) -> None:
        """Close the connection; a stream closed before its end is marked stopped."""
        self._exchange.closing()
        if self._iterator is not None:
            await self._iterator.aclose()

    async def until_done(self) -> ChatResult:
        """Consume the stream and return the finished result."""
        async for _ in self:
            pass
        return self.result

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        run = self._exchange
        step = run.resume()
        while step is not None:
            answer = None
            try:
                if isinstance(step, Pump):
                    response, feed = step.response, run.feed
                    try:
                        async for chunk in raw_reads(response):  # the engine decodes (bounded)
                            events = feed(chunk)
                            if events is None:
                                break
                            for event in events:
                                yield event
                    finally:
                        run.before_close()
                        await response.aclose()
                elif isinstance(step, Emit):
                    for event in step.events:
                        yield event
                else:
                    answer = await self._perform(step)
            except BaseException as exc:  # noqa: BLE001 - the engine decides; it re-raises what ends the stream
                answer = run.failed(exc)
            step = run.resume(answer)

    async def _perform(self, step: Step) -> Any:
        """Do the I/O ``step`` names (all but streaming the body, which ``_events`` does)."""
        run = self._exchange
        if isinstance(step, Send):
            return await self._send(step.request)
        if isinstance(step, Read):
            response = step.response
            try:
                async for chunk in raw_reads(response):
                    if not step.take(chunk):
                        break
            finally:
                await response.aclose()
            return None
        if isinstance(step, Sleep):
            return await _wait_or_cancel(run.cancelled, step.seconds)
        if isinstance(step, Call):  # may block for a minute: off the event loop, notices back on it
            loop = asyncio.get_running_loop()

            def notify(notice: Notice) -> None:
                loop.call_soon_threadsafe(run.notify, notice)

            return await asyncio.to_thread(step.fn, notify)
        if isinstance(step, Close):
            return await step.response.aclose()
        raise TypeError(f"unknown step {step!r}")

    async def _send(self, req: PreparedRequest) -> httpx.Response:
        http = self._http
        request = http.build_request("POST", req.url, json=req.payload, headers=req.headers)
        with self._exchange.sending():
            return await http.send(request, stream=True)


class AsyncGLMClient(ClientBase[Awaitable[ChatResult], AsyncChatStream, "AsyncToolChatStream"]):
    """The async client: same arguments and methods as GLMClient, awaitable (``await
    client.chat(...)``); parallel tool calls run concurrently (sync functions in worker threads)
    and ``approver`` may be a coroutine function."""

    _http_class = httpx.AsyncClient
    http: httpx.AsyncClient

    @classmethod
    def from_client(
        cls, client: GLMClient, *, retry_policy: RetryPolicy | None = None, connections: int | None = None
    ) -> AsyncGLMClient:
        """An async client on ``client``'s endpoint (its settings; a started offline model is
        shared), timeout and retry policy, and on its transport when that handles async requests
        too (``httpx.MockTransport`` does), else on a fresh pool with the same options.
        ``retry_policy`` and ``connections`` (the pool's size) replace the client's for this one:
        ``glm.map`` retries itself and may keep more requests in flight."""
        transport = client.transport if isinstance(client.transport, httpx.AsyncBaseTransport) else None
        self = cls.__new__(cls)
        policy = retry_policy if retry_policy is not None else client.retry_policy
        self._setup(client.endpoint, client.timeout, policy, transport, connections, client.total_timeout)
        return self

    async def _answer(
        self, prompt: Prompt, model: str | None, system: str | None, options: dict[str, Any]
    ) -> ChatResult:
        async with self.plain_stream(prompt, model, system, options) as stream:
            return await stream.until_done()

    def plain_stream(
        self, prompt: Prompt, model: str | None, system: str | None, options: dict[str, Any]
    ) -> AsyncChatStream:
        """One request's stream, ``options`` as payload fields (a tool loop's turns use it too)."""
        return AsyncChatStream(self.exchange(prompt, model=model, system=system, options=options), self.http)

    def loop_stream(
        self, loop: ToolLoop, model: str | None, approver: Approver | None
    ) -> AsyncToolChatStream:
        """The streamed tool loop over ``loop`` (from ``tool_loop``): what ``stream(..., tools=)`` returns."""
        from ..tools._loop import ask_in_terminal  # with the tools: a plain chat never loads them
        from ._tool_stream import AsyncToolChatStream

        return AsyncToolChatStream(self, loop, model, approver or ask_in_terminal)

    async def _run_tools(self, loop: ToolLoop, model: str | None, approver: Approver | None) -> ChatResult:
        async with self.loop_stream(loop, model, approver) as turns:
            return await turns.until_done()

    async def models(self) -> list[str]:
        """Model ids the server lists at ``{base_url}/models``."""
        url, headers = self.models_request()
        failure: Exception | None = None
        try:
            async with self.http.stream("GET", url, headers=headers) as response:
                body = models_body(response)
                async for raw in raw_reads(response):
                    body.take(raw)
        except (httpx.TransportError, UnicodeEncodeError) as exc:  # the latter: a non-ASCII key
            failure = send_error(exc, url)
        if failure is not None:
            raise failure  # outside the except: the traceback does not chain httpx's error
        return model_ids(response.status_code, body.value())

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncGLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
