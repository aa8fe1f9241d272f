"""What the sync and async clients share: settings, endpoint resolution, request preparation and
turning transport failures into GLM errors. The socket shutdown behind cancel() is in ``_cancel``,
the httpx options in ``_transport``.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._endpoint import Endpoint
from ._errors import APIConnectionError, APITimeoutError, GLMError, make_api_error
from ._options import build_options
from ._request import PreparedRequest, Prompt, assemble_payload, build_headers, build_messages
from ._retry import RetryPolicy
from ._settings import Settings, mask_key, resolve_settings
from ._types import ChatResult


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
        self.endpoint = Endpoint(self.settings)

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
        self.settings = self.endpoint.resolve()
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


def model_ids(response: httpx.Response) -> list[str]:
    """The ids in a ``/models`` answer; the typed error when the server refused."""
    if response.status_code != 200:
        raise make_api_error(response.status_code, response.content)
    return [m.get("id") for m in response.json().get("data", []) if m.get("id")]


def event_stream_content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()
