"""The request engine's decisions without any I/O: scripted outcomes in, steps and events out.

A tiny driver here plays the part of ChatStream: it answers each step of ``_engine.Exchange`` from
a script (responses built in memory, body reads as byte strings, exceptions where the network
would fail) and records what the engine asked for. Each table row is one situation a real stream
meets; the protocol tests over real sockets are in test_client_protocol.py and test_engine_protocol.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

import glm_notebook as glm
from glm_notebook._settings import Settings
from glm_notebook.client._endpoint import Endpoint
from glm_notebook.client._engine import (
    DRAIN_LIMIT,
    Call,
    Close,
    Emit,
    Exchange,
    Pump,
    Read,
    Send,
    Sleep,
)
from glm_notebook.client._failures import format_wait, is_retryable, retry_notice, send_error
from glm_notebook.client._request import PreparedRequest
from glm_notebook.client._retry import RetryPolicy

URL = "http://127.0.0.1:9/v1"
KEY = "sk-engine-unit-key-5151"
SSE = {"content-type": "text/event-stream"}


def frame(obj: Any) -> bytes:
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()


def text(piece: str) -> bytes:
    return frame({"choices": [{"index": 0, "delta": {"content": piece}}]})


FINISH = frame({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
USAGE_ONLY = frame({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}})
DONE = frame("[DONE]")


@dataclass
class Answer:
    """One attempt's response: status, headers, the body's reads, and how the body ends."""

    status: int = 200
    reads: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=lambda: dict(SSE))
    breaks: Exception | None = None  # raised by the read after the last one


def ok(*pieces: str) -> Answer:
    return Answer(reads=[text(p) for p in pieces] + [FINISH, DONE])


def error_answer(status: int, code: str, retry_after: str | None = None) -> Answer:
    headers = {"content-type": "application/json"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return Answer(status, [json.dumps({"error": {"code": code, "message": "scripted"}}).encode()], headers)


class Connection:
    """Stands in for the ConnectionHandle: records the pool decisions."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def attach_response(self, response: Any) -> None:
        self.calls.append("attach")

    def release(self) -> None:
        self.calls.append("release")

    def discard(self) -> None:
        self.calls.append("discard")

    def shutdown(self) -> None:
        self.calls.append("shutdown")


