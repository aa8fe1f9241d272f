"""Result and event types shared by every layer: ChatResult, Usage, Metrics, StreamEvent, ToolCall,
Notice.

These are plain dataclasses with no I/O. A ChatResult is filled in place while a stream runs, so
``stream.result`` always holds what has arrived so far (the partial answer if the stream is cut).
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["text", "reasoning", "tool_call", "tool_result", "usage", "finish"]
NoticeKind = Literal["starting", "retrying", "restarting", "repairing"]
Prompt = str | Sequence[dict[str, Any]]
"""What a chat is asked: one user message's text, or the whole list of messages."""

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)


def strip_fences(text: str) -> str:
    """The JSON inside an answer: the whole text, or the first fenced block if the text is not
    bare JSON (```json ... ``` alone, or with a sentence before or after it)."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        return stripped
    match = _FENCE.search(stripped)
    return match.group(1).strip() if match else stripped


@dataclass
class Usage:
    """Token counts as reported by the server (never estimated)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        details = data.get("completion_tokens_details") or {}
        prompt_details = data.get("prompt_tokens_details") or {}
        prompt = int(data.get("prompt_tokens") or 0)
        completion = int(data.get("completion_tokens") or 0)
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=int(data.get("total_tokens") or prompt + completion),
            reasoning_tokens=details.get("reasoning_tokens"),
            cached_tokens=prompt_details.get("cached_tokens"),
        )


@dataclass
class Metrics:
    """Timing of one request, measured on the client.

    ``ttft_s`` is from sending the request to the first answer or reasoning text; ``duration_s`` from
    sending to the end of the stream. ``tokens_per_s`` is computed from the server's completion token
    count over the generation time (after the first token) and is None when the server sent no usage.
    ``chunks`` counts content chunks received; ``malformed_frames`` counts SSE frames that were not
    valid JSON and were skipped; ``retries`` counts attempts that were retried before the answer.
    """

    ttft_s: float | None = None
    duration_s: float | None = None
    tokens_per_s: float | None = None
    chunks: int = 0
    malformed_frames: int = 0
    retries: int = 0


@dataclass
class ToolCall:
    """A function call requested by the model; ``arguments`` is the JSON text as streamed.

    After a tool loop (``chat(..., tools=[...])``) ``output`` is the text sent back to the model
    (None if nothing was sent, e.g. the call that hit ``max_tool_turns``), ``error`` says what went
    wrong (the tool raised, invalid arguments, an unknown tool, "denied by the user"; None if it
    ran), and ``duration_s`` is how long the function ran.
    """

    index: int
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: str = ""
    output: str | None = None
    error: str | None = None
    duration_s: float | None = None

    def parsed_arguments(self) -> Any:
        """The arguments as Python (an empty string is ``{}``); raises ValueError for bad JSON."""
        return _json.loads(self.arguments or "{}")


@dataclass
class Origin:
    """Where an answer came from (the status line and ``ChatResult.provenance`` read it).

    ``provider`` is the kernel's provider when asked; ``created`` when it was asked (UTC, ISO
    8601), for a replayed answer when it was recorded; ``replayed`` True when it came from an
    answer file (``glm.replay``); ``note`` says why a turn was asked although replay was on
    (e.g. a tool's result differs from the recording).
    """

    provider: str | None = None
    created: str | None = None
    replayed: bool = False
    note: str | None = None


