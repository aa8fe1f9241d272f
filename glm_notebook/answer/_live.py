"""LiveView: an AnswerRun's view in a notebook, the StreamView widget (imports the widgets).

``LiveView.show(...)`` displays a new StreamView for ``%%glm`` and, when the run ends, replaces it
(``update_display``) with the static Markdown copy, so the saved notebook never needs widget
state. A long answer's copy is several Markdown outputs (``static_bundles``: cut at block
boundaries, ~16 KB each): the first replaces the view and carries the provenance metadata, the
others follow ``PIECE_GAP_S`` apart, so JupyterLab never renders 100 KB of Markdown in one task.

Front ends that show no widgets (a bare kernel client, nbclient, JupyterLab without the widget
manager, editors without ipywidgets) never render the view, so it never greets the kernel. When
no greeting has come ``GREETING_WAIT_S`` after the view was displayed, the answer streams as
display updates of that same display id instead: Markdown of the answer so far (neutralised like
the saved copy) with a "streaming…" status, at most every ``MARKDOWN_UPDATE_S`` (and less often
when building one costs more than a fifth of that), ending in the same saved copy. One display id
throughout, so a front end that did render the view never shows two copies: a late greeting
(a page slower than the wait) only means the Markdown updates replace the view. ``LiveView(view)`` wraps a StreamView that a container owns (a Playground run, a compare
panel): finishing it leaves it in place for the container to replace or close.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._provenance import output_metadata
from .._status import notice_line, terminal_safe
from .._types import ChatResult, StreamEvent
from ._run import StopButton
from ._saved_copy import static_bundle, static_bundles, streaming_bundle
from ._stream_view import StreamView

if TYPE_CHECKING:
    from .._types import ToolCall

#: Seconds between tool-block updates while arguments stream (state changes are sent at once).
_TOOL_UPDATE_S = 0.2
_PREVIEW = 2000  # characters of arguments / result kept in a block

#: Seconds after display without a greeting from the view before the answer streams as Markdown.
#: The view greets at once and every 0.4 s; a fresh kernel's first greeting can wait behind the cell.
GREETING_WAIT_S = 3.0
#: Seconds between two Markdown display updates (at most 10 a second).
MARKDOWN_UPDATE_S = 0.1
#: Seconds between two outputs of a long saved copy (``static_bundles``): JupyterLab renders each
#: in a task of its own, and its table of contents, which collects the outputs' headings 200 ms
#: after the notebook stops changing, then adds a piece's headings at a time, not all at once.
PIECE_GAP_S = 0.25

__all__ = ["LiveView"]


class LiveView:
    """AnswerView over a StreamView: notices in its status line, Stop wired to the run."""

    def __init__(
        self, view: StreamView, *, stop: StopButton, handle: Any = None, plain_text: bool = False
    ) -> None:
        self.view = view
        self.handle = handle  # a DisplayHandle: the static copy replaces the view at the end
        self.plain_text = plain_text
        self._result: ChatResult | None = None
        self._named = bool(view.model_name)
        self._calls: dict[int, ToolCall] = {}  # by id(): a call object lives through the loop
        self._states: dict[int, str] = {}
        self._streaming: dict[int, None] = {}  # calls whose arguments are still arriving
        self._dirty: dict[int, None] = {}  # calls whose block changed since it was last sent
        self._tools_sent = 0.0
        self._answers: dict[str, bool] = {}
        self._answered = threading.Condition()
        self._stopping = False
        self._shown_at = time.monotonic()
        self._markdown = False  # streaming as Markdown display updates (no greeting came)
        self._last_update = 0.0
        self._update_cost = 0.0
        self._status = ""  # a notice, shown in the Markdown updates' status line
        view.on_approval(self._on_approval)
        view.on_stop(self._stop_asking)
        view.show_stop_button = stop.show
        view.auto_stop_button = stop.on_greeting

    @classmethod
    def show(cls, *, model_name: str, offline: bool, stop: StopButton, plain_text: bool = False) -> LiveView:
        """Display a new StreamView below the running cell."""
        from IPython.display import display

        view = StreamView(model_name=model_name, offline=offline)
        live = cls(view, stop=stop, plain_text=plain_text)
        live.handle = display(view, display_id=True)
        live._shown_at = time.monotonic()
        return live

    def on_stop(self, callback: Callable[[], object]) -> None:
        self.view.on_stop(callback)

    def started(self, result: ChatResult) -> None:
        self._result = result
        self._name_model()

    def notice(self, text: str) -> None:
        self._status = notice_line(text, model=self.view.model_name or None)
        self.view.set_status(self._status)
        self._markdown_update(force=True)

    def clear_notice(self) -> None:
        self._status = ""
        self.view.set_status("")  # the browser shows "model · streaming…" again

    def feed(self, event: StreamEvent) -> None:
        if not self._named:
            self._name_model()  # the offline model's name is known once its server has started
        kind = event.kind
        if kind == "tool_call" and event.tool_call is not None:
            key = id(event.tool_call)
            new = key not in self._calls
            self._calls[key] = event.tool_call
            if new:
                self._states[key] = "streaming"
                self._streaming[key] = None
            self._send_tools(force=new, changed=key)
        elif kind == "tool_result" and event.tool_call is not None:
            call = event.tool_call
            self._calls[id(call)] = call
            denied = call.error == "denied by the user"
            self._states[id(call)] = "denied" if denied else ("failed" if call.error else "done")
            self._streaming.pop(id(call), None)
            self._send_tools(force=True, changed=id(call))
        elif kind == "finish" and event.finish_reason == "tool_calls":
            for key in self._streaming:
                if self._states.get(key) == "streaming":
                    self._states[key] = "running"
                    self._dirty[key] = None
            self._streaming.clear()
            self._send_tools(force=True)
        else:
            self.view.feed(event)
        self._markdown_update()

    # -- no live view: Markdown display updates -------------------------------------------------

    def _markdown_update(self, *, force: bool = False) -> None:
        """Publish the answer so far as Markdown when no front end shows the view (module docstring)."""
        if self.handle is None or self.view.greeted:
            return
        now = time.monotonic()
        if not self._markdown:
            if now - self._shown_at < GREETING_WAIT_S:
                return
            self._markdown = force = True
        if not force and now - self._last_update < max(MARKDOWN_UPDATE_S, 5 * self._update_cost):
            return
        model = self.view.model_name or None
        status = self._status or notice_line("streaming…", model=model)
        text = self.view.text
        bundle = streaming_bundle(text, self.view.reasoning, status)
        if self.plain_text:
            bundle = {"text/plain": bundle["text/plain"]}
        self.handle.update(bundle, raw=True)
        self._last_update = time.monotonic()
        self._update_cost = self._last_update - now

    # -- tool calls -------------------------------------------------------------------------------

    def approve(self, call: ToolCall) -> bool:
        """The approver of a ``--tools`` run: Approve / Deny in the call's block when a click is
        known to reach the kernel while the cell runs (the Stop button's proof), else ``input()``."""
        if not self._clicks_arrive():
            from ..tools._loop import ask_in_terminal

            try:
                return ask_in_terminal(call)
            except Exception:  # noqa: BLE001 - no stdin (nbclient, papermill): nobody can say yes
                self._calls[id(call)] = call
                self._states[id(call)] = "denied"
                self._send_tools(force=True, changed=id(call))
                print(
                    f"{terminal_safe(call.name)} needs approval, but this kernel cannot ask (no buttons, no input()): "
                    "denied. Pass approver=... to client.chat, or run the notebook in JupyterLab."
                )
                return False
        key = call.id or f"call_{id(call)}"
        self._calls[id(call)] = call
        self._states[id(call)] = "asking"
        self._send_tools(force=True, changed=id(call))
        with self._answered:
            while key not in self._answers and not self._stopping:
                self._answered.wait(timeout=0.2)  # short waits: a kernel interrupt gets through
        ok = self._answers.pop(key, False)  # Stop while asking: denied
        self._states[id(call)] = "running" if ok else "denied"
        self._send_tools(force=True, changed=id(call))
        return ok

    def _clicks_arrive(self, wait_s: float = 5.0) -> bool:
        """Whether a button click reaches the kernel now: the view's greeting made the round trip
        (it greets every 0.4 s; a first turn that asked at once may not have given it time)."""
        deadline = time.monotonic() + (wait_s if self.view.auto_stop_button else 0.0)
        while not self.view.show_stop_button and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(self.view.show_stop_button)

    def _stop_asking(self) -> None:
        with self._answered:
            self._stopping = True
            self._answered.notify_all()

    def _on_approval(self, call_id: str, ok: bool) -> None:
        with self._answered:
            self._answers[call_id] = ok
            self._answered.notify_all()

    def _send_tools(self, *, force: bool, changed: int | None = None) -> None:
        """Send the blocks that changed (only those: a turn's cost stays linear in its calls)."""
        if changed is not None:
            self._dirty[changed] = None
        now = time.monotonic()
        if not self._dirty or (not force and now - self._tools_sent < _TOOL_UPDATE_S):
            return
        self._tools_sent = now
        blocks = [self._block(self._calls[key]) for key in self._dirty]
        self._dirty.clear()
        self.view.update_tool_calls(blocks)

    def _block(self, call: ToolCall) -> dict[str, Any]:
        return {
            "id": call.id or f"call_{id(call)}",
            "name": call.name,
            "arguments": call.arguments[:_PREVIEW],
            "state": self._states.get(id(call), "streaming"),
            "output": (call.output or "")[:_PREVIEW],
            "error": call.error or "",
            "duration_s": call.duration_s,
        }

    def _name_model(self) -> None:
        model = self._result.model if self._result is not None else None
        if model and not self.view.model_name:
            self.view.model_name = model
        self._named = bool(self.view.model_name)  # a plain flag: no trait read per token

    @staticmethod
    def _show_pieces(pieces: list[dict[str, str]]) -> None:
        """A long saved copy's further outputs, ``PIECE_GAP_S`` apart; an interrupt in a gap shows
        the rest at once (the saved copy is never cut short) and is raised again."""
        from IPython.display import display

        shown = 0
        try:
            for piece in pieces:
                time.sleep(PIECE_GAP_S)
                display(piece, raw=True)
                shown += 1
        except KeyboardInterrupt:
            for piece in pieces[shown:]:
                display(piece, raw=True)
            raise

    def finish(self, result: ChatResult, error: BaseException | None) -> None:
        try:
            if self._calls:
                self._send_tools(force=True)
            self.view.finish(result, error)
            if self.handle is not None:
                if self.plain_text:
                    bundle = static_bundle(result, error, offline=self.view.offline)
                    bundles = [{"text/plain": bundle["text/plain"]}]
                else:
                    bundles = static_bundles(result, error, offline=self.view.offline)
                # The first piece replaces the view and carries the provenance; a long answer's
                # further pieces follow as outputs of their own (each rendered in its own task).
                self.handle.update(bundles[0], raw=True, metadata=output_metadata([result]))
                if len(bundles) > 1:
                    self._show_pieces(bundles[1:])
        finally:
            if self.handle is not None:
                self.view.close()
