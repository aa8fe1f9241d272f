"""How long to wait before a retry and whether one still fits: exponential backoff with jitter,
honouring Retry-After, bounded by ``max_retries`` and a total deadline.

What is retried is decided in ``_engine``: rate limits (1302, 1303, 1305), 5xx and connection
errors, and only before any event of the answer has been handed out. Never retried: 1113 (no
balance), quotas, auth, invalid requests, a request httpx refused to send.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

RETRY_AFTER_CEILING_S = 86_400.0
"""The longest wait ``parse_retry_after`` reports: a day (``inf`` and dates in the year 9999 too).
Callers still decide whether to wait that long: the engine only within its retry deadline,
``glm.map`` only up to ``bulk._map.MAX_RETRY_AFTER_S``."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date).

    Always a finite number from 0 to ``RETRY_AFTER_CEILING_S``, or None when the header is absent
    or says nothing usable (garbage, ``nan``, a negative number, an impossible date): the caller
    then uses its own backoff. ``inf`` and far-future dates give the ceiling; past dates give 0.
    """
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _date_seconds(value)
    if seconds is None:
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, RETRY_AFTER_CEILING_S)


def _date_seconds(value: str) -> float | None:
    """Seconds until an HTTP date (0 if past), or None if it is not one."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": the date is UTC with no claim about the origin
        when = when.replace(tzinfo=timezone.utc)
    try:
        return max(0.0, when.timestamp() - time.time())
    except (OverflowError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` extra attempts, each wait ``base * 2**n`` (jittered, capped), all within ``deadline_s``."""

    max_retries: int = 3
    deadline_s: float = 60.0
    base_s: float = 0.2
    cap_s: float = 3.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry number ``attempt`` (0-based): at least Retry-After when given."""
        backoff = min(self.cap_s, self.base_s * (2**attempt))
        jittered = backoff * random.uniform(0.5, 1.0)
        return max(jittered, retry_after) if retry_after is not None else jittered

    def allows(self, attempt: int, wait: float, started: float) -> bool:
        """True if retry ``attempt`` may happen after waiting ``wait`` seconds."""
        if attempt >= self.max_retries:
            return False
        return time.monotonic() + wait - started <= self.deadline_s
