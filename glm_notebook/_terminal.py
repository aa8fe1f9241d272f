"""Text printed to a terminal, made safe: model output, tool names and server messages cannot drive it.

Used by the status lines (``_status``), the terminal view (``answer/_run.TerminalView``) and the
approval prompt of the tool loop (``tools/_loop.ask_in_terminal``).
"""

from __future__ import annotations

import re

__all__ = ["terminal_safe"]

_TERMINAL_CONTROL_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def terminal_safe(text: str) -> str:
    """``text`` with every terminal control sequence and control character removed, newlines and
    tabs kept: model output, tool names and server messages printed to a terminal cannot clear
    it, retitle the window, hide text or plant a hyperlink. Safe on pieces of a stream too: a
    sequence cut between two pieces loses its ESC, and the rest prints as plain characters."""
    return _TERMINAL_CONTROL_RE.sub("", text)
