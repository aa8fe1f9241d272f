"""``compare()``: one prompt under a grid of settings, every panel streaming at the same time.

Owns the concurrent run and what the notebook keeps of it. The panels stream through an
``AsyncGLMClient`` (built with the shared client's provider, base URL, key, model, timeout and
retries) on an event loop in a background thread, since the kernel's own loop is already running.
The calling thread waits, so "Run All" moves on only when every panel has ended; a kernel interrupt
cancels every stream (their connections close), keeps the partial texts and is re-raised.

Each panel gets its own StreamView and status line in a GridBox. A failing panel shows its own
error line and the others carry on; 429s are retried per panel, as the client always does. When all
have ended, the grid is replaced (``update_display``) by a static Markdown copy: a headed section per
setting with the answer, any error and the status line, built from ``static_bundle`` so model
output is neutralised. Without a widget front end each panel's answer is printed in grid order.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import GLMError
from .._types import ChatResult
from ._compare_output import compare_bundle, panel_text
from ._grid import GridSetting, grid_settings

__all__ = ["CompareRun", "compare"]

_MODES = ("auto", "widget", "text", "none")


@dataclass
class Panel:
    """One setting of the grid while it runs: its view, stream, result and error."""

    setting: GridSetting
    result: ChatResult = field(default_factory=ChatResult)
    error: BaseException | None = None
    view: Any = None
    stream: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    _cancelled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, stream: Any) -> None:
        with self._lock:
            self.stream = stream
            cancelled = self._cancelled
        if cancelled:
            stream.cancel()

    def cancel(self) -> None:
        """Stop this panel from any thread: its connection is shut down at once."""
        with self._lock:
            self._cancelled = True
            stream = self.stream
        if stream is not None:
            stream.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled


def _auto_mode() -> str:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return "text"
    shell = get_ipython()
    return "widget" if type(shell).__name__ == "ZMQInteractiveShell" else "text"


class CompareRun:
    """A prepared compare: validated settings, then ``execute()`` runs and shows them."""

    def __init__(
        self,
        prompt: Any,
        settings: Sequence[GridSetting],
        *,
        client: Any,
        model: str | None = None,
        system: str | None = None,
        mode: str = "auto",
        concurrency: int = 8,
        show_stop_button: bool = False,
        plain_text: bool = False,
        out: Any = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"display must be one of {', '.join(_MODES)}, got {mode!r}")
        self.prompt = prompt
        self.client = client
        self.model = model
        self.system = system
        self.mode = _auto_mode() if mode == "auto" else mode
        self.concurrency = max(1, int(concurrency))
        self.show_stop_button = show_stop_button
        self.plain_text = plain_text
        self.out = out if out is not None else sys.stdout
        self.offline = bool(getattr(client, "is_offline", False))
        self.panels = [Panel(s) for s in settings]
        self.elapsed = 0.0
        self._cancelled = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- the public flow ------------------------------------------------------------------------

    def execute(self) -> tuple[list[ChatResult], bool]:
        """Run every panel; returns the results in grid order and whether it was interrupted."""
        handle = self._show_live() if self.mode == "widget" else None
        if self.mode == "text":
            self._print_header()
        started = time.monotonic()
        worker = threading.Thread(target=self._thread_main, name="glm-compare", daemon=True)
        worker.start()
        interrupted = False
        printed = 0
        try:
            while worker.is_alive():
                worker.join(0.05)
                printed = self._print_ready(printed)
        except KeyboardInterrupt:
            interrupted = True
            self.cancel()
            self._join_after_cancel(worker)
        self.elapsed = time.monotonic() - started
        for panel in self.panels:
            if not panel.done.is_set() and not panel.result.complete:
                panel.result.stopped = True
        if self.mode == "text":
            self._print_ready(printed, final=True)
        elif self.mode == "widget":
            self._show_static(handle)
        return [p.result for p in self.panels], interrupted

    def cancel(self) -> None:
        """Stop every panel (thread-safe)."""
        self._cancelled.set()
        for panel in self.panels:
            panel.cancel()

    def _join_after_cancel(self, worker: threading.Thread) -> None:
        worker.join(2.0)
        loop = self._loop
        if worker.is_alive() and loop is not None and not loop.is_closed():
            # Streams blocked somewhere a socket shutdown does not reach: cancel their tasks.
            try:
                loop.call_soon_threadsafe(lambda: [t.cancel() for t in self._tasks])
            except RuntimeError:
                pass
            worker.join(2.0)

    # -- the event loop thread ------------------------------------------------------------------

    def _thread_main(self) -> None:
        asyncio.run(self._run_all())

    def _async_client(self) -> Any:
        from .._async_client import AsyncGLMClient

        c = self.client
        s = c.settings
        policy = getattr(c, "retry_policy", None)
        return AsyncGLMClient(
            api_key=s.api_key,
            base_url=s.base_url,
            provider=s.provider,
            model=s.model,
            timeout=getattr(c, "timeout", 60.0),
            max_retries=getattr(c, "max_retries", 3),
            retry_deadline=getattr(policy, "deadline_s", None),
        )

    async def _run_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        try:
            aclient = self._async_client()
        except GLMError as exc:
            for panel in self.panels:
                self._end_panel(panel, exc)
            return
        async with aclient:
            self._tasks = [asyncio.ensure_future(self._run_panel(aclient, gate, p)) for p in self.panels]
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run_panel(self, aclient: Any, gate: asyncio.Semaphore, panel: Panel) -> None:
        error: BaseException | None = None
        try:
            async with gate:
                if self._cancelled.is_set():
                    panel.result.stopped = True
                    return
                stream = aclient.stream(
                    self.prompt, model=self.model, system=self.system, **panel.setting.options
                )
                panel.result = stream.result
                panel.attach(stream)
                async with stream:
                    async for event in stream:
                        if panel.view is not None:
                            panel.view.feed(event)
                panel.result = stream.result
        except GLMError as exc:
            error = exc
        except asyncio.CancelledError:
            panel.result.stopped = True
        except Exception as exc:  # noqa: BLE001 - one broken panel must not stop the others
            error = exc
        finally:
            self._end_panel(panel, error)

    def _end_panel(self, panel: Panel, error: BaseException | None) -> None:
        panel.error = error
        if error is not None and panel.result.error is None and isinstance(error, Exception):
            panel.result.error = error
        if panel.view is not None:
            try:
                panel.view.finish(panel.result, error)
            except Exception:  # noqa: BLE001 - the view is cosmetic; the result is what matters
                pass
        panel.done.set()

    # -- the notebook ---------------------------------------------------------------------------

    def _model_name(self) -> str:
        return self.model or getattr(self.client, "model", None) or ""

    def _show_live(self) -> Any:
        import ipywidgets as widgets
        from IPython.display import display

        from ..widgets import StreamView

        views = []
        for panel in self.panels:
            view = StreamView(
                model_name=self._model_name(), offline=self.offline, title=panel.setting.label()
            )
            view.show_stop_button = self.show_stop_button
            view.on_stop(panel.cancel)
            panel.view = view
            views.append(view)
        columns = "repeat(auto-fill, minmax(320px, 1fr))" if len(views) > 1 else "1fr"
        grid = widgets.GridBox(
            views, layout=widgets.Layout(grid_template_columns=columns, grid_gap="8px 12px")
        )
        self._grid = grid
        return display(grid, display_id=True)

    def _show_static(self, handle: Any) -> None:
        bundle = self.static_bundle()
        if self.plain_text:
            bundle = {"text/plain": bundle["text/plain"]}
        try:
            if handle is not None:
                handle.update(bundle, raw=True)
        finally:
            for panel in self.panels:
                if panel.view is not None:
                    panel.view.close()
            grid = getattr(self, "_grid", None)
            if grid is not None:
                grid.close()

    def static_bundle(self) -> dict[str, str]:
        """The saved copy: a headed section per setting (answer, error, status), in grid order."""
        return compare_bundle(
            self.panels, model=self._model_name(), offline=self.offline, elapsed=self.elapsed
        )

    # -- terminal IPython -----------------------------------------------------------------------

    def _print_header(self) -> None:
        self.out.write(f"Comparing {len(self.panels)} panels at once (answers follow in grid order)\n")
        self.out.flush()

    def _print_ready(self, printed: int, final: bool = False) -> int:
        if self.mode != "text":
            return printed
        while printed < len(self.panels) and (final or self.panels[printed].done.is_set()):
            printed += 1
            self.out.write(panel_text(printed, self.panels[printed - 1], offline=self.offline))
            self.out.flush()
        return printed


def compare(
    prompt: Any,
    *,
    temperature: Any = None,
    top_p: Any = None,
    max_tokens: Any = None,
    samples: int = 1,
    model: str | None = None,
    system: str | None = None,
    client: Any = None,
    display: str = "auto",
    concurrency: int = 8,
    **fixed: Any,
) -> list[ChatResult]:
    """Ask ``prompt`` under every combination of the given values, all panels streaming at once.

    ``temperature``, ``top_p`` and ``max_tokens`` take a value or a list; their cartesian product,
    each setting repeated ``samples`` times, is the grid (the first listed key varies slowest).
    Other options (``thinking``, ``seed``, ``stop`` ...) go unchanged into every request. Returns
    the ChatResults in grid order; a failed panel's result has ``.error`` set. Everything is
    validated before any request is sent (InvalidOptionError).

    ``display``: "widget" (a grid of live views, replaced by static Markdown at the end), "text"
    (each answer printed in turn), "none", or "auto" (widgets in a Jupyter kernel, else text).
    A KeyboardInterrupt stops every panel, keeps the partial texts and is re-raised.
    """
    run = prepare_compare(
        prompt,
        {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens},
        samples=samples,
        model=model,
        system=system,
        client=client,
        fixed=fixed,
        mode=display,
        concurrency=concurrency,
    )
    results, interrupted = run.execute()
    if interrupted:
        raise KeyboardInterrupt
    return results


def prepare_compare(
    prompt: Any,
    grid: dict[str, Any],
    *,
    samples: int,
    model: str | None,
    system: str | None,
    client: Any,
    fixed: dict[str, Any],
    mode: str,
    concurrency: int = 8,
    **kwargs: Any,
) -> CompareRun:
    """Validate everything and build the CompareRun (nothing is sent yet)."""
    from .._request import build_messages

    if client is None:
        from .._client import get_client

        client = get_client()
    build_messages(prompt, system)  # an empty prompt fails here, before any panel opens
    settings = grid_settings(grid, samples=samples, fixed=fixed, provider=client.provider)
    return CompareRun(
        prompt,
        settings,
        client=client,
        model=model,
        system=system,
        mode=mode,
        concurrency=concurrency,
        **kwargs,
    )
