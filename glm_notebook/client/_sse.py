"""The I/O-free heart of streaming: response bytes in, typed events and a ChatResult out.

Both the sync and async clients feed the body's bytes to ``SSEDecoder`` and every event's data to
``StreamState``, so SSE framing, parsing, metrics and the end-of-stream checks are written once.
Malformed JSON frames are skipped and counted. An error in the body (an ``event: error`` frame
whatever its data, GLM's ``{"error": ...}``, or the OpenAI/vLLM ``{"object": "error", "message":
...}``) raises the typed error its code gives, with the server's message and the partial result
attached: labelled "in the body of an HTTP 200 answer" before any answer data, "mid-stream"
after (the engine retries the former like its HTTP form). ``finish_reason: "network_error"``
raises ``ServerNetworkError`` at once, keeping the partial.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .._errors import APIError, ContentFilterError, ServerNetworkError, StreamInterrupted, make_api_error
from .._types import ChatResult, StreamEvent, ToolCall, Usage
from ._limits import MAX_LINE_BYTES, too_large


class ErrorEvent(str):
    """The data of an event named ``error`` (``event: error``): an error whatever it holds."""


class SSEDecoder:
    """Server-sent events framing on raw bytes: feed what the socket gave, get ``data`` payloads.

    Lines end at LF, CR or CRLF (also a CRLF split across two reads), and at nothing else, so
    U+2028/U+2029 inside the text are safe. A line is decoded only once it is complete, so a UTF-8
    character split across reads is safe; invalid UTF-8 becomes U+FFFD instead of an exception.
    Comment lines (``:``) and the ``id``/``retry`` fields are skipped; the ``event`` field only
    matters when it is ``error``: that event's data comes out as an ``ErrorEvent``. A line, and
    an event's data, longer than ``MAX_LINE_BYTES`` raises ``ResponseTooLargeError``. As the spec says, a bare ``data`` line (no colon) is a data line with
    an empty value, and a block without data lines dispatches nothing. Working on bytes skips
    httpx's text decoding and line splitting, the largest cost per chunk after HTTP itself.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._tail = b""  # an incomplete last line (plus a held-back CR)
        self._data: list[bytes] = []  # data lines of the event being read
        self._size = 0  # bytes in _data
        self._error = False  # the event being read is named "error"
        self._max = max_line

    def feed(self, chunk: bytes) -> list[str]:
        """The data of every event completed by ``chunk``."""
        if (  # the common case, one whole "data: ...\n\n" frame per read: 3x faster
            not self._tail
            and chunk[:6] == b"data: "
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1:] == b"\n"
            and b"\r" not in chunk
            and not self._data
        ):
            return [chunk[6:-2].decode("utf-8", "replace")]
        buf = self._tail + chunk if self._tail else chunk
        held = b""
        if b"\r" in buf:
            if buf.endswith(b"\r"):  # maybe half of a CRLF: decide when the next byte comes
                buf, held = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop() + held
        if len(self._tail) > self._max:
            raise too_large("one line of the event stream", self._max)
        events: list[str] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(self._dispatch())
                self._error = False
            elif line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                data.append(value)
                self._size += len(value)
                if self._size > self._max:
                    raise too_large("one event of the event stream", self._max)
            elif line == b"data":  # a field name without a colon has an empty value (SSE spec)
                data.append(b"")
            elif line.startswith(b"event:"):
                self._error = line[6:].strip() == b"error"
        return events

    def _dispatch(self) -> str:
        text = b"\n".join(self._data).decode("utf-8", "replace")
        self._data.clear()
        self._size = 0
        if self._error:
            self._error = False
            return ErrorEvent(text)
        return text

    def flush(self) -> list[str]:
        """At the end of the body: an event whose data lines are complete but that lacks its
        blank line is still delivered (lenient; a line cut in the middle is dropped)."""
        tail, self._tail = self._tail, b""
        # A tail ending in CR holds a whole line (the CR ended it): read that line, then end it.
        events = self.feed(tail + b"\n") if tail.endswith(b"\r") else []
        if self._data:
            events.append(self._dispatch())
        return events


def is_error_object(chunk: dict[str, Any]) -> bool:
    """Whether a frame without choices is an error: GLM's and llama.cpp's ``{"error": {...}}``,
    ``{"error": "text"}``, or vLLM/SGLang's ``{"object": "error", "message": ..., "code": ...}``
    (also seen without ``object``)."""
    error = chunk.get("error")
    return bool(error) or chunk.get("object") == "error" or isinstance(chunk.get("message"), str)


# Top-level fields of a chunk this module reads or that carry nothing for the user.
_KNOWN_FIELDS = frozenset(
    {"id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier"}
)


