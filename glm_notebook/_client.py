"""GLMClient (sync) and ChatStream: send, retry before the first answer byte, stream, cancel.

One pooled ``httpx.Client`` per GLMClient; ``get_client()`` returns the shared per-process client
that the magic and the widgets use. ``chat()`` streams under the hood (so it has time-to-first-
token metrics) and returns the finished ChatResult.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from types import TracebackType
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


class ChatStream:
    """A streamed answer: iterate for StreamEvents; ``result`` always holds what arrived so far.

    Use as a context manager so the connection is closed even if you stop iterating early.
    ``cancel()`` may be called from any thread: it shuts the connection down at once (also while
    waiting for the server's first byte or between retries) and the iteration ends quietly with
    ``result.stopped`` True and the partial text kept.
    """

    def __init__(self, client: GLMClient, request: PreparedRequest) -> None:
        self._client = client
        self._request = request
        self.result = ChatResult(request=request.payload, model=request.payload.get("model"))
        self._cancelled = threading.Event()
        self._connection = ConnectionHandle()
        self._response: httpx.Response | None = None
        self._iterator: Generator[StreamEvent, None, None] | None = None

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the stream from any thread: the connection is shut down immediately."""
        self._cancelled.set()
        self._connection.shutdown()

    def close(self) -> None:
        """Close the connection; a stream closed before its end is marked stopped."""
        if not self.result.complete and self.result.error is None and self._iterator is not None:
            self.result.stopped = True
        response = self._response
        if response is not None:
            response.close()
        if self._iterator is not None:
            self._iterator.close()

    def until_done(self) -> ChatResult:
        """Consume the stream and return the finished result."""
        for _ in self:
            pass
        return self.result

    def _send(self) -> httpx.Response:
        client, req = self._client, self._request
        token = sending_for(self._connection)
        try:
            request = client.http.build_request("POST", req.url, json=req.payload, headers=req.headers)
            response = client.http.send(request, stream=True)
        finally:
            done_sending(token)
        self._connection.attach_response(response)
        return response

    def _open(self, started: float) -> httpx.Response:
        """Send the request, retrying what may be retried, until a 200 response is open."""
        req = self._request
        while True:
            if self._cancelled.is_set():
                raise _Stopped
            error: GLMError
            try:
                response = self._send()
            except httpx.TransportError as exc:
                if self._cancelled.is_set():
                    raise _Stopped from None
                error = transport_error(exc, req.url, self.result)
                retry_after = None
            else:
                if response.status_code == 200:
                    return response
                try:
                    body = response.read()
                except httpx.TransportError:
                    body = b""
                finally:
                    response.close()
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                error = make_api_error(
                    response.status_code, body, retry_after=retry_after, partial=self.result
                )
            retryable = getattr(error, "retryable", True) if isinstance(error, APIError) else True
            self._backoff(error, retryable, retry_after, started)

    def _backoff(self, error: GLMError, retryable: bool, retry_after: float | None, started: float) -> None:
        """Wait before the next attempt, or raise ``error`` when it may not be retried."""
        self._connection.release()  # back in the pool: another request may be using it now
        policy, attempt = self._client.retry_policy, self.result.metrics.retries
        wait = policy.delay(attempt, retry_after)
        if not retryable or not policy.allows(attempt, wait, started):
            raise error
        if self._cancelled.wait(wait):
            raise _Stopped
        self.result.metrics.retries = attempt + 1

    def _events(self) -> Generator[StreamEvent, None, None]:
        started = time.monotonic()
        state = StreamState(self.result, started)
        try:
            while True:
                response = self._open(started)
                self._response = response
                try:
                    yield from self._read(response, state)
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
                    self._backoff(error, True, None, started)
                    continue
                finally:
                    if not state.done and self.result.finish_reason is None:
                        # Ended before the answer did (e.g. llama.cpp past its context): this
                        # connection must not go back to the pool, the server may drop it.
                        self._connection.discard()
                    response.close()
                    self._response = None
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
            # KeyboardInterrupt (kernel interrupt) or the consumer closing the generator.
            if not self.result.complete:
                state.mark_stopped()
            raise
        finally:
            self._connection.release()

    def _read(self, response: httpx.Response, state: StreamState) -> Iterator[StreamEvent]:
        kind = event_stream_content_type(response)
        if kind == "application/json":
            yield from state.feed_completion(response.json())
            return
        if kind != "text/event-stream":
            raise make_api_error(
                response.status_code,
                f"expected text/event-stream, got {kind or 'no content type'}",
                partial=self.result,
            )
        decoder, cancelled = SSEDecoder(), self._cancelled
        chunks = response.iter_bytes()
        for chunk in chunks:
            if cancelled.is_set():
                return
            for data in decoder.feed(chunk):
                yield from state.feed(data)
                if state.done:
                    _drain(chunks)
                    return
        for data in decoder.flush():
            yield from state.feed(data)


def _drain(chunks: Iterator[bytes]) -> None:
    """Read what follows [DONE] (normally just the end of the body) so the connection is reused."""
    seen = 0
    try:
        for chunk in chunks:
            seen += len(chunk)
            if seen > _DRAIN_LIMIT:
                return  # a server that keeps talking: the connection is closed instead
    except httpx.TransportError:
        return  # the answer is complete; only the connection is lost


class GLMClient(ClientBase):
    """Talk to GLM (or any OpenAI-compatible server) from plain Python.

    All arguments are keyword-only and optional: the provider, key, base URL and model are read
    from the environment / ``.env`` when not given (see the README). ``transport=`` is for tests.
    """

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
        transport: httpx.BaseTransport | None = None,
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
        self.http = httpx.Client(**http_client_options(timeout, transport))
        if transport is None:
            track_sockets(self.http)

    def stream(
        self, prompt: Prompt, *, model: str | None = None, system: str | None = None, **options: Any
    ) -> ChatStream:
        """Start a streamed chat; options are validated now, before any request is sent."""
        return ChatStream(self, self.prepare(prompt, model=model, system=system, options=options))

    def chat(
        self, prompt: Prompt, *, model: str | None = None, system: str | None = None, **options: Any
    ) -> ChatResult:
        """Ask and wait for the whole answer."""
        with self.stream(prompt, model=model, system=system, **options) as stream:
            return stream.until_done()

    def models(self) -> list[str]:
        """Model ids the server lists at ``{base_url}/models``."""
        url, headers = self.models_request()
        try:
            response = self.http.get(url, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc, url) from None
        return model_ids(response)

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
