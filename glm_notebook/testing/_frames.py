"""Turning a ``Reply`` into wire content: SSE frames and the plan a handler executes.

This module owns the JSON shapes (``chat.completion.chunk``, ``chat.completion``, usage) and the
ordered *plan* of a streamed reply: a list of steps ``("write", bytes)``, ``("sleep", seconds)``,
``("cut",)``, ``("stall", seconds)``, ``("finish", outcome)``. It does no I/O, so the plan can be
inspected in tests; ``_server`` executes it on a socket.

JSON is written with ``ensure_ascii=False``: non-ASCII text (CJK, emoji, U+2028/U+2029) travels as
raw UTF-8, as the real service sends it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from ._script import Reply

__all__ = ["completion_body", "echo_reply", "last_user_text", "stream_plan", "usage_for"]

Step = tuple[Any, ...]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(request: dict[str, Any]) -> str:
    """The text of the last ``user`` message in a request ("" if none)."""
    messages = request.get("messages") if isinstance(request, dict) else None
    for msg in reversed(messages if isinstance(messages, list) else []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return _message_text(msg.get("content"))
    return ""


def echo_reply(request: dict[str, Any]) -> Reply:
    """The default responder: ``"You said: <last user message>"``, streamed by words."""
    return Reply(text=f"You said: {last_user_text(request)}")


def _prompt_tokens(request: dict[str, Any]) -> int:
    messages = request.get("messages") if isinstance(request, dict) else None
    words = sum(
        len(_message_text(m.get("content")).split())
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict)
    )
    return max(words, 1)


def usage_for(reply: Reply, request: dict[str, Any]) -> dict[str, Any] | None:
    """The usage object to send for ``reply`` (None when ``reply.usage`` is falsy)."""
    if isinstance(reply.usage, dict):
        return reply.usage
    if not reply.usage:
        return None
    reasoning = len(reply.reasoning_pieces())
    tools = sum(len(reply.tool_argument_pieces(c["arguments"])) for c in reply.normalized_tool_calls())
    completion = reasoning + len(reply.content_pieces()) + tools
    prompt = _prompt_tokens(request)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _model(reply: Reply, request: dict[str, Any]) -> str:
    return reply.model or str(request.get("model") or "glm-4.7-flash")


def _response_id(request: dict[str, Any]) -> str:
    rid = request.get("request_id") if isinstance(request, dict) else None
    return str(rid) if rid else f"glmtest-{uuid.uuid4().hex[:20]}"


def completion_body(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    """The non-stream ``chat.completion`` object for ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    calls = reply.normalized_tool_calls()
    if calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "index": i,
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for i, c in enumerate(calls)
        ]
    body: dict[str, Any] = {
        "id": _response_id(request),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(reply, request),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.effective_finish_reason()}],
    }
    usage = usage_for(reply, request)
    if usage is not None:
        body["usage"] = usage
    if reply.content_filter is not None:
        body["content_filter"] = reply.content_filter
    body.update(reply.extra or {})
    return body


def _pieces(reply: Reply) -> list[tuple[str, Any]]:
    """The piece chunks' deltas in order, each as (kind, delta)."""
    out: list[tuple[str, Any]] = [("reasoning", {"reasoning_content": p}) for p in reply.reasoning_pieces()]
    out += [("content", {"content": p}) for p in reply.content_pieces()]
    out += _tool_pieces(reply)
    return out


