"""The httpx client options under every GLM client: timeouts, pool limits, one shared SSL context,
and loopback traffic that never goes through a proxy.

httpx reads ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` from the environment and, without a
matching ``NO_PROXY``, would send requests for 127.0.0.1 (the offline model, the test server, a
vLLM on this machine) to the proxy, which cannot reach our loopback or answers with its own error
page. So the loopback hosts are mounted to ``None``: httpx's "no proxy, the client's own
transport" (the transport the socket tracker in ``_cancel`` wraps, so cancel() stays prompt).

A SOCKS proxy in the environment (``ALL_PROXY=socks5://...``) needs ``socksio``, which httpx
imports when the client is built, even for hosts that never use the proxy. Without it: a client
of a loopback server ignores the environment's proxies (it would not use them anyway), and one of
a remote server raises ``ConfigurationError`` saying ``pip install 'httpx[socks]'``.

``Accept-Encoding`` is ``gzip, deflate`` only: the codings ``_limits`` decodes in bounded pieces.
"""

from __future__ import annotations

import functools
import os
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._errors import ConfigurationError
from .._settings import is_loopback_host
from ._limits import ACCEPT_ENCODING

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


def is_loopback(base_url: str | None) -> bool:
    """Whether ``base_url`` names this machine (None: the offline model, which is on 127.0.0.1)."""
    return base_url is None or is_loopback_host((urlsplit(base_url).hostname or "").lower())


def _socks_in_environment() -> str | None:
    """The SOCKS proxy URL the environment gives httpx, if any (what httpx itself reads)."""
    for scheme, url in urllib.request.getproxies().items():
        if scheme != "no" and url.lower().startswith("socks"):
            return url
    return None


def _has_socksio() -> bool:
    try:
        import socksio  # noqa: F401 - only whether httpx can build a SOCKS transport
    except ImportError:
        return False
    return True


def http_client_options(
    timeout: float, transport: Any, connections: int | None = None, *, base_url: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for the httpx.Client / AsyncClient under a GLM client (``connections``:
    a pool of that size instead of ``LIMITS``, for a map run with more requests in flight;
    ``base_url``: where the client talks, which decides what a SOCKS proxy without socksio means)."""
    limits = LIMITS if connections is None else httpx.Limits(max_connections=connections)
    options = {
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        "transport": transport,
        "limits": limits,
        "verify": shared_ssl_context(),
        "mounts": dict.fromkeys(LOOPBACK_MOUNTS),
        "headers": {"Accept-Encoding": ACCEPT_ENCODING},
    }
    if transport is None and _socks_in_environment() and not _has_socksio():
        if not is_loopback(base_url):
            raise ConfigurationError(
                "ConfigurationError: the environment sets a SOCKS proxy (ALL_PROXY / HTTPS_PROXY = "
                "socks...), which needs an extra package: pip install 'httpx[socks]' - or unset the "
                f"proxy, or add the host of {base_url} to NO_PROXY."
            )
        options["trust_env"] = False  # loopback is never proxied; the other env proxies go unused too
    return options
