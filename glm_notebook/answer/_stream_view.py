"""StreamView: the live view of one streaming answer (an anywidget), and the kernel side of its traffic.

The view never re-sends the whole answer while it streams. ``feed()`` buffers each new piece and
sends what is new as one custom message at most every ``flush_interval`` (50 ms, so at most ~20
messages a second, far below jupyter_server's iopub limit of 1000/s). A small daemon thread flushes
text that arrived just after a flush and was followed by a pause, so nothing waits more than ~100 ms;
it stops in ``finish()``. One lock serialises every send, so messages are never interleaved,
duplicated or lost. The browser side (``js/src/stream_view.js``, built into
``glm_notebook/static/stream_view.js``) appends the pieces and renders Markdown at most once per
animation frame, block by block (finished blocks once), with marked and DOMPurify. That code is
not the widget's ``_esm``: anywidget saves ``_esm`` with the widget state in every notebook (nbclient
keeps closed widgets' state too), so ``_esm`` is a ~1 KB loader (``js/src/loader.js``) and the code
comes in the first custom message of each view, which no notebook saves; a page imports it once.

Messages, kernel to browser (custom messages; ``seq`` counts 1, 2, 3 ... so the browser sees gaps)::

    {"type": "code", "version": "3f2a...", "source": "<the view's ES module>"}   (first, once per view)

    {"type": "delta", "seq": 7, "text": "new answer text", "reasoning": "new thinking"}
    {"type": "delta", "seq": 8, "text": "...", "end": {"text": 1234, "reasoning": 56}}
    {"type": "full", "seq": 9, "text": "...", "reasoning": "...", "tools": [...], "end": {...}}
    {"type": "tools", "seq": 10, "calls": [{"id": "call_1", "name": ..., "state": "running", ...}]}

``text``/``reasoning`` are left out when empty. ``end`` comes once, in the last message sent by
``finish()``: the final lengths in UTF-16 code units (JavaScript's ``string.length``), so the browser
can check it holds everything. ``full`` carries the whole text, sent only on a ``resync`` request or
when ``finish()`` is given a result that does not extend what was fed. ``tools`` carries only the
tool-call blocks that changed (matched by id; ``"replace": true`` from ``set_tool_calls``), so a
turn of 1,000 calls costs per call what a turn of 10 does.

Browser to kernel: ``{"type": "hello"}`` (when a view is rendered, then every 0.4 s until the
Stop button is on or the answer ends: a fresh kernel's first greeting can leave before JupyterLab
has made its widget subshell, and then waits behind the cell),
``{"type": "stop"}`` (the Stop button; calls the ``on_stop`` callbacks), ``{"type": "approve",
"id": "call_1", "ok": true}`` (a tool block's Approve / Deny; calls ``on_approval``) and ``{"type": "resync"}``
(a gap or a length mismatch was seen; answered with one ``full`` message, at most three times per
view). While the cell runs the kernel's main thread is busy, so these arrive in time only on an
ipykernel 7 subshell (JupyterLab 4.4+ sends widget messages on one; this view makes ipykernel
honour that). A ``hello`` that arrives while the answer streams proves it, and turns the Stop
button on (when an ``on_stop`` callback is registered and ``auto_stop_button`` is True); until
then the view says "interrupt the kernel (■) to stop". The callbacks run on that subshell thread.

Status, error, title and the stop-button switch are small synced traits; the answer, the thinking
and the tool-call blocks travel only in custom messages (never saved with the widget state).
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from .._status import error_line, status_line
from .._types import ChatResult, StreamEvent

__all__ = ["StreamView"]

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
_CODE = (_STATIC / "stream_view.js").read_text(encoding="utf-8")
_CODE_VERSION = hashlib.sha256(_CODE.encode()).hexdigest()[:16]
_log = logging.getLogger(__name__)
_MAX_RESYNCS = 3


def _js_length(text: str) -> int:
    """Length of ``text`` as JavaScript counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


