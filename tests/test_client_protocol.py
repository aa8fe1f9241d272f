"""GLMClient over a real loopback socket against glm_notebook.testing.GLMTestServer.

Each test scripts the server, acts through the public API and checks what a user would notice:
the text, the partial text, the error type and message, and what actually went over the wire
(payload fields, headers, how many requests, their timing, whether the connection was closed).
Timing checks are only ordering/positivity or generous upper bounds for "promptly".
"""

from __future__ import annotations

import itertools
import random
import signal
import socket
import threading
import time
import traceback

import openai
import pytest

import glm_notebook as glm
from glm_notebook.client._sse import SSEDecoder
from glm_notebook.testing import Fault, Reply

KEY = "sk-protocol-test-key-4242"
MODEL = "glm-4.7-flash"
# Multi-byte UTF-8 (2, 3 and 4 bytes), CJK without spaces and the two Unicode line separators
# that must not be treated as SSE line breaks.
TRICKY = "Grüße, 世界! 🎉 one\u2028two\u2029three — done."


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY  # requests without "Authorization: Bearer KEY" get 401 (reset after)
    return glm_server


def make_client(server, **kw):
    kw.setdefault("provider", "openai-compatible")
    kw.setdefault("timeout", 10.0)
    return glm.GLMClient(base_url=server.base_url, api_key=kw.pop("api_key", KEY), model=MODEL, **kw)


@pytest.fixture
def client(server):
    with make_client(server) as c:
        yield c


def outcomes(server, timeout=3.0):
    return [r.outcome for r in server.wait_until_finished(timeout=timeout)]


# -- what is sent ------------------------------------------------------------------------------


def test_sampling_values_are_sent_exactly_as_given(server, client):
    client.chat("hi", temperature=0.0, top_p=1.0)
    client.chat("hi", temperature=1.0, max_tokens=7)
    first, second = (r.json for r in server.requests)
    assert first["temperature"] == 0.0 and isinstance(first["temperature"], float)
    assert first["top_p"] == 1.0  # not clamped to 0.99 as the official SDKs do
    assert second["temperature"] == 1.0 and second["max_tokens"] == 7
    assert "max_tokens" not in first and "top_p" not in second


def test_unset_options_are_not_sent(server, client):
    client.chat("hi", temperature=None)
    (rec,) = server.requests
    assert set(rec.json) == {"model", "messages", "stream"}
    assert rec.json["stream"] is True and rec.json["model"] == MODEL
    assert rec.path == "/api/paas/v4/chat/completions" and rec.method == "POST"


def test_system_message_goes_first_and_thinking_is_a_wire_object(server, client):
    history = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    client.chat(history, system="Be brief.", thinking=True)
    client.chat("again", thinking=False)
    on, off = (r.json for r in server.requests)
    assert on["messages"] == [{"role": "system", "content": "Be brief."}, *history]
    assert on["thinking"] == {"type": "enabled"}
    assert off["thinking"] == {"type": "disabled"}
    assert off["messages"] == [{"role": "user", "content": "again"}]


def test_api_key_travels_only_in_the_authorization_header(server, client):
    result = client.chat("hi")
    (rec,) = server.requests
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    others = {k: v for k, v in rec.headers.items() if k != "authorization"}
    assert KEY not in repr(others) and KEY not in rec.path
    assert KEY.encode() not in rec.body
    assert KEY not in repr(result.request) and KEY not in repr(client)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"temperature": 1.5}, "from 0.0 to 1.0"),
        ({"top_p": 0.0}, "above 0.0"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temprature": 0.5}, "Did you mean 'temperature'"),
    ],
)
def test_invalid_option_fails_before_anything_is_sent(server, options, words):
    with make_client(server, provider="zai") as client:  # GLM cloud bounds, loopback URL
        with pytest.raises(glm.InvalidOptionError, match=words):
            client.chat("hi", **options)
        with pytest.raises(glm.InvalidOptionError):
            client.stream("hi", **options)
    assert server.requests == []


# -- streaming ---------------------------------------------------------------------------------


