"""Turning a prompt and options into the exact request: messages, JSON payload, headers, URL.

The API key lives only in the ``Authorization`` header of a ``RequestHeaders``; neither it nor
``PreparedRequest`` shows the key in ``repr``/``str``, so a traceback printed with its frames'
locals (pytest ``--showlocals``, rich, Sentry) never carries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidOptionError
from .._options import build_options
from .._settings import mask_key
from .._types import Prompt
from .._version import USER_AGENT

__all__ = ["Prompt"]  # re-exported: the drivers take it from here


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the credentials shown as ``Bearer sk-…abcd`` (for reprs and messages)."""
    shown = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            scheme, _, secret = value.partition(" ")
            value = f"{scheme} {mask_key(secret)}" if secret else mask_key(value)
        shown[name] = value
    return shown


class RequestHeaders(dict[str, str]):
    """The headers of one request, a plain dict for httpx; ``repr``/``str`` mask the credentials.

    (rich's pretty-printer also uses this ``__repr__``: it honours a dict subclass's own repr.)
    """

    def __repr__(self) -> str:
        return f"RequestHeaders({masked_headers(self)!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class PreparedRequest:
    """Everything needed to send one chat request (the key lives only in ``headers``)."""

    url: str
    payload: dict[str, Any]
    headers: dict[str, str]

    def __repr__(self) -> str:
        # The payload is shown (it has no secret); the headers only masked, whatever their type.
        return (
            f"PreparedRequest(url={self.url!r}, payload={self.payload!r}, "
            f"headers={masked_headers(self.headers)!r})"
        )


def build_messages(prompt: Prompt, system: str | None = None) -> list[dict[str, Any]]:
    """A message list from a string prompt or a list of messages, with ``system`` first if given."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidOptionError("The prompt is empty: give the text you want the model to answer.")
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    else:
        messages = [dict(m) for m in prompt]
        if not messages:
            raise InvalidOptionError("The message list is empty: give at least one user message.")
        for m in messages:
            if not isinstance(m, dict) or "role" not in m:
                raise InvalidOptionError(f"Each message must be a dict with a 'role', got {m!r}.")
    if system:
        messages = [m for m in messages if m.get("role") != "system"]
        messages.insert(0, {"role": "system", "content": system})
    return messages


def build_payload(
    provider: str,
    model: str | None,
    prompt: Prompt,
    *,
    system: str | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The JSON body: model, messages, ``stream: true`` and exactly the options that were set."""
    return assemble_payload(model, build_messages(prompt, system), build_options(provider, options))


def assemble_payload(
    model: str | None, messages: list[dict[str, Any]], fields: dict[str, Any]
) -> dict[str, Any]:
    """The JSON body from messages and option fields that were already validated."""
    if not model:
        raise InvalidOptionError("No model given: pass model=... or set GLM_MODEL.")
    return {"model": model, "messages": messages, **fields, "stream": True}


def build_headers(api_key: str | None) -> RequestHeaders:
    """The headers of a chat request; ``Authorization`` only when there is a key."""
    headers = RequestHeaders(
        {
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
    )
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
