"""Running one prompt into the notebook: a live StreamView replaced by a static copy, or stdout.

Owns the interrupt contract: a kernel interrupt closes the connection, keeps the partial text with
a "stopped" status and re-raises KeyboardInterrupt so "Run All" stops there. API errors become
one line in the view (the partial text stays); the caller decides whether to raise.
"""

from __future__ import annotations

import sys
from typing import Any

from .._errors import GLMError
from .._types import ChatResult


def run_in_view(
    stream: Any,
    *,
    model_name: str,
    offline: bool,
    show_stop_button: bool,
    auto_stop_button: bool = True,
    plain_text: bool = False,
) -> tuple[ChatResult, GLMError | None]:
    """Stream into a live widget; at the end replace it with the static bundle (update_display)."""
    from IPython.display import display

    from ..widgets import StreamView, static_bundle

    view = StreamView(model_name=model_name, offline=offline)
    view.show_stop_button = show_stop_button
    view.auto_stop_button = auto_stop_button
    view.on_stop(stream.cancel)
    handle = display(view, display_id=True)
    error: GLMError | None = None
    interrupted = False
    try:
        with stream:
            for event in stream:
                view.feed(event)
    except GLMError as exc:
        error = exc
    except KeyboardInterrupt:
        interrupted = True
    result: ChatResult = stream.result
    if interrupted:
        result.stopped = True
    try:
        view.finish(result, error)
        bundle = static_bundle(result, error, offline=offline)
        if plain_text:
            bundle = {"text/plain": bundle["text/plain"]}
        if handle is not None:
            handle.update(bundle, raw=True)
    finally:
        view.close()
    if interrupted:
        raise KeyboardInterrupt
    return result, error


def run_in_terminal(stream: Any, *, offline: bool) -> tuple[ChatResult, GLMError | None]:
    """Stream to stdout (terminal IPython, or no widget front end)."""
    from ..widgets._static import status_line

    out = sys.stdout
    error: GLMError | None = None
    in_reasoning = False
    try:
        with stream:
            for event in stream:
                if event.kind == "reasoning":
                    if not in_reasoning:
                        out.write("[thinking] ")
                        in_reasoning = True
                    out.write(event.text)
                elif event.kind == "text":
                    if in_reasoning:
                        out.write("\n[/thinking]\n")
                        in_reasoning = False
                    out.write(event.text)
                out.flush()
    except GLMError as exc:
        error = exc
    except KeyboardInterrupt:
        stream.result.stopped = True
        out.write(f"\n[{status_line(stream.result, None, offline=offline)}]\n")
        out.flush()
        raise
    result: ChatResult = stream.result
    if error is not None:
        out.write(f"\nError: {error.message}\n")
    out.write(f"\n[{status_line(result, None, offline=offline)}]\n")
    out.flush()
    return result, error