def test_events_arrive_in_protocol_order(server, client):
    server.enqueue(
        Reply(
            reasoning="Let me think it over.",
            text="It is sunny in Paris.",
            tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        )
    )
    with client.stream("Weather?") as stream:
        events = list(stream)
    kinds = [kind for kind, _ in itertools.groupby(e.kind for e in events)]
    assert kinds == ["reasoning", "text", "tool_call", "finish", "usage"]
    result = stream.result
    assert "".join(e.text for e in events if e.kind == "text") == result.text == "It is sunny in Paris."
    assert "".join(e.text for e in events if e.kind == "reasoning") == result.reasoning
    assert result.reasoning == "Let me think it over."
    (call,) = result.tool_calls
    assert (call.id, call.name, call.parsed_arguments()) == ("call_1", "get_weather", {"city": "Paris"})
    assert events[-2].finish_reason == result.finish_reason == "tool_calls"
    assert events[-1].usage == result.usage and result.usage.completion_tokens > 0
    assert result.complete and not result.stopped and result.error is None


def test_result_holds_the_partial_text_while_streaming(server, client):
    server.enqueue(Reply(text="one two three four", delay=0.01))
    seen = []
    with client.stream("count") as stream:
        for event in stream:
            if event.kind == "text":
                seen.append(event.text)
                assert stream.result.text == "".join(seen)
                assert not stream.result.complete
    assert seen == ["one ", "two ", "three ", "four"]
    assert stream.result.complete


@pytest.mark.parametrize(
    "wire",
    [
        {"split_utf8": True},
        {"crlf": True},
        {"comments": True},
        {"unknown_events": True},
        {"split_utf8": True, "crlf": True, "comments": True, "unknown_events": True},
    ],
    ids=["split_utf8", "crlf", "comments", "unknown_events", "all"],
)
def test_wire_variants_give_the_exact_text(server, client, wire):
    server.enqueue(Reply(text=TRICKY, reasoning="思考：" + TRICKY, **wire))
    result = client.chat("hi")
    assert result.text == TRICKY
    assert result.reasoning == "思考：" + TRICKY
    assert result.complete and result.metrics.malformed_frames == 0


def test_sse_decoder_gives_the_same_events_for_any_split_of_the_bytes():
    # The decoder behind both clients, fed every way a socket could cut this byte stream.
    wire = (
        'data: {"a": "Grüße 世界 🎉"}\r\n\r\n'
        ": keep-alive\n\n"
        "event: ping\nid: 7\ndata: {}\n\n"
        "data: line\u2028one\rdata: two\r\r"
        "data:no-space\n\n"
        "data: [DONE]\n\n"
    ).encode()
    expected = ['{"a": "Grüße 世界 🎉"}', "{}", "line\u2028one\ntwo", "no-space", "[DONE]"]

    def decode(pieces):
        decoder, events = SSEDecoder(), []
        for piece in pieces:
            events += decoder.feed(piece)
        return events + decoder.flush()

    assert decode([wire]) == expected
    assert decode([wire[i : i + 1] for i in range(len(wire))]) == expected
    for i in range(len(wire) + 1):
        assert decode([wire[:i], wire[i:]]) == expected, i
    rng = random.Random(2028)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(wire)), rng.randint(2, 12)))
        assert decode([wire[a:b] for a, b in itertools.pairwise([0, *cuts, len(wire)])]) == expected


def test_malformed_frames_are_skipped_and_counted(server, client):
    server.enqueue(Reply(text="alpha beta gamma delta", malformed_at=(0, 2)))
    result = client.chat("hi")
    assert result.text == "alpha beta gamma delta"
    assert result.metrics.malformed_frames == 2
    assert result.complete


def test_usage_is_none_when_the_server_sends_none(server, client):
    server.enqueue(Reply(text="no counts here", usage=False))
    with client.stream("hi") as stream:
        kinds = {e.kind for e in stream}
    result = stream.result
    assert "usage" not in kinds
    assert result.usage is None and result.metrics.tokens_per_s is None
    assert result.metrics.ttft_s is not None and result.metrics.duration_s is not None


def test_metrics_are_consistent(server, client):
    server.enqueue(Reply(text="one two three four five", first_delay=0.05, delay=0.02))
    result = client.chat("hi")
    m = result.metrics
    assert m.ttft_s >= 0.05 * 0.9  # the server waited 50 ms before the first chunk
    assert m.duration_s >= m.ttft_s + 4 * 0.02 * 0.9
    assert m.tokens_per_s > 0 and m.chunks == 5 and m.retries == 0
    assert result.usage.completion_tokens == 5
    assert result.usage.total_tokens == result.usage.prompt_tokens + 5


