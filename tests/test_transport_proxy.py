"""Loopback never goes through a proxy: HTTP(S)_PROXY / ALL_PROXY set, no NO_PROXY.

A real loopback "proxy" records every connection it gets; the GLM test server answers directly.
A user behind a corporate proxy still reaches the offline model and a vLLM on 127.0.0.1, while
the cloud providers keep going through the proxy.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpcore
import httpx
import pytest

import glm_notebook as glm
from glm_notebook.client._cancel import _AsyncTrackedBackend, _TrackedBackend
from glm_notebook.testing import Fault, Reply

KEY = "sk-proxy-test-key-5151"


class RecordingProxy:
    """A TCP listener on 127.0.0.1 that records what each connection sends, then answers 502."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                try:
                    self.seen.append(conn.recv(65536))
                    conn.sendall(
                        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\nConnection: close\r\n\r\nproxy"
                    )
                except OSError:
                    pass

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    recorder = RecordingProxy()
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, recorder.url)
    yield recorder
    recorder.close()


def _on(host: str, server) -> str:
    return server.base_url.replace("127.0.0.1", host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_chat_and_models_on_loopback_go_direct(proxy, glm_server, host) -> None:
    glm_server.enqueue(Reply(text="straight to the server"))
    with glm.GLMClient(base_url=_on(host, glm_server), api_key=KEY, max_retries=0, timeout=10) as client:
        assert client.chat("hi").text == "straight to the server"
        assert client.models()  # a GET too
    assert [r.path for r in glm_server.requests][-2:] == [
        "/api/paas/v4/chat/completions",
        "/api/paas/v4/models",
    ]
    assert proxy.seen == []


async def test_async_chat_on_loopback_goes_direct(proxy, glm_server) -> None:
    glm_server.enqueue(Reply(text="async, direct"))
    async with glm.AsyncGLMClient(base_url=glm_server.base_url, api_key=KEY, max_retries=0) as client:
        assert (await client.chat("hi")).text == "async, direct"
    assert proxy.seen == []


@pytest.mark.parametrize("client_type", [glm.GLMClient, glm.AsyncGLMClient])
def test_other_hosts_still_use_the_proxy_and_every_transport_is_tracked(proxy, client_type) -> None:
    # No network needed: ask httpx which transport it would pick for each URL.
    client = client_type(base_url="https://api.example.com/v1", api_key=KEY)
    http = client.http
    direct = http._transport
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:1234/v1", "http://[::1]:8000/v1"):
        assert http._transport_for_url(httpx.URL(url)) is direct, url
    for url in ("https://api.example.com/v1", "https://open.bigmodel.cn/api/paas/v4", "http://10.0.0.7/v1"):
        via = http._transport_for_url(httpx.URL(url))
        assert via is not direct, url
        assert isinstance(via._pool, (httpcore.HTTPProxy, httpcore.AsyncHTTPProxy)), url
        assert via._pool._proxy_url.port == proxy.port
    # cancel() stays prompt on every route: the socket tracker wraps each transport httpx built.
    tracked = _AsyncTrackedBackend if client_type is glm.AsyncGLMClient else _TrackedBackend
    for transport in (direct, *(t for t in http._mounts.values() if t is not None)):
        assert isinstance(transport._pool._network_backend, tracked)


def test_cancel_while_the_server_holds_the_request_is_prompt_with_a_proxy_set(proxy, glm_server) -> None:
    glm_server.enqueue(Fault.http(503, delay=20))  # no byte of an answer for 20 s
    with glm.GLMClient(base_url=glm_server.base_url, api_key=KEY) as client:
        with client.stream("hi") as stream:
            threading.Timer(0.2, stream.cancel).start()
            cancel_at = time.monotonic() + 0.2
            assert list(stream) == []
            ended = time.monotonic()
    assert ended - cancel_at < 1.0
    assert stream.result.stopped and stream.result.error is None
    assert proxy.seen == []
