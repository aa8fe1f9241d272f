"""The request engine: every decision of a streamed chat request, written once and free of I/O.

An ``Exchange`` is one chat request and its answer, across attempts. Its core is a generator that
names the I/O to do next as a *step* and is told the outcome: ``resume(answer)`` sends the step's
result in, ``resume(failed(exc))`` throws in the exception the I/O raised. ``ChatStream`` (sync) and
``AsyncChatStream`` are thin drivers that only perform the steps::

    Call(fn)        run fn(notify), which may block for long (starting the offline model)
    Send(request)   send the request, answer with the response (any status)
    Read(response, take)  give each raw read of the body (``iter_raw``) to ``take``, stop when it
                    returns False, close the response
    Pump(response)  feed each raw read of the body to ``feed()``, hand out the events it returns,
                    stop when it returns None; then ``before_close()`` and close the response
    Emit(events)    hand out these events
    Sleep(seconds)  wait unless cancelled; answer True if cancel() came meanwhile
    Close(response) close it

The rules (what each failure means is in ``_failures``; retries happen only before anything of an
answer was handed out):

- Retried with backoff, within ``max_retries`` and the deadline, Retry-After honoured: rate limits
  and 5xx (``APIError.retryable``), connection failures and timeouts, a cut before any event. Every
  wait is announced with a "retrying" ``Notice``.
- An error in the body of an HTTP 200 (``event: error``, a ``data:`` error object, a JSON body
  holding ``error``) before any event was handed out is its HTTP form: same class, same retry
  decision (1302/1303/1305 and 5xx-like codes retried, 1113 and quotas never). So is
  ``finish_reason: "network_error"`` (``ServerNetworkError``, retried like a 5xx) before any event.
- Not retried: other API errors; ``httpx.LocalProtocolError`` (our request is malformed, e.g. a
  key with a control character; the server saw nothing), which becomes a ConfigurationError that
  never shows the key; and any failure after an event (text, reasoning, tool_call, usage or
  finish) was handed out: a retry would hand it out twice.
- A connection failure lets the endpoint restart a dead offline server once
  (``Endpoint.recover``): then the request is sent again at once, not counted as a retry.
- Bounds (``_limits``): the body is decoded here from raw reads, in bounded pieces, and capped
  (``ResponseTooLargeError``); ``timeout=`` is also the longest wait for answer *data* (keep-alive
  comments do not count) and ``total_timeout=`` the whole answer's budget, retries included
  (``APITimeoutError`` either way, checked as bytes arrive).
- A read error mid-body is "stopped" after cancel(), else a timeout (``APITimeoutError``) or a
  ``StreamInterrupted`` carrying the partial result; after ``[DONE]`` or a finish_reason the answer
  is complete and only the connection is lost.
- Pool: a connection whose body ended before the answer did is shut down before it is closed (the
  server may drop it); the connection handle is released before every wait and at the end, so a
  late cancel() never touches a connection another request is using.
- The endpoint is resolved when the stream is made if that is instant, else (the offline model
  must start) at the first step, so a view can show "starting the offline model…" first; the
  retry deadline and the metrics start after it.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from .._errors import APIConnectionError, APITimeoutError, GLMError, make_api_error
from .._settings import Settings
from .._types import ChatResult, Notice, Origin, StreamEvent
from . import _replay
from ._cancel import ConnectionHandle, done_sending, sending_for
from ._endpoint import Endpoint
from ._failures import content_type, is_retryable, read_error, retry_notice, send_error
from ._limits import MAX_ERROR_BYTES, MAX_STREAM_BYTES, MAX_WHOLE_BYTES, BodyBuffer, BodyDecoder, TimeLimits
from ._request import PreparedRequest
from ._retry import RetryPolicy, parse_retry_after
from ._sse import SSEDecoder, StreamState, is_error_object

logger = logging.getLogger("glm_notebook")

DRAIN_LIMIT = 65536  # bytes read after [DONE] to hand the connection back to the pool
Notify = Callable[[Notice], None]

_READING, _DRAINING, _ERRED = 0, 1, 2  # what feed() does with the next read of the body
_FAILED: Any = object()  # resume()'s answer when the step raised (see Exchange.failed)


class Stopped(Exception):
    """cancel() was called: the stream ends quietly with ``result.stopped``."""


# -- steps: the I/O a driver performs -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    fn: Callable[[Notify], Any]


@dataclass(frozen=True, slots=True)
class Send:
    request: PreparedRequest


@dataclass(frozen=True, slots=True)
class Read:
    response: httpx.Response
    take: Callable[[bytes], bool]


@dataclass(frozen=True, slots=True)
class Pump:
    response: httpx.Response


@dataclass(frozen=True, slots=True)
class Emit:
    events: list[StreamEvent]


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Close:
    response: httpx.Response


Step = Call | Send | Read | Pump | Emit | Sleep | Close


# -- the exchange ------------------------------------------------------------------------------


class Exchange:
    """One chat request and its streamed answer: the decisions, with the I/O left to a driver.

    ``compose(settings)`` builds the request for the endpoint's settings; it runs at once when the
    endpoint needs no start (so "No model given" and the payload are there before anything is
    sent), else at the first step. ``result`` is filled in place while the answer streams.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        compose: Callable[[Settings], PreparedRequest],
        policy: RetryPolicy,
        limits: TimeLimits | None = None,
        question: _replay.Question | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.question = question  # what is asked, for record and replay (``_replay``)
        self.policy = policy
        self.limits = limits if limits is not None else TimeLimits()
        self.cancelled = threading.Event()
        self.connection = ConnectionHandle()
        self.result = ChatResult()
        self.request: PreparedRequest | None = None
        self._compose = compose
        self._callbacks: list[Notify] = []
        self._steps: Generator[Step, Any, None] | None = None
        self._started = 0.0
        self._state = StreamState(self.result, 0.0)
        self._decode = SSEDecoder().feed  # replaced by a fresh decoder for each response body
        self._body = BodyDecoder("", MAX_STREAM_BYTES)  # likewise: the content decoding and its cap
        self._emitted = False  # feed() or an Emit step handed out an event
        self._deadline = float("inf")  # monotonic time the whole answer must end by
        self._last_data = 0.0  # monotonic time of the last data frame (or of the response headers)
        self._mode = _READING
        self._drained = 0
        self._pending: GLMError | None = None
        self._failure: BaseException | None = None
        if not endpoint.needs_start:
            self._use(endpoint.resolve())

    # -- for the stream's owner (any thread) -----------------------------------------------------

    def cancel(self) -> None:
        """Stop from any thread: the connection is shut down at once."""
        self.cancelled.set()
        self.connection.shutdown()

    def on_notice(self, callback: Notify) -> None:
        self._callbacks.append(callback)

    def notify(self, notice: Notice) -> None:
        """Tell every callback; one that raises is logged and the stream goes on."""
        for callback in self._callbacks:
            try:
                callback(notice)
            except Exception:  # noqa: BLE001 - a status line must never break the answer
                logger.warning("glm_notebook: a notice callback failed on %r", notice.message, exc_info=True)

    def closing(self) -> None:
        """The stream is being closed: before its end, that means stopped."""
        result = self.result
        if self._steps is not None and not result.complete and result.error is None:
            result.stopped = True

    # -- for the driver --------------------------------------------------------------------------

    def failed(self, exc: BaseException) -> Any:
        """Keep the exception a step raised: call it in the driver's ``except`` block and pass what
        it returns to ``resume()``. (No local of the driver keeps the exception, so a traceback
        printed with locals never shows what it holds, e.g. the header h11 refused.)"""
        self._failure = exc
        return _FAILED

    def resume(self, answer: Any = None) -> Step | None:
        """The next step, given the last one's answer (or ``failed()``); None at the end.

        Raises what ends the stream (the GLM error, KeyboardInterrupt, cancellation, GeneratorExit).
        Call it outside ``except`` blocks, so the errors it raises carry no unrelated context.
        """
        steps = self._steps
        if steps is None:
            steps = self._steps = self._run()
        try:
            if answer is _FAILED:
                return steps.throw(self._take_failure())
            return steps.send(answer)
        except StopIteration:
            return None

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Wrap the send: the socket it writes to is the one cancel() shuts down."""
        token = sending_for(self.connection)
        try:
            yield
        finally:
            done_sending(token)

    def feed(self, chunk: bytes) -> list[StreamEvent] | None:
        """The events in the next raw read of the body; None: stop reading (cancelled, or drained).

        Raises what ends the attempt: an error in the body, a cap or a time limit passed."""
        if self._mode:
            return self._feed_after(chunk)
        if self.cancelled.is_set():
            return None
        now = time.monotonic()
        if now > self._deadline:
            raise self._late("total")
        pieces = self._body.feed(chunk)
        if type(pieces) is tuple:  # not compressed: the raw read is the body
            frames = self._decode(pieces[0])
            events = self._events(frames) if len(frames) != 1 else self._state.feed(frames[0])
        else:
            events, frames = [], []
            for piece in pieces:
                decoded = self._decode(piece)
                if decoded:
                    frames += decoded[:1]  # only whether any came matters below
                    events += self._events(decoded)
                    if self._mode:
                        break
        if frames:
            self._last_data = now
        elif now - self._last_data > self.limits.idle_s:
            raise self._late("idle")
        if self._state.done:
            self._mode = _DRAINING
        if events:
            self._emitted = True
        return events

    def _events(self, frames: list[str]) -> list[StreamEvent]:
        """The events of several frames; an error after some of them waits for the next read."""
        state = self._state
        events: list[StreamEvent] = []
        for data in frames:
            try:
                events += state.feed(data)
            except GLMError as exc:
                if not events:
                    raise
                self._pending, self._mode = exc, _ERRED  # hand out what came before it first
                return events
            if state.done:
                break
        return events

    def _late(self, which: str) -> APITimeoutError:
        limits = self.limits
        if which == "total":
            what = f"the answer took longer than total_timeout={limits.total_s:g} s"
        else:
            what = f"the server sent no answer data for timeout={limits.idle_s:g} s (only keep-alives)"
        return APITimeoutError(
            f"APITimeoutError: {what}; the {len(self.result.text)} characters that arrived are kept "
            "in .partial - try again, or raise timeout=... / total_timeout=... for long answers.",
            partial=self.result,
        )

    def before_close(self) -> None:
        """The pool decision, just before the driver closes a streamed response."""
        if not self._state.done and self.result.finish_reason is None:
            self.connection.discard()  # ended before the answer did: keep it out of the pool

    # -- the core ------------------------------------------------------------------------------------

    def _take_failure(self) -> BaseException:
        failure, self._failure = self._failure, None
        assert failure is not None
        return failure

    def _feed_after(self, chunk: bytes) -> list[StreamEvent] | None:
        if self._pending is not None:
            raise self._pending
        self._drained += len(chunk)  # after [DONE]: read the rest so the connection can be reused
        return [] if self._drained <= DRAIN_LIMIT else None

    def _use(self, settings: Settings) -> None:
        self.request = request = self._compose(settings)
        self.result.request = request.payload
        self.result.model = self.result.model or request.payload.get("model")
        self.result.origin.provider = settings.provider

    def _mark_stopped(self) -> None:
        self.result.stopped = True
        if self._started:
            self._state.mark_stopped()

    def _handed_out(self) -> bool:
        result = self.result
        return (
            self._emitted
            or self._state.answered
            or result.finish_reason is not None
            or result.usage is not None
        )

    def _run(self) -> Generator[Step, Any, None]:
        result = self.result
        try:
            if self.cancelled.is_set():
                raise Stopped
            book = _replay.active() if self.question is not None else None
            if book is not None:
                assert self.question is not None
                record = book.lookup(self.question)  # a strict miss raises: nothing is sent
                if record is not None:
                    yield from self._replayed(record)
                    return
                if book.tool_results_differ(self.question):
                    result.origin.note = "a tool's result differs from the recording: asked again"
            if self.request is None:
                self._use((yield Call(self.endpoint.resolve)))
            result.origin.created = _replay.utc_now()
            self._started = time.monotonic()
            if self.limits.total_s is not None:
                self._deadline = self._started + self.limits.total_s
            self._state = StreamState(result, self._started)
            yield from self._attempts()
            if book is not None and self.question is not None:
                book.record(self.question, result)
        except Stopped:
            self._mark_stopped()
        except GLMError as exc:
            result.error = exc
            raise
        except BaseException:
            # KeyboardInterrupt (kernel interrupt), task cancellation, or the consumer closing.
            if not result.complete:
                self._mark_stopped()
            raise
        finally:
            self.connection.release()

    def _replayed(self, record: dict[str, Any]) -> Generator[Step, Any, None]:
        """A recorded answer, handed out as the same events at once; nothing is sent or started."""
        question, result = self.question, self.result
        assert question is not None
        model = question.model or record.get("model")
        result.request = {"model": model, "messages": question.messages, **question.fields, "stream": True}
        self._started = time.monotonic()
        self._state = StreamState(result, self._started)
        events = self._state.feed_completion(_replay.completion_of(record))
        yield Emit(events)
        self._state.finish()
        result.origin = Origin(provider=record.get("provider"), created=record.get("created"), replayed=True)
        metrics = result.metrics  # as recorded, so a replayed notebook's metadata equals the recording's
        metrics.ttft_s, metrics.duration_s, metrics.tokens_per_s = (
            record.get("ttft_s"),
            record.get("duration_s"),
            None,
        )

    def _attempts(self) -> Generator[Step, Any, None]:
        recovered = False
        while True:
            if self.cancelled.is_set():
                raise Stopped
            error = yield from self._attempt()
            if error is None:
                return
            if not recovered and isinstance(error, APIConnectionError):
                recovered = True
                settings = yield Call(functools.partial(self._recover, error))
                if settings is not None:  # a dead offline server was restarted: again, at once
                    self._use(settings)
                    continue
            wait = self._backoff(error)
            if (yield Sleep(wait)):
                raise Stopped
            self.result.metrics.retries += 1

    def _recover(self, error: GLMError, notify: Notify) -> Settings | None:
        """After a connection failure: the new settings if a dead offline server was restarted."""
        url = self.request.url if self.request is not None else None
        if self.endpoint.recover(error, notify, url=url):
            return self.endpoint.resolve(notify)
        return None

    def _backoff(self, error: GLMError) -> float:
        """The wait before the next attempt; raises ``error`` when it may not be retried."""
        self.connection.release()  # back in the pool: another request may be using it now
        attempt = self.result.metrics.retries
        wait = self.policy.delay(attempt, getattr(error, "retry_after", None))
        if (
            not is_retryable(error)
            or not self.policy.allows(attempt, wait, self._started)
            or time.monotonic() + wait >= self._deadline
        ):
            raise error
        self.notify(retry_notice(error, wait))
        return wait

    def _attempt(self) -> Generator[Step, Any, GLMError | None]:
        """One request: None when the answer ended, else the error to retry or raise."""
        assert self.request is not None
        try:
            response = yield Send(self.request)
        except (httpx.TransportError, UnicodeEncodeError) as exc:  # the latter: a non-ASCII header
            if self.cancelled.is_set():
                raise Stopped from None
            return send_error(exc, self.request.url, self.result)
        self.connection.attach_response(response)
        if response.status_code != 200:
            return (yield from self._refused(response))
        kind = content_type(response.headers)
        if kind == "text/event-stream":
            return (yield from self._stream(response))
        if kind == "application/json":  # a server that ignored "stream": true
            return (yield from self._whole(response))
        yield Close(response)
        raise make_api_error(
            response.status_code,
            f"expected text/event-stream, got {kind or 'no content type'}",
            partial=self.result,
        )

    def _refused(self, response: httpx.Response) -> Generator[Step, Any, GLMError]:
        # Only the start of an error body is read: the status and the code in it decide.
        buffer = BodyBuffer(response.headers.get("content-encoding", ""), MAX_ERROR_BYTES, truncate=True)
        try:
            yield Read(response, buffer.take)
            body = buffer.value()
        except (httpx.TransportError, httpx.DecodingError, GLMError):  # cut, undecodable, or refused
            if self.cancelled.is_set():
                raise Stopped from None
            body = b""
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return make_api_error(response.status_code, body, retry_after=retry_after, partial=self.result)

    def _whole(self, response: httpx.Response) -> Generator[Step, Any, GLMError | None]:
        buffer = BodyBuffer(response.headers.get("content-encoding", ""), MAX_WHOLE_BYTES)
        try:
            yield Read(response, buffer.take)
            body = buffer.value()
        except (httpx.TransportError, httpx.DecodingError) as exc:  # cut, or not decompressible
            return self._read_failed(exc)
        try:
            answer = json.loads(body)
        except ValueError:
            raise make_api_error(response.status_code, body, partial=self.result) from None
        if isinstance(answer, dict) and not answer.get("choices") and is_error_object(answer):
            return self._state.error(answer)  # an error at HTTP 200: as its HTTP form, retried alike
        if not isinstance(answer, dict):
            raise make_api_error(response.status_code, body, partial=self.result)
        yield Emit(self._state.feed_completion(answer))
        self._state.finish()
        return None

    def _stream(self, response: httpx.Response) -> Generator[Step, Any, GLMError | None]:
        state, result = self._state, self.result
        decoder = SSEDecoder()
        self._decode, self._mode, self._drained = decoder.feed, _READING, 0
        self._last_data = time.monotonic()
        try:
            self._body = BodyDecoder(response.headers.get("content-encoding", ""), MAX_STREAM_BYTES)
        except GLMError:
            yield Close(response)
            raise
        try:
            yield Pump(response)
            if not state.done and self._pending is None and not self.cancelled.is_set():
                flushed: list[StreamEvent] = []
                for piece in self._body.flush():  # what the decompressor still held
                    flushed += self._events(decoder.feed(piece))
                for data in decoder.flush():  # an event without its blank line
                    flushed += state.feed(data)
                if flushed:
                    self._emitted = True
                    yield Emit(flushed)
        except (httpx.TransportError, httpx.DecodingError) as exc:  # cut, or not decompressible
            if self._pending is None and not state.done and result.finish_reason is None:
                return self._read_failed(exc)
        except GLMError as exc:
            # An error in the body before any event was handed out is the attempt's error, as its
            # HTTP form would be: the retry decision is _backoff's. After an event it ends the answer.
            if self._pending is not None or self._emitted or state.answered:
                raise
            if self.cancelled.is_set():
                raise Stopped from None
            result.finish_reason = result.usage = None  # a "network_error" finish: not the answer's
            return exc
        if self._pending is not None:
            pending, self._pending = self._pending, None
            raise pending
        if not state.done and self.cancelled.is_set() and result.finish_reason is None:
            raise Stopped
        state.finish()
        return None

    def _read_failed(self, exc: Exception) -> GLMError:
        if self.cancelled.is_set():
            raise Stopped from None
        assert self.request is not None
        error = read_error(exc, self.request.url, self.result)
        if self._handed_out():  # a retry would hand the same events out again
            raise error from None
        return error