# -- errors ------------------------------------------------------------------------------------


def test_wrong_key_is_an_authentication_error(server):
    with make_client(server, api_key="sk-wrong-key-0000") as client:
        with pytest.raises(glm.AuthenticationError) as info:
            client.chat("hi")
    assert info.value.status_code == 401
    assert "API key" in str(info.value) and "sk-wrong-key-0000" not in str(info.value)
    assert len(server.requests) == 1


def test_no_balance_1113_fails_at_once_with_a_balance_message(server, client):
    server.enqueue(Fault.balance(), Reply(text="must not be reached"))
    with pytest.raises(glm.InsufficientBalance) as info:
        client.chat("hi")
    error = info.value
    assert (error.status_code, error.code) == (429, "1113")
    assert "balance" in str(error).lower() and "retrying will not help" in str(error)
    assert len(server.requests) == 1 and server.pending() == 1


def test_unknown_model_1211(server, client):
    server.enqueue(Fault.model_not_found())
    with pytest.raises(glm.ModelNotFoundError) as info:
        client.chat("hi", model="glm-nope")
    assert isinstance(info.value, glm.InvalidRequestError) and info.value.code == "1211"
    assert "model" in str(info.value).lower()
    assert server.requests[0].json["model"] == "glm-nope" and len(server.requests) == 1


def test_daily_quota_1304_is_not_retried(server, client):
    server.enqueue(Fault.quota(), Reply(text="must not be reached"))
    with pytest.raises(glm.QuotaExceededError) as info:
        client.chat("hi")
    assert info.value.code == "1304" and "quota" in str(info.value).lower()
    assert len(server.requests) == 1


def test_mid_stream_error_keeps_the_partial_text(server, client):
    server.enqueue(Reply(text="one two three four", error_after=2))
    seen = []
    with pytest.raises(glm.ContentFilterError) as info:
        with client.stream("hi") as stream:
            for event in stream:
                seen.append(event.text)
    error = info.value
    assert error.code == "1301" and error.status_code is None
    assert seen == ["one ", "two "]
    assert error.partial is stream.result and error.partial.text == "one two "
    assert stream.result.error is error and not stream.result.complete
    assert len(server.requests) == 1


def test_cut_stream_raises_stream_interrupted_with_the_partial(server, client):
    server.enqueue(Reply(text="one two three four", cut_after=2), Reply(text="must not be reached"))
    with pytest.raises(glm.StreamInterrupted) as info:
        client.chat("hi")
    assert info.value.partial.text == "one two "
    assert "8 characters" in str(info.value)
    assert len(server.requests) == 1


def test_stream_without_done_but_with_finish_is_accepted(server, client):
    server.enqueue(Reply(text="complete anyway", no_done=True))
    result = client.chat("hi")
    assert result.text == "complete anyway" and result.finish_reason == "stop" and result.complete


def test_finish_reason_sensitive_is_a_content_filter_error(server, client):
    server.enqueue(
        Reply(
            text="The first part",
            finish_reason="sensitive",
            content_filter=[{"role": "assistant", "level": 1}],
        )
    )
    with pytest.raises(glm.ContentFilterError) as info:
        client.chat("hi")
    partial = info.value.partial
    assert partial.text == "The first part" and partial.finish_reason == "sensitive"
    assert "rephrase" in str(info.value)


def test_stall_longer_than_the_timeout_is_a_timeout_with_the_partial(server):
    server.enqueue(Reply(text="one two three", stall_after=1, stall_seconds=10))
    with make_client(server, timeout=0.4) as client:
        start = time.monotonic()
        with pytest.raises(glm.APITimeoutError) as info:
            client.chat("hi")
        elapsed = time.monotonic() - start
    assert isinstance(info.value, glm.APIConnectionError)
    assert info.value.partial.text == "one "
    assert "timeout" in str(info.value)
    assert elapsed < 5  # did not wait for the 10 s stall
    assert outcomes(server) == ["client_disconnected"]


