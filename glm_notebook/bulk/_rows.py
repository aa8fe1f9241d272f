"""``glm.map``'s inputs and output: rows from any data, prompts from a template, ``BatchResult``.

This module owns turning ``data`` (a list of strings or dicts, a pandas DataFrame or Series, any
iterable) into one prompt per row, and the ``BatchResult`` the run returns. pandas is imported
only when a DataFrame or Series is given (recognised by its type's module). The run itself
(concurrency, cache, retries, progress) is in ``_map``; ``glm.map`` is defined there. The
notebook layer installs its progress view in ``notebook_progress``.

Templates use ``str.format`` placeholders, the same rules as ``%%glm --vars``:

- a dict row or a DataFrame row fills ``{column}`` placeholders by name (``{{ }}`` is a brace);
- a string (or any other value) fills every placeholder, named or ``{}``; a template with no
  placeholder at all gets the value appended after a blank line (``glm.map("Summarise:", texts)``).

Every prompt is rendered before anything is sent, so a missing column fails at once, naming it.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._types import ChatResult, Usage

__all__ = ["BatchResult", "render_prompts", "rows_of"]

# Set by ``%load_ext glm_notebook`` (magics/_map_view): ``factory(total)`` makes the notebook's
# progress view, or returns None outside a notebook front end. Kept here, in a module that
# %load_ext may import cheaply; the run (``_map``) reads it.
notebook_progress: Callable[[int], Any] | None = None


def _is_pandas(data: Any, name: str) -> bool:
    cls = type(data)
    return cls.__module__.split(".")[0] == "pandas" and cls.__name__ == name


def rows_of(data: Any) -> tuple[list[Any], Any]:
    """The rows of ``data`` and the index to label results with (a pandas index, or None)."""
    if _is_pandas(data, "DataFrame"):
        columns = [str(c) for c in data.columns]
        rows = [dict(zip(columns, values, strict=True)) for values in data.itertuples(index=False, name=None)]
        return rows, data.index
    if _is_pandas(data, "Series"):
        return list(data.tolist()), data.index
    if isinstance(data, (str, bytes)):
        raise TypeError(
            "glm.map() needs many inputs, got one string: pass a list of strings, e.g. glm.map(template, [text])."
        )
    if isinstance(data, Mapping):
        raise TypeError(
            "glm.map() got a dict: pass a list of dicts (one per row) or a DataFrame, "
            "e.g. glm.map(template, [{'text': ...}, ...])."
        )
    if not isinstance(data, Iterable):
        raise TypeError(
            f"glm.map() needs a list, a DataFrame, a Series or an iterable, not {type(data).__name__}."
        )
    return list(data), None


class _AnyField(string.Formatter):
    """A formatter where every field is the one value (rows that are not dicts)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        return self.value


def _fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(
            f"glm.map(): cannot read the template ({exc}); write {{{{ }}}} for a brace."
        ) from None


def render_prompts(template: str, rows: list[Any]) -> list[str]:
    """One prompt per row (see the module docstring); raises ValueError naming the row."""
    if not isinstance(template, str) or not template.strip():
        raise ValueError("glm.map() needs a template string, e.g. 'Summarise: {text}'.")
    has_fields = bool(_fields(template))
    prompts = []
    for i, row in enumerate(rows):
        try:
            if isinstance(row, Mapping):
                text = string.Formatter().vformat(template, (), dict(row))
            elif has_fields:
                text = _AnyField(row).vformat(template, (), {})
            else:
                text = f"{template}\n\n{row}"
        except KeyError as exc:
            names = ", ".join(str(k) for k in row)
            raise ValueError(
                f"glm.map(): row {i} has no {{{exc.args[0]}}} (its fields: {names}); "
                "fix the template or the data, or write {{ }} for a literal brace."
            ) from None
        except (IndexError, AttributeError, ValueError) as exc:
            raise ValueError(f"glm.map(): cannot fill the template for row {i} ({exc}).") from None
        if not text.strip():
            raise ValueError(f"glm.map(): the prompt of row {i} is empty.")
        prompts.append(text)
    return prompts


