"""What a failed attempt means, as plain functions: the GLM error for an httpx exception, whether
another attempt could succeed, and the "retrying" notice for the wait. ``_engine`` asks these;
they never look at anything but their arguments.

The messages never contain headers or the API key: a request httpx refused to send
(``LocalProtocolError``, or ``UnicodeEncodeError`` for a non-ASCII header) holds the refused
header in its text, so only the kind of mistake is named, with what to check.
"""

from __future__ import annotations

import httpx

from .._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    GLMError,
    RateLimitError,
    ServerError,
    ServerNetworkError,
    StreamInterrupted,
)
from .._types import ChatResult, Notice


def send_error(exc: Exception, url: str, partial: ChatResult | None = None) -> GLMError:
    """The GLM error for a request that could not be sent or answered; never shows headers or the key."""
    if isinstance(exc, (httpx.LocalProtocolError, UnicodeEncodeError)):
        # Raised before a byte left (httpx or h11 refused our own request); the exception's text
        # or ``.object`` holds the header value, so neither is kept.
        text = "header value" if isinstance(exc, UnicodeEncodeError) else str(exc).lower()
        if "header value" in text:
            what = (
                "an invalid header value - check the API key for spaces, newlines or other "
                "characters copied with it (ZHIPUAI_API_KEY / ZAI_API_KEY / GLM_API_KEY, or api_key=...)"
            )
        elif "header name" in text:
            what = "an invalid header name"
        else:
            what = "a malformed request - check the API key and the base URL for stray characters"
        return ConfigurationError(
            f"ConfigurationError: the request was not sent ({type(exc).__name__}): {what}.", partial=partial
        )
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


def read_error(exc: Exception, url: str, partial: ChatResult) -> GLMError:
    """The GLM error for a body that broke off: a timeout, or an interruption keeping the partial."""
    if isinstance(exc, httpx.TimeoutException):
        return send_error(exc, url, partial)
    return StreamInterrupted(
        f"StreamInterrupted: the connection broke mid-answer ({type(exc).__name__}); "
        f"the {len(partial.text)} characters that arrived are kept - run it again.",
        partial=partial,
    )


def is_retryable(error: GLMError) -> bool:
    """Whether another attempt could succeed (before anything of the answer was handed out)."""
    if isinstance(error, APIError):
        return error.retryable
    return isinstance(error, (APIConnectionError, StreamInterrupted))


def format_wait(seconds: float) -> str:
    """A wait for people: "0.4 s" below a second, whole seconds above."""
    if seconds < 0.95:
        return f"{max(seconds, 0.1):.1f} s"
    return f"{seconds:.0f} s"


def retry_notice(error: GLMError, wait: float) -> Notice:
    """The "retrying" notice, e.g. "rate limited (1302), retrying in 2 s"."""
    if isinstance(error, RateLimitError):
        why = f"rate limited ({error.code or f'HTTP {error.status_code}'})"
    elif isinstance(error, ServerNetworkError):
        why = "the server's network failed"
    elif isinstance(error, ServerError):
        why = f"server error (HTTP {error.status_code})"
    elif isinstance(error, APITimeoutError):
        why = "no answer in time"
    elif isinstance(error, APIConnectionError):
        why = "connection failed"
    elif isinstance(error, StreamInterrupted):
        why = "the connection broke"
    else:
        why = type(error).__name__
    return Notice("retrying", f"{why}, retrying in {format_wait(wait)}", wait_s=wait, error=error)


def content_type(headers: httpx.Headers) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()