@dataclass
class Run:
    trace: list[Any] = field(default_factory=list)  # the steps, by kind, and the sleeps' seconds
    events: list[glm.StreamEvent] = field(default_factory=list)
    error: BaseException | None = None
    notices: list[glm.Notice] = field(default_factory=list)

    @property
    def sends(self) -> int:
        return self.trace.count("send")

    @property
    def sleeps(self) -> list[float]:
        return [s for s in self.trace if isinstance(s, float)]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def make_exchange(endpoint: Any = None, **policy: Any) -> Exchange:
    policy.setdefault("max_retries", 3)
    policy.setdefault("deadline_s", 60.0)
    endpoint = endpoint or Endpoint(Settings("openai-compatible", URL, "glm-4.7-flash", KEY))

    def compose(settings: Settings) -> PreparedRequest:
        payload = {"model": settings.model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        return PreparedRequest(f"{settings.base_url}/chat/completions", payload, {"Authorization": KEY})

    exchange = Exchange(endpoint, compose, RetryPolicy(**policy))
    exchange.connection = Connection()  # type: ignore[assignment]
    return exchange


def drive(exchange: Exchange, *attempts: Answer | Exception, cancel_in_sleep: bool = False) -> Run:
    """Answer the exchange's steps from ``attempts`` (one per Send) as a driver would."""
    run, script = Run(), list(attempts)
    exchange.on_notice(run.notices.append)
    current: Answer | None = None
    try:
        step = exchange.resume()
        while step is not None:
            answer: Any = None
            failure: BaseException | None = None
            if isinstance(step, Send):
                run.trace.append("send")
                attempt = script.pop(0)
                if isinstance(attempt, Exception):
                    failure = attempt
                else:
                    current = attempt
                    answer = httpx.Response(attempt.status, headers=attempt.headers)
            elif isinstance(step, Read):
                run.trace.append("read")
                assert current is not None
                if current.breaks is not None:
                    failure = current.breaks
                for chunk in current.reads:  # raw reads, as the drivers give them
                    if not step.take(chunk):
                        break
            elif isinstance(step, Pump):
                run.trace.append("pump")
                assert current is not None
                try:
                    for chunk in current.reads:
                        events = exchange.feed(chunk)
                        if events is None:
                            break
                        run.events += events
                    else:
                        failure = current.breaks
                except glm.GLMError as exc:
                    failure = exc
                exchange.before_close()
            elif isinstance(step, Emit):
                run.trace.append("emit")
                run.events += step.events
            elif isinstance(step, Sleep):
                run.trace.append(float(step.seconds))
                answer = cancel_in_sleep
            elif isinstance(step, Call):
                run.trace.append("call")
                try:
                    answer = step.fn(exchange.notify)
                except BaseException as exc:  # noqa: BLE001 - handed to the engine, as the drivers do
                    failure = exc
            elif isinstance(step, Close):
                run.trace.append("close")
            step = exchange.resume(answer if failure is None else exchange.failed(failure))
    except BaseException as exc:  # noqa: BLE001 - the outcome under test
        run.error = exc
    return run


# -- what is retried, and what is not --------------------------------------------------------------

RETRIED = [
    ("server error", error_answer(503, "503"), "server error (HTTP 503), retrying in"),
    ("rate limit", error_answer(429, "1302"), "rate limited (1302), retrying in"),
    ("busy", error_answer(429, "1305"), "rate limited (1305), retrying in"),
    ("refused", httpx.ConnectError("refused"), "connection failed, retrying in"),
    ("timeout before the headers", httpx.ReadTimeout("slow"), "no answer in time, retrying in"),
    ("cut before any event", Answer(reads=[b": keep-alive\n\n"], breaks=httpx.RemoteProtocolError("cut")), "the connection broke, retrying in"),
    ("stall before any event", Answer(reads=[], breaks=httpx.ReadTimeout("stall")), "no answer in time, retrying in"),
]  # fmt: skip


@pytest.mark.parametrize("first, message", [row[1:] for row in RETRIED], ids=[row[0] for row in RETRIED])
def test_failures_before_any_event_are_retried_with_a_notice(first, message):
    run = drive(make_exchange(), first, ok("second ", "try"))
    assert run.error is None and run.sends == 2
    assert "".join(e.text for e in run.events if e.kind == "text") == "second try"
    (notice,) = run.notices
    assert notice.kind == "retrying" and notice.message.startswith(message)
    assert notice.wait_s == run.sleeps[0] and isinstance(notice.error, glm.GLMError)


NOT_RETRIED = [
    ("no balance 1113", error_answer(429, "1113"), glm.InsufficientBalance),
    ("quota 1304", error_answer(429, "1304"), glm.QuotaExceededError),
    ("bad key", error_answer(401, "1001"), glm.AuthenticationError),
    ("unknown model", error_answer(400, "1211"), glm.ModelNotFoundError),
    ("our malformed request", httpx.LocalProtocolError(f"Illegal header value b'Bearer {KEY}\\x7f'"), glm.ConfigurationError),
    ("cut after text", Answer(reads=[text("one ")], breaks=httpx.RemoteProtocolError("cut")), glm.StreamInterrupted),
    ("cut after a usage-only chunk", Answer(reads=[USAGE_ONLY], breaks=httpx.RemoteProtocolError("cut")), glm.StreamInterrupted),
    ("timeout after text", Answer(reads=[text("one ")], breaks=httpx.ReadTimeout("stall")), glm.APITimeoutError),
    ("error object mid-stream", Answer(reads=[frame({"error": {"code": "1301", "message": "unsafe"}})]), glm.ContentFilterError),
    ("not an event stream", Answer(reads=[b"<html>"], headers={"content-type": "text/html"}), glm.APIError),
]  # fmt: skip


@pytest.mark.parametrize(
    "first, error", [row[1:] for row in NOT_RETRIED], ids=[row[0] for row in NOT_RETRIED]
)
def test_failures_that_a_retry_cannot_fix_or_would_repeat_are_raised_at_once(first, error):
    exchange = make_exchange()
    run = drive(exchange, first, ok("must not be reached"))
    assert isinstance(run.error, error) and run.sends == 1 and run.sleeps == [] and run.notices == []
    assert exchange.result.error is run.error and run.error.partial is exchange.result


def test_a_usage_event_is_never_handed_out_twice():
    run = drive(make_exchange(), Answer(reads=[USAGE_ONLY], breaks=httpx.RemoteProtocolError("cut")), ok("x"))
    assert run.kinds() == ["usage"]


def test_a_malformed_request_names_the_fix_and_never_the_key():
    for exc in (
        httpx.LocalProtocolError(f"Illegal header value b'Bearer {KEY}\\x7f'"),
        UnicodeEncodeError("ascii", f"Bearer {KEY}\u200b", 29, 30, "ordinal not in range(128)"),
    ):
        run = drive(make_exchange(), exc)
        assert isinstance(run.error, glm.ConfigurationError) and run.sends == 1
        message = str(run.error)
        assert "check the API key" in message and KEY not in message and KEY[-4:] not in message
        assert run.error.__context__ is None and run.error.__cause__ is None


def test_retries_are_counted_and_bounded():
    run = drive(make_exchange(max_retries=2), *[error_answer(500, "500")] * 4)
    assert isinstance(run.error, glm.ServerError)
    assert run.sends == 3 and len(run.sleeps) == 2 and run.error.partial.metrics.retries == 2


def test_retry_after_is_the_wait_and_is_announced_in_whole_seconds():
    run = drive(make_exchange(), error_answer(429, "1302", retry_after="2"), ok("done"))
    assert run.sleeps == [2.0]
    assert [n.message for n in run.notices] == ["rate limited (1302), retrying in 2 s"]


def test_a_retry_after_beyond_the_deadline_fails_at_once():
    run = drive(make_exchange(deadline_s=5.0), error_answer(429, "1302", retry_after="30"))
    assert isinstance(run.error, glm.RateLimitError) and run.error.retry_after == 30
    assert run.sleeps == [] and run.notices == []


@pytest.mark.parametrize(
    "seconds, shown",
    [(0.05, "0.1 s"), (0.37, "0.4 s"), (0.94, "0.9 s"), (1.0, "1 s"), (2.6, "3 s"), (30, "30 s")],
)
def test_waits_are_rounded_for_people(seconds, shown):
    assert format_wait(seconds) == shown


def test_retryable_kinds():
    partial = glm.ChatResult()
    assert is_retryable(send_error(httpx.ConnectError("x"), URL, partial))
    assert is_retryable(send_error(httpx.ConnectTimeout("x"), URL, partial))
    assert not is_retryable(send_error(httpx.LocalProtocolError("x"), URL, partial))
    assert retry_notice(glm.RateLimitError("x", status_code=429), 0.5).message == (
        "rate limited (HTTP 429), retrying in 0.5 s"
    )


# -- how a stream ends ------------------------------------------------------------------------------


def test_a_read_error_after_done_or_after_the_finish_reason_keeps_the_answer_complete():
    after_done = Answer(reads=[text("a"), FINISH, DONE], breaks=httpx.RemoteProtocolError("gone"))
    after_finish = Answer(reads=[text("a"), FINISH], breaks=httpx.RemoteProtocolError("gone"))
    for answer in (after_done, after_finish):
        exchange = make_exchange()
        run = drive(exchange, answer)
        assert run.error is None and exchange.result.complete and exchange.result.text == "a"


def test_a_body_without_done_or_finish_is_interrupted_and_its_connection_discarded():
    exchange = make_exchange()
    run = drive(exchange, Answer(reads=[text("half")]))
    assert isinstance(run.error, glm.StreamInterrupted) and run.error.partial.text == "half"
    assert "discard" in exchange.connection.calls  # type: ignore[attr-defined]


def test_a_finished_body_goes_back_to_the_pool():
    exchange = make_exchange()
    drive(exchange, ok("fine"))
    assert exchange.result.complete and "discard" not in exchange.connection.calls  # type: ignore[attr-defined]
    assert exchange.connection.calls[-1] == "release"  # type: ignore[attr-defined]


def test_events_before_an_error_frame_in_the_same_read_are_handed_out_first():
    error = frame({"error": {"code": "1301", "message": "unsafe"}})
    run = drive(make_exchange(), Answer(reads=[text("one ") + text("two ") + error]))
    assert [e.text for e in run.events] == ["one ", "two "]
    assert isinstance(run.error, glm.ContentFilterError) and run.error.partial.text == "one two "


def test_frames_after_done_are_ignored_and_a_talkative_server_is_not_drained_forever():
    exchange = make_exchange()
    tail = [b"x" * 4096] * (DRAIN_LIMIT // 4096 + 2)
    run = drive(exchange, Answer(reads=[text("a") + FINISH + DONE + text("late"), *tail]))
    assert [e.text for e in run.events if e.kind == "text"] == ["a"] and exchange.result.complete
    # feed() said stop after DRAIN_LIMIT bytes: the driver closes the connection instead of reading on.
    assert exchange.feed(b"more") is None


def test_a_last_event_without_its_blank_line_is_delivered_at_the_end_of_the_body():
    run = drive(make_exchange(), Answer(reads=[text("a"), FINISH[:-1]]))
    assert run.error is None and run.trace.count("emit") == 1 and run.kinds() == ["text", "finish"]


def test_a_json_answer_to_a_stream_request_is_accepted():
    body = {"choices": [{"message": {"content": "whole"}, "finish_reason": "stop"}]}
    exchange = make_exchange()
    run = drive(
        exchange, Answer(reads=[json.dumps(body).encode()], headers={"content-type": "application/json"})
    )
    assert (
        run.trace == ["send", "read", "emit"] and exchange.result.text == "whole" and exchange.result.complete
    )


def test_another_content_type_is_closed_unread():
    run = drive(make_exchange(), Answer(reads=[b"<html>"], headers={"content-type": "text/html"}))
    assert run.trace == ["send", "close"] and "text/html" in str(run.error)


# -- stopped ----------------------------------------------------------------------------------------


def test_cancel_before_the_first_step_sends_nothing():
    exchange = make_exchange()
    exchange.cancel()
    run = drive(exchange, ok("never"))
    assert run.error is None and run.sends == 0 and exchange.result.stopped


def test_cancel_during_a_retry_wait_stops_quietly():
    exchange = make_exchange()
    run = drive(exchange, error_answer(503, "503"), ok("never"), cancel_in_sleep=True)
    assert run.error is None and run.sends == 1 and exchange.result.stopped and exchange.result.error is None


def test_a_read_error_after_cancel_is_stopped_not_an_error():
    exchange = make_exchange()
    assert isinstance(exchange.resume(), Send)
    assert isinstance(exchange.resume(httpx.Response(200, headers=SSE)), Pump)
    exchange.feed(text("part "))
    exchange.cancel()  # from another thread: the socket is shut down, so the read fails
    assert exchange.connection.calls[-1] == "shutdown"  # type: ignore[attr-defined]
    assert exchange.feed(text("more")) is None  # and a read that still arrives is not used
    assert exchange.resume(exchange.failed(httpx.ReadError("shut down"))) is None
    assert exchange.result.stopped and exchange.result.error is None and exchange.result.text == "part "


def test_a_keyboard_interrupt_while_reading_marks_stopped_and_propagates():
    exchange = make_exchange()
    assert isinstance(exchange.resume(), Send)
    assert isinstance(exchange.resume(httpx.Response(200, headers=SSE)), Pump)
    exchange.feed(text("part "))
    with pytest.raises(KeyboardInterrupt):
        exchange.resume(exchange.failed(KeyboardInterrupt()))
    assert exchange.result.stopped and exchange.result.text == "part "


def test_closing_before_the_end_marks_stopped_but_not_before_the_start():
    exchange = make_exchange()
    exchange.closing()
    assert not exchange.result.stopped  # never iterated
    exchange.resume()
    exchange.closing()
    assert exchange.result.stopped


# -- notices and the endpoint ------------------------------------------------------------------------


def test_a_notice_callback_that_raises_is_logged_and_the_stream_goes_on(caplog):
    exchange = make_exchange()

    def broken(notice):
        raise RuntimeError("view gone")

    exchange.on_notice(broken)
    with caplog.at_level(logging.WARNING, logger="glm_notebook"):
        run = drive(exchange, error_answer(503, "503"), ok("still here"))
    assert run.error is None and exchange.result.text == "still here"
    assert len(run.notices) == 1 and "notice callback failed" in caplog.text


class StartingEndpoint:
    """An endpoint whose offline model must start first (the real one is tested in test_local.py)."""

    def __init__(self, interrupt: bool = False, recovers: bool = False) -> None:
        self.settings = Settings("local", None, None)
        self.interrupt = interrupt
        self.recovers = recovers
        self.recovered: list[str | None] = []

    @property
    def needs_start(self) -> bool:
        return self.settings.base_url is None

    def resolve(self, notify=None):
        if self.settings.base_url is None:
            if notify is not None:
                notify(glm.Notice("starting", "starting the offline model…"))
            if self.interrupt:
                raise KeyboardInterrupt
            self.settings = Settings("local", URL, "gemma-local")
        return self.settings

    def recover(self, error, notify=None, *, url=None):
        self.recovered.append(url)
        if not self.recovers:
            return False
        notify(glm.Notice("restarting", "restarting"))
        self.settings = Settings("local", "http://127.0.0.1:10/v1", "gemma-local")
        return True


def test_the_offline_start_happens_at_the_first_step_and_sets_the_model():
    endpoint = StartingEndpoint()
    exchange = make_exchange(endpoint)
    assert exchange.result.request == {} and exchange.result.model is None  # nothing started yet
    run = drive(exchange, ok("hi"))
    assert run.trace[0] == "call" and [n.kind for n in run.notices] == ["starting"]
    assert exchange.result.request["model"] == "gemma-local" and exchange.request.url.startswith(URL)
    assert exchange.result.complete


def test_a_keyboard_interrupt_during_the_start_leaves_stopped_and_propagates():
    exchange = make_exchange(StartingEndpoint(interrupt=True))
    run = drive(exchange, ok("never"))
    assert isinstance(run.error, KeyboardInterrupt) and exchange.result.stopped and run.sends == 0


def test_a_restarted_server_gets_the_request_again_at_once_and_uncounted():
    endpoint = StartingEndpoint(recovers=True)
    endpoint.resolve()
    exchange = make_exchange(endpoint, max_retries=0)
    run = drive(exchange, httpx.ConnectError("refused"), ok("back"))
    assert run.error is None and run.sends == 2 and run.sleeps == []
    assert exchange.result.metrics.retries == 0 and exchange.result.text == "back"
    assert endpoint.recovered == [f"{URL}/chat/completions"]  # told where the failed request went
    assert exchange.request.url == "http://127.0.0.1:10/v1/chat/completions"
    assert [n.kind for n in run.notices] == ["restarting"]


def test_recovery_is_tried_once_then_the_usual_retries_follow():
    endpoint = StartingEndpoint()
    endpoint.resolve()
    run = drive(make_exchange(endpoint, max_retries=1), httpx.ConnectError("a"), httpx.ConnectError("b"))
    assert isinstance(run.error, glm.APIConnectionError) and run.sends == 2 and len(endpoint.recovered) == 1
