""" "Copy as code": the ``%%glm`` cell and the Python call that reproduce a playground's settings.

Both send the same request as the playground: values are written with ``repr`` (0.35 stays 0.35,
0.0 stays 0.0) and an option the playground does not send is left out. The ``%%glm`` line is
parsed back by the magic's own flag parser in the tests. The flags come from the options table
(``flag=True`` entries, in table order). Limits, said in the text itself: a system prompt with
line breaks cannot go on the one ``%%glm`` line (the Python call carries it), options without a
flag are only in the Python call, and a left-out flag falls back to ``%config GLMMagics``
defaults, if you set any.
"""

from __future__ import annotations

import shlex
from typing import Any

from .._options import FLAG_OPTIONS, OPTIONS

__all__ = ["copy_as_code", "flag_words", "magic_cell", "magic_flags", "python_call"]


def flag_words(name: str, value: Any) -> list[str]:
    """The ``%%glm`` flag words that send option ``name`` = ``value`` (read off the options table)."""
    opt = OPTIONS[name]
    if value is None:
        return []
    if opt.kind == "bool":
        return [opt.flag_name if value else f"--no-{opt.flag_name[2:]}"]
    if opt.kind == "choice":
        return [opt.flag_name, shlex.quote(value)]
    if opt.kind == "stop":
        words: list[str] = []
        for s in [value] if isinstance(value, str) else value:
            words += [opt.flag_name, shlex.quote(s)]
        return words
    return [opt.flag_name, repr(value)]


def magic_flags(*, model: str | None, system: str | None, options: dict[str, Any]) -> str:
    """The flags of a ``%%glm`` line for these settings (without ``%%glm`` itself).

    Options without a flag (e.g. ``top_k``) are carried only by the Python call.
    """
    flags: list[str] = []
    if model:
        flags += ["--model", shlex.quote(model)]
    for name in FLAG_OPTIONS:
        flags += flag_words(name, options.get(name))
    fmt = options.get("response_format")
    if fmt in ("json_object", {"type": "json_object"}):
        flags += ["--format", "json"]
    if system and "\n" not in system:
        flags += ["--system", shlex.quote(system)]
    return " ".join(flags)


def magic_cell(prompt: str, *, model: str | None, system: str | None, options: dict[str, Any]) -> str:
    """The whole ``%%glm`` cell: the flags line, then the prompt."""
    flags = magic_flags(model=model, system=system, options=options)
    return f"%%glm {flags}".rstrip() + "\n" + prompt


def python_call(prompt: Any, *, model: str | None, system: str | None, options: dict[str, Any]) -> str:
    """A Python call through the shared client that sends the same request."""
    args = [repr(prompt)]
    if model:
        args.append(f"model={model!r}")
    if system:
        args.append(f"system={system!r}")
    args += [f"{name}={value!r}" for name, value in options.items() if value is not None]
    body = "".join(f"\n    {a}," for a in args)
    return f"import glm_notebook as glm\n\nresult = glm.get_client().chat({body}\n)\nprint(result.text)"


def copy_as_code(prompt: Any, *, model: str | None, system: str | None, options: dict[str, Any]) -> str:
    """The ``%%glm`` cell (for a string prompt), then the Python call, with any limit as a comment."""
    parts = []
    if isinstance(prompt, str):
        parts.append(magic_cell(prompt, model=model, system=system, options=options))
    notes = ["# Or from Python:"] if parts else []
    if system and "\n" in system:
        notes.append("# (the system prompt has line breaks: only this Python call carries it)")
    flagless = [n for n, v in options.items() if v is not None and n in OPTIONS and not OPTIONS[n].flag]
    if parts and [n for n in flagless if n != "response_format"]:
        names = ", ".join(n for n in flagless if n != "response_format")
        notes.append(f"# ({names}: no %%glm flag, only this Python call carries it)")
    notes.append(python_call(prompt, model=model, system=system, options=options))
    parts.append("\n".join(notes))
    return "\n\n".join(parts)
