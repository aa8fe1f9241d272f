"""LiveView: an AnswerRun's view in a notebook, the StreamView widget (imports the widgets).

``LiveView.show(...)`` displays a new StreamView for ``%%glm`` and, when the run ends, replaces it
(``update_display``) with the static Markdown copy, so the saved notebook never needs widget
state. ``LiveView(view)`` wraps a StreamView that a container owns (a Playground run, a compare
panel): finishing it leaves it in place for the container to replace or close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._status import notice_line
from .._types import ChatResult, StreamEvent
from ..widgets import StreamView, static_bundle
from ._run import StopButton

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
        view.show_stop_button = stop.show
        view.auto_stop_button = stop.on_greeting

    @classmethod
    def show(cls, *, model_name: str, offline: bool, stop: StopButton, plain_text: bool = False) -> LiveView:
        """Display a new StreamView below the running cell."""
        from IPython.display import display

        view = StreamView(model_name=model_name, offline=offline)
        live = cls(view, stop=stop, plain_text=plain_text)
        live.handle = display(view, display_id=True)
        return live

    def on_stop(self, callback: Callable[[], object]) -> None:
        self.view.on_stop(callback)

    def started(self, result: ChatResult) -> None:
        self._result = result
        self._name_model()

    def notice(self, text: str) -> None:
        self.view.set_status(notice_line(text, model=self.view.model_name or None))

    def clear_notice(self) -> None:
        self.view.set_status("")  # the browser shows "model · streaming…" again

    def feed(self, event: StreamEvent) -> None:
        if not self._named:
            self._name_model()  # the offline model's name is known once its server has started
        self.view.feed(event)

    def _name_model(self) -> None:
        model = self._result.model if self._result is not None else None
        if model and not self.view.model_name:
            self.view.model_name = model
        self._named = bool(self.view.model_name)  # a plain flag: no trait read per token

    def finish(self, result: ChatResult, error: BaseException | None) -> None:
        try:
            self.view.finish(result, error)
            if self.handle is not None:
                bundle = static_bundle(result, error, offline=self.view.offline)
                if self.plain_text:
                    bundle = {"text/plain": bundle["text/plain"]}
                self.handle.update(bundle, raw=True)
        finally:
            if self.handle is not None:
                self.view.close()
