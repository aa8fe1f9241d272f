"""The test server's Batch API: ``/files`` and ``/batches`` as GLM (and OpenAI) have them.

This module owns the uploaded files and the batch objects of one ``GLMTestServer`` and what each
endpoint answers; ``_handler`` routes to ``BatchStore.handle``. Protocol facts (GLM_PROTOCOL.md,
"Batch API"): a JSONL upload (multipart, ``purpose=batch``), ``POST /batches`` with its
``input_file_id``, ``GET /batches/{id}``, ``POST /batches/{id}/cancel``, ``GET /batches``,
``GET /files/{id}/content``.

The status moves one step per ``GET /batches/{id}`` (``validating``, ``in_progress``,
``finalizing``, ``completed``; ``BatchStore.steps`` sets how many GETs each takes), so a test sees
the progression. When a batch completes, every input line is answered with the server's scripts
(the queue, then the responder: the same ``Reply``/``Fault`` a chat request would get): a Reply
gives an output line with ``response.body`` a ``chat.completion``, a Fault an error-file line.
Output lines are written in reverse input order, as the service gives no order. A cancelled
batch goes ``cancelling`` then ``cancelled``. ``timestamps_ms`` writes milliseconds (as SDK
samples show) instead of seconds. ``broken_lines`` ({input line number: raw text}) replaces that
line's output (or error-file) line with the text as given, to script a broken output file: bad
JSON, a missing or unknown ``custom_id``, a body that is not a chat completion. Every body is
recorded like any other request.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._frames import completion_body
from ._script import Fault, Reply

if TYPE_CHECKING:
    from ._server import GLMTestServer

__all__ = ["BatchStore"]

_FLOW = ("validating", "in_progress", "finalizing", "completed")


@dataclass
class _Batch:
    data: dict[str, Any]
    polls: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name:
            fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


class BatchStore:
    """Files and batches of one server (thread-safe)."""

    def __init__(self, server: GLMTestServer) -> None:
        self.server = server
        self.steps = 1  # GETs per status step
        self.timestamps_ms = False
        self.broken_lines: dict[int, str] = {}  # input line -> raw text written instead of its answer
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (purpose, bytes)
        self.batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.steps, self.timestamps_ms = 1, False
            self.broken_lines = {}
            self._ids = itertools.count(1)
            self.files.clear()
            self.batches.clear()
            self._ids = itertools.count(1)  # ids start again: a test's first file is file-1

    def _now(self) -> int:
        return int(time.time() * 1000) if self.timestamps_ms else int(time.time())

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Fault:
        """The answer to one /files or /batches request, as a Fault (status + JSON or bytes body)."""
        parts = path.strip("/").split("/")
        at = max(i for i, p in enumerate(parts) if p in ("files", "batches"))
        kind, rest = parts[at], parts[at + 1 :]
        with self._lock:
            if kind == "files":
                return self._files(method, rest, headers, body)
            return self._batches(method, rest, body)

    # -- files ----------------------------------------------------------------------------------
    def _files(self, method: str, rest: list[str], headers: dict[str, str], body: bytes) -> Fault:
        if method == "POST" and not rest:
            fields = _multipart(headers.get("content-type", ""), body)
            purpose = fields.get("purpose", (None, b""))[1].decode()
            if "file" not in fields or purpose != "batch":
                return Fault.http(400, "1214", "Upload a file with purpose=batch (multipart form).")
            filename, data = fields["file"]
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = (purpose, data)
            obj = {"id": file_id, "object": "file", "bytes": len(data), "created_at": self._now()}
            return Fault(200, body={**obj, "filename": filename, "purpose": purpose})
        if method == "GET" and len(rest) == 2 and rest[1] == "content" and rest[0] in self.files:
            data = self.files[rest[0]][1]
            return Fault(200, body=data, headers={"Content-Type": "application/jsonl"})
        return Fault.http(404, "404", f"No such file: {'/'.join(rest)}")

    # -- batches --------------------------------------------------------------------------------
    def _batches(self, method: str, rest: list[str], body: bytes) -> Fault:
        if method == "POST" and not rest:
            return self._create(body)
        if method == "GET" and not rest:
            listed = sorted(self.batches.values(), key=lambda b: b.data["created_at"], reverse=True)
            return Fault(200, body={"object": "list", "data": [b.data for b in listed]})
        batch = self.batches.get(rest[0]) if rest else None
        if batch is None:
            return Fault.http(404, "404", f"No such batch: {'/'.join(rest)}")
        if method == "GET" and len(rest) == 1:
            self._advance(batch)
            return Fault(200, body=batch.data)
        if method == "POST" and rest[1:] == ["cancel"]:
            if batch.data["status"] not in ("completed", "failed", "expired", "cancelled"):
                batch.data["status"] = "cancelling"
                batch.polls = 0
            return Fault(200, body=batch.data)
        return Fault.http(405, "405", "Unsupported batch request.")

    def _create(self, body: bytes) -> Fault:
        try:
            request = json.loads(body)
        except ValueError:
            return Fault.http(400, "1214", "The request body is not JSON.")
        file_id = request.get("input_file_id")
        if file_id not in self.files:
            return Fault.http(400, "1214", f"Unknown input_file_id {file_id!r}.")
        if request.get("endpoint") != "/v4/chat/completions":
            return Fault.http(400, "1214", "endpoint must be /v4/chat/completions.")
        lines = [json.loads(line) for line in self.files[file_id][1].decode().splitlines() if line.strip()]
        batch_id = f"batch_{next(self._ids)}"
        data = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "input_file_id": file_id,
            "completion_window": request.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": self._now(),
            "completed_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": request.get("metadata"),
        }
        self.batches[batch_id] = _Batch(data, lines=lines)
        return Fault(200, body=data)

    def _advance(self, batch: _Batch) -> None:
        data = batch.data
        batch.polls += 1
        if batch.polls < self.steps:
            return
        batch.polls = 0
        if data["status"] == "cancelling":
            data["status"] = "cancelled"
            data["cancelled_at"] = self._now()
        elif data["status"] in _FLOW[:-1]:
            data["status"] = _FLOW[_FLOW.index(data["status"]) + 1]
            if data["status"] == "completed":
                self._run(batch)

    def _run(self, batch: _Batch) -> None:
        out: list[str] = []
        errors: list[str] = []
        for n, line in enumerate(batch.lines):
            request = line.get("body") or {}
            script = self.server._next_script(request)
            custom_id = line.get("custom_id")
            if n in self.broken_lines:
                out.append(self.broken_lines[n])
            elif isinstance(script, Reply):
                response = {
                    "status_code": 200,
                    "request_id": f"req-{n}",
                    "body": completion_body(script, request),
                }
                out.append(
                    json.dumps(
                        {"id": f"line-{n}", "custom_id": custom_id, "response": response, "error": None}
                    )
                )
            else:
                error = {"code": script.code, "message": script.message}
                response = {"status_code": script.status, "request_id": f"req-{n}", "body": {"error": error}}
                errors.append(
                    json.dumps(
                        {"id": f"line-{n}", "custom_id": custom_id, "response": response, "error": error}
                    )
                )
        data = batch.data
        for name, lines in (("output_file_id", out), ("error_file_id", errors)):
            if lines:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = ("batch_output", ("\n".join(reversed(lines)) + "\n").encode())
                data[name] = file_id
        data["request_counts"] = {"total": len(batch.lines), "completed": len(out), "failed": len(errors)}
        data["completed_at"] = self._now()
