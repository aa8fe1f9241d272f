"""Compare grids: parsing ``--compare`` specs and expanding value lists into the grid of settings.

No widgets and no I/O here. ``parse_grid_spec("temperature=0.2,1.0 top_p=0.5,1", provider)`` gives
``{"temperature": [0.2, 1.0], "top_p": [0.5, 1.0]}``; ``grid_settings`` expands such lists into the
cartesian product, each setting repeated ``samples`` times, in a fixed order (the first key varies
slowest). Every value is checked with ``build_options`` for the provider, so a bad grid fails
before any request is sent.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import InvalidOptionError
from .._options import OPTIONS, SAMPLING_OPTIONS, build_options

__all__ = ["MAX_PANELS", "GRID_SYNTAX", "GridSetting", "grid_settings", "parse_grid_spec"]

GRID_SYNTAX = (
    '--compare "temperature=0.2,1.0 top_p=0.5,1" '
    f"(keys: {', '.join(SAMPLING_OPTIONS)}; items separated by spaces or ';', values by ',')"
)
#: The most panels one compare may open: each one is a concurrent request and a live view.
MAX_PANELS = 48
MAX_SAMPLES = 20

_ITEM_SPLIT = re.compile(r"[\s;]+")


@dataclass(frozen=True)
class GridSetting:
    """One panel of a compare: the varied values, the sample number and every option sent."""

    varied: dict[str, Any]
    sample: int  # 1-based
    samples: int
    options: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        """``temperature=0.2 · top_p=0.5 · sample 2/3`` (the sample only when samples > 1)."""
        parts = [f"{k}={_show(v)}" for k, v in self.varied.items()]
        if self.samples > 1:
            parts.append(f"sample {self.sample}/{self.samples}")
        return " · ".join(parts) or "as configured"


def _show(value: Any) -> str:
    return repr(value)


def _parse_value(key: str, text: str) -> float | int:
    kind = OPTIONS[key].kind
    try:
        if kind == "int":
            return int(text)
        value = float(text)
    except ValueError:
        noun = "an integer" if kind == "int" else "a number"
        raise InvalidOptionError(f"{key} needs {noun}, got {text!r}") from None
    return value


def parse_grid_spec(spec: str, provider: str) -> dict[str, list[Any]]:
    """Parse ``"temperature=0.2,1.0 top_p=0.5,1"`` into value lists, validated for ``provider``.

    Keys may be written with ``-`` or ``_``; items are separated by spaces or ``;``. Raises
    InvalidOptionError (one line, without the syntax hint: callers add ``GRID_SYNTAX``).
    """
    text = (spec or "").strip().strip("\"'").strip()
    if not text:
        raise InvalidOptionError("the compare spec is empty")
    grid: dict[str, list[Any]] = {}
    for item in _ITEM_SPLIT.split(text):
        if not item:
            continue
        key, eq, values = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not eq or not key:
            raise InvalidOptionError(f"{item!r} is not key=value,value")
        if key not in SAMPLING_OPTIONS:
            raise InvalidOptionError(f"{key!r} cannot be compared")
        if key in grid:
            raise InvalidOptionError(f"{key} is given twice")
        pieces = values.split(",")
        if any(not p.strip() for p in pieces):
            raise InvalidOptionError(f"{key} has an empty value in {values!r}")
        grid[key] = [_parse_value(key, p.strip()) for p in pieces]
    check_grid(grid, provider)
    return grid


def check_grid(grid: Mapping[str, Iterable[Any]], provider: str) -> None:
    """Validate every value of every list with the options table (raises InvalidOptionError)."""
    for key, values in grid.items():
        if key not in SAMPLING_OPTIONS:
            raise InvalidOptionError(f"{key!r} cannot be compared (only {', '.join(SAMPLING_OPTIONS)})")
        for value in values:
            build_options(provider, {key: value})


def _as_list(key: str, value: Any) -> list[Any]:
    values = list(value) if isinstance(value, (list, tuple, range)) else [value]
    if OPTIONS.get(key) is not None and OPTIONS[key].kind == "float":
        # temperature=[0, 1] sends 0.0 and 1.0, as the sliders and flags do
        values = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
    return values


def grid_settings(
    grid: Mapping[str, Any],
    *,
    samples: int = 1,
    fixed: Mapping[str, Any] | None = None,
    provider: str,
) -> list[GridSetting]:
    """The panels of a compare, in grid order; ``fixed`` options go into every one.

    ``grid`` maps option names to a value or a list of values (None: not varied). The whole grid,
    fixed options included, is validated before anything is returned.
    """
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_SAMPLES:
        raise InvalidOptionError(f"samples must be an integer from 1 to {MAX_SAMPLES}, got {samples!r}")
    lists = {k: _as_list(k, v) for k, v in grid.items() if v is not None}
    for key, values in lists.items():
        if not values:
            raise InvalidOptionError(f"{key} has an empty list of values")
    check_grid(lists, provider)
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None and k not in lists}
    build_options(provider, fixed)
    combos = list(itertools.product(*lists.values()))
    if len(combos) * samples > MAX_PANELS:
        raise InvalidOptionError(
            f"the grid has {len(combos)} settings x {samples} samples = {len(combos) * samples} panels; "
            f"at most {MAX_PANELS} run at once"
        )
    settings = []
    for combo in combos:
        varied = dict(zip(lists, combo, strict=True))
        for sample in range(1, samples + 1):
            settings.append(GridSetting(varied, sample, samples, {**fixed, **varied}))
    return settings
