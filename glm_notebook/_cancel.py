"""The socket shutdown that makes cancel() prompt, and the httpx/httpcore internals it reaches into.

cancel() must wake a thread blocked on the socket even before the response headers arrive (a
server that queues the request), when httpx has not handed out a response yet. So the clients
wrap the network backend of the transports httpx builds for them: every socket write (the request
going out) records its socket in the ``ConnectionHandle`` of the stream that is sending, found
through a context variable. cancel() shuts that socket down. The handle is cleared whenever the
connection goes back to the pool (stream ended, error answer read), so a late cancel() never
touches a connection that another request is using.

Internals used (httpx 0.27/0.28, httpcore 1.x): ``httpx.Client._transport`` / ``._mounts``,
``httpx.HTTPTransport._pool`` and ``httpcore.ConnectionPool._network_backend``, and the
``network_stream`` response extension. Everything that touches them is in this module.
"""

from __future__ import annotations

import contextvars
import socket
import ssl
import threading
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


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
