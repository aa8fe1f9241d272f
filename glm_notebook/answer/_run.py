"""One answer's lifecycle in the notebook: ``AnswerRun`` and the view protocol (usage totals: ``_usage``).

An AnswerRun owns one answer from request to result. It opens the stream itself, so a slow start
(the offline model, up to a minute on first use) happens inside the run, shown and interruptible.
Engine notices ("starting the offline model…", "rate limited (1302), retrying in 2 s") go to the
status line until the first token. It feeds the view, takes Stop / ``cancel()`` from any thread
and a kernel interrupt on its own thread, and in a ``finally`` it finishes the view, counts the
run in SessionUsage and hands itself to ``on_end`` (where the magic stores ``_glm`` / ``--out``),
so after an interrupt ``_glm`` is this cell's partial result. ``%%glm`` runs one, the Playground
one per run, ``--compare`` and ``compare()`` one per panel.

Decided here, once for every surface:

* "stopped": a run is stopped when ``cancel()``, a kernel interrupt or task cancellation came
  before its answer completed (``AnswerRun._settle``);
* the Stop button: ``stop_button(mode, cell_busy=...)``.

Views: ``TerminalView`` (stdout; imports no widget library) and ``LiveView`` in ``_live`` (the
StreamView widget). A kernel interrupt keeps the contract in the README: the partial text stays
with a "stopped" status and KeyboardInterrupt is raised again, so "Run All" stops there.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from .._status import error_line, status_line, terminal_safe, tool_line
from .._types import ChatResult, Notice, StreamEvent
from ..client._endpoint import STARTING_MESSAGE
from ._usage import SessionUsage

if TYPE_CHECKING:
    from ..client._async import AsyncChatStream
    from ..client._sync import ChatStream
    from ..client._tool_stream import ToolChatStream

    #: What an AnswerRun streams: one request, or a tool loop's turns (``client.stream(tools=)``).
    AnyStream = ChatStream | AsyncChatStream | ToolChatStream

__all__ = [
    "AnswerRun",
    "SessionUsage",
    "StopButton",
    "TerminalView",
    "needs_start",
    "stop_button",
]

#: Events that mean the answer has begun: a notice in the status line gives way to "streaming…".
_ANSWER_KINDS = frozenset({"text", "reasoning", "tool_call"})


class StopButton(NamedTuple):
    """Whether a live view shows Stop now, and whether it turns Stop on when the browser's greeting
    reaches the kernel while the answer streams (the proof that a click would arrive in time)."""

    show: bool
    on_greeting: bool


def stop_button(mode: str = "auto", *, cell_busy: bool) -> StopButton:
    """The one decision about the Stop button (``mode``: ``%config GLMMagics.stop_button``).

    While the cell that streams is busy (``%%glm``, compare), a click reaches the kernel only on an
    ipykernel 7 subshell, so in "auto" Stop appears once a greeting has made the round trip and
    until then the view says to interrupt the kernel. When the cell has returned (a Playground run
    on its thread) the kernel is idle and reads the click at once, so Stop shows from the start;
    interrupting the kernel would not reach that thread anyway.
    """
    if mode == "never":
        return StopButton(False, False)
    if mode == "always" or not cell_busy:
        return StopButton(True, False)
    return StopButton(False, True)


def needs_start(client: object) -> bool:
    """True when the client's first request must start the offline model (say so before waiting)."""
    from ..client._replay import active

    if active() is not None:  # replay: a hit starts nothing; a miss's start is announced by the engine
        return False
    endpoint = getattr(client, "endpoint", None)  # a GLMClient's; a client of another kind starts nothing
    return bool(endpoint is not None and endpoint.needs_start)


if TYPE_CHECKING:  # a Protocol class costs ~5 ms to create: %load_ext needs none of it

    class AnswerView(Protocol):
        """What an AnswerRun shows its answer in (a live widget, stdout, or a compare panel)."""

        def on_stop(self, callback: Callable[[], object]) -> None:
            """Call ``callback`` when the user asks this view to stop (a Stop button)."""

        def started(self, result: ChatResult) -> None:
            """The request is open; ``result`` (filled in place) names the model."""

        def notice(self, text: str) -> None:
            """Show ``text`` in the status line while no answer has arrived."""

        def clear_notice(self) -> None:
            """The answer has begun: the status line goes back to "streaming…"."""

        def feed(self, event: StreamEvent) -> None:
            """One stream event."""

        def finish(self, result: ChatResult, error: BaseException | None) -> None:
            """The run has ended: show the final text, status line and any error line."""


