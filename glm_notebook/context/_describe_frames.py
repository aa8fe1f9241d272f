"""``describe`` for tables and arrays: pandas / polars DataFrames and Series, numpy arrays.

Called only for an object whose type comes from one of those libraries, so the library is already
imported (nothing is imported here for any other object). A table is described as its shape, each
column's dtype, missing count and (numeric columns) min / max / mean, then a few head rows and a
small random sample (seeded, so a re-run sends the same prompt) as Markdown tables. When that does
not fit the budget, fewer rows and columns are shown, and the text says what was left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._text import truncate_middle

#: The random sample is seeded: the same table gives the same prompt on every run.
SAMPLE_SEED = 0
_LEVELS = (
    (5, 5, 12, 40),
    (3, 3, 8, 30),
    (3, 0, 6, 24),
    (2, 0, 4, 20),
    (0, 0, 0, 0),
)  # head, sample, cols, cell


def describe_frame(obj: Any, budget: int) -> str | None:
    """The description, or None when ``obj`` is none of the kinds handled here."""
    names = {f"{c.__module__.partition('.')[0]}.{c.__name__}" for c in type(obj).__mro__}
    if "pandas.DataFrame" in names:
        return _fit_table(_PandasTable(obj), budget)
    if "pandas.Series" in names:
        return _fit_table(_PandasTable(obj.to_frame(), series=obj), budget)
    if "polars.DataFrame" in names:
        return _fit_table(_PolarsTable(obj), budget)
    if "polars.Series" in names:
        return _fit_table(_PolarsTable(obj.to_frame(), series=obj), budget)
    if "numpy.ndarray" in names:
        return describe_array(obj, budget)
    return None


def _cell(value: Any, width: int) -> str:
    if isinstance(value, float):  # numpy's float64 too: six significant digits say enough
        value = f"{value:.6g}"
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], width: int) -> str:
    lines = ["| " + " | ".join(_cell(h, width) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines.extend("| " + " | ".join(_cell(v, width) for v in row) + " |" for row in rows)
    return "\n".join(lines)


def _number(value: Any) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if f.is_integer() and abs(f) < 1e15:
        return f"{int(f):,}"
    if not math.isfinite(f) or abs(f) < 1e-3 or abs(f) >= 1e15:
        return f"{f:.4g}"
    decimals = max(0, 3 - math.floor(math.log10(abs(f))))  # four significant digits, no exponent
    text = f"{f:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if decimals else text


class _Table:
    """What a table description needs, from pandas or polars; columns are taken by position (so
    duplicate or non-string column labels work), the first ``k`` for the tables."""

    kind: str
    series: Any
    n_rows: int
    columns: list[str]

    def dtypes(self) -> list[str]:
        raise NotImplementedError

    def missing(self) -> list[int]:
        raise NotImplementedError

    def stats(self, i: int) -> tuple[Any, Any, Any] | None:
        raise NotImplementedError  # (min, max, mean) of a numeric column, else None

    def rows(self, positions: list[int], k: int) -> tuple[list[Any], list[list[Any]]]:
        raise NotImplementedError  # (row labels, rows) of the first ``k`` columns

    def head(self, n: int, k: int) -> tuple[list[Any], list[list[Any]]]:
        return self.rows(list(range(n)), k)

    def sample(self, n: int, skip: int, k: int) -> tuple[list[Any], list[list[Any]]]:
        """``n`` rows after the first ``skip``, drawn with a fixed seed, in table order."""
        import random

        picked = random.Random(SAMPLE_SEED).sample(range(skip, self.n_rows), min(n, self.n_rows - skip))
        return self.rows(sorted(picked), k)


class _PandasTable(_Table):
    def __init__(self, df: Any, series: Any = None) -> None:
        self.df, self.series = df, series
        self.kind = "pandas Series" if series is not None else "pandas DataFrame"
        self.n_rows = len(df)
        self.columns = [str(c) for c in df.columns]

    def dtypes(self) -> list[str]:
        return [str(t) for t in self.df.dtypes]

    def missing(self) -> list[int]:
        return [int(n) for n in self.df.isna().sum()]

    def stats(self, i: int) -> tuple[Any, Any, Any] | None:
        col = self.df.iloc[:, i]
        kind = getattr(col.dtype, "kind", "")
        if not kind or kind not in "iuf" or self.n_rows == 0:
            return None
        return col.min(), col.max(), col.mean()

    def rows(self, positions: list[int], k: int) -> tuple[list[Any], list[list[Any]]]:
        part = self.df.iloc[positions, :k]
        return list(part.index), [list(r) for r in part.itertuples(index=False, name=None)]


class _PolarsTable(_Table):
    def __init__(self, df: Any, series: Any = None) -> None:
        self.df, self.series = df, series
        self.kind = "polars Series" if series is not None else "polars DataFrame"
        self.n_rows = df.height
        self.columns = list(df.columns)

    def dtypes(self) -> list[str]:
        return [str(t) for t in self.df.dtypes]

    def missing(self) -> list[int]:
        return [int(n) for n in self.df.null_count().row(0)]

    def stats(self, i: int) -> tuple[Any, Any, Any] | None:
        col = self.df.to_series(i)
        if not col.dtype.is_numeric() or self.n_rows == 0:
            return None
        return col.min(), col.max(), col.mean()

    def rows(self, positions: list[int], k: int) -> tuple[list[Any], list[list[Any]]]:
        part = self.df.select(self.df.columns[:k])[positions]
        return positions, [list(r) for r in part.rows()]


def _fit_table(table: _Table, budget: int) -> str:
    summary = _summary(table)
    text = ""
    for head, sample, cols, width in _LEVELS:
        text = _render(table, summary, head, sample, cols, width)
        if len(text) <= budget:
            return text
    return truncate_middle(text, budget)


def _summary(table: _Table) -> list[str]:
    """One line per column: dtype, missing count, and min / max / mean when numeric."""
    lines = []
    columns = zip(table.columns, table.dtypes(), table.missing(), strict=True)
    for i, (name, dtype, missing) in enumerate(columns):
        share = f" ({missing / table.n_rows:.1%})" if missing and table.n_rows else ""
        line = f"- {name}: {dtype}, {missing:,} missing{share}"
        stats = table.stats(i)
        if stats is not None and missing < table.n_rows:
            low, high, mean = (_number(v) for v in stats)
            line += f", min {low}, max {high}, mean {mean}"
        lines.append(line)
    return lines


def _render(table: _Table, summary: list[str], head: int, sample: int, cols: int, width: int) -> str:
    n_cols = len(table.columns)
    if table.series is not None:
        name = getattr(table.series, "name", None)
        title = f"{table.kind}{f' {name!r}' if name is not None else ''}: {table.n_rows:,} values"
        lines = [title, summary[0].replace(f"- {table.columns[0]}: ", "dtype ", 1)]
    else:
        lines = [f"{table.kind}: {table.n_rows:,} rows × {n_cols:,} columns", "Columns (dtype, missing):"]
        shown = summary if cols == 0 or len(summary) <= 3 * max(cols, 1) else summary[: 3 * cols]
        lines.extend(shown)
        if len(shown) < n_cols:
            lines.append(f"… {n_cols - len(shown):,} more columns not listed")
    columns = table.columns[:cols] if cols else []
    head = min(head, table.n_rows)
    sample = min(sample, table.n_rows - head)
    if columns and head:
        index, rows = table.head(head, len(columns))
        lines.append(f"First {head} rows:")
        lines.append(
            markdown_table(["", *columns], [[i, *r] for i, r in zip(index, rows, strict=True)], width)
        )
    if columns and sample > 0:
        index, rows = table.sample(sample, head, len(columns))
        lines.append(f"Random sample of {sample} other rows (seed {SAMPLE_SEED}):")
        lines.append(
            markdown_table(["", *columns], [[i, *r] for i, r in zip(index, rows, strict=True)], width)
        )
    left = table.n_rows - (head + sample if columns else 0)
    notes = []
    if left > 0:
        notes.append(f"{left:,} rows not shown")
    if columns and len(columns) < n_cols:
        notes.append(f"{n_cols - len(columns):,} columns not in the tables")
    if notes:
        lines.append("[" + "; ".join(notes) + "]")
    return "\n".join(lines)


def describe_array(arr: Any, budget: int) -> str:
    """Shape, dtype, min / max / mean (numeric), NaN count, and a corner of the values."""
    import warnings

    import numpy as np  # already imported: ``arr`` is a numpy array

    shape = "×".join(f"{n:,}" for n in arr.shape) or "scalar"
    lines = [f"numpy ndarray: shape ({', '.join(str(n) for n in arr.shape)}) = {shape}, dtype {arr.dtype}"]
    if arr.size and arr.dtype.kind in "iufb":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = arr.astype(float) if arr.dtype.kind == "b" else arr
            stats = f"min {_number(np.nanmin(values))}, max {_number(np.nanmax(values))}, mean {_number(np.nanmean(values))}"
        if arr.dtype.kind == "f":
            nans = int(np.isnan(arr).sum())
            stats += f", {nans:,} NaN"
        lines.append(stats)
    for edge, threshold in ((3, 200), (2, 50), (1, 10)):
        corner = np.array2string(arr, threshold=threshold, edgeitems=edge, max_line_width=100)
        text = "\n".join(
            [
                *lines,
                "Values" + (" (corners; … marks what is left out):" if arr.size > threshold else ":"),
                corner,
            ]
        )
        if len(text) <= budget:
            return text
    return truncate_middle(text, budget)
