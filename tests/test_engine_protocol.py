"""The request engine over real loopback sockets, through both clients: the holes it closes,
its notices, AsyncGLMClient.from_client, and the endpoint resolved at the first iteration.

Most tests use GLMTestServer; the cut-after-usage test needs a body the test server does not
script (a usage-only chunk, then the socket closes mid-body), so ``RawServer`` below writes
scripted HTTP bytes on a socket of its own.
"""

from __future__ import annotations

import json
import socket
import threading
import traceback

import httpx
import pytest

import glm_notebook as glm
from glm_notebook._settings import Settings
from glm_notebook.testing import Fault, Reply

KEY = "sk-engine-protocol-key-6262"
MODEL = "glm-4.7-flash"
# h11 refuses a line break in a header value: httpx raises LocalProtocolError before a byte is sent.
BAD_KEY = "sk-engine-bad-key-7373\nX-Injected: 1"


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


def sync_client(base_url, **kw):
    kw.setdefault("api_key", KEY)
    kw.setdefault("timeout", 10.0)
    return glm.GLMClient(base_url=base_url, model=MODEL, provider="openai-compatible", **kw)


def async_client(base_url, **kw):
    kw.setdefault("api_key", KEY)
    return glm.AsyncGLMClient(
        base_url=base_url, model=MODEL, provider="openai-compatible", timeout=10.0, **kw
    )


def with_bad_key(client):
    """The settings refuse such a key up front (a ConfigurationError when the client is made), so
    put it behind them: this is how any header that h11 refuses reaches the engine."""
    s = client.endpoint.settings
    client.endpoint.settings = Settings(s.provider, s.base_url, s.model, BAD_KEY)
    return client


def leaks(error, secret):
    """Whether ``secret`` shows anywhere a traceback printer could put it (frames' locals too)."""
    shown = str(error) + repr(error) + "".join(traceback.format_exception(error))
    shown += "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    # "bad-key-7373", not "7373" alone: a frame's locals show memory addresses, and one held
    # "7373" in a full run (0x7f...7373...): the check must match the key, not an address.
    return any(part in shown for part in ("sk-engine-bad-key", "bad-key-7373", "X-Injected"))


# -- a malformed request (our bug) is not retried and never shows the key ---------------------------


def test_a_request_httpx_refuses_to_send_fails_at_once_saying_what_to_fix(server):
    with with_bad_key(sync_client(server.base_url, max_retries=3)) as client:
        with pytest.raises(glm.ConfigurationError) as info:
            client.chat("hi")
    error = info.value
    assert "check the API key" in str(error) and "newlines" in str(error)
    assert not leaks(error, BAD_KEY) and error.partial.metrics.retries == 0
    assert server.requests == []  # nothing reached the server, and no retry tried again


async def test_the_async_client_refuses_the_malformed_request_the_same_way(server):
    async with with_bad_key(async_client(server.base_url, max_retries=3)) as client:
        with pytest.raises(glm.ConfigurationError) as info:
            await client.chat("hi")
    assert "check the API key" in str(info.value) and not leaks(info.value, BAD_KEY)
    assert info.value.partial.metrics.retries == 0 and server.requests == []


# -- an event handed out before a cut is never handed out again ---------------------------------------


def chunked(*frames: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(f), f) for f in frames)


def sse_frame(obj) -> bytes:
    return f"data: {json.dumps(obj) if not isinstance(obj, str) else obj}\n\n".encode()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
USAGE = {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}
# vLLM with continuous usage stats puts usage on every chunk, the first one (no text yet) too.
USAGE_THEN_CUT = HEAD + chunked(sse_frame({"id": "c1", "choices": [], "usage": USAGE}))
WHOLE = (
    HEAD
    + chunked(
        sse_frame({"id": "c2", "choices": [{"index": 0, "delta": {"content": "a second answer"}}]}),
        sse_frame(
            {"id": "c2", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE}
        ),
        sse_frame("[DONE]"),
    )
    + b"0\r\n\r\n"
)


