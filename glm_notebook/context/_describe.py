"""What the model sees of a Python object: ``describe(obj, budget=...)``, within a character budget.

Every description starts with a line naming the kind of object and says what it left out
("… 999,990 more rows", "[12,000 characters left out]"). By kind:

- an object whose type has ``_repr_llm_`` uses it (the protocol below);
- pandas / polars DataFrames and Series, numpy arrays: ``_describe_frames`` (those libraries are
  recognised by the type's module name and never imported for any other object);
- exceptions: type, message and traceback (middle lines left out when long);
- ``str``: cut in the middle with a note; ``dict`` / ``list`` / ``tuple`` / ``set``: JSON-like text
  with fewer items per level until it fits;
- functions, classes, modules: signature and docstring, the source when short;
- anything else: its ``repr``, cut in the middle.

The ``_repr_llm_`` protocol: define ``_repr_llm_(self)`` (or ``_repr_llm_(self, budget)``, which is
then given the character budget) returning a ``str``; it is used as is, cut to the budget if longer.
A ``_repr_llm_`` or ``__repr__`` that raises (or returns no ``str``) becomes a line saying so; so
does any other failure while describing: ``describe`` itself does not raise for a bad object.

Containers call ``repr`` only for what they can show: each object's ``repr`` is taken once per
``describe`` (kept for the shorter retries) and a rendering stops as soon as it is past the budget,
so a list of 10,000 objects costs about as many ``repr`` calls as the budget shows items.

No API key shows: a settings object and a client render with the key masked (their reprs do),
``os.environ`` and any mapping show ``…abcd`` for a value whose name looks like a key, token,
secret or password (every string below such a name, at any depth), ``describe_bound(name, obj)``
masks the object itself when its name looks secret, and as a last pass ``_text.mask_secrets``
masks key-shaped strings, secret bindings in reprs and tracebacks, and known key values.
"""

from __future__ import annotations

import inspect
import itertools
import os
import traceback
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .._errors import InvalidOptionError
from .._settings import SecretKey, mask_key
from ._text import looks_secret, mask_secrets, strip_ansi, truncate_middle

__all__ = ["DEFAULT_BUDGET", "describe", "describe_bound", "looks_secret", "mask_secrets", "truncate_middle"]

#: Characters per object when no budget is given: a few head rows and columns of a wide table.
DEFAULT_BUDGET = 4000
MIN_BUDGET = 120

_FRAME_LIBRARIES = frozenset({"pandas", "polars", "numpy"})


def describe(obj: Any, *, budget: int = DEFAULT_BUDGET) -> str:
    """The text the model sees for ``obj``: at most ``budget`` characters, saying what is left out."""
    _check_budget(budget)
    return _finish(_safely(_describe, obj, budget), budget)


def describe_bound(name: str, obj: Any, *, budget: int = DEFAULT_BUDGET) -> str:
    """``describe(obj)`` for an object the notebook knows as ``name`` (``--context``, ``--vars``,
    ``%glm fix``): under a secret-looking name a string is shown masked and every string inside
    a container is too."""
    _check_budget(budget)
    if looks_secret(name):
        if isinstance(obj, (str, bytes, bytearray, int)) and not isinstance(obj, bool):
            kind = type(obj).__name__
            value = obj.decode("utf-8", "replace") if isinstance(obj, (bytes, bytearray)) else str(obj)
            return f"{kind} (masked: the name {name!r} looks like a secret): {mask_key(value)}"
        if isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            return _finish(_safely(_describe_container, obj, budget, True), budget)
    return describe(obj, budget=budget)


def _check_budget(budget: Any) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_BUDGET:
        raise InvalidOptionError(
            f"budget must be a whole number of characters of at least {MIN_BUDGET}, got {budget!r}."
        )


def _finish(text: str, budget: int) -> str:
    text = mask_secrets(text)
    return text if len(text) <= budget else truncate_middle(text, budget)


def _safely(describer: Any, obj: Any, *args: Any) -> str:
    """``describer(obj, ...)``; a line saying what failed when the object breaks it."""
    try:
        return str(describer(obj, *args))
    except Exception as exc:  # noqa: BLE001 - one bad object must not fail the cell or the prompt
        return f"{_qualname(type(obj))}: could not be described ({_failure(exc)})"


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - even str() of an error can raise
        return "(its message cannot be shown: str() failed)"


