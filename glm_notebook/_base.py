"""What the sync and async clients share: settings, endpoint resolution, request preparation,
turning transport failures into GLM errors, and the socket shutdown that makes cancel() prompt.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from ._errors import APIConnectionError, APITimeoutError, GLMError
from ._request import Prompt, build_headers, build_payload
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
        # Validate against the provider's table first, so a bad value never starts a local server.
        build_payload(
            self.settings.provider,
            model or self.settings.model or "-",
            prompt,
            system=system,
            options=options,
        )
        settings = self._endpoint()
        payload = build_payload(
            settings.provider, model or settings.model, prompt, system=system, options=options
        )
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


def shutdown_socket(response: httpx.Response | None) -> None:
    """Wake a read blocked on this response's socket (close() alone does not, on Linux)."""
    if response is None:
        return
    stream = response.extensions.get("network_stream")
    sock = None
    if stream is not None:
        try:
            sock = stream.get_extra_info("socket")
        except Exception:  # noqa: BLE001 - best effort: some transports have no socket
            sock = None
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def event_stream_content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()