def _tool_pieces(reply: Reply) -> list[tuple[str, Any]]:
    """The tool-call deltas in ``reply.tool_shape`` (see ``Reply``)."""
    shape = reply.tool_shape
    calls = reply.normalized_tool_calls()

    def head(i: int, call: dict[str, str], arguments: str) -> dict[str, Any]:
        return {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": arguments},
        }

    if shape == "one_delta":
        return (
            [("tool", {"tool_calls": [head(i, c, c["arguments"]) for i, c in enumerate(calls)]})]
            if calls
            else []
        )
    out: list[tuple[str, Any]] = []
    for i, call in enumerate(calls):
        if shape == "whole":
            out.append(("tool", {"tool_calls": [head(i, call, call["arguments"])]}))
            continue
        pieces = reply.tool_argument_pieces(call["arguments"])
        if shape == "name_first":
            out.append(("tool", {"tool_calls": [head(i, call, "")]}))
        for j, arg in enumerate(pieces):
            tc: dict[str, Any] = {"index": i, "function": {"arguments": arg}}
            if j == 0 and shape != "name_first":
                tc = head(i, call, arg)
            elif shape == "repeat_ids":
                tc = {"index": i, "id": call["id"], "type": "function", "function": {"arguments": arg}}
            out.append(("tool", {"tool_calls": [tc]}))
    return out


def _logprobs_for(reply: Reply, piece: str, n: int) -> Any:
    if isinstance(reply.logprobs, list):
        return reply.logprobs[n] if n < len(reply.logprobs) else None
    token = {"token": piece, "logprob": -0.1, "bytes": list(piece.encode()), "top_logprobs": []}
    return {"content": [token]}


def stream_plan(reply: Reply, request: dict[str, Any]) -> list[Step]:
    """The ordered steps that stream ``reply`` as SSE (see the module docstring)."""
    eol = "\r\n" if reply.crlf else "\n"
    rid, created, model = _response_id(request), int(time.time()), _model(reply, request)

    def event(data: str, name: str | None = None) -> Step:
        head = f"event: {name}{eol}" if name else ""
        return ("write", f"{head}data: {data}{eol}{eol}".encode())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> Step:
        obj: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        for key, value in extra.items():
            if key == "logprobs":
                obj["choices"][0]["logprobs"] = value
            else:
                obj[key] = value
        return event(_dumps(obj))

    pieces = _pieces(reply)
    closing: dict[str, Any] = {}
    if reply.tool_shape == "on_finish" and pieces and pieces[-1][0] == "tool":
        closing = pieces.pop()[1]  # the last argument piece rides on the finish chunk
    n = len(pieces)
    malformed = {int(i) for i in reply.malformed_at}

    def clamp(k: int | None) -> int | None:
        return None if k is None else min(max(int(k), 0), n)

    cut, stall, error = clamp(reply.cut_after), clamp(reply.stall_after), clamp(reply.error_after)
    steps: list[Step] = []
    content_seen = 0
    for i in range(n + 1):
        wait = reply.first_delay if i == 0 else reply.delay
        if wait > 0:
            steps.append(("sleep", float(wait)))
        if cut == i:
            steps.append(("cut",))
            return steps
        if stall == i:
            steps.append(("stall", float(reply.stall_seconds)))
            return steps
        if error == i:
            steps.append(event(_dumps(reply.error_object()), name="error" if reply.error_event else None))
            steps.append(("finish", "error_frame"))
            return steps
        if i in malformed:
            steps.append(("write", f"data: {{not json{eol}{eol}".encode()))
        if reply.unknown_events:
            steps.append(event("{}", name="ping"))
        if reply.comments:
            steps.append(("write", f": keep-alive{eol}{eol}".encode()))
        if i < n:
            kind, delta = pieces[i]
            delta = ({"role": "assistant"} | delta) if i == 0 else delta
            extra: dict[str, Any] = {}
            if kind == "content" and reply.logprobs:
                extra["logprobs"] = _logprobs_for(reply, delta["content"], content_seen)
            if kind == "content":
                content_seen += 1
            steps.append(chunk(delta, **extra))
        else:
            delta = closing or ({"role": "assistant", "content": ""} if n == 0 else {})
            extra = {}
            usage = usage_for(reply, request)
            if usage is not None:
                extra["usage"] = usage
            if reply.content_filter is not None:
                extra["content_filter"] = reply.content_filter
            extra.update(reply.extra or {})
            steps.append(chunk(delta, reply.effective_finish_reason(), **extra))
    if not reply.no_done:
        steps.append(event("[DONE]"))
    steps.append(("finish", "complete"))
    return steps