def test_stall_before_any_text_times_out_within_the_deadline(server):
    server.enqueue(Reply(text="late", stall_after=0, stall_seconds=10))
    with make_client(server, timeout=0.4) as client:
        with pytest.raises(glm.APITimeoutError) as info:
            client.chat("hi")
    assert info.value.partial.text == ""
    assert len(server.requests) == 1  # the retry deadline (= timeout) was used up by the wait


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_names_the_url_and_never_the_key():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with glm.GLMClient(base_url=url, api_key=KEY, model=MODEL, max_retries=1) as client:
        with pytest.raises(glm.APIConnectionError) as info:
            client.chat("hi")
    error = info.value
    assert not isinstance(error, glm.APITimeoutError)
    assert f"{url}/chat/completions" in str(error)
    everything = "".join(traceback.format_exception(error)) + repr(error)
    assert KEY not in everything and KEY[-4:] not in everything
    assert error.partial.metrics.retries == 1  # connection errors are retried, within max_retries


# -- retries -----------------------------------------------------------------------------------


def test_rate_limit_1302_honours_retry_after(server, client):
    server.enqueue(Fault.rate_limit("1302", retry_after=1), Reply(text="after the wait"))
    result = client.chat("hi")
    assert result.text == "after the wait" and result.metrics.retries == 1
    first, second = server.requests
    assert second.started_at - first.started_at >= 0.95  # Retry-After: 1, not the 0.1-0.2 s backoff


@pytest.mark.parametrize("code", ["1302", "1303", "1305"])
def test_retryable_rate_limit_codes(server, client, code):
    server.enqueue(Fault.rate_limit(code, retry_after=0), Reply(text="ok"))
    assert client.chat("hi").text == "ok"
    assert len(server.requests) == 2


def test_server_errors_are_retried_then_succeed(server, client):
    server.enqueue(Fault.server_error(500), Fault.server_error(503), Reply(text="recovered"))
    result = client.chat("hi")
    assert result.text == "recovered" and result.metrics.retries == 2
    assert len(server.requests) == 3
    assert server.requests[0].json == server.requests[2].json  # the same request each time


def test_retries_are_bounded_by_max_retries(server):
    server.enqueue(*[Fault.server_error(500)] * 4)
    with make_client(server, max_retries=2) as client:
        with pytest.raises(glm.ServerError):
            client.chat("hi")
    assert len(server.requests) == 3 and server.pending() == 1


def test_retries_stop_at_the_total_deadline(server):
    server.enqueue(*[Fault.server_error(503, retry_after=0.25)] * 10)
    with make_client(server, max_retries=10, retry_deadline=0.6) as client:
        start = time.monotonic()
        with pytest.raises(glm.ServerError):
            client.chat("hi")
        elapsed = time.monotonic() - start
    assert 2 <= len(server.requests) <= 3
    assert elapsed < 0.6 + 1.0


def test_retry_after_beyond_the_deadline_fails_at_once(server):
    server.enqueue(Fault.rate_limit(retry_after=30))
    with make_client(server, retry_deadline=5) as client:
        start = time.monotonic()
        with pytest.raises(glm.RateLimitError) as info:
            client.chat("hi")
    assert time.monotonic() - start < 2
    assert info.value.retry_after == 30 and len(server.requests) == 1
    assert "wait" in str(info.value)


@pytest.mark.parametrize(
    "failure", [Reply(text="lost", cut_after=0), Fault.drop()], ids=["cut_before_text", "dropped"]
)
def test_a_failure_before_any_answer_text_is_retried(server, client, failure):
    server.enqueue(failure, Reply(text="second try"))
    result = client.chat("hi")
    assert result.text == "second try" and result.metrics.retries == 1
    first, second = server.requests
    assert second.started_at - first.started_at >= 0.1 * 0.5  # backed off, not hammered


@pytest.mark.parametrize(
    "reply",
    [Reply(text="one two three", cut_after=1), Reply(reasoning="thinking hard", text="x", cut_after=1)],
    ids=["after_text", "after_reasoning"],
)
def test_a_cut_after_text_was_handed_out_is_not_retried(server, client, reply):
    server.enqueue(reply, Reply(text="must not be reached"))
    with pytest.raises(glm.StreamInterrupted) as info:
        with client.stream("hi") as stream:
            for _ in stream:
                pass
    shown = info.value.partial
    assert (shown.text + shown.reasoning) in ("one ", "thinking ")
    assert len(server.requests) == 1 and server.pending() == 1


