"""Client behaviour with httpx.MockTransport: SSE edge cases, errors, retries, metrics."""

import json
import time

import httpx
import pytest

import glm_notebook as glm

KEY = "sk-unit-test-key-9876"


def sse(*chunks, done=True, eol="\n"):
    out = []
    for c in chunks:
        data = c if isinstance(c, str) else json.dumps(c, ensure_ascii=False)
        out.append(f"data: {data}{eol}{eol}")
    if done:
        out.append(f"data: [DONE]{eol}{eol}")
    return "".join(out).encode()


def delta(content=None, reasoning=None, finish=None, usage=None):
    d = {}
    if content is not None:
        d["content"] = content
    if reasoning is not None:
        d["reasoning_content"] = reasoning
    chunk = {
        "id": "c1",
        "model": "glm-4.7-flash",
        "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
    }
    if usage:
        chunk["usage"] = usage
    return chunk


def client_for(handler, **kw):
    return glm.GLMClient(
        api_key=KEY,
        provider="zai",
        transport=httpx.MockTransport(handler),
        max_retries=kw.pop("max_retries", 3),
        **kw,
    )


def streaming(body_pieces, status=200, headers=None):
    def handler(request):
        return httpx.Response(
            status,
            headers={"content-type": "text/event-stream", **(headers or {})},
            content=iter(body_pieces),
        )

    return handler


def test_text_reasoning_usage_and_finish_are_typed_events():
    body = sse(
        delta(reasoning="Let me think. "),
        delta(content="Hello"),
        delta(content=" world"),
        delta(finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}),
    )
    client = client_for(streaming([body]))
    with client.stream("hi") as stream:
        kinds = [(e.kind, e.text or e.finish_reason or "") for e in stream]
    assert kinds == [
        ("reasoning", "Let me think. "),
        ("text", "Hello"),
        ("text", " world"),
        ("finish", "stop"),
        ("usage", ""),
    ]
    r = stream.result
    assert (r.text, r.reasoning, r.finish_reason, r.complete) == (
        "Hello world",
        "Let me think. ",
        "stop",
        True,
    )
    assert r.usage.total_tokens == 8 and r.metrics.ttft_s is not None and r.metrics.tokens_per_s > 0


def test_utf8_split_across_reads_and_line_separators_inside_text():
    text = "中文 😀 a\u2028b\u2029c"
    body = sse(delta(content=text), delta(finish="stop"))
    pieces = [body[i : i + 1] for i in range(len(body))]  # one byte per read
    result = client_for(streaming(pieces)).chat("hi")
    assert result.text == text


def test_crlf_comments_unknown_events_and_malformed_frames():
    body = b": keep-alive\r\n\r\nevent: ping\r\ndata: {}\r\n\r\ndata: {not json\r\n\r\n" + sse(
        delta(content="ok"), delta(finish="stop"), eol="\r\n"
    )
    result = client_for(streaming([body])).chat("hi")
    assert result.text == "ok" and result.complete
    assert result.metrics.malformed_frames == 1


def test_usage_absent_is_none_not_invented():
    result = client_for(streaming([sse(delta(content="x"), delta(finish="stop"))])).chat("hi")
    assert result.usage is None and result.metrics.tokens_per_s is None


def test_mid_stream_error_keeps_partial_text():
    body = sse(delta(content="partial "), {"error": {"code": "1301", "message": "unsafe"}}, done=False)
    with pytest.raises(glm.ContentFilterError) as info:
        client_for(streaming([body])).chat("hi")
    assert info.value.partial.text == "partial "
    assert "1301" in str(info.value)


def test_stream_without_done_or_finish_is_interrupted_with_partial():
    with pytest.raises(glm.StreamInterrupted) as info:
        client_for(streaming([sse(delta(content="half"), done=False)])).chat("hi")
    assert info.value.partial.text == "half" and not info.value.partial.complete


def test_finish_reason_without_done_is_accepted():
    result = client_for(streaming([sse(delta(content="a"), delta(finish="length"), done=False)])).chat("hi")
    assert result.complete and result.finish_reason == "length"


def test_sensitive_finish_raises_content_filter_with_partial():
    body = sse(delta(content="Some text"), delta(finish="sensitive"))
    with pytest.raises(glm.ContentFilterError) as info:
        client_for(streaming([body])).chat("hi")
    assert info.value.partial.text == "Some text"


def test_tool_call_arguments_are_assembled():
    def call(args, **k):
        function = {"arguments": args}
        if "name" in k:
            function["name"] = k.pop("name")
        return {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **k, "function": function}]}}]}

    body = sse(call('{"city": ', id="t1", name="weather"), call('"Paris"}'), delta(finish="tool_calls"))
    result = client_for(streaming([body])).chat("weather?")
    assert result.tool_calls[0].name == "weather"
    assert result.tool_calls[0].parsed_arguments() == {"city": "Paris"}


