"""GLMClient and ChatStream: the sync driver of the request engine, and the shared client.

ChatStream does only the I/O that ``_engine.Exchange`` asks for (send, read bytes, wait-or-cancel,
close) on the client's pooled ``httpx.Client``; what to retry, what a failure means and what the
stream yields are decided there. ``get_client()`` returns the shared per-process client that the
magic and the widgets use. ``chat()`` streams under the hood (so it has time-to-first-token
metrics) and returns the finished ChatResult.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from .._types import ChatResult, StreamEvent
from ._base import ClientBase, StreamBase, model_ids, models_body
from ._engine import Call, Close, Emit, Exchange, Pump, Read, Send, Sleep, Step
from ._failures import send_error
from ._request import PreparedRequest, Prompt

if TYPE_CHECKING:
    from ..tools._functions import Approver
    from ..tools._loop import ToolLoop
    from ._tool_stream import ToolChatStream


def raw_reads(response: httpx.Response) -> Iterator[bytes]:
    """The body's raw reads (before content decoding: ``_limits`` does that, bounded). A response
    httpx already read in memory (``MockTransport``'s) replays its raw bytes from its stream."""
    if hasattr(response, "_content"):
        return iter(response.stream)  # type: ignore[arg-type]
    return response.iter_raw()


class ChatStream(StreamBase):
    """A streamed answer: iterate for StreamEvents; ``result`` always holds what arrived so far.

    Use as a context manager so the connection is closed even if you stop iterating early.
    ``cancel()`` may be called from any thread: it shuts the connection down at once (also while
    waiting for the server's first byte or between retries) and the iteration ends quietly with
    ``result.stopped`` True and the partial text kept. ``on_notice(callback)`` is told, in the
    iterating thread, about waits before the answer: the offline model starting, retries.
    """

    _http: httpx.Client

    def __init__(self, exchange: Exchange, http: httpx.Client) -> None:
        super().__init__(exchange, http)
        self._iterator: Generator[StreamEvent, None, None] | None = None

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    def close(self) -> None:
        """Close the connection; a stream closed before its end is marked stopped."""
        self._exchange.closing()
        if self._iterator is not None:
            self._iterator.close()

    def until_done(self) -> ChatResult:
        """Consume the stream and return the finished result."""
        for _ in self:
            pass
        return self.result

    def _events(self) -> Generator[StreamEvent, None, None]:
        run = self._exchange
        step = run.resume()
        while step is not None:
            answer = None
            try:
                if isinstance(step, Pump):
                    response, feed = step.response, run.feed
                    try:
                        for chunk in raw_reads(response):  # the engine decodes (bounded)
                            events = feed(chunk)
                            if events is None:
                                break
                            for event in events:
                                yield event
                    finally:
                        run.before_close()
                        response.close()
                elif isinstance(step, Emit):
                    for event in step.events:
                        yield event
                else:
                    answer = self._perform(step)
            except BaseException as exc:  # noqa: BLE001 - the engine decides; it re-raises what ends the stream
                answer = run.failed(exc)
            step = run.resume(answer)

    def _perform(self, step: Step) -> Any:
        """Do the I/O ``step`` names (all but streaming the body, which ``_events`` does)."""
        run = self._exchange
        if isinstance(step, Send):
            return self._send(step.request)
        if isinstance(step, Read):
            response = step.response
            try:
                for chunk in raw_reads(response):
                    if not step.take(chunk):
                        break
            finally:
                response.close()
            return None
        if isinstance(step, Sleep):
            return run.cancelled.wait(step.seconds)
        if isinstance(step, Call):
            return step.fn(run.notify)
        if isinstance(step, Close):
            return step.response.close()
        raise TypeError(f"unknown step {step!r}")

    def _send(self, req: PreparedRequest) -> httpx.Response:
        http = self._http
        request = http.build_request("POST", req.url, json=req.payload, headers=req.headers)
        with self._exchange.sending():
            return http.send(request, stream=True)


class GLMClient(ClientBase[ChatResult, ChatStream, "ToolChatStream"]):
    """Talk to GLM (or any OpenAI-compatible server) from plain Python.

    All arguments are keyword-only and optional: ``api_key``, ``base_url``, ``provider``,
    ``model``, ``timeout`` (60 s), ``max_retries`` (3), ``retry_deadline`` (= timeout),
    ``total_timeout`` (1800 s) and ``transport`` (for tests). The provider, key, base URL and model
    are read from the environment / ``.env`` when not given (see the README). ``chat()`` is
    ``ClientBase.chat``.

    Time: ``timeout`` is the longest wait for the network and for answer data: a server that
    only sends keep-alive comments (``: ping``) times out after it as if it were silent.
    ``total_timeout`` is the whole answer's deadline (first request to last byte, retries and
    keep-alives included); nothing the server sends extends it. Both raise ``APITimeoutError``
    with the partial answer. Size: a response is capped at 128 MB decompressed (32 MB for a body
    read whole) and an SSE line at 8 MB: past that, ``ResponseTooLargeError`` (``_limits``).
    """

    _http_class = httpx.Client
    http: httpx.Client

    def _answer(
        self, prompt: Prompt, model: str | None, system: str | None, options: dict[str, Any]
    ) -> ChatResult:
        with self.plain_stream(prompt, model, system, options) as stream:
            return stream.until_done()

    def plain_stream(
        self, prompt: Prompt, model: str | None, system: str | None, options: dict[str, Any]
    ) -> ChatStream:
        """One request's stream, ``options`` as payload fields (a tool loop's turns use it too)."""
        return ChatStream(self.exchange(prompt, model=model, system=system, options=options), self.http)

    def loop_stream(self, loop: ToolLoop, model: str | None, approver: Approver | None) -> ToolChatStream:
        """The streamed tool loop over ``loop`` (from ``tool_loop``): what ``stream(..., tools=)`` returns."""
        from ..tools._loop import ask_in_terminal  # with the tools: a plain chat never loads them
        from ._tool_stream import ToolChatStream

        return ToolChatStream(self, loop, model, approver or ask_in_terminal)

    def _run_tools(self, loop: ToolLoop, model: str | None, approver: Approver | None) -> ChatResult:
        with self.loop_stream(loop, model, approver) as turns:
            return turns.until_done()

    def models(self) -> list[str]:
        """Model ids the server lists at ``{base_url}/models``."""
        url, headers = self.models_request()
        failure: Exception | None = None
        try:
            with self.http.stream("GET", url, headers=headers) as response:
                body = models_body(response)
                for raw in raw_reads(response):
                    body.take(raw)
        except (httpx.TransportError, UnicodeEncodeError) as exc:  # the latter: a non-ASCII key
            failure = send_error(exc, url)
        if failure is not None:
            raise failure  # outside the except: the traceback does not chain httpx's error
        return model_ids(response.status_code, body.value())

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: GLMClient | None = None
_shared_lock = threading.Lock()


def get_client() -> GLMClient:
    """The shared per-process client (created on first use from the environment)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = GLMClient()
        return _shared


def set_client(client: GLMClient | None) -> None:
    """Replace the shared client (None: create a fresh one from the environment on next use)."""
    global _shared
    with _shared_lock:
        old, _shared = _shared, client
    if old is not None and old is not client:
        old.close()


def reset_client() -> None:
    """Forget the shared client, e.g. after changing the key or provider in the environment."""
    set_client(None)
