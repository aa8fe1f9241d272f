"""Where secrets come from beyond the environment: sources the notebook layer registers (its
secret-named variables), read by ``_text.mask_secrets`` each time it masks.

Kept apart from ``_text`` (and its compiled patterns) so ``%load_ext`` can register a source
without loading the masker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

sources: list[Callable[[], Iterable[str]]] = []


def add_secret_source(source: Callable[[], Iterable[str]]) -> None:
    """Also mask the values ``source()`` gives (the notebook layer: its secret-named variables)."""
    if source not in sources:
        sources.append(source)


def remove_secret_source(source: Callable[[], Iterable[str]] | None) -> None:
    if source is not None and source in sources:
        sources.remove(source)
