"""``GLMTestServer``: lifecycle, the script queue, the concurrency limit and the request records.

This module owns the public server object: starting and stopping the listening thread, the FIFO of
``Reply``/``Fault`` scripts and the fallback responder, the in-flight counter behind
``concurrency_limit`` (and ``latency``), the ``stats`` counts, and the thread-safe list of
``RecordedRequest`` with the ``wait_*`` helpers. What happens on a connection lives in
``_handler``. ``stop()`` shuts down every open connection, so stalled handlers end at once.
"""

from __future__ import annotations

import copy
import dataclasses
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._batches import BatchStore
from ._frames import echo_reply
from ._handler import RecordedRequest, _Handler, _HTTPServer
from ._script import Fault, Reply
from ._thinking import ReasoningLedger

__all__ = ["GLMTestServer", "RecordedRequest"]

Responder = Callable[[dict[str, Any]], "Reply | Fault"]


def _snapshot(rec: RecordedRequest) -> RecordedRequest:
    return dataclasses.replace(rec, headers=dict(rec.headers), json=copy.deepcopy(rec.json))


class GLMTestServer:
    """A real HTTP server on 127.0.0.1 that speaks the GLM chat-completions protocol.

    ``POST <any>/chat/completions`` answers with the next enqueued ``Reply``/``Fault`` (FIFO), or with
    ``responder(request_json)`` when the queue is empty (default: an echo reply). ``GET
    <any>/models`` lists ``models``. With ``api_key`` set, requests must carry
    ``Authorization: Bearer <api_key>`` (else 401, code 1001, queue untouched). Every request,
    including /models and rejected ones, is recorded in ``requests``.

    Rate limits as GLM has them: with ``concurrency_limit=N``, a chat request that arrives while N
    chat requests are in flight is answered at once with HTTP 429, code 1302 (``Retry-After:
    limit_retry_after`` when that is set, else no header, as GLM's v4 API) and uses no script;
    a request leaves the count when its last byte is about to be written. ``latency`` seconds are
    waited (holding the slot) before every chat answer, on top of the script's own delays.
    ``stats()`` counts chat requests, rejections and the peak in flight for assertions. All three
    settings may be changed while the server runs; ``reset()`` restores them.

    The Batch API (``POST <any>/files``, ``<any>/batches``...) is served by ``batches``, a
    ``BatchStore`` (its docstring: the status steps, output and error files, cancel); each line
    of a batch is answered with the scripts, as a chat request would be.

    Thinking (``_thinking``): a request with a ``reasoning_effort`` GLM does not know, or a
    non-boolean ``thinking.clear_thinking``, gets HTTP 400, code 1214 (no script used). The server
    remembers the reasoning of every answer it gives (``reasoning``), so a test can check preserved
    thinking: ``Reply(require_reasoning_back=True)`` answers 400 like GLM when an earlier answer
    comes back with its reasoning changed or missing, and ``check_preserved_thinking()`` asserts
    the same on a recorded request.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: list[str] | None = None,
        responder: Responder | None = None,
        base_path: str = "/api/paas/v4",
        concurrency_limit: int | None = None,
        limit_retry_after: float | None = None,
        latency: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self._initial = (api_key, list(models or ["glm-4.7-flash", "glm-5"]), responder)
        self._initial_limits = (concurrency_limit, limit_retry_after, latency)
        self.concurrency_limit = concurrency_limit
        self.limit_retry_after = limit_retry_after
        self.latency = latency
        self._in_flight = 0
        self._stats = {"chat_requests": 0, "rejected": 0, "answered": 0, "peak_in_flight": 0}
        self.batches = BatchStore(self)  # /files and /batches (see _batches)
        self.reasoning = ReasoningLedger()  # the reasoning of every answer given (see _thinking)
        self.models: list[str] = list(self._initial[1])
        self._responder: Responder = responder or echo_reply
        self._lock = threading.Condition()
        self._queue: deque[Reply | Fault] = deque()
        self._records: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> GLMTestServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.glm = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="GLMTestServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and close every open connection; waits up to ``timeout`` for handlers."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        self.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._connections and time.monotonic() < deadline:
                self._lock.wait(0.05)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> GLMTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._httpd is not None else "stopped"
        return f"<GLMTestServer {self.base_url} {state}>"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no path)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/paas/v4``: the base a GLM client is given."""
        return self.url + self.base_path

    def close_connections(self) -> None:
        """Shut down every open client connection (in-flight handlers end, pooled ones drop)."""
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- scripting ----------------------------------------------------------------------------
    @property
    def responder(self) -> Responder:
        return self._responder

    @responder.setter
    def responder(self, fn: Responder | None) -> None:
        self._responder = fn or echo_reply

    def enqueue(self, *scripts: Reply | Fault) -> None:
        """Queue replies/faults; each ``POST .../chat/completions`` consumes one, in order."""
        for script in scripts:
            if not isinstance(script, (Reply, Fault)):
                raise TypeError(f"enqueue() takes Reply or Fault objects, not {type(script).__name__}")
        with self._lock:
            self._queue.extend(scripts)

    def pending(self) -> int:
        """How many enqueued scripts have not been used yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Clear the queue and the recorded requests; restore responder, models and api_key."""
        with self._lock:
            self._queue.clear()
            self._records = []
            self.api_key, models, responder = self._initial
            self.models = list(models)
            self._responder = responder or echo_reply
            self.concurrency_limit, self.limit_retry_after, self.latency = self._initial_limits
            self._stats = dict.fromkeys(self._stats, 0)
            self._lock.notify_all()
        self.batches.reset()
        self.reasoning.clear()

    def _next_script(self, request: dict[str, Any]) -> Reply | Fault:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            responder = self._responder
        script = responder(request)
        if not isinstance(script, (Reply, Fault)):
            raise TypeError(f"responder returned {type(script).__name__}, not Reply or Fault")
        return script

    # -- concurrency limit --------------------------------------------------------------------
    def _admit(self) -> bool:
        """Count a chat request in; False (not counted) when the limit is already reached."""
        with self._lock:
            self._stats["chat_requests"] += 1
            limit = self.concurrency_limit
            if limit is not None and self._in_flight >= limit:
                self._stats["rejected"] += 1
                return False
            self._in_flight += 1
            self._stats["peak_in_flight"] = max(self._stats["peak_in_flight"], self._in_flight)
            return True

    def _release(self, answered: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if answered:
                self._stats["answered"] += 1

    def stats(self) -> dict[str, int]:
        """Counts since start or ``reset()``: ``chat_requests`` (every POST .../chat/completions),
        ``rejected`` (429s from ``concurrency_limit``), ``answered`` (admitted requests whose answer
        was written to the end), ``peak_in_flight`` and ``in_flight`` (admitted, not yet ended)."""
        with self._lock:
            return {**self._stats, "in_flight": self._in_flight}

    def check_preserved_thinking(self, request: RecordedRequest | None = None) -> int:
        """Assert that ``request`` (default: the last chat request) sent every earlier answer of
        this server back with its ``reasoning_content`` byte-identical; return how many it checked.

        Raises AssertionError naming each turn whose reasoning is missing or changed, or when the
        request carries no earlier answer of this server at all (its history was not sent).
        """
        if request is None:
            chats = [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]
            if not chats:
                raise AssertionError("GLMTestServer has no chat request to check")
            request = chats[-1]
        checked, problems = self.reasoning.problems(request.json)
        if problems:
            raise AssertionError("preserved thinking broken: " + " ".join(problems))
        if not checked:
            raise AssertionError("the request carries no earlier answer of this server (no history sent)")
        return checked

    # -- records ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot (copies) of every request recorded since start or the last ``reset()``.

        A request's ``outcome`` is set just after its last byte is sent, so a client may already
        hold the answer while ``outcome`` is still None: read outcomes from
        ``wait_until_finished()``, which waits for them."""
        with self._lock:
            return [_snapshot(r) for r in self._records]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests have arrived; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._records) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"GLMTestServer got {len(self._records)} requests, expected {n}")
                self._lock.wait(remaining)
            return [_snapshot(r) for r in self._records]

    def wait_until_finished(self, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until every request recorded so far has ended (its outcome is set)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while any(r.outcome is None for r in self._records):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    busy = [r.path for r in self._records if r.outcome is None]
                    raise TimeoutError(f"GLMTestServer requests still running: {busy}")
                self._lock.wait(remaining)
            return [_snapshot(r) for r in self._records]

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._records.append(rec)
            self._lock.notify_all()

    def _finish(self, rec: RecordedRequest, outcome: str) -> None:
        with self._lock:
            rec.outcome = outcome
            rec.ended_at = time.time()
            self._lock.notify_all()

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
        if self._stopping.is_set():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)
            self._lock.notify_all()