@dataclass
class BatchResult:
    """The answers of a ``glm.map`` run, aligned with the input rows.

    ``results[i]`` is row i's ChatResult (None if it failed or was never sent), ``errors`` maps a
    row to its error, ``texts`` / ``parsed`` (with ``schema=``) are per-row lists (None where
    missing), so ``df["summary"] = glm.map(...).texts`` fits the frame. ``usage`` sums the
    answers' token counts, ``cost`` their ``ChatResult.cost`` (USD; None when no answer has a
    known cost). ``cached`` lists the rows served from the cache, ``stopped`` says why a run ended
    early (an interrupt, ``max_cost``), None when every row was tried. ``to_pandas()`` gives a
    DataFrame on the input's index.
    """

    results: list[ChatResult | None]
    errors: dict[int, Exception] = field(default_factory=dict)
    cached: list[int] = field(default_factory=list)
    stopped: str | None = None
    index: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        return f"BatchResult({self.summary()})"

    @property
    def texts(self) -> list[str | None]:
        return [r.text if r is not None else None for r in self.results]

    @property
    def parsed(self) -> list[Any]:
        """Each answer's ``parsed`` (``client.chat(schema=...)``; None without a schema)."""
        return [getattr(r, "parsed", None) if r is not None else None for r in self.results]

    @property
    def done(self) -> int:
        return sum(r is not None for r in self.results)

    @property
    def missing(self) -> list[int]:
        """Rows with neither an answer nor an error (not sent: interrupted or over max_cost)."""
        return [i for i, r in enumerate(self.results) if r is None and i not in self.errors]

    @property
    def usage(self) -> Usage:
        usages = [r.usage for r in self.results if r is not None and r.usage is not None]
        return Usage(
            prompt_tokens=sum(u.prompt_tokens for u in usages),
            completion_tokens=sum(u.completion_tokens for u in usages),
            total_tokens=sum(u.total_tokens for u in usages),
        )

    @property
    def cost(self) -> float | None:
        """USD summed over the answers whose cost is known (``ChatResult.cost``), else None."""
        costs = [getattr(r, "cost", None) for r in self.results if r is not None]
        known = [c for c in costs if c is not None]
        return sum(known) if known else None

    def summary(self) -> str:
        """One line: done, failed, cached, tokens, cost, why it stopped."""
        parts = [f"{self.done}/{len(self)} done"]
        if self.errors:
            parts.append(f"{len(self.errors)} failed")
        if self.cached:
            parts.append(f"{len(self.cached)} from cache")
        answered = [r for r in self.results if r is not None]
        if answered and all(r.usage is None for r in answered):
            parts.append("tokens not reported")  # the offline model sends no usage: unknown, not 0
        else:
            parts.append(f"{self.usage.total_tokens} tokens")
        if self.cost is not None:
            from .._prices import format_cost  # "USD", not "$": two of them would be LaTeX in Markdown

            parts.append(format_cost(self.cost))
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return ", ".join(parts)

    def to_pandas(self) -> Any:
        """A DataFrame (text, error, tokens, cost; parsed when any) on the input's index."""
        import pandas as pd

        rows = []
        for i, r in enumerate(self.results):
            error = self.errors.get(i)
            row: dict[str, Any] = {
                "text": r.text if r is not None else None,
                "error": str(error) if error is not None else None,
                "prompt_tokens": r.usage.prompt_tokens if r is not None and r.usage else None,
                "completion_tokens": r.usage.completion_tokens if r is not None and r.usage else None,
                "cost": getattr(r, "cost", None) if r is not None else None,
            }
            rows.append(row)
        frame = pd.DataFrame(rows, index=self.index)
        if any(p is not None for p in self.parsed):
            frame["parsed"] = self.parsed
        return frame
