"""AsyncGLMClient over a real loopback socket against glm_notebook.testing.GLMTestServer.

The same protocol checks as tests/test_client_protocol.py, through ``async with`` / ``async for``,
plus what only the async client has: task cancellation and many streams at once on one loop.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
import traceback

import openai
import pytest

import glm_notebook as glm
from glm_notebook.testing import Fault, Reply

KEY = "sk-async-protocol-key-7373"
MODEL = "glm-4.7-flash"
TRICKY = "Grüße, 世界! 🎉 one\u2028two\u2029three — done."


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


def make_client(server, **kw):
    kw.setdefault("provider", "openai-compatible")
    kw.setdefault("timeout", 10.0)
    return glm.AsyncGLMClient(base_url=server.base_url, api_key=kw.pop("api_key", KEY), model=MODEL, **kw)


@pytest.fixture
async def client(server):
    async with make_client(server) as c:
        yield c


def outcomes(server, timeout=3.0):
    return [r.outcome for r in server.wait_until_finished(timeout=timeout)]


async def consume(stream):
    return [event async for event in stream]


# -- what is sent ------------------------------------------------------------------------------


async def test_sampling_values_are_sent_exactly_as_given(server, client):
    await client.chat("hi", temperature=0.0, top_p=1.0)
    await client.chat("hi", temperature=1.0, max_tokens=7)
    first, second = (r.json for r in server.requests)
    assert first["temperature"] == 0.0 and isinstance(first["temperature"], float)
    assert first["top_p"] == 1.0
    assert second["temperature"] == 1.0 and second["max_tokens"] == 7
    assert "max_tokens" not in first and "top_p" not in second


async def test_unset_options_are_not_sent(server, client):
    await client.chat("hi", top_p=None)
    (rec,) = server.requests
    assert set(rec.json) == {"model", "messages", "stream"} and rec.json["stream"] is True


async def test_system_message_goes_first_and_thinking_is_a_wire_object(server, client):
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    await client.chat(history, system="Be brief.", thinking=True)
    await client.chat("again", thinking=False)
    on, off = (r.json for r in server.requests)
    assert on["messages"] == [{"role": "system", "content": "Be brief."}, *history]
    assert on["thinking"] == {"type": "enabled"} and off["thinking"] == {"type": "disabled"}


async def test_api_key_travels_only_in_the_authorization_header(server, client):
    result = await client.chat("hi")
    (rec,) = server.requests
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    others = {k: v for k, v in rec.headers.items() if k != "authorization"}
    assert KEY not in repr(others) and KEY not in rec.path and KEY.encode() not in rec.body
    assert KEY not in repr(result.request) and KEY not in repr(client)


@pytest.mark.parametrize(
    "options, words",
    [({"temperature": 1.5}, "from 0.0 to 1.0"), ({"temprature": 0.5}, "Did you mean 'temperature'")],
)
async def test_invalid_option_fails_before_anything_is_sent(server, options, words):
    async with make_client(server, provider="zai") as client:
        with pytest.raises(glm.InvalidOptionError, match=words):
            await client.chat("hi", **options)
        with pytest.raises(glm.InvalidOptionError):
            client.stream("hi", **options)
    assert server.requests == []


# -- streaming ---------------------------------------------------------------------------------


async def test_events_arrive_in_protocol_order(server, client):
    server.enqueue(
        Reply(
            reasoning="Let me think it over.",
            text="It is sunny in Paris.",
            tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        )
    )
    async with client.stream("Weather?") as stream:
        events = await consume(stream)
    kinds = [kind for kind, _ in itertools.groupby(e.kind for e in events)]
    assert kinds == ["reasoning", "text", "tool_call", "finish", "usage"]
    result = stream.result
    assert result.text == "It is sunny in Paris." and result.reasoning == "Let me think it over."
    (call,) = result.tool_calls
    assert (call.name, call.parsed_arguments()) == ("get_weather", {"city": "Paris"})
    assert events[-1].usage == result.usage and result.complete


async def test_result_holds_the_partial_text_while_streaming(server, client):
    server.enqueue(Reply(text="one two three four", delay=0.01))
    seen = []
    async with client.stream("count") as stream:
        async for event in stream:
            if event.kind == "text":
                seen.append(event.text)
                assert stream.result.text == "".join(seen) and not stream.result.complete
    assert seen == ["one ", "two ", "three ", "four"] and stream.result.complete


@pytest.mark.parametrize(
    "wire",
    [
        {"split_utf8": True},
        {"crlf": True},
        {"comments": True, "unknown_events": True},
        {"split_utf8": True, "crlf": True, "comments": True, "unknown_events": True},
    ],
    ids=["split_utf8", "crlf", "comments_unknown", "all"],
)
async def test_wire_variants_give_the_exact_text(server, client, wire):
    server.enqueue(Reply(text=TRICKY, reasoning="思考：" + TRICKY, **wire))
    result = await client.chat("hi")
    assert result.text == TRICKY and result.reasoning == "思考：" + TRICKY
    assert result.complete and result.metrics.malformed_frames == 0


async def test_malformed_frames_are_skipped_and_counted(server, client):
    server.enqueue(Reply(text="alpha beta gamma delta", malformed_at=(1, 3)))
    result = await client.chat("hi")
    assert result.text == "alpha beta gamma delta" and result.metrics.malformed_frames == 2


async def test_usage_is_none_when_the_server_sends_none(server, client):
    server.enqueue(Reply(text="no counts here", usage=False))
    async with client.stream("hi") as stream:
        kinds = {e.kind for e in await consume(stream)}
    assert "usage" not in kinds
    assert stream.result.usage is None and stream.result.metrics.tokens_per_s is None


async def test_metrics_are_consistent(server, client):
    server.enqueue(Reply(text="one two three four five", first_delay=0.05, delay=0.02))
    result = await client.chat("hi")
    m = result.metrics
    assert m.ttft_s >= 0.05 * 0.9 and m.duration_s >= m.ttft_s + 4 * 0.02 * 0.9
    assert m.tokens_per_s > 0 and m.chunks == 5 and result.usage.completion_tokens == 5


# -- errors ------------------------------------------------------------------------------------


async def test_wrong_key_is_an_authentication_error(server):
    async with make_client(server, api_key="sk-wrong-key-0000") as client:
        with pytest.raises(glm.AuthenticationError) as info:
            await client.chat("hi")
    assert info.value.status_code == 401 and "API key" in str(info.value)
    assert len(server.requests) == 1


async def test_no_balance_1113_fails_at_once_with_a_balance_message(server, client):
    server.enqueue(Fault.balance(), Reply(text="must not be reached"))
    with pytest.raises(glm.InsufficientBalance) as info:
        await client.chat("hi")
    assert (info.value.status_code, info.value.code) == (429, "1113")
    assert "balance" in str(info.value).lower()
    assert len(server.requests) == 1 and server.pending() == 1


async def test_unknown_model_1211(server, client):
    server.enqueue(Fault.model_not_found())
    with pytest.raises(glm.ModelNotFoundError) as info:
        await client.chat("hi", model="glm-nope")
    assert info.value.code == "1211" and len(server.requests) == 1


async def test_daily_quota_1304_is_not_retried(server, client):
    server.enqueue(Fault.quota(), Reply(text="must not be reached"))
    with pytest.raises(glm.QuotaExceededError):
        await client.chat("hi")
    assert len(server.requests) == 1


async def test_mid_stream_error_keeps_the_partial_text(server, client):
    server.enqueue(Reply(text="one two three four", error_after=2))
    seen = []
    with pytest.raises(glm.ContentFilterError) as info:
        async with client.stream("hi") as stream:
            async for event in stream:
                seen.append(event.text)
    assert seen == ["one ", "two "] and info.value.partial.text == "one two "
    assert stream.result.error is info.value


async def test_cut_stream_raises_stream_interrupted_with_the_partial(server, client):
    server.enqueue(Reply(text="one two three four", cut_after=2), Reply(text="must not be reached"))
    with pytest.raises(glm.StreamInterrupted) as info:
        await client.chat("hi")
    assert info.value.partial.text == "one two " and len(server.requests) == 1


async def test_stream_without_done_but_with_finish_is_accepted(server, client):
    server.enqueue(Reply(text="complete anyway", no_done=True))
    result = await client.chat("hi")
    assert result.text == "complete anyway" and result.complete


async def test_finish_reason_sensitive_is_a_content_filter_error(server, client):
    server.enqueue(Reply(text="The first part", finish_reason="sensitive"))
    with pytest.raises(glm.ContentFilterError) as info:
        await client.chat("hi")
    assert info.value.partial.text == "The first part"


async def test_stall_longer_than_the_timeout_is_a_timeout_with_the_partial(server):
    server.enqueue(Reply(text="one two three", stall_after=1, stall_seconds=10))
    async with make_client(server, timeout=0.4) as client:
        start = time.monotonic()
        with pytest.raises(glm.APITimeoutError) as info:
            await client.chat("hi")
        elapsed = time.monotonic() - start
    assert info.value.partial.text == "one " and elapsed < 5
    assert outcomes(server) == ["client_disconnected"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_refused_names_the_url_and_never_the_key():
    url = f"http://127.0.0.1:{free_port()}/v1"
    async with glm.AsyncGLMClient(base_url=url, api_key=KEY, model=MODEL, max_retries=1) as client:
        with pytest.raises(glm.APIConnectionError) as info:
            await client.chat("hi")
    assert f"{url}/chat/completions" in str(info.value)
    everything = "".join(traceback.format_exception(info.value)) + repr(info.value)
    assert KEY not in everything and KEY[-4:] not in everything
    assert info.value.partial.metrics.retries == 1


# -- retries -----------------------------------------------------------------------------------


async def test_rate_limit_1302_honours_retry_after(server, client):
    server.enqueue(Fault.rate_limit("1302", retry_after=1), Reply(text="after the wait"))
    result = await client.chat("hi")
    assert result.text == "after the wait" and result.metrics.retries == 1
    first, second = server.requests
    assert second.started_at - first.started_at >= 0.95


async def test_server_errors_are_retried_then_succeed(server, client):
    server.enqueue(Fault.server_error(502), Fault.server_error(503), Reply(text="recovered"))
    result = await client.chat("hi")
    assert result.text == "recovered" and len(server.requests) == 3


async def test_retries_are_bounded_by_max_retries(server):
    server.enqueue(*[Fault.server_error(500)] * 4)
    async with make_client(server, max_retries=2) as client:
        with pytest.raises(glm.ServerError):
            await client.chat("hi")
    assert len(server.requests) == 3


async def test_retries_stop_at_the_total_deadline(server):
    server.enqueue(*[Fault.server_error(503, retry_after=0.25)] * 10)
    async with make_client(server, max_retries=10, retry_deadline=0.6) as client:
        start = time.monotonic()
        with pytest.raises(glm.ServerError):
            await client.chat("hi")
        elapsed = time.monotonic() - start
    assert 2 <= len(server.requests) <= 3 and elapsed < 0.6 + 1.0


async def test_a_cut_before_any_answer_text_is_retried(server, client):
    server.enqueue(Reply(text="lost", cut_after=0), Reply(text="second try"))
    result = await client.chat("hi")
    assert result.text == "second try" and result.metrics.retries == 1
    first, second = server.requests
    assert second.started_at - first.started_at >= 0.1 * 0.5


async def test_a_cut_after_text_was_handed_out_is_not_retried(server, client):
    server.enqueue(Reply(text="one two three", cut_after=1), Reply(text="must not be reached"))
    with pytest.raises(glm.StreamInterrupted) as info:
        await client.chat("hi")
    assert info.value.partial.text == "one " and len(server.requests) == 1


# -- cancel and early exit ---------------------------------------------------------------------


def cancel_from_thread(stream, delay=0.2):
    threading.Timer(delay, stream.cancel).start()
    return time.monotonic() + delay


async def test_cancel_from_another_thread_during_a_stall(server, client):
    server.enqueue(Reply(text="one two three four", stall_after=2, stall_seconds=20))
    cancel_at = None
    async with client.stream("hi") as stream:
        async for _event in stream:
            if stream.result.text == "one two " and cancel_at is None:
                cancel_at = cancel_from_thread(stream)
        ended = time.monotonic()
    assert ended - cancel_at < 1.0
    assert stream.result.stopped and stream.result.text == "one two " and stream.result.error is None
    assert outcomes(server) == ["client_disconnected"]


async def test_cancel_from_the_event_loop_during_a_slow_stream(server, client):
    words = " ".join(f"w{i}" for i in range(300))
    server.enqueue(Reply(text=words, delay=0.02))
    async with client.stream("hi") as stream:
        asyncio.get_running_loop().call_later(0.3, stream.cancel)
        cancel_at = time.monotonic() + 0.3
        await consume(stream)
        ended = time.monotonic()
    assert ended - cancel_at < 1.0
    assert stream.result.stopped and 0 < len(stream.result.text) < len(words)
    assert words.startswith(stream.result.text)
    assert outcomes(server) == ["client_disconnected"]


async def test_cancel_while_waiting_for_the_first_byte(server, client):
    server.enqueue(Fault.http(503, delay=20))
    async with client.stream("hi") as stream:
        cancel_at = cancel_from_thread(stream)
        assert await consume(stream) == []
        ended = time.monotonic()
    assert ended - cancel_at < 1.0 and stream.result.stopped
    assert outcomes(server) == ["client_disconnected"]


async def test_cancel_during_a_retry_wait(server):
    server.enqueue(Fault.rate_limit(retry_after=20), Reply(text="must not be reached"))
    async with make_client(server, retry_deadline=60) as client:
        async with client.stream("hi") as stream:
            cancel_at = cancel_from_thread(stream)
            assert await consume(stream) == []
            ended = time.monotonic()
    assert ended - cancel_at < 1.0 and stream.result.stopped and len(server.requests) == 1


async def test_leaving_the_async_with_block_early_closes_the_connection(server, client):
    server.enqueue(Reply(text=" ".join(f"w{i}" for i in range(100)), delay=0.02))
    async with client.stream("hi") as stream:
        async for event in stream:
            if event.kind == "text":
                break
    assert stream.result.stopped and stream.result.text == "w0 "
    assert outcomes(server) == ["client_disconnected"]
    assert (await client.chat("still usable")).text == "You said: still usable"


async def test_cancelling_the_task_stops_and_closes(server, client):
    server.enqueue(Reply(text=" ".join(f"w{i}" for i in range(200)), delay=0.02))
    first_text = asyncio.Event()
    stream = client.stream("hi")

    async def run():
        async with stream:
            async for event in stream:
                if event.kind == "text":
                    first_text.set()

    task = asyncio.create_task(run())
    await asyncio.wait_for(first_text.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stream.result.stopped and not stream.result.complete
    assert stream.result.text.startswith("w0 ")
    assert outcomes(server) == ["client_disconnected"]


def test_keyboard_interrupt_in_the_async_loop_stops_and_closes(server):
    server.enqueue(Reply(text=" ".join(f"w{i}" for i in range(100)), delay=0.02))
    holder = {}

    async def main():
        async with make_client(server) as client:
            async with client.stream("hi") as stream:
                holder["stream"] = stream
                async for event in stream:
                    if event.kind == "text":
                        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
    stream = holder["stream"]
    assert stream.result.stopped and stream.result.text == "w0 "
    assert outcomes(server) == ["client_disconnected"]


# -- connections -------------------------------------------------------------------------------


async def test_sequential_chats_reuse_one_pooled_connection(server, client):
    texts = [(await client.chat(f"question {i}")).text for i in range(4)]
    assert texts == [f"You said: question {i}" for i in range(4)]
    records = server.wait_until_finished()
    assert len({r.peer for r in records}) == 1
    assert [r.outcome for r in records] == ["complete"] * 4


async def test_a_late_cancel_never_touches_the_pooled_connection(server, client):
    async with client.stream("first") as stream:
        await stream.until_done()
    stream.cancel()
    assert (await client.chat("second")).text == "You said: second"
    first, second = server.wait_until_finished()
    assert first.peer == second.peer and second.outcome == "complete"


async def test_many_streams_at_once_on_one_client(server, client):
    server.responder = lambda request: Reply(text=request["messages"][-1]["content"], delay=0.01)
    prompts = [f"setting {i} answers differently" for i in range(6)]
    results = await asyncio.gather(*(client.chat(p) for p in prompts))
    assert [r.text for r in results] == prompts
    assert len(server.requests) == 6


async def test_async_client_follows_glm_env(glm_env):
    async with glm.AsyncGLMClient() as client:
        assert client.base_url == glm_env.base_url and client.provider == "openai-compatible"
        assert (await client.chat("ping")).text == "You said: ping"
    (rec,) = glm_env.requests
    assert rec.headers["authorization"] == "Bearer glm-test-key"


# -- a second opinion: the openai SDK reads the same stream ----------------------------------------


async def test_openai_async_sdk_and_glm_client_agree(server, client):
    script = {"reasoning": "先想一想: 6 x 7.", "text": "The answer is 42. " + TRICKY, "split_utf8": True}
    server.enqueue(Reply(**script), Reply(**script))
    ours = await client.chat("What is 6 x 7?")

    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    text, reasoning, usage = [], [], None
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is 6 x 7?"}], stream=True
    )
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
    await sdk.close()

    assert ours.text == "".join(text) and ours.reasoning == "".join(reasoning)
    assert (ours.usage.prompt_tokens, ours.usage.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
