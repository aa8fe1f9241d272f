"""What the sync and async clients share: settings, endpoint resolution, request preparation,
turning transport failures into GLM errors, and the socket shutdown that makes cancel() prompt.

cancel() must wake a thread blocked on the socket even before the response headers arrive (a
server that queues the request), when httpx has not handed out a response yet. So the clients
wrap the network backend of the transports httpx builds for them: every socket write (the request
going out) records its socket in the ``ConnectionHandle`` of the stream that is sending, found
through a context variable. cancel() shuts that socket down. The handle is cleared whenever the
connection goes back to the pool (stream ended, error answer read), so a late cancel() never
touches a connection that another request is using.
"""

from __future__ import annotations

import contextvars
import functools
import os
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ._errors import APIConnectionError, APITimeoutError, GLMError, make_api_error
from ._options import build_options
from ._request import Prompt, assemble_payload, build_headers, build_messages
from ._retry import RetryPolicy
from ._settings import Settings, mask_key, resolve_settings
from ._types import ChatResult


@dataclass(frozen=True)
class PreparedRequest:
    """Everything needed to send one chat request (the key lives only in ``headers``)."""

    url: str
    payload: dict[str, Any]
    headers: dict[str, str]


class ClientBase:
    """Settings and request preparation common to GLMClient and AsyncGLMClient."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        provider: str | None,
        model: str | None,
        timeout: float,
        max_retries: int,
        retry_deadline: float | None,
    ) -> None:
        self.settings: Settings = resolve_settings(
            api_key=api_key, base_url=base_url, provider=provider, model=model
        )
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_policy = RetryPolicy(
            max_retries=max_retries, deadline_s=retry_deadline if retry_deadline is not None else timeout
        )
        self._local_lock = threading.Lock()

    @property
    def provider(self) -> str:
        return self.settings.provider

    @property
    def model(self) -> str | None:
        return self.settings.model

    @property
    def base_url(self) -> str | None:
        return self.settings.base_url

    @property
    def is_offline(self) -> bool:
        return self.settings.provider == "local"

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"{type(self).__name__}(provider={s.provider!r}, base_url={s.base_url!r}, "
            f"model={s.model!r}, api_key={mask_key(s.api_key)!r})"
        )

    def _endpoint(self) -> Settings:
        """Settings with a base URL, starting the offline model first for provider 'local'."""
        if self.settings.base_url is not None:
            return self.settings
        with self._local_lock:
            if self.settings.base_url is None:
                from .local import ensure_server

                info = ensure_server()
                self.settings = Settings(
                    provider=self.settings.provider,
                    base_url=info.base_url,
                    model=self.settings.model or info.model,
                    api_key=self.settings.api_key,
                )
        return self.settings

    def prepare(
        self, prompt: Prompt, *, model: str | None, system: str | None, options: dict[str, Any]
    ) -> PreparedRequest:
        """Validate options (before anything else happens) and build the request."""
        # Validate first, so a bad value never starts a local server; the endpoint (which may
        # start it) does not change the provider, so these fields stay valid.
        fields = build_options(self.settings.provider, options)
        messages = build_messages(prompt, system)
        settings = self._endpoint()
        payload = assemble_payload(model or settings.model, messages, fields)
        return PreparedRequest(
            url=f"{settings.base_url}/chat/completions",
            payload=payload,
            headers=build_headers(settings.api_key),
        )

    def models_request(self) -> tuple[str, dict[str, str]]:
        settings = self._endpoint()
        headers = build_headers(settings.api_key)
        headers["Accept"] = "application/json"
        return f"{settings.base_url}/models", headers


def transport_error(exc: Exception, url: str, partial: ChatResult | None = None) -> GLMError:
    """A GLM error for an httpx transport failure; the message never contains headers or the key."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"APITimeoutError: no answer from {url} in time ({type(exc).__name__}) - "
            "try again, or raise timeout=... for long answers.",
            partial=partial,
        )
    return APIConnectionError(
        f"APIConnectionError: could not talk to {url} ({type(exc).__name__}: {exc}) - "
        "check the network and the base URL (GLM_BASE_URL / base_url=...).",
        partial=partial,
    )