# -- cancel and early exit ---------------------------------------------------------------------


def cancel_later(stream, delay=0.2):
    timer = threading.Timer(delay, stream.cancel)
    timer.start()
    return time.monotonic() + delay


def test_cancel_from_another_thread_during_a_stall(server, client):
    server.enqueue(Reply(text="one two three four", stall_after=2, stall_seconds=20))
    cancel_at = None
    with client.stream("hi") as stream:
        for _event in stream:
            if stream.result.text == "one two " and cancel_at is None:
                cancel_at = cancel_later(stream)
        ended = time.monotonic()
    assert ended - cancel_at < 1.0
    result = stream.result
    assert result.stopped and not result.complete and result.error is None
    assert result.text == "one two "
    assert outcomes(server) == ["client_disconnected"]


def test_cancel_during_a_slow_stream(server, client):
    words = " ".join(f"w{i}" for i in range(300))
    server.enqueue(Reply(text=words, delay=0.02))
    with client.stream("hi") as stream:
        cancel_at = cancel_later(stream, 0.3)
        texts = [e.text for e in stream if e.kind == "text"]
        ended = time.monotonic()
    assert ended - cancel_at < 1.0
    result = stream.result
    assert result.stopped and 0 < len(result.text) < len(words)
    assert words.startswith(result.text) and result.text == "".join(texts)
    assert outcomes(server) == ["client_disconnected"]


def test_cancel_while_waiting_for_the_first_byte(server, client):
    server.enqueue(Fault.http(503, delay=20))  # the server holds the request without answering
    with client.stream("hi") as stream:
        cancel_at = cancel_later(stream)
        assert list(stream) == []
        ended = time.monotonic()
    assert ended - cancel_at < 1.0
    assert stream.result.stopped and stream.result.error is None
    assert outcomes(server) == ["client_disconnected"]


def test_cancel_during_a_retry_wait(server):
    server.enqueue(Fault.rate_limit(retry_after=20), Reply(text="must not be reached"))
    with make_client(server, retry_deadline=60) as client:
        with client.stream("hi") as stream:
            cancel_at = cancel_later(stream)
            assert list(stream) == []
            ended = time.monotonic()
    assert ended - cancel_at < 1.0
    assert stream.result.stopped and len(server.requests) == 1


def test_leaving_the_with_block_early_closes_the_connection(server, client):
    server.enqueue(Reply(text=" ".join(f"w{i}" for i in range(100)), delay=0.02))
    with client.stream("hi") as stream:
        for event in stream:
            if event.kind == "text":
                break
    assert stream.result.stopped and stream.result.text == "w0 "
    assert outcomes(server) == ["client_disconnected"]
    assert client.chat("still usable").text == "You said: still usable"


def test_keyboard_interrupt_in_the_loop_stops_and_closes(server, client):
    server.enqueue(Reply(text=" ".join(f"w{i}" for i in range(100)), delay=0.02))
    with pytest.raises(KeyboardInterrupt):
        with client.stream("hi") as stream:
            for event in stream:
                if event.kind == "text":
                    raise KeyboardInterrupt
    assert stream.result.stopped and not stream.result.complete
    assert stream.result.text == "w0 "
    assert outcomes(server) == ["client_disconnected"]
    assert client.chat("next cell").text == "You said: next cell"


def test_a_real_sigint_while_blocked_on_the_socket(server, client):
    # What a kernel interrupt does: SIGINT lands while the client waits inside recv().
    server.enqueue(Reply(text="one two three", stall_after=1, stall_seconds=20))
    waiting = threading.Event()

    def interrupt():
        if waiting.is_set():
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        with client.stream("hi") as stream:
            for _event in stream:
                if not waiting.is_set():
                    waiting.set()
                    threading.Timer(0.2, interrupt).start()
    waiting.clear()
    assert stream.result.stopped and stream.result.text == "one "
    assert outcomes(server) == ["client_disconnected"]


