"""Preserved thinking and reasoning effort on the test server: what GLM checks, checked here too.

This module owns the server's memory of the reasoning it sent (``ReasoningLedger``) and the two
request checks GLM makes on the thinking fields:

- ``request_problem``: ``reasoning_effort`` must be one of GLM's seven values and
  ``thinking.clear_thinking`` a boolean, else the server answers HTTP 400, code 1214, and uses no
  script (as GLM refuses a bad parameter).
- ``ReasoningLedger.problems``: with preserved thinking, every earlier assistant turn must come
  back with its ``reasoning_content`` byte for byte as it was sent. An assistant message of the
  request is matched to an answer this server gave by its content and its tool calls' ids and
  names; a message that matches none (a history the test wrote by hand) is not checked. When
  several answers look the same, the message passes if its reasoning is that of any of them.

A ``Reply(require_reasoning_back=True)`` makes the request that takes it fail like GLM (HTTP 400,
code 1214, the message naming the turn) when a check finds a problem; the problems are recorded
on ``RecordedRequest.reasoning_problems`` either way. ``GLMTestServer.check_preserved_thinking()``
runs the same check on a recorded request after the fact and raises AssertionError.
"""

from __future__ import annotations

import threading
from typing import Any

from ._script import Reply

__all__ = ["REASONING_EFFORTS", "ReasoningLedger", "request_problem"]

#: The reasoning_effort values of GLM's API reference (GLM-5.2 thinks at high or max).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

Signature = tuple[str, tuple[tuple[str, str], ...]]


def request_problem(request: dict[str, Any]) -> str | None:
    """Why GLM would refuse this request's thinking fields (None: it would not)."""
    effort = request.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:  # null: not sent
        return f"reasoning_effort {effort!r} is not one of {', '.join(REASONING_EFFORTS)}."
    thinking = request.get("thinking")
    if thinking is not None and not isinstance(thinking, dict):
        return "thinking must be an object, e.g. {'type': 'enabled'}."
    if isinstance(thinking, dict) and "clear_thinking" in thinking:
        if not isinstance(thinking["clear_thinking"], bool):
            return f"thinking.clear_thinking must be true or false, not {thinking['clear_thinking']!r}."
    return None


def _signature(content: Any, calls: list[tuple[str, str]]) -> Signature:
    return (
        "" if content is None else str(content) if isinstance(content, str) else repr(content),
        tuple(calls),
    )


def _message_signature(message: dict[str, Any]) -> Signature:
    calls = []
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict):
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            calls.append((str(call.get("id")), str(function.get("name"))))
    return _signature(message.get("content"), calls)


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


class ReasoningLedger:
    """The answers this server has given, by signature, with the reasoning each one carried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[Signature, list[str]] = {}

    def remember(self, reply: Reply) -> None:
        calls = [(c["id"], c["name"]) for c in reply.normalized_tool_calls()]
        with self._lock:
            self._sent.setdefault(_signature(reply.text, calls), []).append(reply.reasoning)

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()

    def problems(self, request: Any) -> tuple[int, list[str]]:
        """(assistant turns recognised, what is wrong with their reasoning_content)."""
        messages = request.get("messages") if isinstance(request, dict) else None
        checked, problems = 0, []
        for index, message in enumerate(messages if isinstance(messages, list) else []):
            if not isinstance(message, dict) or message.get("role") != "assistant":
                continue
            with self._lock:
                sent = list(self._sent.get(_message_signature(message), []))
            if not sent:
                continue  # not an answer of this server: nothing to compare with
            checked += 1
            back = message.get("reasoning_content")
            back = back if isinstance(back, str) else ""
            if back in sent:
                continue
            where = f"messages[{index}] (assistant)"
            if not back:
                problems.append(
                    f"{where} has no reasoning_content; it was sent with {len(sent[0])} characters."
                )
            else:
                at = _first_difference(back, sent[0])
                problems.append(
                    f"{where}: reasoning_content differs from the reasoning sent with that answer "
                    f"at character {at} ({len(back)} characters back, {len(sent[0])} sent)."
                )
        return checked, problems
