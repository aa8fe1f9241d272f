"""The streamed tool loop: ``client.stream(prompt, tools=[...])`` yields every turn's events plus
one ``tool_result`` event per call, so a view can show the calls as they happen.

``ToolChatStream`` (sync) and ``AsyncToolChatStream`` drive a ``tools/_loop.ToolLoop``: each
``Ask`` decision opens an ordinary chat stream on the same client and hands its events on; each
``Run`` decision runs the checked calls (``run_calls_sync`` / ``run_calls_async``). ``chat(...,
tools=[...])`` is this stream consumed to its end. What they share lives in ``ToolStreamBase``:

* ``result`` is the loop's answer so far: every call of every turn, the transcript, usage summed;
  a turn cut by an error, Stop or a kernel interrupt is folded in, so the partial transcript is
  kept;
* ``cancel()`` (Stop, from any thread) shuts the turn in flight down; a tool already running
  finishes (Python cannot stop a function from outside), no further tool runs and no further turn
  is sent; the result is then ``stopped``;
* events: "text", "reasoning", "tool_call" (an argument piece; the call's name is known from the
  first one), "usage" and "finish" of each turn as ``client.stream`` yields them, then
  "tool_result" for each call once what goes back to the model is known (``call.output``,
  ``call.error``, ``call.duration_s``), in the order the model made them.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._errors import GLMError
from .._types import ChatResult, Notice, Origin, StreamEvent
from ..tools._loop import Ask, ToolLoop, run_calls_async, run_calls_sync
from ._engine import Notify

if TYPE_CHECKING:
    from ..tools._functions import Approver
    from ._async import AsyncChatStream, AsyncGLMClient
    from ._sync import ChatStream, GLMClient


class ToolStreamBase:
    """What the sync and async tool streams share: result, cancel(), notices, tool_result events."""

    def __init__(self, loop: ToolLoop, model: str | None, approver: Approver) -> None:
        self.loop = loop
        self._model = model
        self._approver = approver
        self._lock = threading.Lock()
        self._turn: ChatStream | AsyncChatStream | None = None  # the turn in flight
        self._cancelled = False
        self._notify: list[Notify] = []
        self._reported: set[int] = set()
        self._empty = ChatResult()
        self._over = False  # the loop has run its course (ended, failed or was stopped)
        self._origin: Origin | None = None  # the turns' origins folded: replayed only if all were

    def _fold_origin(self, turn: ChatResult) -> None:
        """The loop's answer is its last turn: give it the first turn's date, "replayed" only if
        every turn was, and the first note (e.g. a tool's result differs from the recording)."""
        mine, seen = turn.origin, self._origin
        if seen is None:
            self._origin = replace(mine)
            return
        seen.provider = seen.provider or mine.provider
        seen.replayed = seen.replayed and mine.replayed
        seen.note = seen.note or mine.note
        turn.origin = replace(seen)

    @property
    def result(self) -> ChatResult:
        """The answer so far (see the module docstring); an empty ChatResult before the first turn."""
        loop, turn = self.loop, self._turn
        if turn is not None and all(turn.result is not t for t in loop.turns):
            return turn.result  # mid-turn: this turn's text so far
        return loop.result if loop.result is not None else self._empty

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop from any thread: the turn in flight is shut down; nothing further runs or is sent."""
        with self._lock:
            self._cancelled = True
            turn = self._turn
        if turn is not None:
            turn.cancel()

    def on_notice(self, callback: Notify) -> None:
        """As ChatStream.on_notice, for every turn's request."""
        self._notify.append(callback)

    def _announce(self, step: Ask) -> None:
        """Before a schema's repair turn, a "repairing" notice: the view says why a second answer
        follows the first (the loop asks again with the validation error as the last user turn)."""
        schema = self.loop.schema
        if schema is None or not self.loop.turns or step.messages[-1].get("role") != "user":
            return
        notice = Notice(
            "repairing", f"the answer did not match {schema.name}: asking once more with the validation error"
        )
        for callback in self._notify:
            callback(notice)

    def _open(self, turn: ChatStream | AsyncChatStream) -> None:
        for callback in self._notify:
            turn.on_notice(callback)
        with self._lock:
            self._turn = turn
            cancelled = self._cancelled
        if cancelled:
            turn.cancel()

    def _results(self) -> list[StreamEvent]:
        """A tool_result event for each call whose answer to the model is now known."""
        events = []
        for call in self.loop.calls:
            if call.output is not None and id(call) not in self._reported:
                self._reported.add(id(call))
                events.append(StreamEvent("tool_result", tool_call=call))
        return events

    def _wrap_up(self, ended: bool) -> None:
        """Fold a cut turn into the loop's result; a loop left early by Stop is ``stopped``."""
        self._over = True
        turn = self._turn
        if turn is not None and all(turn.result is not t for t in self.loop.turns):
            self.loop.cut(turn.result)
        result = self.loop.result
        if result is not None and not ended:
            result.complete = False
            if self._cancelled:
                result.stopped = True


class ToolChatStream(ToolStreamBase):
    """``GLMClient.stream(..., tools=[...])``: iterate for events (module docstring); use ``with``."""

    def __init__(self, client: GLMClient, loop: ToolLoop, model: str | None, approver: Approver) -> None:
        super().__init__(loop, model, approver)
        self._client = client
        self._iterator: Generator[StreamEvent, None, None] | None = None

    def __enter__(self) -> ToolChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Generator[StreamEvent, None, None]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    def close(self) -> None:
        """Close the turn in flight; a loop closed before its end is marked stopped."""
        if self._iterator is not None:
            self._cancelled = self._cancelled or not self._over
            self._iterator.close()

    def until_done(self) -> ChatResult:
        for _ in self:
            pass
        return self.result

    def _events(self) -> Generator[StreamEvent, None, None]:
        loop, ended = self.loop, False
        try:
            step = loop.resume()
            while step is not None and not self._cancelled:
                answer: Any
                if isinstance(step, Ask):
                    self._announce(step)
                    turn = self._client.plain_stream(step.messages, self._model, None, step.options)
                    self._open(turn)
                    try:
                        with turn:
                            for event in turn:
                                yield event
                    except GLMError as exc:
                        loop.failed(exc)  # the error's partial keeps the calls so far and the transcript
                        raise
                    answer = turn.result
                    self._fold_origin(answer)
                else:
                    answer = run_calls_sync(step.calls, self._approver)
                step = loop.resume(answer)
                for event in self._results():
                    yield event
            ended = step is None
        finally:
            self._wrap_up(ended)


class AsyncToolChatStream(ToolStreamBase):
    """``AsyncGLMClient.stream(..., tools=[...])``: ``async for`` the events; ``async with`` it."""

    def __init__(self, client: AsyncGLMClient, loop: ToolLoop, model: str | None, approver: Approver) -> None:
        super().__init__(loop, model, approver)
        self._client = client
        self._iterator: AsyncGenerator[StreamEvent, None] | None = None

    async def __aenter__(self) -> AsyncToolChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncGenerator[StreamEvent, None]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def aclose(self) -> None:
        if self._iterator is not None:
            self._cancelled = self._cancelled or not self._over
            await self._iterator.aclose()

    async def until_done(self) -> ChatResult:
        async for _ in self:
            pass
        return self.result

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        loop, ended = self.loop, False
        try:
            step = loop.resume()
            while step is not None and not self._cancelled:
                answer: Any
                if isinstance(step, Ask):
                    self._announce(step)
                    turn = self._client.plain_stream(step.messages, self._model, None, step.options)
                    self._open(turn)
                    try:
                        async with turn:
                            async for event in turn:
                                yield event
                    except GLMError as exc:
                        loop.failed(exc)  # the error's partial keeps the calls so far and the transcript
                        raise
                    answer = turn.result
                    self._fold_origin(answer)
                else:  # the async runner runs parallel calls concurrently
                    answer = await run_calls_async(step.calls, self._approver)
                step = loop.resume(answer)
                for event in self._results():
                    yield event
            ended = step is None
        finally:
            self._wrap_up(ended)