def _shutdown(stream: Any) -> None:
    """Shut down the socket under an httpcore network stream (close() alone does not wake a read)."""
    try:
        sock = stream.get_extra_info("socket")
    except Exception:  # noqa: BLE001 - best effort: some transports have no socket
        return
    # A socket.socket for the sync client; asyncio hands out a TransportSocket wrapper instead.
    if sock is not None and hasattr(sock, "shutdown"):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class ConnectionHandle:
    """The network stream one ChatStream is using right now, so cancel() can shut it down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: Any = None
        self._cancelled = False

    def attach(self, stream: Any) -> None:
        with self._lock:
            self._stream = stream
            if self._cancelled:
                _shutdown(stream)

    def attach_response(self, response: httpx.Response) -> None:
        """Fallback for transports without the socket tracker (e.g. a user's own transport)."""
        stream = response.extensions.get("network_stream")
        if stream is not None:
            self.attach(stream)

    def release(self) -> None:
        with self._lock:
            self._stream = None

    def shutdown(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._stream is not None:
                _shutdown(self._stream)

    def discard(self) -> None:
        """Keep a connection whose answer ended early out of the pool (the server may drop it)."""
        with self._lock:
            if self._stream is not None:
                _shutdown(self._stream)


_sending: contextvars.ContextVar[ConnectionHandle | None] = contextvars.ContextVar(
    "glm_notebook_sending", default=None
)


def sending_for(handle: ConnectionHandle) -> contextvars.Token[ConnectionHandle | None]:
    """Mark ``handle`` as the owner of the requests sent from this context (until reset)."""
    return _sending.set(handle)


def done_sending(token: contextvars.Token[ConnectionHandle | None]) -> None:
    _sending.reset(token)


class _TrackedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self.read = inner.read  # type: ignore[method-assign]  # the hot path: no extra call
        self.close = inner.close  # type: ignore[method-assign]
        self.get_extra_info = inner.get_extra_info  # type: ignore[method-assign]

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        handle = _sending.get()
        if handle is not None:
            handle.attach(self._inner)
        self._inner.write(buffer, timeout)

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))


class _TrackedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncTrackedStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self.read = inner.read  # type: ignore[method-assign]
        self.aclose = inner.aclose  # type: ignore[method-assign]
        self.get_extra_info = inner.get_extra_info  # type: ignore[method-assign]

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        handle = _sending.get()
        if handle is not None:
            handle.attach(self._inner)
        await self._inner.write(buffer, timeout)

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _AsyncTrackedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))


class _AsyncTrackedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncTrackedStream(inner)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _AsyncTrackedStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)


@functools.lru_cache(maxsize=4)
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads SSL_CERT_FILE / SSL_CERT_DIR like httpx does


def shared_ssl_context() -> ssl.SSLContext:
    """One verifying SSL context per process (loading the CA bundle costs ~50 ms per client)."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


def _track(transport: Any, wrapper: Any) -> None:
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is not None and not isinstance(backend, wrapper):
        pool._network_backend = wrapper(backend)  # type: ignore[union-attr]


def track_sockets(http: httpx.Client | httpx.AsyncClient) -> None:
    """Wrap the network backends of ``http``'s own transports (httpcore 1.x) in the socket tracker.

    Done on the client httpx built (not by passing transport=, which would turn off the proxies
    httpx reads from the environment). Elsewhere cancel() falls back to the response's socket.
    """
    wrapper = _AsyncTrackedBackend if isinstance(http, httpx.AsyncClient) else _TrackedBackend
    transports = [getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()]
    for transport in transports:
        _track(transport, wrapper)


def http_client_options(timeout: float, transport: Any) -> dict[str, Any]:
    """Keyword arguments for the httpx.Client / AsyncClient under a GLM client."""
    return {
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        "transport": transport,
        "limits": LIMITS,
        "verify": shared_ssl_context(),
    }


def model_ids(response: httpx.Response) -> list[str]:
    """The ids in a ``/models`` answer; the typed error when the server refused."""
    if response.status_code != 200:
        raise make_api_error(response.status_code, response.content)
    return [m.get("id") for m in response.json().get("data", []) if m.get("id")]


def event_stream_content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()