def test_models_lists_what_the_server_offers(server, client):
    assert client.models() == ["glm-4.7-flash", "glm-5"]
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


# -- connections and the shared client -----------------------------------------------------------


def test_sequential_chats_reuse_one_pooled_connection(server, client):
    texts = [client.chat(f"question {i}").text for i in range(4)]
    assert texts == [f"You said: question {i}" for i in range(4)]
    records = server.wait_until_finished()
    assert len(records) == 4 and len({r.peer for r in records}) == 1
    assert [r.outcome for r in records] == ["complete"] * 4


def test_a_late_cancel_never_touches_the_pooled_connection(server, client):
    with client.stream("first") as stream:
        assert stream.until_done().text == "You said: first"
    stream.cancel()  # e.g. a Stop button clicked after the answer ended
    assert client.chat("second").text == "You said: second"
    first, second = server.wait_until_finished()
    assert first.peer == second.peer and second.outcome == "complete"


def test_cancel_during_a_retry_wait_spares_the_request_now_on_its_connection(server):
    client = make_client(server, retry_deadline=60)
    server.enqueue(Fault.rate_limit(retry_after=20))
    waiting = client.stream("first")
    worker = threading.Thread(target=waiting.until_done)
    worker.start()
    server.wait_for_requests(1)
    server.wait_until_finished()  # the 429 was sent ...
    time.sleep(0.5)  # ... and read by the client, whose connection went back to the pool
    server.enqueue(Reply(text="one two three four", delay=0.05))
    with client.stream("second") as stream:
        for event in stream:
            if event.text == "one ":
                waiting.cancel()
    worker.join(5)
    assert waiting.result.stopped and not worker.is_alive()
    assert stream.result.complete and stream.result.text == "one two three four"
    first, second = server.requests
    assert first.peer == second.peer  # the second request really used the first one's connection
    client.close()


def test_cancel_before_iterating_sends_nothing(server, client):
    with client.stream("hi") as stream:
        stream.cancel()
        assert list(stream) == []
    assert stream.result.stopped and server.requests == []


def test_threads_share_one_client(server, client):
    server.responder = lambda request: Reply(text=request["messages"][-1]["content"], delay=0.01)
    answers = {}

    def ask(i):
        answers[i] = client.chat(f"thread {i} says hello").text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert answers == {i: f"thread {i} says hello" for i in range(5)}


def test_connection_is_reused_after_an_error_answer(server, client):
    server.enqueue(Fault.model_not_found())
    with pytest.raises(glm.ModelNotFoundError):
        client.chat("hi")
    client.chat("hi")
    first, second = server.requests
    assert first.peer == second.peer


def test_get_client_is_shared_and_follows_glm_env(glm_env):
    glm.reset_client()
    try:
        shared = glm.get_client()
        assert glm.get_client() is shared
        assert shared.base_url == glm_env.base_url and shared.provider == "openai-compatible"
        assert shared.chat("ping").text == "You said: ping"
        (rec,) = glm_env.requests
        assert rec.headers["authorization"] == "Bearer glm-test-key"
    finally:
        glm.reset_client()


# -- a second opinion: the openai SDK reads the same stream ----------------------------------------


@pytest.mark.parametrize(
    "wire", [{}, {"split_utf8": True, "crlf": True, "comments": True}], ids=["plain", "tricky_wire"]
)
def test_openai_sdk_and_glm_client_agree(server, client, wire):
    script = {"reasoning": "先想一想: 6 x 7.", "text": "The answer is 42. " + TRICKY, **wire}
    server.enqueue(Reply(**script), Reply(**script))
    ours = client.chat("What is 6 x 7?", temperature=0.0)

    sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    text, reasoning, usage, finish = [], [], None, None
    stream = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is 6 x 7?"}], temperature=0.0, stream=True
    )
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            finish = choice.finish_reason or finish
    sdk.close()

    assert ours.text == "".join(text)
    assert ours.reasoning == "".join(reasoning)
    assert ours.finish_reason == finish == "stop"
    assert (ours.usage.prompt_tokens, ours.usage.completion_tokens, ours.usage.total_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )
    mine, theirs = server.requests
    assert mine.json["messages"] == theirs.json["messages"]
    assert mine.json["temperature"] == theirs.json["temperature"] == 0.0
