"""The tool loop of ``chat(prompt, tools=[...])``: every turn decision written once, free of I/O,
plus the small call runners the sync and async drivers use.

``ToolLoop`` names what to do next as a *decision* and is told the outcome::

    Ask(messages, options)   stream one turn with these messages; answer with its ChatResult
    Run(calls)               run these checked calls; answer with one Outcome per call

A turn that asks for tools is answered and the loop goes on: the assistant message (content,
``reasoning_content`` unmodified, ``tool_calls``) is appended, then one ``tool`` message per call
in the order the model made them. What each call gets back:

- it ran: its result (a str as is, anything else as JSON); it raised: ``Error: <Type>: <message>``
  (``raise_tool_errors=True`` re-raises instead);
- arguments that are not JSON or fail the schema: nothing runs, the validation message goes back;
- a name that was not given: nothing runs, the model is told which tools exist;
- approval asked and refused: ``denied by the user``.

Every turn that asks for tools counts against ``max_tool_turns`` (invalid calls too); one more is
``ToolLoopError``, carrying the result so far and the transcript. A ``tool_choice`` that forces a
call (``"required"`` or a named function) is sent on the first turn only, else the model could
never stop calling.

With ``schema`` (``chat(..., schema=X)``, see ``_schema``) the answer that ends the loop is parsed
and validated into ``result.parsed``; an invalid one gets exactly one repair turn (the answer as
the assistant's message, then a user message with the validation error), a second invalid answer
is ``SchemaValidationError``. Without tools that is the whole loop: one turn, or two. With tools,
every turn offers the tools and asks for the format, and the tool turns run as usual until the
model answers in text; that answer is the one validated (the repair turn offers the tools too).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .._errors import GLMError, InvalidOptionError, SchemaValidationError, ToolLoopError
from .._types import ChatResult, ToolCall, Usage
from . import DEFAULT_TOOL_TURNS
from ._functions import DENIED, Approver, ArgumentsError, Tool, ToolSet, error_output, tool_output
from ._schema import OutputSchema, SchemaMismatch

# Models whose API streams tool-call arguments with ``tool_stream: true`` (GLM_PROTOCOL.md).
_TOOL_STREAM_PREFIXES = ("glm-4.6", "glm-4.7", "glm-5")


def supports_tool_stream(model: str | None) -> bool:
    """GLM-4.6, GLM-4.7 and GLM-5 text models (not the vision ones such as glm-4.6v, glm-5v-turbo)."""
    name = (model or "").lower()
    for prefix in _TOOL_STREAM_PREFIXES:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return rest == "" or rest[0] == "-"
    return False


@dataclass(frozen=True)
class Ask:
    messages: list[dict[str, Any]]
    options: dict[str, Any]


@dataclass(frozen=True)
class Run:
    calls: list[PlannedCall]


@dataclass(frozen=True)
class Outcome:
    """What happened to one call: ``value`` it returned, ``exc`` it raised, or ``denied``."""

    value: Any = None
    exc: Exception | None = None
    denied: bool = False


@dataclass
class PlannedCall:
    """A call whose tool exists and whose arguments passed the schema."""

    call: ToolCall
    tool: Tool
    arguments: dict[str, Any] = field(default_factory=dict)

    def approved_sync(self, approver: Approver) -> bool:
        if not self.tool.needs_approval(self.arguments):
            return True
        return bool(approver(self.call))

    async def approved_async(self, approver: Approver) -> bool:
        if not self.tool.needs_approval(self.arguments):
            return True
        if inspect.iscoroutinefunction(approver):
            return bool(await approver(self.call))
        answer = await asyncio.to_thread(approver, self.call)  # input() blocks: off the loop
        return bool(await answer) if inspect.isawaitable(answer) else bool(answer)

    def run_sync(self) -> Outcome:
        start = time.perf_counter()
        try:
            return Outcome(value=self.tool.run_sync(self.arguments))
        except Exception as exc:  # noqa: BLE001 - the model is told; raise_tool_errors re-raises
            return Outcome(exc=exc)
        finally:
            self.call.duration_s = time.perf_counter() - start

    async def run_async(self) -> Outcome:
        start = time.perf_counter()
        try:
            return Outcome(value=await self.tool.run_async(self.arguments))
        except Exception as exc:  # noqa: BLE001 - the model is told; raise_tool_errors re-raises
            return Outcome(exc=exc)
        finally:
            self.call.duration_s = time.perf_counter() - start


def ask_in_terminal(call: ToolCall) -> bool:
    """The default approver: ``input()`` asks "Run name(arguments)? [y/N]"."""
    from .._terminal import terminal_safe  # the name and arguments are the model's

    answer = input(terminal_safe(f"GLM wants to run {call.name}({call.arguments or '{}'}). Allow? [y/N] "))
    return answer.strip().lower() in ("y", "yes")


def run_calls_sync(calls: Sequence[PlannedCall], approver: Approver) -> list[Outcome]:
    """One after the other, each asked for first when its tool wants approval."""
    return [call.run_sync() if call.approved_sync(approver) else Outcome(denied=True) for call in calls]


async def run_calls_async(calls: Sequence[PlannedCall], approver: Approver) -> list[Outcome]:
    """Approvals one at a time (a prompt each), then the approved calls concurrently."""
    approved = [await call.approved_async(approver) for call in calls]

    async def one(call: PlannedCall, ok: bool) -> Outcome:
        return await call.run_async() if ok else Outcome(denied=True)

    return list(await asyncio.gather(*(one(c, ok) for c, ok in zip(calls, approved, strict=True))))


class ToolLoop:
    """The turns of one ``chat(..., tools=[...])``; ``result`` is the answer when it ends."""

    def __init__(
        self,
        tools: ToolSet,
        messages: list[dict[str, Any]],
        options: dict[str, Any],
        *,
        tool_choice: Any = None,
        max_tool_turns: int = DEFAULT_TOOL_TURNS,
        raise_tool_errors: bool = False,
        schema: OutputSchema | None = None,
    ) -> None:
        if isinstance(max_tool_turns, bool) or not isinstance(max_tool_turns, int) or max_tool_turns < 1:
            raise InvalidOptionError(
                f"max_tool_turns must be an integer of at least 1, got {max_tool_turns!r}."
            )
        self.tools = tools
        self.messages = messages
        self.max_tool_turns = max_tool_turns
        self.raise_tool_errors = raise_tool_errors
        self.schema = schema
        self.calls: list[ToolCall] = []
        self.turns: list[ChatResult] = []
        self.result: ChatResult | None = None
        self._own: list[tuple[Usage | None, int, int]] = []  # each turn's usage, retries, bad frames
        self._options = {**options, "tools": tools.definitions or None}  # tools=[]: none sent
        forcing = isinstance(tool_choice, dict) or tool_choice == "required"
        self._first = {**self._options, "tool_choice": tool_choice}
        if not forcing:
            self._options = self._first
        self._started = time.monotonic()
        self._steps: Generator[Ask | Run, Any, None] | None = None

    def resume(self, answer: Any = None) -> Ask | Run | None:
        """The next decision given the last one's answer; None when ``result`` is the answer.
        Raises ToolLoopError, or a tool's exception with ``raise_tool_errors``."""
        if self._steps is None:
            self._steps = self._run()
            answer = None
        try:
            return self._steps.send(answer)
        except StopIteration:
            return None

    def _run(self) -> Generator[Ask | Run, Any, None]:
        tool_turns = 0
        repaired = False
        while True:
            options = self._first if not self.turns else self._options
            turn: ChatResult = yield Ask(list(self.messages), options)
            calls = [c for c in turn.tool_calls if c.type == "function"]  # this turn's, before absorb
            self.absorb(turn)
            if not calls or not turn.complete:
                self.messages.append(_assistant_message(turn, []))
                if self.schema is None or not turn.complete or self._parsed(turn, repaired):
                    return
                repaired = True
                continue
            if tool_turns == self.max_tool_turns:
                raise ToolLoopError(
                    f"ToolLoopError: the model still asked for tools after {tool_turns} tool turns "
                    f"(max_tool_turns={self.max_tool_turns}); the calls so far are in .partial.tool_calls "
                    "and the transcript in .messages - raise max_tool_turns=... or ask for less at once.",
                    partial=self.result,
                    messages=self.messages,
                )
            tool_turns += 1
            for call in calls:
                call.id = call.id or f"call_{len(self.turns)}_{call.index}"
            self.messages.append(_assistant_message(turn, calls))
            planned = [p for p in (self._check(c) for c in calls) if p is not None]
            if planned:
                outcomes: list[Outcome] = yield Run(planned)
                for plan, outcome in zip(planned, outcomes, strict=True):
                    self._record(plan.call, outcome)
            for call in calls:
                self.messages.append({"role": "tool", "tool_call_id": call.id, "content": call.output})

    def _parsed(self, turn: ChatResult, repaired: bool) -> bool:
        """True once ``turn`` (the answer) fits the schema; False after asking for the repair."""
        assert self.schema is not None
        try:
            turn.parsed = self.schema.parse(turn.text)
            return True
        except SchemaMismatch as exc:
            problem = str(exc)
        if repaired:
            advice = (
                "raise max_tokens: the answer was cut off there"
                if turn.finish_reason == "length"
                else "describe the fields in the prompt, or use a model that follows formats better"
            )
            raise SchemaValidationError(
                f"SchemaValidationError: the answer still does not match schema {self.schema.name} after "
                f"one repair turn: {problem}. The raw answer is in .text, both turns in .partial "
                f"- {advice}.",
                text=turn.text,
                validation_error=problem,
                partial=self.result,
                messages=self.messages,
            )
        self.messages.append(self.schema.repair_message(problem))
        return False

    def _check(self, call: ToolCall) -> PlannedCall | None:
        """The call to run, or None after telling the model why not (unknown tool, bad arguments)."""
        found = self.tools.by_name.get(call.name)
        if found is None:
            call.output = call.error = self.tools.unknown(call.name)
            return None
        try:
            return PlannedCall(call, found, found.validate(call.arguments))
        except ArgumentsError as exc:
            call.output = call.error = str(exc)
            return None

    def _record(self, call: ToolCall, outcome: Outcome) -> None:
        if outcome.denied:
            call.output = call.error = DENIED
        elif outcome.exc is not None:
            call.output = call.error = error_output(outcome.exc)
            if self.raise_tool_errors:
                raise outcome.exc
        else:
            call.output = tool_output(outcome.value)

    def failed(self, error: GLMError) -> None:
        """A turn's request failed (the driver re-raises): its ``partial`` gets the loop's record,
        every call so far and the transcript, as ToolLoopError's does."""
        partial = error.partial
        if isinstance(partial, ChatResult) and all(partial is not t for t in self.turns):
            self.absorb(partial)

    def cut(self, turn: ChatResult) -> None:
        """A turn ended by a kernel interrupt (nothing answered it): folded in, its partial text
        kept as the transcript's last assistant message, as a stopped turn's is."""
        self.absorb(turn)
        self.messages.append(_assistant_message(turn, []))

    def absorb(self, turn: ChatResult) -> None:
        """Fold a turn into the loop's result: its text, every call so far, usage summed (also a
        turn cut by Stop or an interrupt, which the streamed loop folds in itself)."""
        metrics = turn.metrics
        self._own.append((turn.usage, metrics.retries, metrics.malformed_frames))  # before the sums
        self.turns.append(turn)
        self.calls.extend(turn.tool_calls)
        turn.tool_calls = list(self.calls)
        turn.messages = self.messages
        turn.usage = _sum_usage([own[0] for own in self._own])
        if len(self.turns) > 1:
            metrics.ttft_s = self.turns[0].metrics.ttft_s
            metrics.duration_s = time.monotonic() - self._started
            metrics.retries = sum(own[1] for own in self._own)
            metrics.malformed_frames = sum(own[2] for own in self._own)
        self.result = turn


def _assistant_message(turn: ChatResult, calls: list[ToolCall]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or (None if calls else "")}
    if turn.reasoning:
        message["reasoning_content"] = turn.reasoning  # unmodified: interleaved / preserved thinking
    if calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                # A zero-argument call streamed as "" goes back as "{}": chat templates parse it.
                "function": {"name": c.name, "arguments": c.arguments or "{}"},
            }
            for c in calls
        ]
    return message


def _sum_usage(usages: list[Usage | None]) -> Usage | None:
    known = [u for u in usages if u is not None]
    if not known:
        return None

    def total(name: str) -> int | None:
        values = [getattr(u, name) for u in known if getattr(u, name) is not None]
        return sum(values) if values else None

    return replace(
        known[0],
        prompt_tokens=sum(u.prompt_tokens for u in known),
        completion_tokens=sum(u.completion_tokens for u in known),
        total_tokens=sum(u.total_tokens for u in known),
        reasoning_tokens=total("reasoning_tokens"),
        cached_tokens=total("cached_tokens"),
    )
