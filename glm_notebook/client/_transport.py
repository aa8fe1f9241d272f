"""The httpx client options under every GLM client: timeouts, pool limits, one shared SSL context,
and loopback traffic that never goes through a proxy.

httpx reads ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` from the environment and, without a
matching ``NO_PROXY``, would send requests for 127.0.0.1 (the offline model, the test server, a
vLLM on this machine) to the proxy, which cannot reach our loopback or answers with its own error
page. So the loopback hosts are mounted to ``None``: httpx's "no proxy, the client's own
transport" (the transport the socket tracker in ``_cancel`` wraps, so cancel() stays prompt).
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx

LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)

# Host patterns (httpx URLPattern syntax, any scheme and port) that always go direct. Other
# 127.x.y.z addresses cannot be written as a pattern; nothing of ours uses them.
LOOPBACK_MOUNTS: tuple[str, ...] = ("all://127.0.0.1", "all://localhost", "all://*.localhost", "all://[::1]")


@functools.lru_cache(maxsize=4)
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads SSL_CERT_FILE / SSL_CERT_DIR like httpx does


def shared_ssl_context() -> ssl.SSLContext:
    """One verifying SSL context per process (loading the CA bundle costs ~50 ms per client)."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


def http_client_options(timeout: float, transport: Any, connections: int | None = None) -> dict[str, Any]:
    """Keyword arguments for the httpx.Client / AsyncClient under a GLM client (``connections``:
    a pool of that size instead of ``LIMITS``, for a map run with more requests in flight)."""
    limits = LIMITS if connections is None else httpx.Limits(max_connections=connections)
    return {
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        "transport": transport,
        "limits": limits,
        "verify": shared_ssl_context(),
        "mounts": dict.fromkeys(LOOPBACK_MOUNTS),
    }