def _failure(exc: BaseException) -> str:
    message = _message(exc)
    return f"{type(exc).__name__}: {truncate_middle(message, 200)}" if message else type(exc).__name__


def _describe(obj: Any, budget: int) -> str:
    if isinstance(obj, SecretKey):
        return f"API key (masked): {mask_key(obj)}"
    hook = getattr(type(obj), "_repr_llm_", None)
    if callable(hook):
        return _from_hook(obj, hook, budget)
    if _frame_library(obj):
        from ._describe_frames import describe_frame

        text = describe_frame(obj, budget)
        if text is not None:
            return text
    if isinstance(obj, BaseException):
        return _describe_exception(obj, budget)
    if isinstance(obj, str):
        header = f"str, {len(obj):,} characters:\n"
        return header + truncate_middle(obj, budget - len(header))
    if isinstance(obj, (bytes, bytearray)):
        header = f"{type(obj).__name__}, {len(obj):,} bytes:\n"
        return header + truncate_middle(repr(bytes(obj[: budget * 4])), budget - len(header))
    if isinstance(obj, os._Environ):
        body = _describe_container(dict(obj), budget).partition("\n")[2]
        return f"os.environ, {len(obj):,} variables (secret-looking values masked):\n{body}"
    if isinstance(obj, (Mapping, list, tuple, set, frozenset)):
        return _describe_container(obj, budget)
    if isinstance(obj, ModuleType):
        return _describe_module(obj, budget)
    if inspect.isclass(obj):
        return _describe_class(obj, budget)
    if inspect.isroutine(obj) or isinstance(obj, staticmethod | classmethod):
        return _describe_function(obj, budget)
    return _describe_repr(obj, budget)


def _frame_library(obj: Any) -> bool:
    """True when ``obj``'s type (or a base) comes from pandas, polars or numpy: no import needed."""
    for cls in type(obj).__mro__:
        if cls.__module__.partition(".")[0] in _FRAME_LIBRARIES:
            return True
    return False


def _from_hook(obj: Any, hook: Any, budget: int) -> str:
    try:
        takes_budget = "budget" in inspect.signature(hook).parameters
    except (TypeError, ValueError):
        takes_budget = False
    try:
        text = hook(obj, budget) if takes_budget else hook(obj)
        problem = None if isinstance(text, str) else f"returned {type(text).__name__}, not a str"
    except Exception as exc:  # noqa: BLE001 - a broken hook must not fail the cell
        problem = f"raised {_failure(exc)}"
    if problem is None:
        return text
    line = f"({_qualname(type(obj))}._repr_llm_() {problem}; its repr instead)\n"
    return line + _describe_repr(obj, budget - len(line))


def _safe_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception as exc:  # noqa: BLE001 - a broken repr must not break the prompt
        return f"<{type(obj).__name__} object; repr() failed: {_failure(exc)}>"
    return text if isinstance(text, str) else f"<{type(obj).__name__} object; repr() gave no str>"


def _describe_repr(obj: Any, budget: int) -> str:
    header = f"{_qualname(type(obj))}:\n"
    return header + truncate_middle(_safe_repr(obj), max(budget - len(header), 0))