class _GrowingText:
    """A ``str`` field that a stream extends piece by piece in O(1); the text is joined when read.

    ``result.text += piece`` copies the whole text on every chunk (quadratic: seconds for a long
    answer). Pieces go to an append-only list instead; a read joins only what is new since the
    last read. Safe to read from another thread while the stream appends.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._parts = f"_{name}_parts"
        self._cache = f"_{name}_cache"

    def __get__(self, obj: object | None, objtype: type | None = None) -> str:
        if obj is None:
            return ""  # the dataclass default
        state = obj.__dict__
        parts: list[str] = state[self._parts]
        text, seen = state[self._cache]
        count = len(parts)
        if seen < count:
            text = text + "".join(parts[seen:count])
            state[self._cache] = (text, count)
        return text

    def __set__(self, obj: object, value: str) -> None:
        obj.__dict__[self._parts] = [value]
        obj.__dict__[self._cache] = (value, 1)


@dataclass
class ChatResult:
    """One answer: text, reasoning, finish reason, usage and timings.

    ``complete`` is True only when the server finished the stream normally; a cut or stopped stream
    leaves the partial text here with ``complete`` False and ``stopped`` or ``error`` set.
    ``request`` is the JSON payload that was sent (it never contains the API key).

    After a tool loop: ``tool_calls`` holds every call of every turn (with ``output`` and
    ``error``), ``messages`` the whole exchange as sent and received, ``usage`` the sum over the
    turns; ``text`` is the last turn's answer. ``extras`` keeps top-level fields of the reply this
    package does not interpret, as they came (e.g. ``web_search``: the sources of GLM's built-in
    search).

    With ``chat(..., schema=X)``: ``parsed`` is the answer validated against X (a model or
    dataclass instance, or a dict for a TypedDict or a JSON-schema dict); otherwise None.
    """

    text: _GrowingText = _GrowingText()
    reasoning: _GrowingText = _GrowingText()
    finish_reason: str | None = None
    model: str | None = None
    id: str | None = None
    usage: Usage | None = None
    metrics: Metrics = field(default_factory=Metrics)
    tool_calls: list[ToolCall] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    stopped: bool = False
    error: Exception | None = None
    logprobs: list[dict[str, Any]] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    parsed: Any = None
    origin: Origin = field(default_factory=Origin)

    def add_text(self, piece: str) -> None:
        """Append a streamed piece of the answer (O(1); ``text`` includes it at once)."""
        self.__dict__["_text_parts"].append(piece)

    def add_reasoning(self, piece: str) -> None:
        """Append a streamed piece of the reasoning (O(1))."""
        self.__dict__["_reasoning_parts"].append(piece)

    @property
    def cost(self) -> float | None:
        """USD for this answer from ``usage`` and the price table (``glm.set_prices``); None when
        the server sent no usage or the model has no price: never a guess (see ``_prices``)."""
        from ._prices import cost_of

        return cost_of(self.usage, self.model or self.request.get("model"))

    @property
    def provenance(self) -> dict[str, Any]:
        """What produced this answer, small and without the key or the messages (a hash of them):
        the ``glm_notebook`` entry of a saved answer's output metadata (``_provenance``)."""
        from ._provenance import provenance_of

        return provenance_of(self)

    @property
    def json(self) -> Any:
        """The answer parsed as JSON (for ``response_format={"type": "json_object"}``).

        Tolerates a Markdown code fence around the object, which some models add (the same
        stripping as ``schema=``).
        """
        return _json.loads(strip_fences(self.text))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        state = "complete" if self.complete else ("stopped" if self.stopped else "partial")
        return (
            f"ChatResult(text={preview!r}, finish_reason={self.finish_reason!r}, "
            f"model={self.model!r}, {state})"
        )


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1.5 µs more per event
class StreamEvent:
    """One typed event from a stream.

    kind "text" and "reasoning" carry ``text`` (the new piece only); "tool_call" carries the
    ``tool_call`` being assembled (``text`` is the new argument piece); "tool_result" (streams with
    ``tools=``) carries a call whose ``output`` / ``error`` / ``duration_s`` are now set; "usage"
    carries ``usage``; "finish" carries ``finish_reason``.
    """

    kind: EventKind
    text: str = ""
    tool_call: ToolCall | None = None
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass
class Notice:
    """What a stream is doing while no answer arrives, for a status line (``stream.on_notice``).

    kind "starting": the offline model is starting (up to a minute, once per process);
    "retrying": a retryable failure, the next attempt follows in ``wait_s`` seconds (``error`` is
    the failure, e.g. a RateLimitError); "restarting": the offline server had died and is being
    started again; "repairing": ``schema=``'s answer did not fit, the repair turn follows.
    ``message`` is a short line for people, e.g. "rate limited (1302), retrying in 2 s".
    """

    kind: NoticeKind
    message: str
    wait_s: float | None = None
    error: Exception | None = None
