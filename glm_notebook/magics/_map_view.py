"""The notebook view of a ``glm.map`` run: one live Markdown line, left as a one-line summary.

``%load_ext glm_notebook`` installs ``factory`` as the batch layer's ``bulk._rows.notebook_progress``.
The run's calling thread (the cell's own) redraws at most 10 times a second, through an IPython
display handle: done, failed, cached, in flight and the current limit, rows/s, ETA, tokens, cost.
When the run ends the same output becomes the summary line (``BatchResult.summary()``), so the
saved notebook shows it as plain Markdown, and ``_glm`` holds the BatchResult (also after an
interrupt: the partial one). Outside a notebook front end (terminal IPython) the factory returns
None and the client layer's terminal line is used.
"""

from __future__ import annotations

from typing import Any

from IPython.display import Markdown, display

from ._args import choices_from


class MapProgressView:
    """The live line of one run, drawn only when its text changes."""

    def __init__(self, shell: Any, total: int) -> None:
        self.shell = shell
        self.total = total
        self._last = f"**glm.map** 0/{total} starting…"
        self.handle = display(Markdown(self._last), display_id=True)

    def _show(self, text: str) -> None:
        if text != self._last and self.handle is not None:
            self._last = text
            self.handle.update(Markdown(text))

    def update(self, progress: Any) -> None:
        self._show(f"**glm.map** {progress.line()}")

    def close(self, progress: Any, result: Any) -> None:
        """The one-line summary; a map's BatchResult goes to ``_glm`` (a Batch API job's wait
        passes a plain line, ``str``, and leaves ``_glm`` alone)."""
        if isinstance(result, str):
            self._show(result)
            return
        self._show(f"**glm.map** {result.summary()}")
        self.shell.user_ns["_glm"] = result


def install(shell: Any) -> None:
    """Show map runs in this shell's notebook (a kernel with a front end), else leave it alone."""
    from ..bulk import _rows

    def factory(total: int) -> MapProgressView | None:
        if type(shell).__name__ != "ZMQInteractiveShell":
            return None
        return MapProgressView(shell, total)

    _rows.notebook_progress = factory


def uninstall() -> None:
    from ..bulk import _rows

    _rows.notebook_progress = None


def run_map_cell(magics: Any, args: Any, template: str, options: dict[str, Any], client: Any) -> None:
    """``%%glm --map DATA [--out VAR]``: ``glm.map(cell, DATA)``; the BatchResult in ``_glm`` and VAR.

    A mistake (no such variable, a missing column) or an error that stops the run (a bad key, no
    balance) is one line, no traceback; the rows finished before it are in ``_glm`` all the same.
    """
    from IPython.core.error import UsageError

    from .._errors import GLMError
    from ..bulk._map import map as glm_map

    if args.tune or args.compare or args.chat:
        raise UsageError(
            "--map runs the template once per row: it cannot be combined with --tune, --compare or --chat."
        )
    if args.map not in magics.user_ns:
        raise UsageError(
            f"--map {args.map}: there is no variable {args.map!r}; define it first (e.g. a DataFrame)."
        )
    data = magics.user_ns[args.map]
    chosen = choices_from(args, magics)
    model, system = chosen.model, chosen.system
    try:
        result = glm_map(template, data, model=model, system=system, client=client, **options)
    except GLMError as exc:
        batch = getattr(exc, "batch", None)
        if batch is not None:
            magics.store_result(batch, args.out)
        if magics.raise_errors:
            raise
        raise UsageError(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    magics.store_result(result, args.out)