class StreamState:
    """Accumulates one streamed answer into ``result`` and turns chunks into StreamEvents."""

    def __init__(self, result: ChatResult, started: float) -> None:
        self.result = result
        self.started = started
        self.first_token_at: float | None = None
        self.done = False  # saw data: [DONE]
        self.answered = False  # handed out any text, reasoning or tool-call event
        self._tool_calls: dict[int, ToolCall] = {}

    def feed(self, data: str) -> list[StreamEvent]:
        """Events for one SSE data payload; raises the typed error for an error object."""
        if type(data) is ErrorEvent:
            raise self.error(data)
        if data[:1] != "{" and data.strip() == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            if data.strip():  # an empty event ("data:" or a bare "data" line) is no frame at all
                self.result.metrics.malformed_frames += 1
            return []
        if not isinstance(chunk, dict):
            self.result.metrics.malformed_frames += 1
            return []
        if not chunk.get("choices") and is_error_object(chunk):
            raise self.error(chunk)
        return self._events_for(chunk)

    def error(self, body: str | dict[str, Any]) -> APIError:
        """The typed error for an error object in the body, said where it came."""
        where = "mid-stream" if self.answered else "in the body of an HTTP 200 answer"
        return make_api_error(None, body, partial=self.result, where=where)

    def feed_completion(self, body: dict[str, Any]) -> list[StreamEvent]:
        """Events for a whole non-streamed ``chat.completion`` (a server that ignored stream)."""
        choice = (body.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        chunk = {
            **body,
            "id": body.get("id"),
            "model": body.get("model"),
            "usage": body.get("usage"),
            "choices": [
                {
                    "delta": {
                        "content": message.get("content"),
                        "reasoning_content": message.get("reasoning_content"),
                        "tool_calls": [
                            {"index": i, **call} for i, call in enumerate(message.get("tool_calls") or [])
                        ],
                    },
                    "finish_reason": choice.get("finish_reason"),
                }
            ],
        }
        events = self._events_for(chunk)
        self.done = True
        return events

    def _mark_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
            self.result.metrics.ttft_s = self.first_token_at - self.started
        self.answered = True

    def _events_for(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        result = self.result
        events: list[StreamEvent] = []
        result.id = result.id or chunk.get("id")
        result.model = chunk.get("model") or result.model
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if reasoning:
                self._mark_token()
                result.add_reasoning(reasoning)
                result.metrics.chunks += 1
                events.append(StreamEvent("reasoning", text=reasoning))
            content = delta.get("content")
            if content:
                self._mark_token()
                result.add_text(content)
                result.metrics.chunks += 1
                events.append(StreamEvent("text", text=content))
            for raw in delta.get("tool_calls") or []:
                events.append(self._tool_call_event(raw))
            logprobs = choice.get("logprobs")
            if logprobs and logprobs.get("content"):
                if result.logprobs is None:
                    result.logprobs = []
                result.logprobs.extend(logprobs["content"])  # in place: += on a copy is quadratic
            reason = choice.get("finish_reason")
            if reason:
                result.finish_reason = reason
                events.append(StreamEvent("finish", finish_reason=reason))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            result.usage = Usage.from_json(usage)
            events.append(StreamEvent("usage", usage=result.usage))
        if result.finish_reason == "network_error":
            raise ServerNetworkError(
                "ServerNetworkError (finish_reason 'network_error'): the server's own connection "
                f"to the model failed; the {len(result.text)} characters that arrived are kept in "
                ".partial - run it again.",
                code="network_error",
                partial=result,
            )
        if len(chunk) > 4 and not _KNOWN_FIELDS.issuperset(chunk):  # no set built per chunk
            for key in chunk.keys() - _KNOWN_FIELDS:
                result.extras[key] = chunk[key]  # e.g. web_search sources: kept as they came
        return events

    def _tool_call_event(self, raw: dict[str, Any]) -> StreamEvent:
        """Assemble calls by ``index``. Tolerated (GLM behind other servers): the whole call in one
        delta, the first argument fragment with the name, ``id`` (or the name) repeated on
        continuations, the last fragment on the finish chunk, zero-argument calls. Without a
        usable index (none, or negative: glm-4.5 sent ``"index": -1``) a delta continues the call
        with its id, else starts a new one."""
        self._mark_token()
        calls = self._tool_calls
        call_id = raw.get("id")
        index = raw.get("index")
        try:
            index = int(index) if index is not None else -1
        except (TypeError, ValueError):
            index = -1
        if index < 0:
            known = [c.index for c in calls.values() if call_id and c.id == call_id]
            index = known[0] if known else max(calls, default=-1) + 1
        call = calls.get(index)
        if call is None:
            call = ToolCall(index=index)
            calls[index] = call
            self.result.tool_calls.append(call)
        call.id = call_id or call.id
        call.type = raw.get("type") or call.type
        function = raw.get("function") or {}
        name = function.get("name") or ""
        if name and name != call.name:
            call.name += name
        piece = function.get("arguments")
        if not isinstance(piece, str):  # absent, or a server that sends the arguments as an object
            piece = "" if piece is None else json.dumps(piece, ensure_ascii=False)
        call.arguments += piece
        return StreamEvent("tool_call", text=piece, tool_call=call)

    def finish(self) -> None:
        """Close the books: metrics, completeness; raise for a cut stream or a content-filter stop.

        A stream that ends without ``[DONE]`` but after a finish_reason is accepted as complete
        (some OpenAI-compatible servers omit [DONE]); with neither, it was cut.
        """
        result = self.result
        end = time.monotonic()
        metrics = result.metrics
        metrics.duration_s = end - self.started
        if result.usage and self.first_token_at is not None:
            generating = end - self.first_token_at
            if generating > 0 and result.usage.completion_tokens > 0:
                metrics.tokens_per_s = result.usage.completion_tokens / generating
        if not self.done and result.finish_reason is None:
            raise StreamInterrupted(
                "The stream ended before the answer was finished (no [DONE] from the server); "
                f"the {len(result.text)} characters that arrived are kept in .partial - run it again.",
                partial=result,
            )
        result.complete = True
        if result.finish_reason == "sensitive":
            raise ContentFilterError(
                "ContentFilterError (finish_reason 'sensitive'): the content filter stopped the answer; "
                "the text before it is kept - rephrase the prompt.",
                code="1301",
                partial=result,
            )

    def mark_stopped(self) -> None:
        result = self.result
        result.stopped = True
        result.metrics.duration_s = time.monotonic() - self.started
