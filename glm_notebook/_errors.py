"""The GLMError tree and the mapping from HTTP status + GLM business code to an error class.

::

    GLMError                      base of every error this package raises on purpose
    ├── ConfigurationError        no key, unknown provider, bad base URL
    │   └── LocalModelError       the offline model cannot start (extra missing, file missing, ...)
    ├── InvalidOptionError        an option is unknown or out of range (raised before any request)
    ├── APIError                  the server answered with an error (status_code, code, message)
    │   ├── AuthenticationError   401, codes 1000-1004
    │   ├── InsufficientBalance   code 1113 (HTTP 429, but never retried)
    │   ├── RateLimitError        codes 1302, 1303, 1305 (HTTP 429, retried with backoff)
    │   ├── QuotaExceededError    codes 1304, 1308-1313 (not retried)
    │   ├── InvalidRequestError   400, codes 1210-1215
    │   │   ├── ModelNotFoundError    code 1211, or 404 naming the model
    │   │   └── PromptTooLongError    code 1261
    │   ├── ContentFilterError    code 1301, or finish_reason "sensitive"
    │   ├── ResponseTooLargeError the body (decompressed) or one SSE line exceeded its cap (not retried)
    │   └── ServerError           HTTP 5xx (retried with backoff)
    │       └── ServerNetworkError    finish_reason "network_error": GLM's own upstream failed
    ├── APIConnectionError        the server could not be reached, or the connection broke
    │   └── APITimeoutError       no answer within the timeout
    ├── StreamInterrupted         the stream ended without [DONE]; ``partial`` holds what arrived
    ├── ReplayMissError           strict replay: the question is not in the answer file (nothing sent)
    ├── ToolLoopError             max_tool_turns reached; ``partial`` and ``messages`` hold the loop so far
    └── SchemaValidationError     the answer still did not fit ``schema=`` after one repair turn; ``text``

Every error carries ``partial`` (the ChatResult so far, or None) so nothing already shown is lost,
and every message says what to do next.

An error in the body of an HTTP 200 (an SSE ``event: error`` frame, a ``data:`` frame holding an
``error`` object, or a JSON body holding one) gets the class its code gives, exactly as the same
code at its HTTP status would (1302 is a ``RateLimitError`` whether it came as HTTP 429 or inside a
200 stream); ``status_code`` is None for it. The code is read from ``error.code`` (string or
number), else from an Anthropic-style ``error.type`` holding digits ("1113"), else from a message
that starts with ``[1211]``.
"""

from __future__ import annotations

import json
import re
from typing import Any

# ``partial`` is a ``_types.ChatResult``; annotated loosely so this module, which every layer
# imports, imports nothing back.
ChatResult = Any


