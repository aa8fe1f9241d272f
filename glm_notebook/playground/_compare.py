"""``compare()``: one prompt under a grid of settings, every panel streaming at the same time.

Owns the concurrent run and what the notebook keeps of it. Each panel is one ``AnswerRun``
(``answer/_run``: stream, view, stop, result, usage), streamed through
``AsyncGLMClient.from_client(client)``: the caller's settings, endpoint, retry policy and
transport, on an event loop in a background thread, since the kernel's own loop is already
running. The calling thread waits, so "Run All" moves on only when every panel has ended; a kernel
interrupt cancels every panel (their connections close), keeps the partial texts and is re-raised.

Each panel gets its own StreamView and status line in a GridBox. A failing panel shows its own
error line and the others carry on; 429s are retried per panel, as the client always does. When all
have ended, the grid is replaced (``update_display``) by a static Markdown copy: a headed section per
setting with the answer, any error and the status line, built from ``static_bundle`` so model
output is neutralised. Without a widget front end each panel's answer is printed in grid order.

``compare()`` takes every table option by keyword: the slider options (``SAMPLING_OPTIONS``) may be
lists to vary, every other option goes unchanged into every request.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from .._errors import GLMError
from .._options import SAMPLING_OPTIONS
from .._provenance import output_metadata
from .._types import ChatResult
from ..answer._run import AnswerRun, SessionUsage, StopButton, console_front_end, needs_start, stop_button
from ._compare_output import compare_bundle, panel_text
from ._grid import GridSetting, grid_settings

if TYPE_CHECKING:
    from ..client._async import AsyncChatStream, AsyncGLMClient
    from ..client._sync import GLMClient

__all__ = ["CompareRun", "Panel", "compare", "prepare_compare"]

_MODES = ("auto", "widget", "text", "none")


@dataclass
class Panel:
    """One setting of the grid and the AnswerRun that answers it."""

    setting: GridSetting
    run: AnswerRun

    @property
    def result(self) -> ChatResult:
        return self.run.result

    @property
    def error(self) -> BaseException | None:
        return self.run.error

    @property
    def done(self) -> threading.Event:
        return self.run.done

    def cancel(self) -> None:
        """Stop this panel from any thread: its connection is shut down at once."""
        self.run.cancel()


def _auto_mode() -> str:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return "text"
    shell = get_ipython()
    if type(shell).__name__ != "ZMQInteractiveShell" or console_front_end(shell):
        return "text"  # terminal IPython, or a console front end (jupyter console shows no widgets)
    return "widget"


class CompareRun:
    """A prepared compare: validated settings, then ``execute()`` runs and shows them."""

    def __init__(
        self,
        prompt: Any,
        settings: Sequence[GridSetting],
        *,
        client: GLMClient,
        model: str | None = None,
        system: str | None = None,
        mode: str = "auto",
        concurrency: int = 8,
        stop: StopButton | None = None,
        plain_text: bool = False,
        out: IO[str] | None = None,
        usage: SessionUsage | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"display must be one of {', '.join(_MODES)}, got {mode!r}")
        self.prompt = prompt
        self.client = client
        self.model = model
        self.system = system
        self.mode = _auto_mode() if mode == "auto" else mode
        self.concurrency = max(1, int(concurrency))
        self.stop = stop if stop is not None else stop_button(cell_busy=True)
        self.plain_text = plain_text
        self.out = out if out is not None else sys.stdout
        self.offline = bool(client.is_offline)
        self.elapsed = 0.0
        self._aclient: AsyncGLMClient | None = None
        self._client_error: GLMError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._views: list[Any] = []
        self._grid: Any = None
        self._finished = threading.Event()  # set when the event loop thread is done
        starting = needs_start(client)
        self.panels = [Panel(s, AnswerRun(self._opener(s), usage=usage, starting=starting)) for s in settings]

    def results(self) -> list[ChatResult]:
        """Every panel's result so far, in grid order."""
        return [p.result for p in self.panels]

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
            while not self._finished.wait(0.05):
                printed = self._print_ready(printed)
        except KeyboardInterrupt:
            interrupted = True
            self.cancel()
            self._wait_after_cancel()
        self.elapsed = time.monotonic() - started
        if not self._finished.is_set():  # stuck past every cancel: end the panels here (once each)
            for panel in self.panels:
                panel.run.end()
        if self.mode == "text":
            self._print_ready(printed, final=True)
        elif self.mode == "widget":
            self._show_static(handle)
        return self.results(), interrupted

    def cancel(self) -> None:
        """Stop every panel (thread-safe)."""
        for panel in self.panels:
            panel.cancel()

    def _wait_after_cancel(self) -> None:
        # An Event, not Thread.join: a join interrupted by Ctrl-C can report a live thread as ended.
        if self._finished.wait(2.0):
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # Streams blocked somewhere a socket shutdown does not reach: cancel their tasks.
            try:
                loop.call_soon_threadsafe(lambda: [t.cancel() for t in self._tasks])
            except RuntimeError:
                pass
            self._finished.wait(2.0)

    # -- the event loop thread ------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._run_all())
        finally:
            self._finished.set()

    def _async_client(self) -> AsyncGLMClient:
        """An async client on the caller's client: its settings, endpoint, retries and transport."""
        from ..client._async import AsyncGLMClient

        return AsyncGLMClient.from_client(self.client)

    def _opener(self, setting: GridSetting) -> Callable[[], AsyncChatStream]:
        def open_stream() -> AsyncChatStream:
            if self._aclient is None:
                raise self._client_error or RuntimeError("compare: the async client is not open")
            return self._aclient.stream(self.prompt, model=self.model, system=self.system, **setting.options)

        return open_stream

    async def _run_all(self) -> None:
        self._loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        try:
            self._aclient = self._async_client()
        except GLMError as exc:
            self._client_error = exc  # every panel shows it as its error line
            await asyncio.gather(*(self._run_panel(gate, p) for p in self.panels), return_exceptions=True)
            return
        async with self._aclient:
            self._tasks = [asyncio.ensure_future(self._run_panel(gate, p)) for p in self.panels]
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run_panel(self, gate: asyncio.Semaphore, panel: Panel) -> None:
        try:
            async with gate:
                await panel.run.run_async()
        finally:
            panel.run.end()  # a panel cancelled while waiting for its turn ends too (stopped)

    # -- the notebook ---------------------------------------------------------------------------

    def _model_name(self) -> str:
        return self.model or self.client.model or ""

    def _show_live(self) -> Any:
        import ipywidgets as widgets
        from IPython.display import display

        from ..answer._live import LiveView
        from ..answer._stream_view import StreamView

        for panel in self.panels:
            view = StreamView(
                model_name=self._model_name(), offline=self.offline, title=panel.setting.label()
            )
            panel.run.show_in(LiveView(view, stop=self.stop))
            self._views.append(view)
        columns = "repeat(auto-fill, minmax(320px, 1fr))" if len(self._views) > 1 else "1fr"
        self._grid = widgets.GridBox(
            self._views, layout=widgets.Layout(grid_template_columns=columns, grid_gap="8px 12px")
        )
        return display(self._grid, display_id=True)

    def _show_static(self, handle: Any) -> None:
        bundle = self.static_bundle()
        if self.plain_text:
            bundle = {"text/plain": bundle["text/plain"]}
        try:
            if handle is not None:
                handle.update(bundle, raw=True, metadata=output_metadata([p.result for p in self.panels]))
        finally:
            for view in self._views:
                view.close()
            if self._grid is not None:
                self._grid.close()

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
    samples: int = 1,
    model: str | None = None,
    system: str | None = None,
    client: GLMClient | None = None,
    display: str = "auto",
    concurrency: int = 8,
    **options: Any,
) -> list[ChatResult]:
    """Ask ``prompt`` under every combination of the given values, all panels streaming at once.

    ``options`` are options of the table (``glm.OPTIONS``). The slider options (temperature,
    top_p, max_tokens: ``SAMPLING_OPTIONS``) take a value or a list; their cartesian product, each
    setting repeated ``samples`` times, is the grid (the first listed key varies slowest). Every
    other option (``thinking``, ``seed``, ``stop`` ...) goes unchanged into every request. Returns
    the ChatResults in grid order; a failed panel's result has ``.error`` set. Everything is
    validated before any request is sent (InvalidOptionError). ``client`` (default: the shared
    client) is used as it is: its transport, pool, key and retries.

    ``display``: "widget" (a grid of live views, replaced by static Markdown at the end), "text"
    (each answer printed in turn), "none", or "auto" (widgets in a Jupyter kernel, else text).
    A KeyboardInterrupt stops every panel, keeps the partial texts and is re-raised.
    """
    grid = {name: options.pop(name) for name in SAMPLING_OPTIONS if name in options}
    run = prepare_compare(
        prompt,
        grid,
        samples=samples,
        model=model,
        system=system,
        client=client,
        fixed=options,
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
    client: GLMClient | None,
    fixed: dict[str, Any],
    mode: str,
    concurrency: int = 8,
    stop: StopButton | None = None,
    plain_text: bool = False,
    usage: SessionUsage | None = None,
) -> CompareRun:
    """Validate everything and build the CompareRun (nothing is sent yet)."""
    from ..client._request import build_messages

    if client is None:
        from ..client._sync import get_client

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
        stop=stop,
        plain_text=plain_text,
        usage=usage,
    )
