"""Lazy facades: a package's public names, each said once, loaded on first use.

``glm_notebook`` and ``glm_notebook.playground`` keep their heavy names (httpx, ipywidgets) out of
``import`` time. Each keeps one table, name -> the module that defines it; ``lazy_names`` makes
``__getattr__``, ``__dir__`` and ``__all__`` from that table and the names bound eagerly, so no name
is listed twice by hand. The ``if TYPE_CHECKING:`` imports (for type checkers and IDEs) repeat the
table by necessity; ``tests/test_public_surface.py`` holds them equal to it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_names(
    package: str, namespace: dict[str, Any], table: Mapping[str, str], eager: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package``: ``table`` maps each lazy name to the
    module (relative to ``package``) that defines it; ``eager`` are the names already bound."""
    public = sorted({*eager, *table})

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__, public
