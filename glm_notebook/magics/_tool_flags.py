"""``%%glm --tools f,g``, ``--max-tool-turns N``, ``--web-search``: the user's functions, looked up.

Names come from the user namespace only (dotted names such as ``helpers.search`` too); a missing
or non-callable name is a UsageError before anything is sent. The model can then call exactly
these callables, by exact name: nothing is imported or evaluated by name. The loop itself is the
client's (``client.stream(..., tools=[...])``, ``_tool_stream``); the notebook only shows it.

Approval (a tool made with ``glm.tool(fn, approve=True)`` or a predicate): Approve / Deny buttons
in the live view when clicks are known to reach the kernel while the cell runs (the same proof as
the Stop button's: ``StreamView``'s greeting on the widget subshell), else ``input()``, which
JupyterLab shows as a prompt under the cell and terminal IPython as a question on stdin.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ._context_flags import lookup, names_from


def tools_from(args: Any, namespace: dict[str, Any]) -> list[Any] | None:
    """The ``tools=`` list for the stream, or None when no tool flag is given."""
    names = names_from("--tools", getattr(args, "tools", None))
    tools: list[Any] = []
    for name in names:
        value = lookup("--tools", name, namespace)
        if not callable(value):
            raise UsageError(
                f"--tools: {name!r} is a {type(value).__name__}, not a function; pass functions "
                "(or glm.tool(...) objects) defined in this notebook."
            )
        tools.append(value)
    if getattr(args, "web_search", False):
        from ..tools._functions import web_search

        tools.append(web_search())
    if getattr(args, "max_tool_turns", None) is not None and not tools:
        raise UsageError("--max-tool-turns limits a tool loop: give the tools with --tools f,g.")
    return tools or None  # their schemas are built (and checked) once, by the client's tool_loop
