"""GLMClient (sync) and ChatStream: send, retry before the first answer byte, stream, cancel.

One pooled ``httpx.Client`` per GLMClient; ``get_client()`` returns the shared per-process client
that the magic and the widgets use. ``chat()`` streams under the hood (so it has time-to-first-
token metrics) and returns the finished ChatResult.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import TracebackType
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


class ChatStream:
    """A streamed answer: iterate for StreamEvents; ``result`` always holds what arrived so far.

    Use as a context manager so the connection is closed even if you stop iterating early.
    ``cancel()`` may be called from any thread: it closes the connection at once and the
    iteration ends quietly with ``result.stopped`` True.
    """

    def __init__(self, client: GLMClient, request: PreparedRequest) -> None:
        self._client = client
        self._request = request
        self.result = ChatResult(request=request.payload, model=request.payload.get("model"))
        self._cancelled = threading.Event()
        self._response: httpx.Response | None = None
        self._lock = threading.Lock()
        self._iterator: Iterator[StreamEvent] | None = None

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
        with self._lock:
            shutdown_socket(self._response)

    def close(self) -> None:
        """Close the connection; a stream closed before its end is marked stopped."""
        if not self.result.complete and self.result.error is None and self._iterator is not None:
            self.result.stopped = True
        with self._lock:
            if self._response is not None:
                self._response.close()
        if self._iterator is not None and hasattr(self._iterator, "close"):
            self._iterator.close()

    def until_done(self) -> ChatResult:
        """Consume the stream and return the finished result."""
        for _ in self:
            pass
        return self.result

    def _open(self, started: float) -> httpx.Response:
        """Send the request, retrying what may be retried, until a 200 response is open."""
        client, req, policy = self._client, self._request, self._client.retry_policy
        attempt = self.result.metrics.retries
        while True:
            error: GLMError
            try:
                response = client.http.send(
                    client.http.build_request("POST", req.url, json=req.payload, headers=req.headers),
                    stream=True,
                )
            except httpx.TransportError as exc:
                error = transport_error(exc, req.url, self.result)
                retry_after = None
            else:
                if response.status_code == 200:
                    return response
                body = response.read()
                response.close()
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                error = make_api_error(
                    response.status_code, body, retry_after=retry_after, partial=self.result
                )
            retryable = getattr(error, "retryable", True) if isinstance(error, APIError) else True
            wait = policy.delay(attempt, retry_after)
            if not retryable or self._cancelled.is_set() or not policy.allows(attempt, wait, started):
                raise error
            if self._cancelled.wait(wait):
                raise error
            attempt += 1
            self.result.metrics.retries = attempt

    def _events(self) -> Iterator[StreamEvent]:
        started = time.monotonic()
        state = StreamState(self.result, started)
        try:
            while True:
                if self._cancelled.is_set():
                    state.mark_stopped()
                    return
                response = self._open(started)
                with self._lock:
                    self._response = response
                if self._cancelled.is_set():
                    response.close()
                    state.mark_stopped()
                    return
                try:
                    yield from self._read(response, state)
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
                    response.close()
                if self._cancelled.is_set() and not state.done and self.result.finish_reason is None:
                    state.mark_stopped()
                    return
                state.finish()
                return
        except GLMError as exc:
            self.result.error = exc
            raise
        except BaseException:
            # KeyboardInterrupt (kernel interrupt) or the consumer closing the generator.
            if not self.result.complete:
                state.mark_stopped()
            raise

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
        for sse in EventSource(response).iter_sse():
            if not sse.data:
                continue
            yield from state.feed(sse.data)
            if state.done:
                return


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
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

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
        if response.status_code != 200:
            raise make_api_error(response.status_code, response.content)
        return [m.get("id") for m in response.json().get("data", []) if m.get("id")]

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