class AnswerRun:
    """One answer: stream, view, Stop and interrupt, result, usage and storing (module docstring).

    ``open_stream()`` returns a ChatStream for ``run()`` or an AsyncChatStream for ``run_async()``.
    ``starting=True`` shows "starting the offline model…" before it is called. ``result`` is the
    answer so far (an empty ChatResult until the stream is open), ``error`` what ended it early,
    ``notices`` every notice shown; ``done`` is set once ``on_end(run)`` has returned.
    """

    def __init__(
        self,
        open_stream: Callable[[], AnyStream],
        view: AnswerView | None = None,
        *,
        usage: SessionUsage | None = None,
        on_end: Callable[[AnswerRun], object] | None = None,
        starting: bool = False,
    ) -> None:
        self.usage = usage
        self.result = ChatResult()
        self.error: BaseException | None = None
        self.stream: AnyStream | None = None
        self.notices: list[str] = []
        self.done = threading.Event()
        self._open_stream = open_stream
        self._on_end = on_end
        self._starting = starting
        self._lock = threading.Lock()
        self._stop_requested = False
        self._ended = False
        self._notice_shown = False
        self.view: AnswerView | None = None
        if view is not None:
            self.show_in(view)

    # -- control, from any thread ---------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        """True once a stop was asked for (cancel(), a kernel interrupt, task cancellation)."""
        return self._stop_requested

    @property
    def stopped(self) -> bool:
        return self.result.stopped

    def show_in(self, view: AnswerView) -> None:
        """Show this run in ``view`` (before it starts); the view's Stop cancels the run."""
        self.view = view
        view.on_stop(self.cancel)

    def cancel(self) -> None:
        """Stop the run: the connection is shut down at once; the partial text is kept."""
        with self._lock:
            self._stop_requested = True
            stream = self.stream
        if stream is not None:
            stream.cancel()

    # -- running --------------------------------------------------------------------------------

    def run(self) -> ChatResult:
        """Stream on this thread until the answer ends; a kernel interrupt stops it, the run is
        ended (view, usage, ``on_end``) and KeyboardInterrupt is raised again."""
        interrupted = False
        try:
            stream = cast("ChatStream | ToolChatStream | None", self._open())
            if stream is not None:
                with stream:
                    for event in stream:
                        self._feed(event)
        except KeyboardInterrupt:
            interrupted = True
            with self._lock:
                self._stop_requested = True
        except Exception as exc:  # noqa: BLE001 - shown in the view; the caller decides to raise
            self.error = exc
        finally:
            self.end()
        if interrupted:
            # A fresh exception: the traceback ends here, not deep inside the client.
            raise KeyboardInterrupt
        return self.result

    async def run_async(self) -> ChatResult:
        """Stream on the running event loop; cancelling the task stops the run (and propagates)."""
        import asyncio  # here, not at the top: loaded already by any caller, and %load_ext stays cheap

        try:
            stream = cast("AsyncChatStream | None", self._open())
            if stream is not None:
                async with stream:
                    async for event in stream:
                        self._feed(event)
        except asyncio.CancelledError:
            with self._lock:
                self._stop_requested = True
            raise
        except Exception as exc:  # noqa: BLE001 - one failing panel must not stop the others
            self.error = exc
        finally:
            self.end()
        return self.result

    def end(self) -> None:
        """Settle the result and finish the view, usage and ``on_end``, once (idempotent).

        ``run()`` calls it; a caller whose worker is stuck beyond a cancel may call it itself.
        """
        with self._lock:
            if self._ended:
                return
            self._ended = True
            stop_requested = self._stop_requested
            if self.stream is not None:
                self.result = self.stream.result  # a tool loop's: every turn, not the first one
        result = self.result
        self._settle(stop_requested)
        try:
            if self.view is not None:
                self.view.finish(result, self.error)
        finally:
            try:
                if self.usage is not None:
                    self.usage.record(result, self.error)
            finally:
                try:
                    if self._on_end is not None:
                        self._on_end(self)
                finally:
                    self.done.set()

    # -- inside ---------------------------------------------------------------------------------

    def _settle(self, stop_requested: bool) -> None:
        """The one place that decides "stopped" in the notebook layer."""
        result = self.result
        if stop_requested and not result.complete:
            result.stopped = True
        if isinstance(self.error, Exception) and result.error is None:
            result.error = self.error  # _glm.error tells what went wrong, also before the first byte

    def _open(self) -> AnyStream | None:
        with self._lock:
            if self._stop_requested:
                return None
        if self._starting:
            self._notice(STARTING_MESSAGE)  # the endpoint's own words: shown once, not twice
        stream = self._open_stream()
        self.result = stream.result
        stream.on_notice(self._on_notice)
        with self._lock:
            self.stream = stream
            stop_requested = self._stop_requested
        if stop_requested:
            stream.cancel()
        if self.view is not None:
            self.view.started(self.result)
        return stream

    def _on_notice(self, notice: Notice) -> None:
        self._notice(notice.message)

    def _notice(self, text: str) -> None:
        if self.notices and self.notices[-1] == text and self._notice_shown:
            return
        self.notices.append(text)
        self._notice_shown = True
        if self.view is not None:
            self.view.notice(text)

    def _feed(self, event: StreamEvent) -> None:
        if self._notice_shown and event.kind in _ANSWER_KINDS:
            self._notice_shown = False
            if self.view is not None:
                self.view.clear_notice()
        if self.view is not None:
            self.view.feed(event)