class GLMError(Exception):
    """Base of every error glm_notebook raises on purpose."""

    def __init__(self, message: str, *, partial: ChatResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial


class ConfigurationError(GLMError):
    """The client is not configured: no key, unknown provider or bad base URL."""


class LocalModelError(ConfigurationError):
    """The embedded offline model could not be started."""


class InvalidOptionError(GLMError, ValueError):
    """A generation option is unknown, of the wrong type or out of range."""


class APIError(GLMError):
    """The server answered with an error status or an error object."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        partial: ChatResult | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.status_code = status_code
        self.code = code
        self.retry_after = retry_after


class AuthenticationError(APIError):
    """The API key was refused (HTTP 401, codes 1000-1004)."""


class InsufficientBalance(APIError):
    """The account has no balance left (code 1113); retrying cannot help."""


class RateLimitError(APIError):
    """Too many requests or the service is busy (codes 1302, 1303, 1305); retried with backoff."""

    retryable = True


class QuotaExceededError(APIError):
    """A daily or plan quota is used up (codes 1304, 1308-1313); retrying today will not help."""


class InvalidRequestError(APIError):
    """The server rejected the request's content (HTTP 400, codes 1210-1215)."""


class ModelNotFoundError(InvalidRequestError):
    """The model name is unknown to this provider (code 1211)."""


class PromptTooLongError(InvalidRequestError):
    """The prompt exceeds the model's context (code 1261)."""


class ContentFilterError(APIError):
    """The content filter stopped the input or the answer (code 1301, finish_reason "sensitive")."""


class ServerError(APIError):
    """The server failed (HTTP 5xx); retried with backoff."""

    retryable = True


class ServerNetworkError(ServerError):
    """The server ended the answer with finish_reason "network_error"; ``partial`` keeps what came.

    Retried like a 5xx when nothing of the answer had been handed out, else raised with the partial."""


class ResponseTooLargeError(APIError):
    """The response (decompressed) or one SSE line was larger than the client accepts; not retried."""


class APIConnectionError(GLMError):
    """The server could not be reached or the connection broke before the answer began."""


class APITimeoutError(APIConnectionError):
    """The server did not answer within the timeout."""


class StreamInterrupted(GLMError):
    """The stream ended before the server finished it; ``partial`` holds the text that arrived."""


class ReplayMissError(GLMError):
    """Strict replay (``glm.replay(path, strict=True)``): the question is not in the answer file; nothing was sent."""


class ToolLoopError(GLMError):
    """The model still asked for tools after ``max_tool_turns`` tool turns.

    ``partial`` is the ChatResult so far (every call in ``tool_calls``, usage summed) and
    ``messages`` the transcript as sent and received.
    """

    def __init__(
        self, message: str, *, partial: ChatResult | None = None, messages: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message, partial=partial)
        self.messages = messages if messages is not None else []


class SchemaValidationError(GLMError):
    """The answer did not fit ``schema=`` (not JSON, or failed validation), even after the repair turn.

    ``text`` is the last answer's raw text, ``validation_error`` what was wrong with it, ``partial``
    the ChatResult of both turns (usage summed) and ``messages`` the whole exchange.
    """

    def __init__(
        self,
        message: str,
        *,
        text: str,
        validation_error: str,
        partial: ChatResult | None = None,
        messages: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.text = text
        self.validation_error = validation_error
        self.messages = messages if messages is not None else []


_AUTH_CODES = {"1000", "1001", "1002", "1003", "1004"}
_RATE_CODES = {"1302", "1303", "1305"}
_QUOTA_CODES = {"1304", "1308", "1309", "1310", "1311", "1312", "1313"}


def _advice(cls: type[APIError], code: str | None, status: int | None) -> str:
    if cls is AuthenticationError:
        return (
            "check your API key (ZHIPUAI_API_KEY / ZAI_API_KEY, GLM_API_KEY for a server of your own, "
            "or api_key=...) and the provider"
        )
    if cls is InsufficientBalance:
        return "your account balance is empty: top up the account or use another key; retrying will not help"
    if cls is RateLimitError:
        return "too many requests: wait a moment or run fewer requests in parallel"
    if cls is QuotaExceededError:
        return "a quota for this key is used up: wait for it to reset or use another key"
    if cls is ModelNotFoundError:
        return "check the model name (%glm models lists the models this server offers)"
    if cls is PromptTooLongError:
        return "shorten the prompt or the chat history (%glm reset clears a conversation)"
    if cls is ContentFilterError:
        return "the content filter blocked this; rephrase the prompt"
    if cls is ServerError:
        return "the server failed; try again later"
    if status == 404:
        return "check the base URL: it should end before /chat/completions (e.g. .../api/paas/v4 or .../v1)"
    return "check the request parameters"


def error_class_for(status: int | None, code: str | None) -> type[APIError]:
    """The error class for an HTTP status and a GLM business code (code wins when known)."""
    if code == "1113":
        return InsufficientBalance
    if code in _AUTH_CODES:
        return AuthenticationError
    if code in _RATE_CODES:
        return RateLimitError
    if code in _QUOTA_CODES:
        return QuotaExceededError
    if code == "1211":
        return ModelNotFoundError
    if code == "1261":
        return PromptTooLongError
    if code == "1301":
        return ContentFilterError
    if code is not None and code.isdigit() and 1210 <= int(code) <= 1215:
        return InvalidRequestError
    if status is None and code is not None and code.isdigit() and 400 <= int(code) <= 599:
        # OpenAI-compatible servers (vLLM, SGLang) put an HTTP status in a mid-stream error's code.
        status = int(code)
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        # A 429 without a known code: treat as a rate limit (the common case for OpenAI-compatible
        # servers). GLM's 1113 and quota codes are matched above, so they are never retried.
        return RateLimitError
    if status is not None and status >= 500:
        return ServerError
    if status in (400, 404, 413, 422):
        return InvalidRequestError
    return APIError


_CONTEXT_OVERFLOW = re.compile(r"context length|context window|prompt exceeds max length", re.IGNORECASE)
_BRACKET_CODE = re.compile(r"\s*\[(\d{3,5})\]")


def parse_error_body(body: bytes | str | dict[str, Any] | None) -> tuple[str | None, str | None]:
    """Return (code, message) from an error body; (None, None) if absent.

    Shapes: GLM's and OpenAI's ``{"error": {"code": ..., "message": ...}}`` (the code a string
    or a number), the Anthropic-compatible route's ``{"type": "error", "error": {"type": "1113",
    ...}}``, ``{"error": "text"}``, vLLM/SGLang's flat ``{"object": "error", "message": ...,
    "code": ...}``, or plain text; without a code, a message starting ``[1302]`` gives it.
    """
    data: Any = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            raw = raw.strip()[:300]
            return _bracket_code(raw), raw or None
    if not isinstance(data, dict):
        return None, None
    err = data.get("error") or data  # the flat shape has no "error" (or a null one)
    if isinstance(err, str):
        return _bracket_code(err), err
    if not isinstance(err, dict):
        return None, None
    code: Any = err.get("code")
    message = err.get("message") or err.get("msg")
    text = str(message) if message else None
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    if code in (None, "") or isinstance(code, bool):
        kind = err.get("type")  # the Anthropic-compatible route: {"type": "1113", "message": ...}
        code = kind if isinstance(kind, str) and kind.isdigit() else _bracket_code(text)
    return (str(code).strip() if code is not None else None), text


def _bracket_code(text: str | None) -> str | None:
    """The code of a message written "[1211][模型不存在...][request id]"."""
    found = _BRACKET_CODE.match(text) if text else None
    return found.group(1) if found else None


def make_api_error(
    status: int | None,
    body: bytes | str | dict[str, Any] | None,
    *,
    retry_after: float | None = None,
    partial: ChatResult | None = None,
    where: str | None = None,
) -> APIError:
    """Build the typed error for a failed response or an error object in a 200 body (``status``
    None; ``where`` says where it came, "mid-stream" by default)."""
    code, server_message = parse_error_body(body)
    cls = error_class_for(status, code)
    if cls is InvalidRequestError and server_message and _CONTEXT_OVERFLOW.search(server_message):
        cls = PromptTooLongError  # 1210 "... exceeds the model's maximum context length ..."
    where = f"HTTP {status}" if status else (where or "mid-stream")
    label = f"{where}, code {code}" if code else where
    detail = f": {server_message}" if server_message else ""
    message = f"{cls.__name__} ({label}){detail} - {_advice(cls, code, status)}"
    return cls(message, status_code=status, code=code, retry_after=retry_after, partial=partial)