def _qualname(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


# -- exceptions --------------------------------------------------------------------------------


def _describe_exception(exc: BaseException, budget: int) -> str:
    header = f"exception {_qualname(type(exc))}: {strip_ansi(_message(exc))}\n"
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    body = strip_ansi("".join(lines)) if exc.__traceback__ is not None else "(not raised: no traceback)"
    return header + "Traceback:\n" + truncate_middle(body, budget - len(header) - 11)


# -- containers --------------------------------------------------------------------------------


def _describe_container(obj: Any, budget: int, secret: bool = False) -> str:
    kind = type(obj).__name__
    size = len(obj)
    noun = "key" if isinstance(obj, Mapping) else "item"
    header = f"{kind}, {size:,} {noun}{'' if size == 1 else 's'}:\n"
    room = budget - len(header)
    reprs: dict[int, str] = {}  # each object's repr once, for every retry below
    for items in (50, 20, 10, 5, 3, 2, 1):
        for strings in (200, 80, 40):
            render = _Render(items, strings, reprs, room)
            try:
                text = render.value(obj, 0, secret=secret)
            except _TooLong:
                continue
            if len(text) <= room:
                note = render.note()
                if note and len(text) + len(note) <= room:
                    text += note
                return header + text
    return header + truncate_middle(_Render(1, 40, reprs).value(obj, 0, secret=secret), room)


class _TooLong(Exception):
    """A rendering is already past its room: the next, shorter one is tried."""


class _Render:
    """JSON-like text with at most ``items`` entries per container and strings cut to ``strings``.

    ``reprs`` is shared by the retries of one ``describe`` (an object's ``repr`` is taken once);
    with a ``room``, the rendering stops (``_TooLong``) as soon as the leaves it has written are
    longer, so a long container costs only as many ``repr`` calls as fit."""

    MAX_DEPTH = 4

    def __init__(self, items: int, strings: int, reprs: dict[int, str], room: int | None = None) -> None:
        self.items = items
        self.strings = strings
        self.left_out = 0
        self.reprs = reprs
        self.room = room
        self.written = 0

    def note(self) -> str:
        return f"\n[{self.left_out:,} entries left out]" if self.left_out else ""

    def value(self, obj: Any, depth: int, key: object = None, secret: bool = False) -> str:
        text = self._value(obj, depth, key, secret or looks_secret(key))
        if not isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            self.written += len(text) + 2
            if self.room is not None and self.written > self.room:
                raise _TooLong
        return text

    def _value(self, obj: Any, depth: int, key: object, secret: bool) -> str:
        if isinstance(obj, SecretKey) or (isinstance(obj, (str, bytes, int)) and obj and secret):
            if isinstance(obj, bytes):
                return repr(mask_key(obj.decode("utf-8", "replace")))
            return (
                repr(mask_key(obj if isinstance(obj, str) else str(obj)))
                if not isinstance(obj, bool)
                else "…"
            )
        if isinstance(obj, str):
            return repr(obj if len(obj) <= self.strings else obj[: self.strings] + "…")
        if isinstance(obj, (bool, int, float, complex)) or obj is None:
            return repr(obj)
        if isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            if depth >= self.MAX_DEPTH:
                self.left_out += len(obj)
                return f"<{type(obj).__name__} of {len(obj):,}>"
            return self._container(obj, depth, secret)
        if id(obj) not in self.reprs:
            self.reprs[id(obj)] = _safe_repr(obj)
        text = truncate_middle(self.reprs[id(obj)], self.strings + 40)
        return text if "\n" not in text else " ".join(text.split())

    def _container(self, obj: Any, depth: int, secret: bool) -> str:
        if isinstance(obj, Mapping):
            open_, close = "{", "}"
            pairs = list(itertools.islice(obj.items(), self.items))
            parts = [
                f"{self.value(k, depth + 1, secret=secret)}: {self.value(v, depth + 1, key=k, secret=secret)}"
                for k, v in pairs
            ]
        else:
            open_, close = ("[", "]") if isinstance(obj, list) else ("(", ")")
            if isinstance(obj, (set, frozenset)):
                open_, close = ("{", "}") if obj else (f"{type(obj).__name__}(", ")")
            shown = (
                list(itertools.islice(obj, self.items))
                if not isinstance(obj, (list, tuple))
                else obj[: self.items]
            )
            parts = [self.value(v, depth + 1, secret=secret) for v in shown]
        more = len(obj) - len(parts)
        if more > 0:
            self.left_out += more
            parts.append(f"… {more:,} more")
        if isinstance(obj, tuple) and len(parts) == 1 and more <= 0:
            parts[0] += ","
        return open_ + ", ".join(parts) + close


# -- code --------------------------------------------------------------------------------------


def _describe_function(obj: Any, budget: int) -> str:
    from ._describe_code import describe_function

    return describe_function(obj, budget)


def _describe_class(obj: type, budget: int) -> str:
    from ._describe_code import describe_class

    return describe_class(obj, budget)


def _describe_module(obj: ModuleType, budget: int) -> str:
    from ._describe_code import describe_module

    return describe_module(obj, budget)