class StreamView(anywidget.AnyWidget):
    """The live view of one streaming answer: thinking (collapsed), answer, status line, Stop.

    Feed it stream events from the kernel's main thread; call ``finish()`` once at the end, then
    replace it with ``static_bundle(...)`` and ``close()`` it. Keyword-only arguments besides the
    traits: ``clock`` (a ``time.monotonic``-like callable, for tests), ``flush_interval`` (seconds
    between messages, 0.05) and ``background_flush`` (the thread that sends text left waiting after
    a flush; on by default).
    """

    # Read once here, not as a path: a path would make anywidget start a file-watching thread.
    # `_esm` is saved with the widget state in notebooks, so it is only the ~1 KB loader; the view's
    # code (with its CSS) goes to the page in a custom message, never saved (see js/src/loader.js).
    _esm = (_STATIC / "stream_view_loader.js").read_text(encoding="utf-8")

    model_name = traitlets.Unicode("", help="Model name shown while the answer streams.").tag(sync=True)
    offline = traitlets.Bool(False, help="True when the answer comes from the embedded offline model.").tag(
        sync=True
    )
    title = traitlets.Unicode(None, allow_none=True, help="Optional heading above the answer.").tag(sync=True)
    status = traitlets.Unicode("", help="The status line (set_status, then finish).").tag(sync=True)
    error = traitlets.Unicode("", help="One line naming what went wrong; empty when all is well.").tag(
        sync=True
    )
    done = traitlets.Bool(False, help="True once finish() has run.").tag(sync=True)
    show_stop_button = traitlets.Bool(
        False,
        help="Show a Stop button (only when stop messages can reach the kernel while the cell runs); "
        'otherwise the view says "interrupt the kernel (■) to stop".',
    ).tag(sync=True)
    auto_stop_button = traitlets.Bool(
        True,
        help="Turn show_stop_button on when the browser's greeting reaches the kernel while the answer "
        "streams (proof that a Stop click would too) and an on_stop callback is registered.",
    )
    _stream_id = traitlets.Unicode("", help="Ties the browser's per-model state to its views.").tag(sync=True)
    _code_version = traitlets.Unicode(
        _CODE_VERSION, help="Which view code the loader waits for (a page imports each version once)."
    ).tag(sync=True)

    def __init__(
        self,
        *,
        model_name: str = "",
        offline: bool = False,
        title: str | None = None,
        show_stop_button: bool = False,
        clock: Callable[[], float] = time.monotonic,
        flush_interval: float = 0.05,
        background_flush: bool = True,
        **kwargs: Any,
    ) -> None:
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be above 0 seconds, got {flush_interval!r}")
        self._clock = clock
        self._interval = float(flush_interval)
        self._background = background_flush
        self._lock = threading.Condition(threading.Lock())
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._pending_text: list[str] = []
        self._pending_reasoning: list[str] = []
        self._seq = 0
        self._last_flush = clock()
        self._finished = False
        self._timer: threading.Thread | None = None
        self._stop_callbacks: list[Callable[[], Any]] = []
        self._approval_callbacks: list[Callable[[str, bool], Any]] = []
        self._resyncs_left = _MAX_RESYNCS
        self._end: dict[str, int] | None = None
        #: True once a ``hello`` came back: a front end renders this view (LiveView's fallback).
        self.greeted = False
        self._tools: dict[str, dict[str, Any]] = {}  # tool-call blocks by id, in order of arrival
        kwargs.setdefault("layout", _shared_layout())
        super().__init__(
            model_name=model_name,
            offline=offline,
            title=title,
            show_stop_button=show_stop_button,
            _stream_id=uuid.uuid4().hex,
            **kwargs,
        )
        self.on_msg(self._on_front_end_msg)
        _handle_front_end_msgs_on_their_subshell(self.comm)
        # Before any answer text: the page's loader imports it, or reuses the copy it has.
        self.send({"type": "code", "version": _CODE_VERSION, "source": _CODE})

    # -- what the magic calls -------------------------------------------------------------------

    @property
    def text(self) -> str:
        """All answer text fed so far."""
        with self._lock:
            return "".join(self._text)

    @property
    def reasoning(self) -> str:
        """All reasoning text fed so far."""
        with self._lock:
            return "".join(self._reasoning)

    def feed(self, event: StreamEvent) -> None:
        """Take one stream event: text and reasoning pieces are buffered and sent in batches."""
        if event.kind == "text":
            self.append_text(event.text)
        elif event.kind == "reasoning":
            self.append_reasoning(event.text)
        # tool events: LiveView keeps the blocks (set_tool_calls); usage and finish show up in
        # finish()'s status line and the static bundle.

    def append_text(self, text: str) -> None:
        """Buffer a piece of the answer; flush if the last flush is at least flush_interval old."""
        self._append(text, self._text, self._pending_text)

    def append_reasoning(self, text: str) -> None:
        """Buffer a piece of the reasoning ("thinking"); flush like append_text."""
        self._append(text, self._reasoning, self._pending_reasoning)

    def flush(self) -> None:
        """Send the pending pieces now, as one message (nothing is sent if nothing is pending)."""
        with self._lock:
            self._flush_locked()

    def set_status(self, text: str) -> None:
        """Set the status line (a synced trait: keep it for rare, small updates)."""
        with self._lock:  # one sender at a time, also against the flush thread
            self.status = text

    def finish(self, result: ChatResult | None, error: BaseException | None = None) -> None:
        """Send the last pieces, stop the flush thread and show the final status (and error line).

        Partial text stays. If ``result`` holds text that was not fed, the rest is sent too.
        Calling it again does nothing.
        """
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._lock.notify_all()  # the flush thread sees _finished and exits
            if result is not None:
                self._reconcile(result)
            self._end = {
                "text": _js_length("".join(self._text)),
                "reasoning": _js_length("".join(self._reasoning)),
            }
            if not self._flush_locked(end=self._end):
                self._send_locked({"type": "delta", "end": self._end})
            problem = error if error is not None else (result.error if result is not None else None)
            with self.hold_sync():
                self.status = status_line(result, problem, offline=self.offline, model=self.model_name)
                self.error = error_line(problem) if problem is not None else ""
                self.done = True
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join(timeout=1.0)

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The tool-call blocks shown: {id, name, arguments, state, output, error, duration_s};
        state is streaming, running, asking, done, failed or denied."""
        with self._lock:
            return list(self._tools.values())

    def update_tool_calls(self, calls: list[dict[str, Any]]) -> None:
        """Add or update these tool-call blocks (matched by ``id``); the others stay as they are.
        One message carrying only these blocks, so a turn of many calls costs the same per call
        however many came before (the caller sends at state changes, and at most a few times a
        second while arguments stream)."""
        with self._lock:
            for call in calls:
                self._tools[call["id"]] = call
            self._send_locked({"type": "tools", "calls": calls})

    def set_tool_calls(self, calls: list[dict[str, Any]]) -> None:
        """Show exactly these tool-call blocks (replaces all of them)."""
        with self._lock:
            self._tools = {call["id"]: call for call in calls}
            self._send_locked({"type": "tools", "calls": calls, "replace": True})

    def on_approval(self, callback: Callable[[str, bool], Any]) -> None:
        """Register ``callback(call_id, approved)`` for the Approve / Deny buttons of a block in
        state "asking" (runs on the widget subshell's thread, like Stop)."""
        with self._lock:
            self._approval_callbacks.append(callback)

    def on_stop(self, callback: Callable[[], Any]) -> None:
        """Register ``callback()`` to run when the user clicks Stop (possibly on another thread)."""
        with self._lock:
            self._stop_callbacks.append(callback)

    def close(self) -> None:
        """Stop the flush thread and close the widget (call after replacing it with static_bundle)."""
        lock = getattr(self, "_lock", None)  # close() also runs from __del__, maybe of a half-built view
        if lock is not None:
            with lock:
                self._finished = True
                lock.notify_all()
        super().close()

    # -- buffering and sending ------------------------------------------------------------------

    def _append(self, text: str, everything: list[str], pending: list[str]) -> None:
        if not text:
            return
        with self._lock:
            if self._finished:
                return
            had_pending = bool(self._pending_text or self._pending_reasoning)
            everything.append(text)
            pending.append(text)
            if self._clock() - self._last_flush >= self._interval:
                self._flush_locked()
            elif self._background and not had_pending:
                self._wake_timer_locked()

    def _flush_locked(self, end: dict[str, int] | None = None) -> bool:
        if not (self._pending_text or self._pending_reasoning):
            return False
        message: dict[str, Any] = {"type": "delta"}
        if self._pending_text:
            message["text"] = "".join(self._pending_text)
            self._pending_text.clear()
        if self._pending_reasoning:
            message["reasoning"] = "".join(self._pending_reasoning)
            self._pending_reasoning.clear()
        if end is not None:
            message["end"] = end
        self._send_locked(message)
        return True

    def _send_locked(self, message: dict[str, Any]) -> None:
        self._seq += 1
        self._last_flush = self._clock()
        self.send({**message, "seq": self._seq})

    def _reconcile(self, result: ChatResult) -> None:
        """Make what the browser gets match ``result`` (the magic may not have fed every piece)."""
        fed_text, fed_reasoning = "".join(self._text), "".join(self._reasoning)
        if result.text == fed_text and result.reasoning == fed_reasoning:
            return
        if result.text.startswith(fed_text) and result.reasoning.startswith(fed_reasoning):
            for extra, everything, pending in (
                (result.text[len(fed_text) :], self._text, self._pending_text),
                (result.reasoning[len(fed_reasoning) :], self._reasoning, self._pending_reasoning),
            ):
                if extra:
                    everything.append(extra)
                    pending.append(extra)
            return
        self._text, self._reasoning = [result.text], [result.reasoning]
        self._pending_text.clear()
        self._pending_reasoning.clear()
        self._send_locked(
            {
                "type": "full",
                "text": result.text,
                "reasoning": result.reasoning,
                "tools": list(self._tools.values()),
            }
        )

    def _wake_timer_locked(self) -> None:
        if self._timer is None or not self._timer.is_alive():
            self._timer = threading.Thread(target=self._flush_late_text, name="glm-stream-flush", daemon=True)
            self._timer.start()
        else:
            self._lock.notify_all()

    def _flush_late_text(self) -> None:
        """Flush text that waits after a flush; exit when finished or idle for a few seconds."""
        idle_since = time.monotonic()
        with self._lock:
            while not self._finished:
                if not (self._pending_text or self._pending_reasoning):
                    if time.monotonic() - idle_since > 5.0:
                        self._timer = None
                        return
                    self._lock.wait(timeout=1.0)
                    continue
                idle_since = time.monotonic()
                due = self._last_flush + self._interval - self._clock()
                if due <= 0:
                    self._flush_locked()
                else:
                    self._lock.wait(timeout=min(due, self._interval))

    # -- messages from the browser --------------------------------------------------------------

    def _on_front_end_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "hello":
            self.greeted = True
            # A view reached us while the answer streams: a Stop click would too, so offer one.
            with self._lock:
                if self.auto_stop_button and self._stop_callbacks and not self._finished:
                    self.show_stop_button = True
        elif kind == "stop":
            with self._lock:
                callbacks = list(self._stop_callbacks)
            for callback in callbacks:
                try:
                    callback()
                except Exception:  # a broken callback must not break the widget's comm
                    _log.exception("glm_notebook: a Stop callback failed")
        elif kind == "approve" and isinstance(content.get("id"), str):
            with self._lock:
                approvals = list(self._approval_callbacks)
            for approval in approvals:
                try:
                    approval(content["id"], content.get("ok") is True)
                except Exception:
                    _log.exception("glm_notebook: an approval callback failed")
        elif kind == "resync":
            with self._lock:
                if self._resyncs_left <= 0:
                    return
                self._resyncs_left -= 1
                self._pending_text.clear()
                self._pending_reasoning.clear()
                message: dict[str, Any] = {
                    "type": "full",
                    "text": "".join(self._text),
                    "reasoning": "".join(self._reasoning),
                    "tools": list(self._tools.values()),
                }
                if self._end is not None:
                    message["end"] = self._end
                self._send_locked(message)


_LAYOUT: Any = None


def _shared_layout() -> Any:
    """One ipywidgets Layout for every view: each Layout is a widget of its own (~1 KB of state,
    kept in notebooks by nbclient), and no view sets one. Made again if it was closed."""
    global _LAYOUT
    if _LAYOUT is None or getattr(_LAYOUT, "comm", None) is None:
        import ipywidgets

        _LAYOUT = ipywidgets.Layout()
    return _LAYOUT


def _handle_front_end_msgs_on_their_subshell(comm: Any) -> None:
    """Let a Stop click reach the kernel while the cell that streams is still running.

    JupyterLab 4.4+ sends widget messages on a subshell of their own (ipykernel 7), but ipykernel
    7.4 routes a comm's incoming messages to the shell that last published on it: for this view the
    main shell, busy with the streaming cell until it ends. Honouring the subshell the front end
    chose lets ``_on_front_end_msg`` run on that subshell's thread, concurrently with the cell.
    """
    if callable(getattr(comm, "_reply_subshell_for", None)):
        comm._reply_subshell_for = lambda data, default: default