class TerminalView:
    """An answer streamed to stdout (terminal IPython, or no widget front end); no widget imports.
    Everything it writes goes through ``terminal_safe``: no escape sequence reaches the terminal."""

    def __init__(
        self, out: IO[str] | None = None, *, offline: bool = False, model: str | None = None
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.offline = offline
        self.model = model
        self._in_reasoning = False
        self._mid_line = False

    def on_stop(self, callback: Callable[[], object]) -> None:
        pass  # no button here: a kernel interrupt (Ctrl-C) stops the run

    def started(self, result: ChatResult) -> None:
        pass

    def notice(self, text: str) -> None:
        self._write(("\n" if self._mid_line else "") + f"[{text}]\n")
        self._mid_line = False

    def clear_notice(self) -> None:
        pass

    def feed(self, event: StreamEvent) -> None:
        if event.kind == "reasoning":
            if not self._in_reasoning:
                self._write("[thinking] ")
                self._in_reasoning = True
            self._write(event.text)
        elif event.kind == "text":
            if self._in_reasoning:
                self._write("\n[/thinking]\n")
                self._in_reasoning = False
            self._write(event.text)
        elif event.kind == "tool_result" and event.tool_call is not None:
            self._write(("\n" if self._mid_line else "") + f"[{tool_line(event.tool_call)}]\n")
            self._mid_line = False
            return
        else:
            return
        shown = terminal_safe(event.text)
        if shown:
            self._mid_line = not shown.endswith("\n")

    def finish(self, result: ChatResult, error: BaseException | None) -> None:
        # One line each, starting on a line of their own (a newline only if the answer left one open).
        status = " ".join(status_line(result, None, offline=self.offline, model=self.model).split())
        start = "\n" if self._mid_line else ""
        if error is not None:
            self._write(f"{start}Error: {error_line(error)}\n")
            start = ""
        self._write(f"{start}[{status}]\n")
        self._mid_line = False

    def _write(self, text: str) -> None:
        self.out.write(terminal_safe(text))  # the answer, thinking, names: the model's, untrusted
        self.out.flush()


def console_front_end(shell: object) -> bool:
    """Whether the running cell came from a console: a front end that lets ``input()`` ask
    (``allow_stdin``) but sent no cell id (``jupyter console``, qtconsole, an interactive kernel
    client). Notebook front ends send a cell id (JupyterLab's notebook and code console,
    Notebook 7, VS Code); notebook runners allow no input (nbclient, papermill, nbval).
    ``jupyter console`` ignores display updates and saves nothing: there an answer goes to stdout,
    as in terminal IPython."""
    try:
        kernel: Any = getattr(shell, "kernel", None)
        parent = kernel.get_parent()  # the execute_request being run
        if (parent.get("metadata") or {}).get("cellId"):
            return False
        return bool(parent.get("content", {}).get("allow_stdin"))
    except Exception:  # noqa: BLE001 - not an ipykernel we know: keep the live view
        return False
