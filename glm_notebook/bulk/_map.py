"""``glm.map``: one prompt template over many rows, rate-limit aware, resumable, with progress.

The run is asyncio underneath (``AsyncGLMClient.from_client``: the caller's settings, endpoint
and transport) on an event loop in a worker thread, so it works the same from a script and from a
notebook, whose kernel already runs a loop in the main thread. The calling thread waits, draws
the progress view at most 10 times a second, and turns a KeyboardInterrupt into a stop: the
requests in flight are cancelled (their connections closed) and the partial ``BatchResult`` is
returned; the next run serves the finished rows from the cache.

Who retries what: the engine's own retries are off for the run's client (``max_retries=0``), so a
1302 reaches the concurrency policy (``_limiter``) instead of sleeping inside one request. Rate
limits (1302, 1303, 1305, 429) put the row back at the front of the queue and step the window
down; 5xx, connection failures and cut streams are retried per row with backoff (4 retries);
401/1000-1004, 1113, quotas, an unknown model and configuration errors stop the whole run (no
other row is sent; a row in flight whose answer has begun, HTTP 200, is waited for and kept, since
it may be paid for, and the others are cancelled; the error raised carries ``.batch``, the partial
result); any other error
(1261 prompt too long, 1301 content filter, a bad field, a schema that stays invalid) fails that
row only. Every answer is committed to the cache (``_cache``) as it arrives.

``max_cost`` (USD) uses ``ChatResult.cost`` (from the price table; read with ``getattr``, None
when the model has no price): no row is started that would, at the average cost per answer so
far, take the spent plus the in-flight estimate past it; when the first answer's cost is unknown
the run stops there, since the limit could not be kept. ``schema=`` is passed to ``client.chat``
only when given, and each answer's ``parsed`` is read with ``getattr``.

Progress: ``progress_factory(total)`` makes the view (``update(MapProgress)``, ``close(MapProgress,
BatchResult)``): the notebook view ``%load_ext glm_notebook`` installs (``magics/_map_view``,
through ``batch._rows.notebook_progress``), else one line on a terminal's stderr. The client layer
never imports IPython.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
import sys
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from .._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConfigurationError,
    GLMError,
    InsufficientBalance,
    ModelNotFoundError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from .._options import build_options
from .._types import ChatResult
from ..client._replay import active as active_replay
from ..client._request import build_messages
from ..client._retry import RETRY_AFTER_CEILING_S, RetryPolicy
from ._cache import LEASE_S, AnswerCache, answer_key
from ._limiter import AdaptiveLimit, Ticket
from ._rows import BatchResult, render_prompts, rows_of

if TYPE_CHECKING:
    from ..client._async import AsyncGLMClient
    from ..client._sync import GLMClient

__all__ = ["MapProgress", "map", "progress_factory"]

FATAL = (AuthenticationError, InsufficientBalance, QuotaExceededError, ModelNotFoundError, ConfigurationError)
RETRIED = (ServerError, APIConnectionError, StreamInterrupted)
ROW_RETRIES = 4  # per row, for 5xx / connection / cut
RATE_LIMIT_TRIES = 50  # per row: a server that refuses one row this often is not just busy
MAX_RETRY_AFTER_S = 60.0  # the longest Retry-After a run waits; a longer one stops it (clear error)
_BACKOFF = RetryPolicy()
CLAIM_POLL_S = 0.25  # how often rows another process is asking are looked at again
# The row a request belongs to, set in the task that asks it: the response hook reads it there.
_ROW: contextvars.ContextVar[int] = contextvars.ContextVar("glm_map_row")


@dataclass
class MapProgress:
    """A snapshot of a run for a progress view."""

    total: int
    done: int
    failed: int
    cached: int
    in_flight: int
    concurrency: int
    elapsed_s: float
    live_done: int  # answers from the server in this run (not from the cache)
    tokens: int
    cost: float | None
    stopped: str | None = None

    @property
    def rows_per_s(self) -> float:
        return self.live_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        left = self.total - self.done - self.failed
        rate = self.rows_per_s
        return left / rate if rate > 0 else None

    def line(self) -> str:
        parts = [f"{self.done}/{self.total} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.cached:
            parts.append(f"{self.cached} cached")
        parts += [f"{self.in_flight} in flight (limit {self.concurrency})", f"{self.rows_per_s:.1f} rows/s"]
        eta = self.eta_s
        if eta is not None and self.done + self.failed < self.total:
            parts.append(f"ETA {eta:.0f} s")
        parts.append(f"{self.tokens} tokens" if self.tokens or not self.done else "tokens not reported")
        if self.cost is not None:
            from .._prices import format_cost  # "USD", not "$": two of them would be LaTeX in Markdown

            parts.append(format_cost(self.cost))
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return ", ".join(parts)


class ProgressView(Protocol):
    def update(self, progress: MapProgress) -> None: ...

    def close(self, progress: MapProgress, result: BatchResult | str) -> None: ...


class TerminalProgress:
    """One progress line on stderr, rewritten in place (only when stderr is a terminal)."""

    def __init__(self, total: int) -> None:
        self.total = total

    def update(self, progress: MapProgress) -> None:
        sys.stderr.write("\r\x1b[2K" + progress.line())
        sys.stderr.flush()

    def close(self, progress: MapProgress, result: BatchResult | str) -> None:
        sys.stderr.write("\r\x1b[2K" + progress.line() + "\n")
        sys.stderr.flush()


def progress_factory(total: int) -> ProgressView | None:
    """The view of a run: the notebook's (installed by ``%load_ext``), else a terminal line on
    stderr when it is a terminal, else none."""
    from . import _rows

    if _rows.notebook_progress is not None:
        view = _rows.notebook_progress(total)
        if view is not None:
            return cast(ProgressView, view)
    isatty = getattr(sys.stderr, "isatty", None)
    return TerminalProgress(total) if isatty is not None and isatty() else None


class _Run:
    """The state and the scheduling loop of one map run (on the worker thread's event loop)."""

    def __init__(
        self,
        client: GLMClient,
        prompts: list[str],
        *,
        model: str | None,
        system: str | None,
        schema: Any,
        options: dict[str, Any],
        fields: dict[str, Any],
        fixed: int | None,
        max_concurrency: int,
        cache: bool,
        refresh: bool,
        max_cost: float | None,
    ) -> None:
        self.client, self.prompts = client, prompts
        self.model, self.system, self.schema = model, system, schema
        self.options, self.fields = options, fields
        self.use_cache, self.refresh, self.max_cost = cache, refresh, max_cost
        self.limit = AdaptiveLimit(max_concurrency=max_concurrency, fixed=fixed)
        self.results: list[ChatResult | None] = [None] * len(prompts)
        self.errors: dict[int, Exception] = {}
        self.cached: list[int] = []
        self.fatal: Exception | None = None
        self.stopped: str | None = None
        self.in_flight = 0
        self.live_done = 0
        self.tokens = 0
        self.spent = 0.0
        self.costed = 0
        self.first_sent: float | None = None
        self._budget_note: str | None = None
        self.answering: set[int] = set()  # rows whose answer has begun (HTTP 200): being paid for
        self.attempts = [0] * len(prompts)
        self.rate_tries = [0] * len(prompts)
        self.claimed: set[int] = set()  # rows whose key this run has claimed in the cache
        self.elsewhere: set[int] = set()  # rows another process (or row) is asking: waited for
        self.since = time.time() if refresh else 0.0  # answers stored since then count as answered
        self.cache_warning: str | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    # -- called from the waiting thread ---------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)

    def progress(self) -> MapProgress:
        elapsed = time.monotonic() - self.first_sent if self.first_sent is not None else 0.0
        return MapProgress(
            total=len(self.prompts),
            done=sum(r is not None for r in self.results),
            failed=len(self.errors),
            cached=len(self.cached),
            in_flight=self.in_flight,
            concurrency=self.limit.limit,
            elapsed_s=elapsed,
            live_done=self.live_done,
            tokens=self.tokens,
            cost=self.spent if self.costed else None,
            stopped=self.stopped,
        )

    def batch(self, index: Any) -> BatchResult:
        return BatchResult(list(self.results), dict(self.errors), list(self.cached), self.stopped, index)

    # -- the run ---------------------------------------------------------------------------------
    def execute(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from ..client._async import AsyncGLMClient

        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        policy = RetryPolicy(max_retries=0, deadline_s=self.client.timeout)
        connections = self.limit.max_concurrency + 2
        aclient = AsyncGLMClient.from_client(self.client, retry_policy=policy, connections=connections)
        aclient.http.event_hooks["response"].append(self._on_response)
        cache: AnswerCache | None = None
        tasks: dict[asyncio.Task[ChatResult], tuple[int, Ticket]] = {}
        try:
            if self._stop.is_set():
                raise asyncio.CancelledError
            settings = await asyncio.to_thread(self.client.endpoint.resolve)  # may start the offline model
            model = self.model or settings.model
            keys = [
                answer_key(
                    settings.provider,
                    settings.base_url,
                    model,
                    build_messages(p, self.system),
                    self.fields,
                    self.schema,
                )
                for p in self.prompts
            ]
            pending: deque[int] = deque(range(len(self.prompts)))
            if self.use_cache and active_replay() is None:  # replay on: the answer file is the cache
                cache = AnswerCache()
                if not self.refresh:
                    pending = self._serve_cached(cache, keys)
            await self._schedule(aclient, pending, keys, cache, tasks)
        except asyncio.CancelledError:
            self.stopped = self.stopped or "interrupted"
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self.in_flight = 0
            await aclient.aclose()
            if cache is not None:
                cache.release()  # every claim of this run, whatever ended it (Ctrl-C included)
                self.cache_warning = cache.warning()
                cache.close()

    def _serve_cached(self, cache: AnswerCache, keys: list[str]) -> deque[int]:
        stored = cache.get_many(keys)
        pending: deque[int] = deque()
        for i, key in enumerate(keys):
            record = stored.get(key)
            if record is None:
                pending.append(i)
            else:
                self._serve(i, record)
        return pending

    def _count(self, result: ChatResult | None) -> None:
        if result is None:
            return
        if result.usage is not None:
            self.tokens += result.usage.total_tokens
        cost = getattr(result, "cost", None)
        if cost is not None:
            self.spent += cost
            self.costed += 1

    def _budget_allows(self, in_flight: int) -> bool:
        if self.max_cost is None:
            return True
        if self.live_done == 0 and not self.costed:
            self._budget_note = "max_cost: waiting for the first answer's cost"
            return in_flight == 0  # the first answer tells the cost per row
        if not self.costed:
            self._budget_note = "max_cost: the cost of these answers is unknown (no price for the model)"
            return False
        average = self.spent / self.costed
        if self.spent + (in_flight + 1) * average > self.max_cost:
            self._budget_note = f"max_cost: the next row would take the cost past {self.max_cost:g} USD"
            return False
        return True

    async def _schedule(
        self,
        aclient: AsyncGLMClient,
        pending: deque[int],
        keys: list[str],
        cache: AnswerCache | None,
        tasks: dict[asyncio.Task[ChatResult], tuple[int, Ticket]],
    ) -> None:
        later: list[tuple[float, int]] = []  # (when, row): rows waiting for a backoff
        finished: deque[asyncio.Task[ChatResult]] = deque()
        loop = asyncio.get_running_loop()
        waiter: list[asyncio.Future[None]] = []  # the scheduler's wake-up, while it sleeps

        def ring_now(wake: asyncio.Future[None]) -> None:
            if not wake.done():
                wake.set_result(None)

        def on_done(task: asyncio.Task[ChatResult]) -> None:
            finished.append(task)
            if waiter:
                ring_now(waiter[0])

        async def sleep(timeout: float | None) -> None:
            """Until an answer arrives or ``timeout`` s pass: one future and at most one timer per
            wake-up (asyncio.wait would hook every task)."""
            wake: asyncio.Future[None] = loop.create_future()
            waiter[:] = [wake]
            timer = loop.call_later(max(0.0, timeout), ring_now, wake) if timeout is not None else None
            try:
                if not finished:
                    await wake
            finally:
                waiter.clear()
                if timer is not None:
                    timer.cancel()

        next_poll = next_renew = time.monotonic()
        while True:
            while finished:  # answers first: they free slots and teach the limit
                task = finished.popleft()
                i, ticket = tasks.pop(task)
                self.in_flight = len(tasks)
                self._finish(task, i, ticket, pending, later, keys, cache)
            if cache is not None:
                now = time.monotonic()
                if self.elsewhere and now >= next_poll:
                    self._look_elsewhere(cache, keys, pending)
                    next_poll = now + CLAIM_POLL_S
                if self.claimed and now >= next_renew:
                    cache.renew()
                    next_renew = now + LEASE_S / 4
            if self.fatal is not None:
                # Nothing new starts. A request whose answer has begun (paid for, most likely) is
                # waited for and kept; one that has no answer yet (still connecting, or waiting for
                # the status) is cancelled, so nothing more reaches the server after the error.
                for task, (i, _ticket) in tasks.items():
                    if i not in self.answering:
                        task.cancel()
                if not tasks:
                    return
                await sleep(None)
                continue
            now = time.monotonic()
            while later and later[0][0] <= now:
                pending.appendleft(heapq.heappop(later)[1])
            if not (pending or tasks or later or self.elsewhere):
                return
            wait = self.limit.wait_s(len(tasks), now) if pending else None
            if wait == 0.0:
                if self._budget_allows(len(tasks)):
                    i = pending.popleft()
                    if cache is not None and i not in self.claimed and not self._claim(cache, keys, i):
                        continue  # answered meanwhile, or being asked elsewhere
                    self.in_flight = len(tasks) + 1
                    ticket = self.limit.start(self.in_flight)
                    if self.first_sent is None:
                        self.first_sent = now
                    task = asyncio.ensure_future(self._ask(aclient, i))
                    tasks[task] = (i, ticket)
                    task.add_done_callback(on_done)
                    continue
                if not tasks:  # max_cost: nothing in flight and nothing more may start
                    self.stopped = self._budget_note
                    return
                wait = None
            timeouts = [t for t in (wait, later[0][0] - now if later else None) if t is not None]
            if cache is not None and self.elsewhere:
                timeouts.append(max(0.0, next_poll - now))
            if cache is not None and self.claimed:
                timeouts.append(max(0.0, next_renew - now))
            await sleep(min(timeouts) if timeouts else None)

    def _claim(self, cache: AnswerCache, keys: list[str], i: int) -> bool:
        """True when row ``i`` is this run's to ask; else it was served or set aside to wait."""
        state, record = cache.claim(keys[i], self.since)
        if state == "mine":
            self.claimed.add(i)
            return True
        if state == "answered" and record is not None:
            self._serve(i, record)
        else:
            self.elsewhere.add(i)
        return False

    def _serve(self, i: int, record: dict[str, Any]) -> None:
        from ._cache import result_of

        self.results[i] = result_of(record, self.schema)
        self.cached.append(i)
        self._count(self.results[i])

    def _look_elsewhere(self, cache: AnswerCache, keys: list[str], pending: deque[int]) -> None:
        """Rows asked elsewhere: served when their answer is stored, back in the queue (to be
        claimed) when nobody holds them any more."""
        rows = sorted(self.elsewhere)
        answered, free = cache.peek([keys[i] for i in rows], self.since)
        for i in reversed(rows):
            if keys[i] in answered:
                self.elsewhere.discard(i)
                self._serve(i, answered[keys[i]])
            elif keys[i] in free:
                self.elsewhere.discard(i)
                pending.appendleft(i)

    async def _on_response(self, response: Any) -> None:
        """httpx's response hook, run in the asking task when the status line has arrived."""
        row = _ROW.get(None)
        if row is not None and response.status_code == 200:
            self.answering.add(row)

    async def _ask(self, aclient: AsyncGLMClient, i: int) -> ChatResult:
        _ROW.set(i)  # this task's own context: seen by _on_response for this request only
        extra = {"schema": self.schema} if self.schema is not None else {}
        return await aclient.chat(
            self.prompts[i], model=self.model, system=self.system, **extra, **self.options
        )

    def _finish(
        self,
        task: asyncio.Task[ChatResult],
        i: int,
        ticket: Ticket,
        pending: deque[int],
        later: list[tuple[float, int]],
        keys: list[str],
        cache: AnswerCache | None,
    ) -> None:
        now = time.monotonic()
        if task.cancelled():  # cancelled after a run-stopping error, before its answer began
            pending.appendleft(i)
            return
        try:
            result = task.result()
        except (RateLimitError, *RETRIED) as exc:
            if (getattr(exc, "retry_after", None) or 0.0) > MAX_RETRY_AFTER_S:
                self.fatal = self.fatal or _too_long_wait(exc)
                return
            self._retry(exc, i, ticket, now, pending, later, keys, cache)
        except FATAL as exc:
            self.fatal = self.fatal or exc  # the first one is the cause
        except Exception as exc:  # noqa: BLE001 - 1261, 1301, bad fields, schema: this row only
            self.errors[i] = exc
            self._unclaim(cache, keys, i)
        else:
            if not result.complete:
                # Stopped (an interrupt or Stop closed it) before its end: not an answer. It is
                # neither kept nor cached, so the next run asks again instead of serving a cut text.
                pending.appendleft(i)
                return
            self.limit.succeeded(ticket)
            self.results[i] = result
            self.live_done += 1
            self._count(result)
            if cache is not None:
                cache.put(keys[i], result)  # drops the claim with it; a failure is warned once
                self.claimed.discard(i)

    def _retry(
        self,
        exc: Exception,
        i: int,
        ticket: Ticket,
        now: float,
        pending: deque[int],
        later: list[tuple[float, int]],
        keys: list[str],
        cache: AnswerCache | None,
    ) -> None:
        """A rate limit goes back to the front of the queue; 5xx/cuts wait their backoff."""
        if isinstance(exc, RateLimitError):
            self.limit.rate_limited(ticket, now, exc.retry_after)
            self.rate_tries[i] += 1
            if self.rate_tries[i] >= RATE_LIMIT_TRIES:
                self.errors[i] = exc
                self._unclaim(cache, keys, i)
            else:
                pending.appendleft(i)
            return
        self.attempts[i] += 1
        if self.attempts[i] > ROW_RETRIES:
            self.errors[i] = exc
            self._unclaim(cache, keys, i)
        else:
            delay = _BACKOFF.delay(self.attempts[i] - 1, getattr(exc, "retry_after", None))
            heapq.heappush(later, (now + delay, i))

    def _unclaim(self, cache: AnswerCache | None, keys: list[str], i: int) -> None:
        """A row that failed for good: another process (or row) waiting for it may ask it."""
        if cache is not None and i in self.claimed:
            self.claimed.discard(i)
            cache.release(keys[i])


def _too_long_wait(exc: Exception) -> APIError:
    """The run-stopping error for a Retry-After longer than ``MAX_RETRY_AFTER_S``."""
    wait = getattr(exc, "retry_after", None) or 0.0
    said = "a day or more" if wait >= RETRY_AFTER_CEILING_S else f"{wait:.0f} s"
    message = (
        f"the server asks to wait {said} before the next request (Retry-After), longer than "
        f"glm.map waits ({MAX_RETRY_AFTER_S:.0f} s); run it again later: the rows answered so far "
        f"are kept and cached. The server said: {getattr(exc, 'message', exc)}"
    )
    cls = type(exc) if isinstance(exc, APIError) else RateLimitError
    new = cls(
        message,
        status_code=getattr(exc, "status_code", None),
        code=getattr(exc, "code", None),
        retry_after=wait,
    )
    new.__cause__ = exc
    return new


def _fatal_error(run: _Run, batch: BatchResult) -> Exception:
    exc = run.fatal
    assert exc is not None
    done = batch.done
    message = (
        f"glm.map stopped: {getattr(exc, 'message', exc)} ({done} of {len(batch)} rows done; "
        "no other row was sent, those in flight were finished and kept; the partial BatchResult is "
        "the error's .batch)"
    )
    new: Exception
    if isinstance(exc, APIError):
        new = type(exc)(message, status_code=exc.status_code, code=exc.code, retry_after=exc.retry_after)
    elif isinstance(exc, GLMError):
        new = type(exc)(message)
    else:  # pragma: no cover - FATAL holds only GLMErrors
        new = exc
    new.batch = batch  # type: ignore[attr-defined]
    new.__cause__ = exc
    return new


def map(  # noqa: A001 - the public name is glm.map
    template: str,
    data: Any,
    *,
    model: str | None = None,
    system: str | None = None,
    schema: Any = None,
    concurrency: int | str = "auto",
    max_concurrency: int = 32,
    cache: bool = True,
    max_cost: float | None = None,
    refresh: bool = False,
    client: GLMClient | None = None,
    **options: Any,
) -> BatchResult:
    """Ask ``template`` filled from each row of ``data``; a ``BatchResult`` aligned with the rows.

    ``data``: a list of strings or dicts, a pandas DataFrame (``{column}`` placeholders), a Series
    or any iterable (``_rows`` has the template rules). ``concurrency="auto"`` finds the server's
    limit (starting with one request, never above ``max_concurrency``); an int fixes it.
    ``cache=False`` neither reads nor writes the answer cache, ``refresh=True`` asks again and
    overwrites. ``max_cost`` (USD) stops before the estimated cost would pass it. Options
    (``temperature=0.2`` ...) are validated before any request. Uses the shared client unless
    ``client=`` is given. Ctrl-C / a kernel interrupt returns the rows finished so far.
    """
    from ..client._sync import get_client

    client = client if client is not None else get_client()
    if concurrency != "auto" and (isinstance(concurrency, bool) or not isinstance(concurrency, int)):
        raise ValueError(f"concurrency must be 'auto' or a number of requests, not {concurrency!r}.")
    if isinstance(concurrency, int) and concurrency < 1:
        raise ValueError("concurrency must be at least 1.")
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a whole number of at least 1, not {max_concurrency!r}.")
    if max_cost is not None and (isinstance(max_cost, bool) or not isinstance(max_cost, (int, float))):
        raise ValueError(f"max_cost must be a number of USD, not {max_cost!r}.")
    if schema is not None and "schema" not in inspect.signature(type(client).chat).parameters:
        raise TypeError("schema= needs client.chat(schema=...), which this version of glm_notebook lacks.")
    fields = build_options(client.settings.provider, options)  # InvalidOptionError before any request
    rows, index = rows_of(data)
    prompts = render_prompts(template, rows)
    for p in prompts[:1]:
        build_messages(p, system)
    run = _Run(
        client,
        prompts,
        model=model,
        system=system,
        schema=schema,
        options=options,
        fields=fields,
        fixed=concurrency if isinstance(concurrency, int) else None,
        max_concurrency=max_concurrency if concurrency == "auto" else int(concurrency),
        cache=cache,
        refresh=refresh,
        max_cost=max_cost,
    )
    if not prompts:
        return run.batch(index)
    view = progress_factory(len(prompts))
    failure: list[BaseException] = []
    # An Event, not Thread.join: a KeyboardInterrupt that lands inside join() can leave
    # is_alive() False while the thread still runs (CPython), and answers that arrived after
    # the snapshot would be cached but missing from the result.
    finished = threading.Event()

    def work() -> None:
        try:
            run.execute()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failure.append(exc)
        finally:
            finished.set()

    worker = threading.Thread(target=work, name="glm-map", daemon=True)
    worker.start()
    try:
        while not finished.wait(0.1):  # at most 10 progress updates a second
            if view is not None:
                view.update(run.progress())
    except KeyboardInterrupt:
        run.stopped = "interrupted"
        run.stop()
        while not finished.is_set():
            try:
                finished.wait(0.1)
            except KeyboardInterrupt:  # a second interrupt while the requests are being closed
                continue
    result = run.batch(index)
    if view is not None:
        view.close(run.progress(), result)
    if run.cache_warning is not None:
        from ._cache import CacheWarning

        warnings.warn(run.cache_warning, CacheWarning, stacklevel=2)
    if failure:
        raise failure[0]
    if run.fatal is not None:
        raise _fatal_error(run, result)
    return result
