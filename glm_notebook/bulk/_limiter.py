"""How many requests ``glm.map`` keeps in flight: the adaptive concurrency policy, I/O-free.

GLM limits requests in flight per account and model and does not publish the number (often 5,
sometimes 1-2); over it the server answers 429 with code 1302 at once. The policy:

- **Start alone.** The first request goes out by itself, so a bad key (401) or an empty balance
  (1113) stops the run before any other row is sent.
- **Slow start.** Until the first rejection, every success adds one slot (the level doubles each
  round trip), up to ``max_concurrency``.
- **Remember the ceiling.** A rejection of a request sent while ``level`` of ours were in flight
  says the limit is below ``level``: the limit becomes ``level - 1`` and is remembered as the
  ceiling. Each rejection is such a bound, so the tightest one of a burst wins.
- **Stay just under it, probe now and then.** At the ceiling, after ``probe_gap`` rounds of
  successes (``probe_gap * limit`` answers) one more slot is tried. If the probe level holds for
  two rounds it becomes the new ceiling; if it is rejected the limit goes back to the ceiling
  and the next probe waits twice as long (up to ``MAX_PROBE_GAP`` rounds). A fixed limit of 8
  thus costs one fast 429 per ~60 answers at worst instead of halving the window (AIMD keeps
  about three quarters of the limit busy on average).
- **Pauses.** ``Retry-After`` pauses new requests for that long. Without it (GLM's v4 API sends
  none) a rejection that steps the limit down needs no pause (the step is the remedy: a pause
  would idle every slot for a round trip); one that cannot step (at one request, or at a level
  that had worked: the server is busy for reasons of its own) pauses 50 ms, 100 ms, ... up to
  3 s, a burst refused together counting once; a success ends the streak.

``concurrency=N`` fixes the limit at N (pauses still apply). The runner calls ``start()`` when it
sends, ``succeeded()`` / ``rate_limited()`` when an answer comes back, and asks ``wait_s()``
before sending the next one. Errors that say nothing about concurrency (5xx, cuts) are retried by
the runner with their own backoff and do not touch the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdaptiveLimit", "Ticket"]

MAX_PROBE_GAP = 64
_PAUSE_BASE_S = 0.05
_PAUSE_CAP_S = 3.0


@dataclass(frozen=True)
class Ticket:
    """What the policy needs to know about one request when its answer comes back."""

    epoch: int  # how many limit steps down had happened when it was sent
    level: int  # how many of our requests were in flight once it was sent (itself included)


class AdaptiveLimit:
    """The concurrency window of one map run (see the module docstring for the policy)."""

    def __init__(self, *, max_concurrency: int = 32, fixed: int | None = None) -> None:
        if fixed is not None and fixed < 1:
            raise ValueError("a fixed concurrency must be at least 1")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = fixed if fixed is not None else max_concurrency
        self.fixed = fixed is not None
        self.limit = fixed if fixed is not None else 1
        self.ceiling: int | None = fixed
        self.probe_gap = 2
        self.paused_until = 0.0
        self.rejections = 0  # every rate-limit answer seen
        self._epoch = 0
        self._streak = 0  # successes since the last change of limit
        self._rejected_in_a_row = 0

    def __repr__(self) -> str:
        return f"AdaptiveLimit(limit={self.limit}, ceiling={self.ceiling}, probe_gap={self.probe_gap})"

    @property
    def probing(self) -> bool:
        return self.ceiling is not None and self.limit > self.ceiling

    def wait_s(self, in_flight: int, now: float) -> float | None:
        """0 when one more request may go now, the seconds of a pause, or None (window full)."""
        if now < self.paused_until:
            return self.paused_until - now
        return 0.0 if in_flight < self.limit else None

    def start(self, in_flight: int) -> Ticket:
        """A request is sent; ``in_flight`` counts it."""
        return Ticket(self._epoch, in_flight)

    def succeeded(self, ticket: Ticket) -> None:
        self._rejected_in_a_row = 0
        if self.fixed:
            return
        self._streak += 1
        if self.ceiling is None:  # slow start
            self.limit = min(self.max_concurrency, self.limit + 1)
        elif self.probing:
            if self._streak >= 2 * self.limit:  # the probe level held for two rounds
                self.ceiling = self.limit
                self.probe_gap = 2
                self._streak = 0
        elif self._streak >= self.probe_gap * self.limit and self.limit < self.max_concurrency:
            self.limit += 1
            self._streak = 0

    def rate_limited(self, ticket: Ticket, now: float, retry_after: float | None = None) -> None:
        """The server refused a request for load (1302, 1303, 1305, plain 429)."""
        self.rejections += 1
        fresh = ticket.epoch == self._epoch  # not one more of a burst already stepped down for
        stepped = False
        if not self.fixed:
            # Over the limit with ``level`` of ours in flight (itself included) means the limit is
            # at most level - 1: the server counts no more of ours than we do. Every such bound
            # holds, so the tightest one wins, whatever order a burst of rejections comes back in.
            below = max(1, ticket.level - 1)
            if self.probing and below >= self.ceiling:  # type: ignore[operator]
                self.limit = self.ceiling  # type: ignore[assignment]
                if fresh:  # one failed probe, however many requests it cost
                    self.probe_gap = min(MAX_PROBE_GAP, self.probe_gap * 2)
                stepped = True
            elif below < self.limit or self.ceiling is None:
                self.limit = self.ceiling = min(self.limit, below)
                stepped = True
            if stepped:
                self._epoch += 1
                self._streak = 0
        if retry_after is not None:
            self.paused_until = max(self.paused_until, now + retry_after)
        elif not stepped and fresh:
            # Refused at a level that had worked (or at one request): the server is busy for
            # reasons of its own (1305, other clients on the key), so wait, longer each time.
            self._rejected_in_a_row += 1
            pause = min(_PAUSE_CAP_S, _PAUSE_BASE_S * 2 ** (self._rejected_in_a_row - 1))
            self.paused_until = max(self.paused_until, now + pause)
