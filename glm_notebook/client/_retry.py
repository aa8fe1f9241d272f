"""How long to wait before a retry and whether one still fits: exponential backoff with jitter,
honouring Retry-After, bounded by ``max_retries`` and a total deadline.

What is retried is decided in ``_engine``: rate limits (1302, 1303, 1305), 5xx and connection
errors, and only before any event of the answer has been handed out. Never retried: 1113 (no
balance), quotas, auth, invalid requests, a request httpx refused to send.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
