"""The GLM-protocol test server over real sockets, read by httpx and by the openai SDK."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import httpx
import openai
import pytest

from glm_notebook.testing import Fault, GLMTestServer, RecordedRequest, Reply

KEY = "test-key-123"
MSGS = [{"role": "user", "content": "Tell me something"}]


@pytest.fixture
def server():
    with GLMTestServer() as srv:
        yield srv


def sse_events(raw: str) -> list[dict[str, Any]]:
    """Parse an SSE body into events ({"event", "data", "comment"}); only CR/LF end lines."""
    events = []
    for block in re.split(r"\r\n\r\n|\n\n", raw):
        if not block:
            continue
        ev: dict[str, Any] = {"event": None, "data": None, "comment": None}
        for line in re.split(r"\r\n|\n", block):
            if line.startswith(":"):
                ev["comment"] = line[1:].strip()
            elif line.startswith("event:"):
                ev["event"] = line[6:].strip()
            elif line.startswith("data:"):
                ev["data"] = line[5:].lstrip(" ")
        events.append(ev)
    return events


def json_chunks(raw: str) -> list[dict[str, Any]]:
    """The chat.completion.chunk objects of a stream, skipping anything that is not one."""
    out = []
    for ev in sse_events(raw):
        if ev["event"] is None and ev["data"] and ev["data"] != "[DONE]":
            try:
                obj = json.loads(ev["data"])
            except ValueError:
                continue
            if obj.get("object") == "chat.completion.chunk":
                out.append(obj)
    return out


def content_of(chunks: list[dict[str, Any]], field: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c["choices"])


def stream_raw(srv: GLMTestServer, body: dict[str, Any] | None = None, **headers: str) -> tuple[int, str]:
    body = {"model": "glm-4.7-flash", "messages": MSGS, "stream": True, **(body or {})}
    with httpx.Client(timeout=5, verify=False) as client:
        resp = client.post(f"{srv.base_url}/chat/completions", json=body, headers=headers)
        return resp.status_code, resp.content.decode("utf-8")


def sdk(srv: GLMTestServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=srv.api_key or "unused", max_retries=0, timeout=5)


# -- the openai SDK reads what we send ------------------------------------------------------------


def test_openai_sdk_streams_text_reasoning_and_usage(server):
    text = "Bonjour 世界! Emoji 🎉👩‍💻 and a line\u2028separator\u2029inside."
    server.enqueue(Reply(text=text, reasoning="Let me think about it."))
    stream = sdk(server).chat.completions.create(model="glm-5", messages=MSGS, stream=True)
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    assert content == text
    assert reasoning == "Let me think about it."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model == "glm-5"
    usage = chunks[-1].usage
    content_chunks = sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
    assert usage.completion_tokens == content_chunks + 5  # 5 reasoning words
    assert usage.completion_tokens_details.reasoning_tokens == 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_sdk_reassembles_tool_call_arguments(server):
    calls = [
        {"id": "call_a", "name": "get_weather", "arguments": {"city": "北京", "unit": "celsius"}},
        {"id": "call_b", "name": "get_time", "arguments": '{"tz": "Asia/Shanghai"}'},
    ]
    server.enqueue(Reply(text="Checking.", tool_calls=calls))
    chunks = list(sdk(server).chat.completions.create(model="glm-5", messages=MSGS, stream=True))
    args: dict[int, str] = {}
    names: dict[int, str] = {}
    pieces = 0
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            pieces += 1
            args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
            if tc.function.name:
                names[tc.index] = tc.function.name
    assert names == {0: "get_weather", 1: "get_time"}
    assert json.loads(args[0]) == {"city": "北京", "unit": "celsius"}
    assert json.loads(args[1]) == {"tz": "Asia/Shanghai"}
    assert pieces > 2  # the arguments really came in pieces
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_sdk_non_stream_completion(server):
    server.enqueue(Reply(text="Forty-two.", reasoning="Compute.", finish_reason="length"))
    resp = sdk(server).chat.completions.create(model="glm-4.7", messages=MSGS)
    assert resp.choices[0].message.content == "Forty-two."
    assert resp.choices[0].message.model_extra["reasoning_content"] == "Compute."
    assert resp.choices[0].finish_reason == "length"
    assert resp.model == "glm-4.7"
    assert resp.usage.completion_tokens == 2 and resp.usage.prompt_tokens == 3


def test_default_echo_reply_streams_word_chunks(server):
    status, raw = stream_raw(
        server, {"model": "GLM-4.7-Flash", "messages": [*MSGS, {"role": "user", "content": "ping pong"}]}
    )
    chunks = json_chunks(raw)
    assert status == 200
    assert content_of(chunks) == "You said: ping pong"
    assert [c["choices"][0]["delta"].get("content") for c in chunks[:-1]] == [
        "You ",
        "said: ",
        "ping ",
        "pong",
    ]
    assert {c["model"] for c in chunks} == {"GLM-4.7-Flash"}
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    assert raw.rstrip().endswith("data: [DONE]")


# -- stream shapes ---------------------------------------------------------------------------------


def test_explicit_chunks_and_chunk_size(server):
    server.enqueue(Reply(chunks=["Hel", "lo, ", "wo", "rld"]), Reply(text="abcdefgh 🎉x", chunk_size=3))
    first = json_chunks(stream_raw(server)[1])
    second = json_chunks(stream_raw(server)[1])
    assert [c["choices"][0]["delta"].get("content") for c in first[:-1]] == ["Hel", "lo, ", "wo", "rld"]
    assert [c["choices"][0]["delta"].get("content") for c in second[:-1]] == ["abc", "def", "gh ", "🎉x"]


def test_wire_variants_crlf_comments_unknown_events_malformed(server):
    server.enqueue(
        Reply(text="one two three", crlf=True, comments=True, unknown_events=True, malformed_at=(0, 2))
    )
    status, raw = stream_raw(server)
    events = sse_events(raw)
    assert status == 200
    assert "\r\n\r\n" in raw and "\n\n" not in raw.replace("\r\n", "")
    assert sum(ev["comment"] == "keep-alive" for ev in events) == 4  # before 3 pieces + closing chunk
    assert sum(ev["event"] == "ping" for ev in events) == 4
    assert [ev["data"] for ev in events].count("{not json") == 2
    assert content_of(json_chunks(raw)) == "one two three"


def test_split_utf8_arrives_in_pieces_and_decodes_exactly(server):
    text = "Grüße 你好世界 🎉🚀 done"
    server.enqueue(Reply(text=text, split_utf8=True), Reply(text=text, split_utf8=True))
    body = {"model": "glm-5", "messages": MSGS, "stream": True}
    with httpx.Client(timeout=5, verify=False) as client:
        with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as resp:
            raw_pieces = list(resp.iter_raw())
    undecodable = 0
    for piece in raw_pieces:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
    assert undecodable >= 5  # the client really received characters cut in two
    assert content_of(json_chunks(b"".join(raw_pieces).decode("utf-8"))) == text
    chunks = list(sdk(server).chat.completions.create(model="glm-5", messages=MSGS, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text


def test_no_done_sensitive_content_filter_and_usage_variants(server):
    cf = [{"role": "assistant", "level": 1}]
    server.enqueue(
        Reply(text="partial", finish_reason="sensitive", content_filter=cf, no_done=True),
        Reply(text="x", usage={"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}),
        Reply(text="x", usage=False),
    )
    raw = stream_raw(server)[1]
    last = json_chunks(raw)[-1]
    assert "[DONE]" not in raw
    assert last["choices"][0]["finish_reason"] == "sensitive" and last["content_filter"] == cf
    assert json_chunks(stream_raw(server)[1])[-1]["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 1,
        "total_tokens": 8,
    }
    assert all("usage" not in c for c in json_chunks(stream_raw(server)[1]))
    assert [r.outcome for r in server.wait_until_finished()] == ["complete"] * 3


def test_logprobs_attached_to_content_chunks(server):
    server.enqueue(Reply(text="a b", logprobs=True))
    chunks = json_chunks(stream_raw(server)[1])
    assert [c["choices"][0]["logprobs"]["content"][0]["token"] for c in chunks[:-1]] == ["a ", "b"]


def test_first_delay_and_delay_pace_the_stream(server):
    server.enqueue(Reply(text="a b c", first_delay=0.25, delay=0.1))
    body = {"model": "glm-5", "messages": MSGS, "stream": True}
    arrivals = []
    with httpx.Client(timeout=5, verify=False) as client:
        with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as resp:
            headers_at = time.monotonic()
            for _ in resp.iter_raw():
                arrivals.append(time.monotonic() - headers_at)
    rec = server.wait_until_finished()[0]
    assert arrivals[0] >= 0.2  # headers first, then the first chunk after first_delay
    assert arrivals[-1] >= 0.25 + 3 * 0.1 - 0.05
    assert rec.first_byte_at - rec.started_at >= 0.2


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code", "retry_after", "words"),
    [
        (Fault.rate_limit(retry_after=2), 429, "1302", "2", "concurrent"),
        (Fault.rate_limit(code="1305", retry_after=0.5), 429, "1305", "0.5", "overloaded"),
        (Fault.balance(), 429, "1113", None, "balance"),
        (Fault.quota(), 429, "1304", None, "quota"),
        (Fault.auth(), 401, "1001", None, "Authentication"),
        (Fault.model_not_found(), 400, "1211", None, "model"),
        (Fault.server_error(503, retry_after=1), 503, "503", "1", "server error"),
        (Fault.http(400, "1261", "Prompt too long"), 400, "1261", None, "too long"),
    ],
)
def test_faults_answer_status_code_and_retry_after(server, fault, status, code, retry_after, words):
    server.enqueue(fault)
    with httpx.Client(timeout=5, verify=False) as client:
        resp = client.post(
            f"{server.base_url}/chat/completions", json={"model": "glm-5", "messages": MSGS, "stream": True}
        )
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code
    assert words.lower() in resp.json()["error"]["message"].lower()
    assert resp.headers.get("retry-after") == retry_after
    assert server.wait_until_finished()[0].outcome == "error_status"


def test_fault_raw_body_and_openai_sdk_error_types(server):
    server.enqueue(
        Fault.http(502, body="<html><body>Bad Gateway</body></html>"), Fault.rate_limit(), Fault.balance()
    )
    with httpx.Client(timeout=5, verify=False) as client:
        resp = client.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": MSGS})
    assert resp.status_code == 502 and resp.headers["content-type"].startswith("text/html")
    with pytest.raises(openai.RateLimitError) as err:
        sdk(server).chat.completions.create(model="glm-5", messages=MSGS)
    assert err.value.status_code == 429 and err.value.body["code"] == "1302"
    with pytest.raises(openai.RateLimitError) as err:
        sdk(server).chat.completions.create(model="glm-5", messages=MSGS, stream=True)
    assert err.value.body["code"] == "1113"


def test_mid_stream_error_frame(server):
    server.enqueue(Reply(text="one two three four", error_after=2, error_code="1301", error_message="unsafe"))
    status, raw = stream_raw(server)
    datas = [ev["data"] for ev in sse_events(raw)]
    assert status == 200
    assert content_of(json_chunks(raw)) == "one two "
    assert json.loads(datas[-1]) == {"error": {"code": "1301", "message": "unsafe"}}
    assert "[DONE]" not in datas
    assert server.wait_until_finished()[0].outcome == "error_frame"
    server.enqueue(Reply(text="one two", error_after=1, error_message="unsafe output"))
    with pytest.raises(openai.APIError, match="unsafe output"):
        list(sdk(server).chat.completions.create(model="glm-5", messages=MSGS, stream=True))


def test_cut_stream_raises_in_httpx_and_is_recorded(server):
    server.enqueue(Reply(text="one two three four", cut_after=2))
    received = b""
    body = {"model": "glm-5", "messages": MSGS, "stream": True}
    with httpx.Client(timeout=5, verify=False) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as resp:
                for piece in resp.iter_raw():
                    received += piece
    assert content_of(json_chunks(received.decode())) == "one two "
    assert b"[DONE]" not in received
    assert server.wait_until_finished()[0].outcome == "cut"


def test_drop_fault_closes_without_answer(server):
    server.enqueue(Fault.drop())
    with httpx.Client(timeout=5, verify=False) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": MSGS})
    rec = server.wait_until_finished()[0]
    assert rec.outcome == "dropped" and rec.first_byte_at is None


def test_stall_then_close(server):
    server.enqueue(Reply(text="one two three", stall_after=1, stall_seconds=0.3))
    t0 = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        stream_raw(server)
    assert time.monotonic() - t0 >= 0.3
    rec = server.wait_until_finished()[0]
    assert rec.outcome == "stalled_then_closed"
    assert rec.ended_at - rec.first_byte_at >= 0.28


@pytest.mark.parametrize(
    "script", [Reply(text="a b c d e f", delay=0.3), Reply(text="a b c", stall_after=1, stall_seconds=5)]
)
def test_client_disconnect_is_noticed_promptly(server, script):
    server.enqueue(script)
    body = {"model": "glm-5", "messages": MSGS, "stream": True}
    with httpx.Client(timeout=5, verify=False) as client:
        with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as resp:
            pieces = resp.iter_raw()  # (dropping this generator would close the connection already)
            next(pieces)
            closed_at = time.time()  # leaving the block closes the connection mid-stream
    rec = server.wait_until_finished(timeout=2)[0]
    assert rec.outcome == "client_disconnected"
    assert 0 <= rec.ended_at - closed_at < 0.5


def test_stop_ends_promptly_with_a_stalled_handler():
    srv = GLMTestServer().start()
    srv.enqueue(Reply(text="a b", stall_after=1, stall_seconds=30))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            stream_raw(srv)
        except Exception as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    srv.wait_for_requests(1)
    time.sleep(0.1)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 1.0
    reader.join(2)
    assert not reader.is_alive() and isinstance(errors[0], httpx.RemoteProtocolError)
    assert srv.requests[0].outcome == "server_stopped"


def test_non_stream_faults_from_a_reply(server):
    server.enqueue(Reply(text="x", error_after=0, error_code="1301"), Reply(text="x", cut_after=0))
    with httpx.Client(timeout=5, verify=False) as client:
        url, body = f"{server.base_url}/chat/completions", {"model": "m", "messages": MSGS}
        resp = client.post(url, json=body)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "1301"
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(url, json=body)
    assert [r.outcome for r in server.wait_until_finished()] == ["error_status", "cut"]


# -- recording, auth, routing, concurrency ---------------------------------------------------------


def test_recorded_request_matches_what_was_sent(server):
    body = {
        "model": "glm-5",
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "héllo {x} 🎉"}],
        "temperature": 0.0,
        "top_p": 0.9,
        "max_tokens": 12,
        "thinking": {"type": "disabled"},
        "stream": False,
    }
    with httpx.Client(timeout=5, verify=False) as client:
        client.post(f"{server.base_url}/chat/completions", json=body, headers={"X-Trace": "abc"})
        client.post(f"{server.base_url}/chat/completions", json={**body, "stream": True})
    recs = server.wait_until_finished()
    assert isinstance(recs[0], RecordedRequest)
    assert recs[0].json == body and recs[0].method == "POST"
    assert recs[0].path == "/api/paas/v4/chat/completions"
    assert recs[0].headers["x-trace"] == "abc" and recs[0].headers["content-type"] == "application/json"
    assert recs[0].started_at <= recs[0].first_byte_at <= recs[0].ended_at
    assert recs[0].reply.text == "You said: héllo {x} 🎉"
    assert recs[0].peer == recs[1].peer  # keep-alive: the pooled connection was reused after both
    recs[0].json["model"] = "changed"
    assert server.requests[0].json["model"] == "glm-5"  # the snapshot is a copy of the record


def test_auth_is_required_when_api_key_given():
    with GLMTestServer(api_key=KEY) as srv:
        srv.enqueue(Reply(text="secret answer"))
        url, body = f"{srv.base_url}/chat/completions", {"model": "m", "messages": MSGS}
        with httpx.Client(timeout=5, verify=False) as client:
            missing = client.post(url, json=body)
            wrong = client.post(url, json=body, headers={"Authorization": "Bearer nope"})
            models = client.get(f"{srv.base_url}/models")
            ok = client.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"})
        for resp in (missing, wrong, models):
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "1001"
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "secret answer"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=srv.base_url, api_key="bad", max_retries=0).models.list()
        assert sdk(srv).models.list().data[0].id == "glm-4.7-flash"


def test_models_and_any_base_path(server):
    server.models = ["glm-5", "glm-4.5-air"]
    root = server.url
    with httpx.Client(timeout=5, verify=False) as client:
        listed = client.get(f"{server.base_url}/models").json()
        v1 = client.get(f"{root}/v1/models").json()
        chat = client.post(f"{root}/v1/chat/completions", json={"model": "m", "messages": MSGS})
        missing = client.post(f"{root}/v1/embeddings", json={})
    assert listed == v1
    assert listed["object"] == "list"
    assert [(m["id"], m["object"]) for m in listed["data"]] == [("glm-5", "model"), ("glm-4.5-air", "model")]
    assert chat.json()["choices"][0]["message"]["content"] == "You said: Tell me something"
    assert missing.status_code == 404


def test_concurrent_requests_overlap_in_time(server):
    server.enqueue(Reply(text="a b c", delay=0.15), Reply(text="d e f", delay=0.15))
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(content_of(json_chunks(stream_raw(server)[1]))))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    a, b = server.wait_until_finished()
    assert sorted(results) == ["a b c", "d e f"]
    assert max(a.started_at, b.started_at) < min(a.ended_at, b.ended_at)


def test_queue_responder_reset_and_waits(server):
    server.responder = lambda req: Reply(text=f"model={req['model']}")
    server.enqueue(Reply(text="first"), Fault.quota())
    with httpx.Client(timeout=5, verify=False) as client:
        url = f"{server.base_url}/chat/completions"
        answers = [client.post(url, json={"model": f"m{i}", "messages": MSGS}) for i in range(3)]
    assert answers[0].json()["choices"][0]["message"]["content"] == "first"
    assert answers[1].status_code == 429
    assert answers[2].json()["choices"][0]["message"]["content"] == "model=m2"
    assert len(server.wait_for_requests(3)) == 3
    with pytest.raises(TimeoutError):
        server.wait_for_requests(4, timeout=0.1)
    server.enqueue(Reply(text="left over"))
    server.reset()
    assert server.requests == [] and server.pending() == 0
    status, raw = stream_raw(server)
    assert content_of(json_chunks(raw)) == "You said: Tell me something"


# -- the pytest plugin -----------------------------------------------------------------------------


def test_glm_server_fixture_in_process(glm_server, glm_env):
    assert glm_env is glm_server
    assert os.environ["GLM_BASE_URL"] == glm_server.base_url
    assert glm_server.requests == [] and glm_server.pending() == 0
    glm_server.enqueue(Reply(text="hi"))
    assert content_of(json_chunks(stream_raw(glm_server)[1])) == "hi"


def test_plugin_isolates_tests_sharing_the_session_server(tmp_path):
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import httpx
            from glm_notebook.testing import Reply

            PORTS = []

            def test_a(glm_server):
                PORTS.append(glm_server.port)
                glm_server.api_key = "k"
                glm_server.models = ["only-a"]
                glm_server.enqueue(Reply(text="for a"), Reply(text="never used"))
                r = httpx.post(glm_server.base_url + "/chat/completions",
                               json={"model": "m", "messages": []}, headers={"Authorization": "Bearer k"})
                assert r.json()["choices"][0]["message"]["content"] == "for a"

            def test_b(glm_server):
                PORTS.append(glm_server.port)
                assert PORTS[0] == PORTS[1]
                assert glm_server.requests == [] and glm_server.pending() == 0
                assert httpx.get(glm_server.base_url + "/models").json()["data"][0]["id"] == "glm-4.7-flash"
            """
        )
    )
    # pytest finds the plugin through this entry point; the run below loads the same module by
    # name with autoloading off, which keeps it fast (nbval and friends take seconds to import).
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert any(ep.value == "glm_notebook.testing._pytest_plugin" for ep in plugins)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "glm_notebook.testing._pytest_plugin",
        ]
        + [str(tmp_path / "test_user.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("glm", {"error": {"code": "400", "message": "too long"}}),
        (
            "openai",
            {"object": "error", "message": "too long", "type": "BadRequestError", "param": None, "code": 400},
        ),
        ("flat", {"message": "too long", "code": 400}),
        ("text", {"error": "too long"}),
    ],
)
def test_error_shapes_mid_stream_and_without_stream(server, shape, expected):
    reply = dict(
        text="one two three", error_after=1, error_shape=shape, error_code="400", error_message="too long"
    )
    server.enqueue(Reply(**reply))
    status, raw = stream_raw(server)
    datas = [ev["data"] for ev in sse_events(raw)]
    assert status == 200 and content_of(json_chunks(raw)) == "one "
    assert json.loads(datas[-1]) == expected and "[DONE]" not in datas
    server.enqueue(Reply(**reply))
    status, raw = stream_raw(server, {"stream": False})
    assert status == 400 and json.loads(raw) == expected


def test_an_unknown_error_shape_is_refused_when_scripted():
    with pytest.raises(ValueError, match="error_shape must be one of glm, openai, flat, text"):
        Reply(text="x", error_after=0, error_shape="vllm")
