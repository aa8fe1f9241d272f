"""What an answer costs: a dated price table, overridable, and cost from the server's usage.

Prices are USD per 1,000,000 tokens (input, output, cached input), z.ai's public price list as read
on ``PRICES_AS_OF`` (https://docs.z.ai/guides/overview/pricing). They are defaults: prices change
and proxies charge differently, so ``glm.set_prices({...})`` (or ``%config GLMMagics.prices``)
overrides them. A model is matched by its name, case-insensitively; a name not in the table has no
price, and then ``result.cost`` is None: a cost is never guessed, and unknown is not zero. A model
served under another name (e.g. GLM weights on your own vLLM server as ``zai-org/GLM-4.7``) has no
price unless you set one.

Sources, row by row (the comment on each row): "official" rows are on the stored copy of z.ai's
price page; "secondary" rows (glm-5.3, glm-5.2, glm-5.1, glm-5v-turbo, glm-4.6v, glm-4.6v-flashx,
glm-4.6v-flash) come from third-party pages quoting that page, because the stored copy predates
them. Left out on purpose, so their cost is unknown until you set one: glm-5.4 (released
2026-12-02; only a reseller's listing, 1.40 / 4.40 / 0.26, no official page seen), glm-5.3-flash,
glm-5.3-flashx and glm-4.5v (no official USD price found). bigmodel bills in CNY, tiered by input
length: its answers are priced here with the z.ai USD rows.

Cached input tokens (``usage.cached_tokens``, part of ``prompt_tokens``) are billed at the cached
price; a model without one bills them at a fifth of the input price, as GLM does.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ._errors import InvalidOptionError


class Usage(Protocol):
    """The token counts a cost is made of (``_types.Usage`` has them; not imported, so this
    module, which ``_types`` uses for ``ChatResult.cost``, imports nothing back)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None


__all__ = ["PRICES_AS_OF", "Price", "cost_of", "format_cost", "price_for", "prices", "set_prices"]

#: When the default table was read off the providers' price lists.
PRICES_AS_OF = "2026-12-05"


@dataclass(frozen=True)
class Price:
    """USD per 1,000,000 tokens."""

    input: float
    output: float
    cached_input: float | None = None

    @property
    def cached(self) -> float:
        return self.cached_input if self.cached_input is not None else self.input / 5


DEFAULT_PRICES: dict[str, Price] = {
    "glm-5.3": Price(1.40, 4.40, 0.26),  # secondary (z.ai's table quoted; thinking always on)
    "glm-5.2": Price(1.40, 4.40, 0.26),  # secondary
    "glm-5.1": Price(1.40, 4.40, 0.26),  # secondary
    "glm-5-turbo": Price(1.20, 4.00, 0.24),  # official
    "glm-5": Price(1.00, 3.20, 0.20),  # official
    "glm-4.7": Price(0.60, 2.20, 0.11),  # official
    "glm-4.7-flashx": Price(0.07, 0.40, 0.01),  # official
    "glm-4.7-flash": Price(0.0, 0.0, 0.0),  # official: free
    "glm-4.6": Price(0.60, 2.20, 0.11),  # official
    "glm-4.5": Price(0.60, 2.20, 0.11),  # official
    "glm-4.5-x": Price(2.20, 8.90, 0.45),  # official
    "glm-4.5-air": Price(0.20, 1.10, 0.03),  # official
    "glm-4.5-airx": Price(1.10, 4.50, 0.22),  # official
    "glm-4.5-flash": Price(0.0, 0.0, 0.0),  # official: free
    "glm-5v-turbo": Price(1.20, 4.00, 0.24),  # secondary
    "glm-4.6v": Price(0.30, 0.90, 0.05),  # secondary
    "glm-4.6v-flashx": Price(0.04, 0.40, 0.004),  # secondary
    "glm-4.6v-flash": Price(0.0, 0.0, 0.0),  # secondary: free
}

_FIELDS = ("input", "output", "cached_input")
_lock = threading.Lock()
_table: dict[str, Price] = dict(DEFAULT_PRICES)


def _check(model: object, entry: object) -> Price | None:
    example = 'glm.set_prices({"glm-4.7": {"input": 0.60, "output": 2.20, "cached_input": 0.11}})'
    if not isinstance(model, str) or not model.strip():
        raise InvalidOptionError(f"Prices are keyed by model name, got {model!r}; e.g. {example}")
    if entry is None:
        return None
    if isinstance(entry, Price):
        return entry
    if not isinstance(entry, Mapping):
        raise InvalidOptionError(
            f"The price of {model!r} must be a dict of USD per 1M tokens, e.g. {example}"
        )
    unknown = set(entry) - set(_FIELDS)
    missing = {"input", "output"} - set(entry)
    if unknown or missing:
        problem = f"unknown {sorted(unknown)}" if unknown else f"missing {sorted(missing)}"
        raise InvalidOptionError(
            f"The price of {model!r} has {problem}: give input, output and optionally cached_input "
            f"(USD per 1M tokens), e.g. {example}"
        )
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = entry.get(name)
        if value is None and name == "cached_input":
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise InvalidOptionError(
                f"The {name} price of {model!r} must be a number of USD per 1M tokens, 0 or more; got {value!r}."
            )
        values[name] = float(value)
    return Price(**values)


def set_prices(table: Mapping[str, Mapping[str, float] | None], *, replace: bool = False) -> None:
    """Set prices, USD per 1M tokens: ``{"glm-4.7": {"input": 0.6, "output": 2.2, "cached_input": 0.11}}``.

    Models not named keep their price; ``None`` for a model removes its price (its cost is then
    unknown). ``replace=True`` starts from an empty table instead of the defaults and earlier calls.
    Everything is checked before anything changes.
    """
    if not isinstance(table, Mapping):
        raise InvalidOptionError("set_prices() takes a dict of model name → price dict.")
    checked = {model.lower(): _check(model, entry) for model, entry in table.items()}
    global _table
    with _lock:
        new = {} if replace else dict(_table)
        for model, price in checked.items():
            if price is None:
                new.pop(model, None)
            else:
                new[model] = price
        _table = new


def reset_prices() -> None:
    """Back to the dated defaults (for tests and ``set_prices`` experiments)."""
    global _table
    with _lock:
        _table = dict(DEFAULT_PRICES)


def prices() -> dict[str, Price]:
    """A copy of the table in use."""
    return dict(_table)


def price_for(model: str | None) -> Price | None:
    return _table.get(model.lower()) if model else None


def cost_of(usage: Usage | None, model: str | None) -> float | None:
    """USD for one answer's usage; None when there is no usage or no price for ``model``."""
    price = price_for(model)
    if usage is None or price is None:
        return None
    cached = min(usage.cached_tokens or 0, usage.prompt_tokens)
    fresh = usage.prompt_tokens - cached
    return (fresh * price.input + cached * price.cached + usage.completion_tokens * price.output) / 1e6


def format_cost(cost: float) -> str:
    """``0.0012 USD``: two significant digits for small amounts, cents for larger ones.

    Written "USD", not "$": two dollar signs in a Markdown output are read as LaTeX math by
    JupyterLab, and the status line sits under answers that may hold one."""
    if cost == 0:
        return "0 USD"
    decimals = max(2, 1 - math.floor(math.log10(abs(cost))))
    return f"{cost:.{decimals}f} USD"
