"""The HTTP side of the test server: the request handler and ``RecordedRequest``.

This module owns what happens on one connection. ``ThreadingHTTPServer`` serves each connection on
its own daemon thread with HTTP/1.1 keep-alive; streams go out with chunked transfer encoding, one
HTTP chunk per SSE frame (TCP_NODELAY, so each frame leaves at once). While a reply waits
(``delay``, ``first_delay``, a stall) the handler polls its socket with ``select`` in 20 ms steps,
so a client that closes the connection is noticed promptly and recorded as
``"client_disconnected"``; writes that fail with a broken pipe or reset are recorded the same way.

Outcomes recorded on ``RecordedRequest.outcome``: ``"complete"``, ``"error_status"`` (any HTTP
error answer, auth failures included), ``"error_frame"`` (mid-stream error event), ``"cut"``,
``"stalled_then_closed"``, ``"dropped"`` (``Fault.drop()``), ``"client_disconnected"``,
``"server_stopped"``, ``"over_limit"`` (a 429 from the server's ``concurrency_limit``).

A chat request admitted under the limit holds its slot until just before its last write (the
final body bytes, or the ``[DONE]`` frame of a stream), so a client that sends the next request the
moment an answer ends is never counted twice.
"""

from __future__ import annotations

import json
import select
import socket
import socketserver
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._frames import completion_body, stream_plan
from ._script import Fault, Reply
from ._thinking import request_problem

if TYPE_CHECKING:
    from ._server import GLMTestServer

__all__ = ["RecordedRequest"]

_DISCONNECT_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_POLL = 0.02


@dataclass
class RecordedRequest:
    """One request the server received, as seen on the wire.

    Times are ``time.time()`` floats; ``first_byte_at`` is when the first response *body* byte was
    written (None if none was); ``outcome`` and ``ended_at`` are set when the request ends.
    ``reply`` is the ``Reply``/``Fault`` used (None for requests that never reached a script, e.g.
    ``GET /models``). ``body`` holds the raw request bytes, ``peer`` the client's (host, port): two
    requests with the same peer came over the same (pooled) connection. ``headers`` (which hold
    the client's key) are left out of the repr, so a failing test's output never shows a key.
    ``reasoning_problems`` is set when the request took a ``Reply(require_reasoning_back=True)``:
    [] when every earlier answer came back with its reasoning unchanged, else what differed.
    ``reasoning_effort`` and ``clear_thinking`` read the request's thinking controls wherever the
    client put them (GLM's fields or ``chat_template_kwargs``); None when not sent.
    """

    method: str
    path: str
    headers: dict[str, str] = field(repr=False)
    json: Any = None
    started_at: float = 0.0
    first_byte_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    reply: Reply | Fault | None = None
    body: bytes = field(default=b"", repr=False)
    peer: tuple[str, int] | None = None
    reasoning_problems: list[str] | None = None

    def _control(self, name: str, glm_place: Any) -> Any:
        body = self.json if isinstance(self.json, dict) else {}
        if isinstance(glm_place, dict) and name in glm_place:
            return glm_place[name]
        kwargs = body.get("chat_template_kwargs")
        return kwargs.get(name) if isinstance(kwargs, dict) else None

    @property
    def reasoning_effort(self) -> Any:
        return self._control("reasoning_effort", self.json if isinstance(self.json, dict) else None)

    @property
    def clear_thinking(self) -> Any:
        thinking = self.json.get("thinking") if isinstance(self.json, dict) else None
        return self._control("clear_thinking", thinking)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    glm: GLMTestServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind() resolves the host name (getfqdn), which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: clients come and go
        pass


