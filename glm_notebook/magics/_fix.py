"""``%glm fix`` / ``%%glm --fix``: ask why the last failing cell failed and for a fixed cell.

Nothing is hooked: IPython already keeps the last error (``sys.last_value`` / ``sys.last_exc``,
set when it shows a traceback), maps each cell's code name to its execution count
(``shell.compile._filename_map``), keeps each cell's raw text in the history
(``history_manager.input_hist_raw``) and the code it ran in ``linecache``. From those: the failing cell's source, its traceback from
the cell's own frame on (IPython's frames left out, ANSI codes stripped, long ones cut in the
middle) and the variables the cell reads, each as ``glm.describe`` shows it.
"""

from __future__ import annotations

import ast
import linecache
import sys
import traceback
from types import ModuleType, TracebackType
from typing import Any, NamedTuple

from ..context._attach import context_text
from ..context._text import mask_secrets, strip_ansi, truncate_middle

NO_ERROR = "No error in this session yet: %glm fix explains the last cell that failed."
TRACEBACK_BUDGET = 4000
VARIABLE_BUDGET = 800
MAX_VARIABLES = 12

INSTRUCTION = (
    "This Jupyter notebook cell failed. Explain the cause in a few sentences, then give the whole "
    "cell, fixed, in one ```python code block."
)


class FixRequest(NamedTuple):
    """The prompt (variables, instruction, cell, traceback) and a line saying which cell it is about."""

    prompt: str
    header: str


def last_error() -> BaseException | None:
    """The exception IPython last showed a traceback for, if any."""
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    return exc if isinstance(exc, BaseException) else None


def _cell_number(shell: Any, filename: str | None) -> int | None:
    names = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    number = names.get(filename) if filename else None
    return number if isinstance(number, int) else None


def _cell_traceback(shell: Any, exc: BaseException) -> tuple[TracebackType | None, str | None]:
    """The traceback from the outermost cell frame on, and that cell's code name."""
    tb = exc.__traceback__ or getattr(sys, "last_traceback", None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if _cell_number(shell, filename) is not None:
            return tb, filename
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and _cell_number(shell, exc.filename) is not None:
        return None, exc.filename  # no frame of its own: the cell is the file that did not compile
    return exc.__traceback__, None


def _cell_source(shell: Any, filename: str | None) -> tuple[str | None, int | None]:
    """The cell's text as typed (from the history) and its number; the code IPython ran (from
    linecache, magics turned into Python) when the history does not hold it (``store_history``
    off, as nbval runs cells)."""
    number = _cell_number(shell, filename)
    cached = linecache.cache.get(filename) if filename else None
    code = "".join(cached[2]) if cached and len(cached) > 2 else None
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None) or []
    raw = str(history[number]) if number is not None and number < len(history) else None
    if raw is not None and (code is None or _ran_as(shell, raw, code)):
        return raw, number
    return code, None


def _ran_as(shell: Any, raw: str, code: str) -> bool:
    try:
        return bool(shell.transform_cell(raw).strip() == code.strip())
    except Exception:  # noqa: BLE001 - a cell IPython cannot transform is not the one that ran
        return False


def _readable_names(shell: Any, text: str) -> str:
    """Cell code names (``<ipython-input-3-…>``, ``/tmp/ipykernel_1/123.py``) as ``In[3]``."""
    names = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    for filename, number in names.items():
        if filename in text:
            text = text.replace(f'File "{filename}"', f"Cell In[{number}]").replace(filename, f"In[{number}]")
    return text


def traceback_text(shell: Any, exc: BaseException, tb: TracebackType | None) -> str:
    lines = traceback.format_exception(type(exc), exc, tb)
    text = _readable_names(shell, strip_ansi("".join(lines)))
    return truncate_middle(text.rstrip("\n"), TRACEBACK_BUDGET)


def used_names(shell: Any, source: str) -> list[str]:
    """Names the cell reads, in order of first use (magics turned into Python first)."""
    try:
        code = shell.transform_cell(source)
        tree = ast.parse(code)
    except Exception:  # noqa: BLE001 - a cell that does not parse reads no names we can know
        return []
    seen: dict[str, None] = {}
    nodes = sorted(
        (n for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for node in nodes:
        seen.setdefault(node.id, None)
    return list(seen)


def cell_variables(shell: Any, source: str) -> dict[str, Any]:
    """The user's variables the cell reads (not modules, not IPython's ``_`` names), at most 12."""
    namespace = shell.user_ns
    hidden = getattr(shell, "user_ns_hidden", {})
    found: dict[str, Any] = {}
    for name in used_names(shell, source):
        if name.startswith("_") or name not in namespace or name in hidden:
            continue
        value = namespace[name]
        if isinstance(value, ModuleType):
            continue
        found[name] = value
        if len(found) == MAX_VARIABLES:
            break
    return found


def fix_request(shell: Any, words: str = "") -> FixRequest | None:
    """What to ask about the last failing cell; None when there was no error in this session."""
    exc = last_error()
    if exc is None:
        return None
    tb, filename = _cell_traceback(shell, exc)
    source, number = _cell_source(shell, filename)
    label = f"In[{number}]" if number is not None else "the last failing cell"
    variables = cell_variables(shell, source) if source is not None else {}
    parts = [context_text(variables, budget=VARIABLE_BUDGET), ""] if variables else []
    parts += [INSTRUCTION, ""]
    if source is not None:
        parts += [f"<cell {label}>", source.rstrip("\n"), "</cell>", ""]
    else:
        parts += ["(The cell's source is not in the history.)", ""]
    parts += ["<traceback>", traceback_text(shell, exc, tb), "</traceback>"]
    if words.strip():
        parts += ["", words.strip()]
    message = " ".join(f"{type(exc).__name__}: {exc}".split())
    header = f"Asking about {label}: {truncate_middle(message, 160)}"
    # A key in the cell or a message (say, from os.environ) is masked like any other context.
    return FixRequest(mask_secrets("\n".join(parts)), mask_secrets(header))
