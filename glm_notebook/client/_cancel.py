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
``check_internals()`` says which of them is missing (tests/test_cancel_internals.py runs it against
the installed httpx); when one is, ``track_sockets`` warns once and leaves the client untracked:
cancel() then still works once the response headers have arrived (through ``network_stream``),
but not while a server holds the request.
"""

from __future__ import annotations

import contextvars
import socket
import ssl
import threading
import warnings
from collections.abc import Iterable, Mapping
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


class InternalsChanged(RuntimeError):
    """httpx or httpcore no longer has an internal attribute the socket tracker relies on."""


def check_internals(http: Any) -> None:
    """Raise InternalsChanged naming the first internal that ``http`` (an httpx client) lacks.

    Checks exactly the path ``track_sockets`` walks: the client's ``_transport`` and ``_mounts``
    (a mapping; ``None`` values mean "the client's own transport"), each transport's ``_pool`` and
    each pool's ``_network_backend`` with a ``connect_tcp``.
    """
    where = type(http).__name__
    for name in ("_transport", "_mounts"):
        if not hasattr(http, name):
            raise _changed(f"{where} has no attribute {name!r}")
    if not isinstance(http._mounts, Mapping):
        raise _changed(f"{where}._mounts is a {type(http._mounts).__name__}, not a mapping")
    for transport in (http._transport, *http._mounts.values()):
        if transport is None:
            continue
        kind = type(transport).__name__
        if not hasattr(transport, "_pool"):
            raise _changed(f"{kind} (a transport of {where}) has no attribute '_pool'")
        pool = transport._pool
        if not hasattr(pool, "_network_backend"):
            raise _changed(f"{type(pool).__name__} (the pool of {kind}) has no attribute '_network_backend'")
        backend = pool._network_backend
        if not hasattr(backend, "connect_tcp"):
            raise _changed(
                f"{type(backend).__name__} (the network backend of {type(pool).__name__}) has no "
                "attribute 'connect_tcp'"
            )


def _changed(what: str) -> InternalsChanged:
    return InternalsChanged(
        f"the socket tracker behind cancel() does not fit httpx {httpx.__version__} / httpcore "
        f"{httpcore.__version__}: {what}. Pin httpx<0.29 / httpcore<2 or update glm_notebook.client._cancel."
    )


_warned = False


def _track(transport: Any, wrapper: Any) -> None:
    if transport is None:  # a mount without a proxy: requests use the client's own transport
        return
    pool = transport._pool
    if not isinstance(pool._network_backend, wrapper):
        pool._network_backend = wrapper(pool._network_backend)


def track_sockets(http: httpx.Client | httpx.AsyncClient) -> None:
    """Wrap the network backends of ``http``'s own transports (httpcore 1.x) in the socket tracker.

    Done on the client httpx built (not by passing transport=, which would turn off the proxies
    httpx reads from the environment). Elsewhere cancel() falls back to the response's socket.
    """
    global _warned
    try:
        check_internals(http)
    except InternalsChanged as exc:
        if not _warned:
            _warned = True
            warnings.warn(
                f"{exc} Until then cancel() waits for the server's first byte.", RuntimeWarning, stacklevel=3
            )
        return
    wrapper = _AsyncTrackedBackend if isinstance(http, httpx.AsyncClient) else _TrackedBackend
    for transport in (http._transport, *http._mounts.values()):
        _track(transport, wrapper)
