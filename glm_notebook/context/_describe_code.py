"""``describe`` for code: functions, classes and modules (signature, docstring, source when short)."""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

from ._text import truncate_middle

#: Source is shown when it has at most this many lines and fits in half the budget.
SHORT_SOURCE_LINES = 60


def _signature(obj: Any) -> str:
    try:  # annotations evaluated: ``width: float``, not ``width: 'float'`` under postponed annotations
        return str(inspect.signature(obj, eval_str=True))
    except Exception:  # noqa: BLE001 - a name in an annotation that does not resolve
        pass
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(…)"  # builtins without a text signature


def _doc(obj: Any, budget: int) -> str:
    """The docstring, cut in the middle to half the budget (the rest is for names and signatures)."""
    doc = inspect.getdoc(obj)
    return truncate_middle(doc.strip(), budget // 2) if doc else ""


def _source(obj: Any, room: int) -> str | None:
    """The source when it is short enough (lines and characters), else None."""
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return None
    if source.count("\n") > SHORT_SOURCE_LINES or len(source) > room:
        return None
    return source.rstrip("\n")


def _fit(parts: list[str], budget: int, notes: list[str]) -> str:
    text = "\n".join(p for p in parts if p)
    if notes:
        text += "\n[" + "; ".join(notes) + "]"
    return truncate_middle(text, budget)


def describe_function(obj: Any, budget: int) -> str:
    func = obj.__func__ if isinstance(obj, staticmethod | classmethod) else obj
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    module = getattr(func, "__module__", None)
    where = f" (module {module})" if module and module not in ("__main__", "builtins") else ""
    kind = "coroutine function" if inspect.iscoroutinefunction(func) else "function"
    header = f"{kind} {name}{_signature(func)}{where}"
    notes: list[str] = []
    source = _source(func, budget // 2)
    if source is not None:
        return _fit([header, "Source:", source], budget, notes)
    doc = _doc(func, budget)
    if inspect.isfunction(func):
        notes.append("source not shown: too long or not available")
    return _fit([header, doc], budget, notes)


def describe_class(cls: type, budget: int) -> str:
    bases = ", ".join(b.__qualname__ for b in cls.__bases__ if b is not object)
    module = cls.__module__
    where = f" (module {module})" if module not in ("__main__", "builtins") else ""
    header = f"class {cls.__qualname__}{f'({bases})' if bases else ''}{where}"
    source = _source(cls, budget // 2)
    if source is not None:
        return _fit([header, "Source:", source], budget, [])
    lines = [header, f"constructor {cls.__qualname__}{_signature(cls)}", _doc(cls, budget)]
    methods = [
        f"- {name}{_signature(member)}"
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member)
    ]
    notes = ["source not shown: too long or not available"]
    if methods:
        lines.append("Public methods:")
        lines.extend(methods[:40])
        if len(methods) > 40:
            notes.append(f"{len(methods) - 40} more methods left out")
    return _fit(lines, budget, notes)


def describe_module(module: ModuleType, budget: int) -> str:
    header = f"module {module.__name__}"
    path = getattr(module, "__file__", None)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    names = sorted(str(n) for n in names)
    notes: list[str] = []
    shown = names[:80]
    if len(names) > len(shown):
        notes.append(f"{len(names) - len(shown)} more public names left out")
    lines = [header + (f" ({path})" if path else ""), _doc(module, budget)]
    if shown:
        lines.append("Public names: " + ", ".join(shown))
    return _fit(lines, budget, notes)