class _Stop(Exception):
    """Raised inside a handler when the client left or the server is stopping."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GLMTestServer/1.0"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.glm._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.glm._untrack(self.connection)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # -- request ------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        glm = self.server.glm
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            k = key.lower()
            headers[k] = f"{headers[k]}, {value}" if k in headers else value
        rec = RecordedRequest(self.command, self.path, headers, started_at=time.time())
        rec.peer = (str(self.client_address[0]), int(self.client_address[1]))
        self._rec = rec
        self._slot = False
        outcome = "server_stopped"
        try:
            rec.body = self._read_body()
            if rec.body:
                try:
                    rec.json = json.loads(rec.body)
                except ValueError:
                    rec.json = None
            glm._record(rec)
            outcome = self._route(rec)
        except _Stop as stop:
            outcome = stop.outcome
            self.close_connection = True
        except _DISCONNECT_ERRORS:
            outcome = "server_stopped" if glm._stopping.is_set() else "client_disconnected"
            self.close_connection = True
        except OSError:
            outcome = "server_stopped" if glm._stopping.is_set() else "client_disconnected"
            self.close_connection = True
        finally:
            self._leave(answered=False)
            glm._finish(rec, outcome)

    def _route(self, rec: RecordedRequest) -> str:
        glm = self.server.glm
        path = urlsplit(self.path).path.rstrip("/")
        is_chat, is_models = path.endswith("/chat/completions"), path.endswith("/models")
        is_batch = not is_chat and ("/files" in path or "/batches" in path)
        if is_batch:  # the Batch API (_batches): same key check, answers as a Fault
            key = glm.api_key
            if key is not None and rec.headers.get("authorization", "") != f"Bearer {key}":
                rec.reply = Fault.auth()
                return self._send_fault(rec.reply)
            answer = glm.batches.handle(self.command, path, rec.headers, rec.body)
            return self._send_fault(answer, outcome="complete" if answer.status == 200 else "error_status")
        if not (is_chat or is_models):
            return self._send_fault(Fault.http(404, "404", f"No such endpoint: {self.command} {path}"))
        key = glm.api_key
        if key is not None and rec.headers.get("authorization", "") != f"Bearer {key}":
            rec.reply = Fault.auth()
            return self._send_fault(rec.reply)
        if is_models:
            if self.command != "GET":
                return self._send_fault(Fault.http(405, "405", "Use GET for /models."))
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "glm-test"} for m in glm.models]
            return self._send_fault(Fault(200, body={"object": "list", "data": data}), outcome="complete")
        if self.command != "POST":
            return self._send_fault(Fault.http(405, "405", "Use POST for /chat/completions."))
        if not isinstance(rec.json, dict):
            return self._send_fault(Fault.http(400, "1214", "The request body is not a JSON object."))
        problem = request_problem(rec.json)
        if problem is not None:
            rec.reply = Fault.http(400, "1214", f"Invalid parameter: {problem}")
            return self._send_fault(rec.reply)
        if not glm._admit():
            rec.reply = Fault.rate_limit(retry_after=glm.limit_retry_after)
            return self._send_fault(rec.reply, outcome="over_limit")
        self._slot = True
        if glm.latency > 0:
            self._wait(glm.latency)
        try:
            script = glm._next_script(rec.json)
        except Exception as exc:  # a broken responder should show up in the test, not hang it
            rec.reply = Fault.server_error(500, f"GLMTestServer responder raised {exc!r}")
            return self._send_fault(rec.reply)
        rec.reply = script
        if isinstance(script, Fault):
            return self._send_fault(script)
        if script.require_reasoning_back:
            rec.reasoning_problems = glm.reasoning.problems(rec.json)[1]
            if rec.reasoning_problems:
                message = (
                    "The reasoning_content of earlier turns must be passed back complete and "
                    "unmodified (preserved thinking): " + " ".join(rec.reasoning_problems)
                )
                return self._send_fault(Fault.http(400, "1214", message))
        glm.reasoning.remember(script)
        if rec.json.get("stream") is True:
            return self._stream(script, rec.json)
        return self._complete(script, rec.json)

    # -- waiting ------------------------------------------------------------------------------
    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` while watching the socket; raise _Stop if the client leaves."""
        glm = self.server.glm
        deadline = time.monotonic() + seconds
        while True:
            if glm._stopping.is_set():
                raise _Stop("server_stopped")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(_POLL, remaining)
            try:
                readable, _, _ = select.select([self.connection], [], [], step)
                if readable:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        raise _Stop("server_stopped" if glm._stopping.is_set() else "client_disconnected")
                    time.sleep(step)  # the client sent more (pipelining): just wait
            except (OSError, ValueError) as exc:
                raise _Stop("server_stopped" if glm._stopping.is_set() else "client_disconnected") from exc

    # -- writing ------------------------------------------------------------------------------
    def _leave(self, answered: bool) -> None:
        """Give the concurrency slot back (once), just before the last write of an answer."""
        if self._slot:
            self._slot = False
            self.server.glm._release(answered)

    def _body_started(self) -> None:
        if self._rec.first_byte_at is None:
            self._rec.first_byte_at = time.time()

    def _send_fault(self, fault: Fault, outcome: str = "error_status") -> str:
        if fault.delay > 0:
            self._wait(fault.delay)
        if fault.drop_connection:
            self._abort()
            return "dropped"
        status, headers, data = fault.render()
        if status < 400 and outcome == "error_status":
            outcome = "complete"  # Fault.raw / Fault.in_band at 200: the body is the answer
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if fault.splits:  # one HTTP chunk and one write per piece
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            pieces = fault.pieces(data)
            for i, piece in enumerate(pieces):
                if i and fault.pause > 0:
                    self._wait(fault.pause)
                if i == len(pieces) - 1:
                    self._leave(answered=True)
                self._write_chunk(piece, split_utf8=False)
            self.wfile.write(b"0\r\n\r\n")
            return outcome
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._body_started()
        self._leave(answered=True)
        self.wfile.write(data)
        return outcome

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _complete(self, reply: Reply, request: dict[str, Any]) -> str:
        if reply.first_delay > 0:
            self._wait(reply.first_delay)
        if reply.cut_after is not None:
            self._abort()
            return "cut"
        if reply.stall_after is not None:
            self._wait(reply.stall_seconds)
            self._abort()
            return "stalled_then_closed"
        if reply.error_after is not None:
            fault = Fault.http(400, reply.error_code, reply.error_message, body=reply.error_object())
            return self._send_fault(fault)
        data = json.dumps(completion_body(reply, request), ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._body_started()
        self._leave(answered=True)
        self.wfile.write(data)
        return "complete"

    def _write_chunk(self, data: bytes, split_utf8: bool) -> None:
        pieces = _utf8_split(data) if split_utf8 else [data]
        for i, piece in enumerate(pieces):
            self._body_started()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if split_utf8 and i + 1 < len(pieces) and 0x80 <= pieces[i + 1][0] < 0xC0:
                time.sleep(0.001)  # the next write continues a character: let this one leave alone

    def _stream(self, reply: Reply, request: dict[str, Any]) -> str:
        plan = stream_plan(reply, request)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        last_write = max((i for i, step in enumerate(plan) if step[0] == "write"), default=-1)
        for i, step in enumerate(plan):
            kind = step[0]
            if kind == "write":
                if i == last_write and plan[-1][0] == "finish":
                    self._leave(answered=True)
                self._write_chunk(step[1], reply.split_utf8)
            elif kind == "sleep":
                self._wait(step[1])
            elif kind == "cut":
                self._abort()
                return "cut"
            elif kind == "stall":
                self._wait(step[1])
                self._abort()
                return "stalled_then_closed"
            elif kind == "finish":
                self.wfile.write(b"0\r\n\r\n")
                return str(step[1])
        raise AssertionError("stream plan without a finish step")  # pragma: no cover


def _utf8_split(data: bytes) -> list[bytes]:
    """Cut ``data`` into small pieces, splitting every multi-byte UTF-8 character in two."""
    pieces: list[bytes] = []
    start = 0
    for i in range(1, len(data)):
        lead = data[i - 1]
        if (lead >= 0xC0 and 0x80 <= data[i] < 0xC0) or i - start >= 16:
            pieces.append(data[start:i])
            start = i
    pieces.append(data[start:])
    return pieces