class RawServer:
    """Answers the n-th connection with the n-th scripted bytes, then closes it."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.requests = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
                length = int({k.strip().lower(): v for k, v in fields.items()}[b"content-length"])
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                conn.sendall(self.answers.pop(0))  # then the socket closes: mid-body if unfinished

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def raw_server():
    server = RawServer(USAGE_THEN_CUT, WHOLE)
    yield server
    server.close()


def test_a_usage_event_before_a_cut_is_not_handed_out_twice(raw_server):
    events, error = [], None
    with sync_client(raw_server.base_url) as client, client.stream("hi") as stream:
        try:
            for event in stream:
                events.append(event)
        except glm.StreamInterrupted as exc:
            error = exc
    assert [e.kind for e in events] == ["usage"]  # a retry would add text, finish and usage again
    assert isinstance(error, glm.StreamInterrupted) and error.partial is stream.result
    assert raw_server.requests == 1


async def test_the_async_client_hands_out_a_usage_event_only_once(raw_server):
    events, error = [], None
    async with async_client(raw_server.base_url) as client, client.stream("hi") as stream:
        try:
            async for event in stream:
                events.append(event)
        except glm.StreamInterrupted as exc:
            error = exc
    assert [e.kind for e in events] == ["usage"]
    assert isinstance(error, glm.StreamInterrupted) and raw_server.requests == 1


# -- notices --------------------------------------------------------------------------------------


def test_a_rate_limit_wait_is_announced_with_its_code_and_wait(server):
    server.enqueue(Fault.rate_limit(retry_after=1), Reply(text="after the wait"))
    notices, threads = [], []

    def seen(notice):
        notices.append(notice)
        threads.append(threading.get_ident())

    with sync_client(server.base_url) as client, client.stream("hi") as stream:
        stream.on_notice(seen)
        assert stream.until_done().text == "after the wait"
    (notice,) = notices
    assert (notice.kind, notice.message) == ("retrying", "rate limited (1302), retrying in 1 s")
    assert notice.wait_s >= 1.0 and isinstance(notice.error, glm.RateLimitError)
    assert threads == [threading.get_ident()]  # told in the thread that iterates


async def test_the_async_client_announces_a_server_error_wait_on_the_loop(server):
    server.enqueue(Fault.server_error(503), Reply(text="recovered"))
    notices, threads = [], []

    def seen(notice):
        notices.append(notice.message)
        threads.append(threading.get_ident())

    async with async_client(server.base_url) as client, client.stream("hi") as stream:
        stream.on_notice(seen)
        assert (await stream.until_done()).text == "recovered"
    assert len(notices) == 1 and notices[0].startswith("server error (HTTP 503), retrying in ")
    assert threads == [threading.get_ident()]


def test_a_notice_callback_that_raises_does_not_break_the_stream(server):
    server.enqueue(Fault.server_error(502), Reply(text="still answered"))

    def broken(notice):
        raise RuntimeError("the view is gone")

    with sync_client(server.base_url) as client, client.stream("hi") as stream:
        stream.on_notice(broken)
        assert stream.until_done().text == "still answered"


# -- AsyncGLMClient.from_client -----------------------------------------------------------------------


async def test_from_client_runs_on_the_sync_clients_endpoint_policy_and_a_pool_of_its_own(server):
    with sync_client(server.base_url, max_retries=5, retry_deadline=7.0, timeout=3.0) as client:
        aclient = glm.AsyncGLMClient.from_client(client)
        async with aclient:
            assert aclient.endpoint is client.endpoint and aclient.settings == client.settings
            assert aclient.timeout == 3.0 and aclient.max_retries == 5
            assert aclient.retry_policy is client.retry_policy
            server.enqueue(Fault.server_error(503), Reply(text="async answer"))
            result = await aclient.chat("hi", temperature=0.0)
        assert result.text == "async answer" and result.metrics.retries == 1
        assert client.chat("and the sync one still works").complete
    first, second, third = server.requests
    assert second.headers["authorization"] == f"Bearer {KEY}" and second.json["temperature"] == 0.0


async def test_from_client_shares_a_mock_transport_that_handles_async_requests_too():
    seen = []

    def handler(request):
        seen.append(request.url.path)
        body = (
            b'data: {"choices": [{"index": 0, "delta": {"content": "mocked"}, "finish_reason": "stop"}]}\n\n'
        )
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    transport = httpx.MockTransport(handler)
    client = glm.GLMClient(api_key=KEY, provider="zai", transport=transport)
    async with glm.AsyncGLMClient.from_client(client) as aclient:
        assert aclient.transport is transport
        assert (await aclient.chat("hi")).text == "mocked"
    assert seen == ["/api/paas/v4/chat/completions"]
    client.close()


# -- the endpoint is resolved by the stream, not by stream() -------------------------------------------


def test_stream_validates_at_once_but_starts_no_offline_model_before_iterating(monkeypatch):
    from glm_notebook import local

    for name in ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_BASE_URL", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    local.stop_server()
    starts = []
    monkeypatch.setattr(local, "ensure_server", lambda *a, **k: starts.append(1))  # must not be called
    client = glm.GLMClient(provider="local")
    with pytest.raises(glm.InvalidOptionError):
        client.stream("hi", temperature=9.0)
    stream = client.stream("hi", temperature=0.0)
    assert starts == [] and local.current_server() is None
    stream.cancel()
    with stream:
        assert list(stream) == []
    assert stream.result.stopped and starts == []
    client.close()


@pytest.mark.local
def test_the_offline_model_starts_at_the_first_iteration_and_the_payload_has_its_model():
    from glm_notebook import local

    local.stop_server()
    with glm.GLMClient(provider="local") as client:
        stream = client.stream("Say hi", temperature=0.0, max_tokens=4)
        notices = []
        stream.on_notice(notices.append)
        assert local.current_server() is None and stream.result.request == {}
        with stream:
            for _event in stream:
                assert stream.result.request["model"] == local.current_server().model
                break
        assert [n.kind for n in notices] == ["starting"]
        assert stream.result.stopped  # left early: stopped, the partial kept
        assert client.chat("Say hi", max_tokens=2).complete  # the started model is reused
