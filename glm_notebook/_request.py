"""Turning a prompt and options into the exact request: messages, JSON payload, headers, URL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import InvalidOptionError
from ._options import build_options
from ._version import USER_AGENT

Prompt = str | Sequence[dict[str, Any]]


@dataclass(frozen=True)
class PreparedRequest:
    """Everything needed to send one chat request (the key lives only in ``headers``)."""

    url: str
    payload: dict[str, Any]
    headers: dict[str, str]


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


def build_headers(api_key: str | None) -> dict[str, str]:
    headers = {
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
