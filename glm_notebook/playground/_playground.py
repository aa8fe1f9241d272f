"""Playground: one prompt, a ParameterPanel, and answers that re-stream as the values change.

Owns scheduling the runs; each run is one ``AnswerRun`` (``answer/_run``: stream, view, Stop,
result, usage). Runs happen on background threads, so the cell that shows the playground returns
at once and widget callbacks stay live. Changing any value while a run streams cancels it (the
connection is shut); with auto-run on, a new run starts once the values have been still for
``debounce`` seconds (sliders also report only on release). Built without ``client=``, every run
uses the shared client of that moment (``glm.get_client()``), so ``reset_client()`` after a key
change reaches a playground already on screen. Every run is kept in
the history (parameters, status line, first words); selecting an entry shows that answer again.
"Request sent" shows the JSON of the last request (``ChatResult.request``: the key is only ever in
the headers), "Copy as code" the ``%%glm`` cell and Python call that send the same request.

With ``auto_run`` on, the first run starts right after construction (after the debounce delay, so
the view is on screen first).
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .._options import SAMPLING_OPTIONS, build_options
from .._status import status_line
from .._types import ChatResult
from ..answer._live import LiveView
from ..answer._run import AnswerRun, SessionUsage, needs_start, stop_button
from ..answer._saved_copy import neutralize_markdown
from ..answer._stream_view import StreamView
from ._code import copy_as_code
from ._panel import ParameterPanel

if TYPE_CHECKING:
    from ..client._sync import ChatStream, GLMClient

__all__ = ["HistoryEntry", "Playground"]


@dataclass
class HistoryEntry:
    """One finished run: what was sent, what came back, and how it ended."""

    number: int
    model: str | None
    system: str | None
    options: dict[str, Any]
    result: ChatResult
    error: BaseException | None
    status: str

    @property
    def first_words(self) -> str:
        words = (self.result.text or self.result.reasoning).split()
        return " ".join(words[:8]) + (" …" if len(words) > 8 else "")

    def label(self) -> str:
        sent = " ".join(f"{k}={v!r}" for k, v in self.options.items() if v is not None) or "defaults"
        if self.error is not None:
            message = " ".join(str(getattr(self.error, "message", None) or self.error).split())
            tail = f"error: {message[:120]}"
        else:
            tail = self.first_words
        return f"#{self.number} {sent} · {self.status} · {tail}"


@dataclass
class _Run:
    """One run of the playground: what it sends, its view, and the AnswerRun that streams it."""

    number: int
    prompt: Any
    model: str | None
    system: str | None
    options: dict[str, Any]
    view: StreamView
    answer: AnswerRun | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> threading.Event:
        assert self.answer is not None
        return self.answer.done

    def cancel(self) -> None:
        if self.answer is not None:
            self.answer.cancel()


def _words(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _pre(text: str) -> str:
    return f"<pre style='white-space: pre-wrap; margin: 0'>{html.escape(text)}</pre>"


class Playground(widgets.VBox):
    """Tune one prompt with sliders and watch the answer re-stream (see the module docstring).

    ``run()`` / ``stop()`` / ``wait(timeout)`` drive it from code; ``last_result``, ``history``,
    ``sliders`` and ``code()`` read it. ``options`` are options of the table (``glm.OPTIONS``):
    the slider options, thinking and (on GLM providers) reasoning_effort and clear_thinking set the
    panel's starting values, every other one (``seed``, ``stop`` ...) is sent unchanged with every run. ``usage`` counts the runs (the magic passes its
    session totals, shown by ``%glm usage``).
    """

    def __init__(
        self,
        prompt: Any,
        *,
        model: str | None = None,
        system: str | None = None,
        client: GLMClient | None = None,
        auto_run: bool = True,
        debounce: float = 0.3,
        usage: SessionUsage | None = None,
        **options: Any,
    ) -> None:
        from ..client._request import build_messages

        self._client = client
        current = self.client
        build_messages(prompt, system)
        build_options(current.provider, options)  # unknown names and out-of-range values fail here
        # Options the panel has a control for start it; every other option is sent unchanged each run.
        controls = ParameterPanel.controls(current.provider)
        start = {name: options.pop(name) for name in controls if name in options}
        self.fixed = {k: v for k, v in options.items() if v is not None}
        self.usage = usage
        self.debounce = debounce
        self.last_result: ChatResult | None = None
        self.history: list[HistoryEntry] = []
        self._lock = threading.RLock()
        self._count = 0
        self._last_number = 0
        self._current: _Run | None = None
        self._timer: threading.Timer | None = None
        self._showing_history = False

        self.panel = ParameterPanel(
            provider=current.provider, model=model or current.model, system=system, **start
        )
        self._prompt = prompt
        self.prompt_box = widgets.Textarea(
            value=prompt if isinstance(prompt, str) else json.dumps(prompt, indent=1, ensure_ascii=False),
            description="prompt",
            disabled=not isinstance(prompt, str),
            continuous_update=False,
            layout=widgets.Layout(width="98%", height="5em"),
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.auto_run = widgets.Checkbox(value=auto_run, description="auto-run on change", indent=False)
        self.models_button = widgets.Button(description="list models", icon="refresh")
        self.note = widgets.HTML("")
        self.view_box = widgets.Box(layout=widgets.Layout(width="100%"))
        self.request_html = widgets.HTML(_pre("(no run yet)"))
        self.history_list = widgets.Select(options=[], rows=6, layout=widgets.Layout(width="98%"))
        self.history_view = widgets.Box(layout=widgets.Layout(width="100%"))
        self.code_html = widgets.HTML("")
        details = widgets.Accordion(
            [
                self.request_html,
                widgets.VBox([self.history_list, self.history_view]),
                self.code_html,
            ],
            titles=("Request sent", "History", "Copy as code"),
        )
        buttons = widgets.HBox([self.run_button, self.stop_button, self.auto_run, self.models_button])
        super().__init__([self.prompt_box, self.panel, buttons, self.note, self.view_box, details])

        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.models_button.on_click(lambda _: self._load_models())
        self.panel.on_change(self._changed)
        self.prompt_box.observe(lambda change: self._changed("prompt"), "value")
        self.history_list.observe(self._history_clicked, "value")
        self._update_code()
        if auto_run:
            self._schedule()

    # -- public ---------------------------------------------------------------------------------

    @property
    def client(self) -> GLMClient:
        """The client of the next run: the one given, else the shared client of this moment."""
        if self._client is not None:
            return self._client
        from ..client._sync import get_client

        return get_client()

    @property
    def sliders(self) -> dict[str, Any]:
        """name -> slider widget, one per slider option of the table (``SAMPLING_OPTIONS``)."""
        return self.panel.sliders

    def settings(self) -> dict[str, Any]:
        """What the next run sends: prompt, model, system and options (None: not sent)."""
        prompt = self.prompt_box.value if isinstance(self._prompt, str) else self._prompt
        return {
            "prompt": prompt,
            "model": self.panel.model_name(),
            "system": self.panel.system_prompt(),
            "options": {**self.panel.options(), **self.fixed},
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, with a readable text fallback instead of a bare ``Playground(children=...)``.

        The fallback is what GitHub, nbconvert and a reopened notebook (no live kernel) show.
        """
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict) and "text/plain" in bundle:
            first_line = (
                self.prompt_box.value.strip().splitlines()[0] if self.prompt_box.value.strip() else ""
            )
            preview = first_line if len(first_line) <= 60 else first_line[:57] + "..."
            sentence = (
                f"glm_notebook playground for {preview!r}: sliders for {_words(SAMPLING_OPTIONS)}; "
                "run the cell in Jupyter to use it"
            )
            bundle["text/plain"] = f"[{sentence}]"
            bundle["text/markdown"] = "*" + neutralize_markdown(sentence) + "*"
        return bundle

    def code(self) -> str:
        """The ``%%glm`` cell and the Python call that reproduce the current settings."""
        s = self.settings()
        return copy_as_code(s["prompt"], model=s["model"], system=s["system"], options=s["options"])

    def run(self) -> None:
        """Start a run with the current values; a run in flight is cancelled first."""
        with self._lock:
            self._cancel_timer_locked()
            self._start_locked()

    def stop(self) -> None:
        """Cancel a pending auto-run and the run in flight (its connection closes)."""
        with self._lock:
            self._cancel_timer_locked()
            run = self._current
        if run is not None:
            run.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no run is pending or streaming; False if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                timer, run = self._timer, self._current
            if timer is None and (run is None or run.done.is_set()):
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            step = 0.05 if left is None else min(0.05, left)
            if timer is None and run is not None:
                run.done.wait(step)
            else:
                time.sleep(min(step, 0.01))

    def show_history(self, index: int) -> None:
        """Show the answer of ``history[index]`` again, below the history list."""
        entry = self.history[index]
        view = StreamView(
            model_name=entry.model or "",
            offline=self.client.is_offline,
            title=f"Run #{entry.number} (from the history)",
        )
        view.finish(entry.result, entry.error)
        old = self.history_view.children
        self.history_view.children = (view,)
        for widget in old:
            widget.close()

    def close(self) -> None:
        """Stop any run and close the playground and its views."""
        if hasattr(self, "history_view"):  # close() also runs from __del__, maybe of a half-built one
            self.stop()
            for box in (self.view_box, self.history_view):
                for widget in box.children:
                    widget.close()
        super().close()

    # -- runs -----------------------------------------------------------------------------------

    def _start_locked(self) -> None:
        previous = self._current
        if previous is not None:
            previous.cancel()
        s = self.settings()
        client = self.client  # the shared client of this moment, unless one was given
        self._count += 1
        view = StreamView(
            model_name=s["model"] or client.model or "",
            offline=client.is_offline,
            title=f"Run #{self._count}",
        )
        run = _Run(self._count, s["prompt"], s["model"], s["system"], s["options"], view)
        run.answer = AnswerRun(
            lambda: self._open(run, client),
            LiveView(view, stop=stop_button(cell_busy=False)),  # the cell has returned: Stop works
            usage=self.usage,
            on_end=lambda answer: self._record(run, answer, client),
            starting=needs_start(client),
        )
        self._current = run
        self.view_box.children = (view,)
        if previous is not None and previous.done.is_set():
            previous.view.close()
        self.stop_button.disabled = False
        run.thread = threading.Thread(target=run.answer.run, name="glm-playground", daemon=True)
        run.thread.start()

    def _open(self, run: _Run, client: GLMClient) -> ChatStream:
        stream = client.stream(run.prompt, model=run.model, system=run.system, **run.options)
        if self._current is run:
            self.request_html.value = _pre(json.dumps(stream.result.request, indent=2, ensure_ascii=False))
        return stream

    def _record(self, run: _Run, answer: AnswerRun, client: GLMClient) -> None:
        result, error = answer.result, answer.error
        status = status_line(result, error, offline=client.is_offline, model=run.model)
        entry = HistoryEntry(run.number, run.model, run.system, dict(run.options), result, error, status)
        with self._lock:
            self.history.append(entry)
            self.history.sort(key=lambda e: e.number)
            if run.number >= self._last_number:
                self.last_result, self._last_number = result, run.number
            labels = [(e.label(), i) for i, e in enumerate(self.history)]
            self._showing_history = True
            try:
                self.history_list.options = labels
                self.history_list.value = None
            finally:
                self._showing_history = False
            if self._current is run:
                self.stop_button.disabled = True
            else:
                run.view.close()

    # -- reacting to the controls ---------------------------------------------------------------

    def _changed(self, name: str) -> None:
        self._update_code()
        with self._lock:
            run = self._current
        if run is not None and not run.done.is_set():
            run.cancel()
        if self.auto_run.value:
            self._schedule()

    def _schedule(self) -> None:
        with self._lock:
            self._cancel_timer_locked()
            timer = threading.Timer(self.debounce, self._timer_fired)
            timer.daemon = True
            self._timer = timer
            timer.start()

    def _timer_fired(self) -> None:
        with self._lock:
            if self._timer is not threading.current_thread():
                return  # replaced by a later change
            self._timer = None
            try:
                self._start_locked()
            except Exception as exc:  # noqa: BLE001 - a timer thread has nobody to raise to
                self.note.value = _pre(f"Could not start the run: {exc}")

    def _cancel_timer_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _update_code(self) -> None:
        self.code_html.value = _pre(self.code())

    def _history_clicked(self, change: dict[str, Any]) -> None:
        if self._showing_history or change["new"] is None:
            return
        self.show_history(change["new"])

    def _load_models(self) -> None:
        def load() -> None:
            try:
                names = self.client.models()
            except Exception as exc:  # noqa: BLE001 - shown next to the button
                self.note.value = _pre(f"Could not list the models: {getattr(exc, 'message', exc)}")
                return
            self.panel.set_models(names)
            self.note.value = _pre(f"{len(names)} models listed by the server.")

        threading.Thread(target=load, name="glm-models", daemon=True).start()
