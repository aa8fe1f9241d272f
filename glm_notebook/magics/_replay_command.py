"""``%glm replay PATH [--strict]`` / ``%glm replay off`` and ``GLM_NOTEBOOK_REPLAY`` at ``%load_ext``.

The answer files themselves, and what is matched, are the client layer's (``client/_replay``);
here the notebook side turns replay on and off and names the running cell in a strict miss.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from IPython.core.error import UsageError

from .._errors import GLMError

USAGE = "%glm replay PATH [--strict]  |  %glm replay off  |  %glm replay (what is on)"
_TRUE = ("1", "true", "yes", "on")


def name_cells(shell: Any) -> None:
    """A strict miss names the cell: ``cell [7]`` (the In[] number of the cell running)."""
    from ..client import _replay

    # IPython counts the running cell before running it: its In[] number is one below the counter.
    _replay.describe_caller = lambda: f"cell [{shell.execution_count - 1}]"


def replay_command(rest: str) -> None:
    from ..client import _replay

    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"{exc}: {USAGE}") from None
    strict = "--strict" in words
    words = [w for w in words if w != "--strict"]
    if not words:
        book = _replay.active()
        print(f"Replay is on: {book!r}." if book is not None else f"Replay is off. {USAGE}")
        return
    if len(words) > 1 or words[0].startswith("-"):
        raise UsageError(f"Expected one answer file: {USAGE}")
    if words[0] == "off":
        _replay.stop()
        print("Replay is off: every request is sent.")
        return
    try:
        book = _replay.replay(words[0], strict=strict).file
    except GLMError as exc:
        raise UsageError(str(exc)) from None
    print(_on_line(book))


def _on_line(book: Any) -> str:
    what = "a miss sends nothing and fails" if book.strict else "misses are asked and appended"
    return f"Replay on from {book.path.name}: answers in the file are replayed, {what}."


def replay_from_environment() -> None:
    """``GLM_NOTEBOOK_REPLAY=path.jsonl`` (``GLM_NOTEBOOK_REPLAY_STRICT=1``), read at ``%load_ext``."""
    path = os.environ.get("GLM_NOTEBOOK_REPLAY", "").strip()
    if not path:
        return  # no replay: the client layer is not loaded at %load_ext
    from ..client import _replay

    strict = os.environ.get("GLM_NOTEBOOK_REPLAY_STRICT", "").strip().lower() in _TRUE
    try:
        _replay.replay(path, strict=strict)
    except GLMError as exc:
        raise UsageError(f"GLM_NOTEBOOK_REPLAY: {exc}") from None
