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

No API key shows: a settings object and a client render with the key masked (their reprs do),
``os.environ`` and any mapping show ``…abcd`` for a value whose name looks like a key, token,
secret or password, and as a last pass any such environment variable's value found in the text is
replaced by its masked form.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from .._errors import InvalidOptionError
from .._settings import SecretKey, mask_key
from ._text import looks_secret, mask_secrets, strip_ansi, truncate_middle

__all__ = ["DEFAULT_BUDGET", "describe", "looks_secret", "mask_secrets", "truncate_middle"]

#: Characters per object when no budget is given: a few head rows and columns of a wide table.
DEFAULT_BUDGET = 4000
MIN_BUDGET = 120

_FRAME_LIBRARIES = frozenset({"pandas", "polars", "numpy"})


def describe(obj: Any, *, budget: int = DEFAULT_BUDGET) -> str:
    """The text the model sees for ``obj``: at most ``budget`` characters, saying what is left out."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_BUDGET:
        raise InvalidOptionError(
            f"budget must be a whole number of characters of at least {MIN_BUDGET}, got {budget!r}."
        )
    text = mask_secrets(_describe(obj, budget))
    return text if len(text) <= budget else truncate_middle(text, budget)


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
    text = hook(obj, budget) if takes_budget else hook(obj)
    if not isinstance(text, str):
        raise TypeError(f"{type(obj).__name__}._repr_llm_() must return a str, got {type(text).__name__}")
    return text


def _describe_repr(obj: Any, budget: int) -> str:
    try:
        text = repr(obj)
    except Exception as exc:  # noqa: BLE001 - a broken repr must not break the prompt
        text = f"<{type(obj).__name__} object; repr() failed: {type(exc).__name__}: {exc}>"
    header = f"{_qualname(type(obj))}:\n"
    return header + truncate_middle(text, budget - len(header))


def _qualname(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


# -- exceptions --------------------------------------------------------------------------------


def _describe_exception(exc: BaseException, budget: int) -> str:
    header = f"exception {_qualname(type(exc))}: {strip_ansi(str(exc))}\n"
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    body = strip_ansi("".join(lines)) if exc.__traceback__ is not None else "(not raised: no traceback)"
    return header + "Traceback:\n" + truncate_middle(body, budget - len(header) - 11)


# -- containers --------------------------------------------------------------------------------


def _describe_container(obj: Any, budget: int) -> str:
    kind = type(obj).__name__
    size = len(obj)
    noun = "key" if isinstance(obj, Mapping) else "item"
    header = f"{kind}, {size:,} {noun}{'' if size == 1 else 's'}:\n"
    room = budget - len(header)
    for items in (50, 20, 10, 5, 3, 2, 1):
        for strings in (200, 80, 40):
            render = _Render(items, strings)
            text = render.value(obj, 0)
            if len(text) <= room:
                note = render.note()
                if note and len(text) + len(note) <= room:
                    text += note
                return header + text
    return header + truncate_middle(_Render(1, 40).value(obj, 0), room)


class _Render:
    """JSON-like text with at most ``items`` entries per container and strings cut to ``strings``."""

    MAX_DEPTH = 4

    def __init__(self, items: int, strings: int) -> None:
        self.items = items
        self.strings = strings
        self.left_out = 0

    def note(self) -> str:
        return f"\n[{self.left_out:,} entries left out]" if self.left_out else ""

    def value(self, obj: Any, depth: int, key: object = None) -> str:
        if isinstance(obj, SecretKey) or (isinstance(obj, str) and obj and looks_secret(key)):
            return repr(mask_key(obj))
        if isinstance(obj, str):
            return repr(obj if len(obj) <= self.strings else obj[: self.strings] + "…")
        if isinstance(obj, (bool, int, float, complex)) or obj is None:
            return repr(obj)
        if isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            if depth >= self.MAX_DEPTH:
                self.left_out += len(obj)
                return f"<{type(obj).__name__} of {len(obj):,}>"
            return self._container(obj, depth)
        text = _describe_repr(obj, self.strings + 40).partition("\n")[2]
        return text if "\n" not in text else " ".join(text.split())

    def _container(self, obj: Any, depth: int) -> str:
        if isinstance(obj, Mapping):
            open_, close = "{", "}"
            pairs = list(obj.items())[: self.items]
            parts = [f"{self.value(k, depth + 1)}: {self.value(v, depth + 1, key=k)}" for k, v in pairs]
        else:
            open_, close = ("[", "]") if isinstance(obj, list) else ("(", ")")
            if isinstance(obj, (set, frozenset)):
                open_, close = ("{", "}") if obj else (f"{type(obj).__name__}(", ")")
            shown = list(obj)[: self.items] if not isinstance(obj, (list, tuple)) else obj[: self.items]
            parts = [self.value(v, depth + 1) for v in shown]
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