def test_request_is_exact_and_key_only_in_header():
    seen = {}

    def handler(request):
        seen["json"] = json.loads(request.content)
        seen["auth"] = request.headers["authorization"]
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(delta(finish="stop"))
        )

    result = client_for(handler).chat("hi", temperature=0.0, top_p=1.0, max_tokens=5, system="S")
    assert seen["json"]["temperature"] == 0.0 and seen["json"]["top_p"] == 1.0
    assert "seed" not in seen["json"] and seen["json"]["stream"] is True
    assert seen["auth"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(result.request) and KEY not in repr(result)


def test_invalid_option_raises_before_any_request():
    calls = []
    client = client_for(lambda r: calls.append(r) or httpx.Response(500))
    with pytest.raises(glm.InvalidOptionError):
        client.stream("hi", temperature=3)
    assert calls == []


@pytest.mark.parametrize(
    "status,code,cls",
    [
        (401, "1001", glm.AuthenticationError),
        (429, "1113", glm.InsufficientBalance),
        (429, "1304", glm.QuotaExceededError),
        (400, "1211", glm.ModelNotFoundError),
        (400, "1261", glm.PromptTooLongError),
        (400, "1214", glm.InvalidRequestError),
    ],
)
def test_non_retryable_errors_fail_at_once(status, code, cls):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status, json={"error": {"code": code, "message": "nope"}})

    with pytest.raises(cls) as info:
        client_for(handler).chat("hi")
    assert len(calls) == 1
    assert info.value.code == code and info.value.status_code == status


def test_balance_error_message_is_about_the_balance():
    handler = lambda r: httpx.Response(429, json={"error": {"code": "1113", "message": "arrears"}})  # noqa: E731
    with pytest.raises(glm.InsufficientBalance, match="balance"):
        client_for(handler).chat("hi")


def test_rate_limit_is_retried_honouring_retry_after():
    times = []

    def handler(request):
        times.append(time.monotonic())
        if len(times) < 3:
            return httpx.Response(
                429, headers={"retry-after": "0.3"}, json={"error": {"code": "1302", "message": "busy"}}
            )
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=sse(delta(content="ok"), delta(finish="stop")),
        )

    result = client_for(handler).chat("hi")
    assert result.text == "ok" and result.metrics.retries == 2
    assert times[1] - times[0] >= 0.29 and times[2] - times[1] >= 0.29


def test_retries_are_bounded_by_max_retries():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, json={"error": {"code": "500", "message": "down"}})

    with pytest.raises(glm.ServerError):
        client_for(handler, max_retries=2).chat("hi")
    assert len(calls) == 3


def test_retry_after_beyond_deadline_fails_fast():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(
            429, headers={"retry-after": "120"}, json={"error": {"code": "1303", "message": "slow down"}}
        )

    start = time.monotonic()
    with pytest.raises(glm.RateLimitError):
        client_for(handler, timeout=5.0).chat("hi")
    assert len(calls) == 1 and time.monotonic() - start < 2


def test_connection_error_is_typed_and_names_the_url():
    def handler(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(glm.APIConnectionError, match="api.z.ai"):
        client_for(handler, max_retries=0).chat("hi")


def test_non_streaming_json_answer_is_accepted():
    body = {
        "id": "x",
        "model": "m",
        "choices": [{"message": {"content": "whole"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    result = client_for(lambda r: httpx.Response(200, json=body)).chat("hi")
    assert result.text == "whole" and result.complete and result.usage.total_tokens == 2


def test_json_result_parses_fenced_object():
    r = glm.ChatResult(text='```json\n{"a": 1}\n```')
    assert r.json == {"a": 1}


def test_conversation_replaces_a_rerun_cell():
    conv = glm.Conversation("c")
    conv.record("q1", "a1", key="cell-1")
    conv.record("q2", "a2", key="cell-2")
    assert conv.messages("q2 again", replacing="cell-2")[-3:] == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2 again"},
    ]
    conv.record("q2 again", "a2b", key="cell-2")
    assert [t.user for t in conv.turns] == ["q1", "q2 again"]


async def test_async_client_streams_and_maps_errors():
    body = sse(delta(content="Hel"), delta(content="lo"), delta(finish="stop"))

    async def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    async with glm.AsyncGLMClient(
        api_key=KEY, provider="zai", transport=httpx.MockTransport(handler)
    ) as client:
        async with client.stream("hi") as stream:
            texts = [e.text async for e in stream if e.kind == "text"]
        assert texts == ["Hel", "lo"] and stream.result.complete

    async def failing(request):
        return httpx.Response(429, json={"error": {"code": "1113", "message": "arrears"}})

    async with glm.AsyncGLMClient(
        api_key=KEY, provider="zai", transport=httpx.MockTransport(failing)
    ) as client:
        with pytest.raises(glm.InsufficientBalance):
            await client.chat("hi")


def test_importing_the_package_loads_no_ipython(tmp_path):
    import subprocess
    import sys

    code = "import sys, glm_notebook; print('IPython' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
