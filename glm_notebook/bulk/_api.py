"""``glm.batch``: the provider's Batch API (half price, no concurrency limit, answers within 24 h).

``glm.batch.submit(template, data, ...)`` renders the prompts exactly as ``glm.map`` does,
writes one JSONL line per row (``custom_id`` ``row-<i>``, ``url`` ``/v4/chat/completions``, the
body as a chat request would send it, without ``stream``), splits the file past 50,000 lines or
about 95 MB (the service's limits are 50,000 and 100 MB), uploads each part to ``/files``
(purpose ``batch``), creates one ``/batches`` per part and records the job in the SQLite store of
``_cache`` (table ``batch_jobs``), so ``glm.batch.jobs()`` finds it again from a new process.

``job.status()`` asks for every part and sums their counts; ``job.wait()`` polls with backoff
(2 s, doubling up to 30 s, or a fixed ``poll_interval``), showing the same progress view as
``glm.map``; ``job.results()`` downloads the output and error files and maps every line back to
its row by ``custom_id`` (lines come in any order): the same ``BatchResult`` as ``glm.map``.
``job.cancel()`` cancels the parts still running. Timestamps in seconds or milliseconds both
read right (``read_time``). The offline model has no Batch API: a clear ConfigurationError; a
server that answers 404 on ``/files`` gets one too. A job's requests go to the base URL it was
submitted to. A key goes with them only where it belongs (``_settings.key_for_url``): the client's
key to the client's own host, a cloud provider's key variable to that provider's host, and no key
anywhere else. A job recorded with another host (a gateway, an old port) is a ConfigurationError
that says to pass ``client=glm.GLMClient(base_url=..., api_key=...)``: the jobs file never decides
where a key goes. Headers and request bodies are those of ``client._request`` (``build_headers``,
``assemble_payload``), without ``stream``.

``schema=`` (as for ``glm.map``: a pydantic model, dataclass, TypedDict or JSON-schema dict) is
written into every request the way ``chat(schema=)`` sends it (``_schema.OutputSchema.request``),
and recorded with the job as JSON schema. ``results()`` validates each answer into ``parsed``:
against the schema object given to ``submit`` (or to ``results(schema=...)``), else, in another
process, against the recorded JSON schema (``parsed`` is then a plain dict). A batch has no repair
turn: an answer that does not fit is that row's ``SchemaValidationError`` (with ``.text``); run
``glm.map(..., schema=...)`` over those rows to ask them again with one.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._errors import APIError, ConfigurationError, GLMError, SchemaValidationError, make_api_error
from .._options import build_options
from .._settings import key_for_url
from .._types import ChatResult
from ..client._limits import MAX_ERROR_BYTES, MAX_LINE_BYTES, MAX_WHOLE_BYTES, BodyBuffer, BodyDecoder
from ..client._request import RequestHeaders, assemble_payload, build_headers, build_messages
from ..client._sse import StreamState
from ..tools._schema import OutputSchema, SchemaMismatch
from ._cache import AnswerCache
from ._rows import BatchResult, render_prompts, rows_of

if TYPE_CHECKING:
    from ..client._sync import GLMClient

__all__ = ["BatchAPI", "BatchJob", "BatchStatus", "batch", "read_time"]

MAX_LINES = 50_000
MAX_BYTES = 95 * 1024 * 1024  # under the service's 100 MB, with room for the multipart framing
ENDPOINT = "/v4/chat/completions"
#: Decoded bytes of one results file (50,000 answers of up to ~10 KB each fit).
MAX_RESULTS_BYTES = 512 * 2**20
FINISHED = ("completed", "failed", "expired", "cancelled")


def read_time(value: Any) -> datetime | None:
    """A batch timestamp as UTC datetime: seconds or milliseconds since the epoch (both are seen)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = value / 1000 if value > 1e11 else value  # 1e11 s is the year 5138
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@dataclass
class BatchStatus:
    """Where a job is: ``status`` (the parts' common one, or "in_progress" while they differ),
    request counts summed over the parts, and each part's own status."""

    status: str
    total: int
    completed: int
    failed: int
    parts: list[str]
    created_at: datetime | None = None

    @property
    def done(self) -> bool:
        return all(p in FINISHED for p in self.parts)


def _headers(client: GLMClient, url: str, *, json_body: bool = True) -> RequestHeaders:
    """The request module's headers for ``url``, with the key that may go there (or none)."""
    headers = build_headers(key_for_url(url, client.settings))
    headers["Accept"] = "application/json"
    if not json_body:
        del headers["Content-Type"]  # a multipart upload: httpx writes the boundary
    return headers


@dataclass(frozen=True)
class _Answer:
    """A Batch API response read within its bounds (``_send``)."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def _send(client: GLMClient, method: str, url: str, **kwargs: Any) -> _Answer:
    """One Batch API request, its answer read within ``MAX_WHOLE_BYTES`` decoded (an error page
    within ``MAX_ERROR_BYTES``), as the chat engine reads bodies: a compressed bomb never exists
    whole in memory."""
    from ..client._sync import raw_reads

    with client.http.stream(method, url, **kwargs) as response:
        failed = response.status_code != 200
        encoding = response.headers.get("content-encoding", "")
        limit = MAX_ERROR_BYTES if failed else MAX_WHOLE_BYTES
        body = BodyBuffer(encoding, limit, truncate=failed)
        for raw in raw_reads(response):
            if not body.take(raw):
                break
        return _Answer(response.status_code, body.value())


def _file_lines(client: GLMClient, base_url: str, path: str, headers: Any) -> Iterator[bytes]:
    """The lines of a results file, streamed: at most ``MAX_RESULTS_BYTES`` decoded in all and the
    first ``MAX_LINE_BYTES`` of each line (a longer line is cut, so it fails its own row only)."""
    from ..client._sync import raw_reads

    with client.http.stream("GET", base_url + path, headers=headers) as response:
        if response.status_code != 200:
            body = BodyBuffer(response.headers.get("content-encoding", ""), MAX_ERROR_BYTES, truncate=True)
            for raw in raw_reads(response):
                if not body.take(raw):
                    break
            _check(_Answer(response.status_code, body.value()), path, base_url)
        decoder = BodyDecoder(
            response.headers.get("content-encoding", ""), MAX_RESULTS_BYTES, "a results file"
        )
        line, size = bytearray(), 0
        for raw in raw_reads(response):
            for piece in decoder.feed(raw):
                start = 0
                while True:
                    end = piece.find(b"\n", start)
                    chunk = piece[start:] if end < 0 else piece[start:end]
                    if size < MAX_LINE_BYTES:
                        line += chunk[: MAX_LINE_BYTES - size]
                    size += len(chunk)
                    if end < 0:
                        break
                    yield bytes(line)
                    line, size, start = bytearray(), 0, end + 1
        for piece in decoder.flush():
            line += piece[: max(MAX_LINE_BYTES - len(line), 0)]
        if line:
            yield bytes(line)


def _check(response: Any, what: str, base_url: str) -> Any:
    if response.status_code == 404:
        raise ConfigurationError(
            f"This provider has no Batch API (HTTP 404 from {base_url}{what}): use glm.map() instead."
        )
    if response.status_code != 200:
        raise make_api_error(response.status_code, response.content)
    return response


def _client(client: GLMClient | None) -> GLMClient:
    from ..client._sync import get_client

    client = client if client is not None else get_client()
    if client.is_offline:
        raise ConfigurationError("The offline model has no Batch API: use glm.map() instead.")
    return client


class BatchJob:
    """One submitted job (one or more provider batches), as recorded on this machine."""

    def __init__(self, record: dict[str, Any], client: GLMClient | None = None, schema: Any = None) -> None:
        self.record = record
        self.id: str = record["id"]
        self.base_url: str = record["base_url"]
        self.total: int = record["rows"]
        self.parts: list[dict[str, Any]] = record["parts"]
        self._client = client
        self._schema = schema  # the schema= object of submit(), in the process that submitted

    def __repr__(self) -> str:
        return f"BatchJob({self.id!r}, {self.total} rows, {len(self.parts)} part(s), {self.base_url!r})"

    @property
    def client(self) -> GLMClient:
        return _client(self._client)

    def _get(self, path: str) -> Any:
        client = self.client
        response = _send(client, "GET", self.base_url + path, headers=_headers(client, self.base_url))
        return _check(response, path, self.base_url)

    def status(self) -> BatchStatus:
        """Ask the provider where every part is."""
        objects = [self._get(f"/batches/{p['batch_id']}").json() for p in self.parts]
        for part, obj in zip(self.parts, objects, strict=True):
            part["object"] = obj
        states = [str(o.get("status")) for o in objects]
        counts = [o.get("request_counts") or {} for o in objects]
        status = states[0] if len(set(states)) == 1 else "in_progress"
        return BatchStatus(
            status=status,
            total=self.total,
            completed=sum(int(c.get("completed") or 0) for c in counts),
            failed=sum(int(c.get("failed") or 0) for c in counts),
            parts=states,
            created_at=read_time(objects[0].get("created_at")),
        )

    def wait(self, timeout: float | None = None, poll_interval: float | None = None) -> BatchStatus:
        """Poll until every part has finished; TimeoutError after ``timeout`` seconds."""
        from ._map import progress_factory

        started = time.monotonic()
        delay = poll_interval if poll_interval is not None else 2.0
        view = progress_factory(self.total)
        state = self.status()
        while not state.done:
            if view is not None:
                view.update(self._progress(state, started))
            left = None if timeout is None else timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                raise TimeoutError(f"batch job {self.id} is still {state.status} after {timeout} s")
            time.sleep(delay if left is None else min(delay, left))
            if poll_interval is None:
                delay = min(30.0, delay * 2)
            state = self.status()
        if view is not None:
            line = f"**glm.batch** job {self.id}: {state.status}, {state.completed} completed, {state.failed} failed"
            view.close(self._progress(state, started), line)
        return state

    def _progress(self, state: BatchStatus, started: float) -> Any:
        from ._map import MapProgress

        return MapProgress(
            total=self.total,
            done=state.completed,
            failed=state.failed,
            cached=0,
            in_flight=self.total - state.completed - state.failed,
            concurrency=0,
            elapsed_s=time.monotonic() - started,
            live_done=state.completed,
            tokens=0,
            cost=None,
            stopped=None if state.done else state.status,
        )

    def results(self, schema: Any = None) -> BatchResult:
        """Download the output and error files; the answers in input order.

        With a schema (``schema=``, else submit's, else the JSON schema recorded with the job),
        each answer is validated into ``parsed``; one that does not fit is its row's error.
        A broken line (not JSON, no or an unknown ``custom_id``, a body that is no chat completion)
        fails its own row only (the row's error says what was wrong; a line that names no row is
        reported in the error of each row left without a line); the other rows come back."""
        spec = self._output_schema(schema)
        state = self.status()
        results: list[ChatResult | None] = [None] * self.total
        errors: dict[int, Exception] = {}
        strays: list[str] = []  # lines that could not be matched to a row, and why
        for part in self.parts:
            obj = part["object"]
            for key in ("output_file_id", "error_file_id"):
                file_id = obj.get(key)
                if not file_id:
                    continue
                path = f"/files/{file_id}/content"
                lines = _file_lines(self.client, self.base_url, path, _headers(self.client, self.base_url))
                name = "output" if key == "output_file_id" else "error"
                for number, data in enumerate(lines, 1):
                    raw = data.decode("utf-8", "replace").rstrip("\r")
                    if raw.strip():
                        where = f"line {number} of the {name} file {file_id}"
                        stray = self._read_line(raw, where, results, errors)
                        if stray is not None:
                            strays.append(stray)
        if strays or state.status == "completed":
            _missing_rows(results, errors, strays)
        if spec is not None:
            for i, result in enumerate(results):
                if result is not None:
                    try:
                        result.parsed = spec.parse(result.text)
                    except SchemaMismatch as exc:
                        errors[i] = SchemaValidationError(
                            f"row {i}: the answer does not fit {spec.name}: {exc} (a batch has no repair "
                            "turn: glm.map(..., schema=...) over these rows asks again with one)",
                            text=result.text,
                            validation_error=str(exc),
                            partial=result,
                        )
                        results[i] = None
        stopped = None if state.status == "completed" else state.status
        return BatchResult(results, errors, stopped=stopped)

    def _output_schema(self, schema: Any) -> OutputSchema | None:
        for candidate in (schema, self._schema):
            if candidate is not None:
                return OutputSchema.of(candidate)
        recorded = self.record.get("schema")
        return OutputSchema.of(recorded) if recorded is not None else None

    def _read_line(
        self, raw: str, where: str, results: list[ChatResult | None], errors: dict[int, Exception]
    ) -> str | None:
        """Read one line into its row's answer or error; a line that names no row of this job is
        returned as a note for the rows left without a line. A broken line fails its row only."""
        try:
            line = json.loads(raw)
        except ValueError as exc:
            found = _ROW_ID.search(raw)  # a cut or garbled line may still say whose it is
            why = f"{where} is not JSON ({exc})"
            row = self._row_of(found.group(1)) if found else None
            if row is None:
                return why
            _fail(row, why, results, errors)
            return None
        if not isinstance(line, dict):
            return f"{where} is a JSON {type(line).__name__}, not an object"
        custom_id = line.get("custom_id")
        if custom_id is None or custom_id == "":
            return f"{where} has no custom_id"
        row = self._row_of(custom_id)
        if row is None:
            return f"{where} names custom_id {str(custom_id)[:60]!r}, which is no row of this job"
        try:
            result = _answer_of(line)
        except Exception as exc:  # noqa: BLE001 - whatever the line holds, it fails its row only
            if isinstance(exc, _Broken):
                exc = APIError(f"row {row}: {where} {exc}")
            elif not isinstance(exc, GLMError):
                exc = APIError(f"row {row}: {where} could not be read ({type(exc).__name__}: {exc})")
            if results[row] is None:  # an answer already read for the row is kept
                errors[row] = exc
            return None
        results[row] = result
        errors.pop(row, None)
        return None

    def _row_of(self, custom_id: Any) -> int | None:
        """The row a ``custom_id`` names (``row-<i>``), None if it is none of this job's."""
        text = str(custom_id)
        if not text.startswith("row-") or not text[4:].isdigit() or not text[4:].isascii():
            return None
        i = int(text[4:])
        return i if 0 <= i < self.total else None

    def cancel(self) -> BatchStatus:
        """Cancel every part that has not finished."""
        client = self.client
        for part in self.parts:
            path = f"/batches/{part['batch_id']}/cancel"
            headers = _headers(client, self.base_url)
            _check(_send(client, "POST", self.base_url + path, headers=headers), path, self.base_url)
        return self.status()


class BatchAPI:
    """``glm.batch``: ``submit()``, ``jobs()``, ``job(id)``."""

    def submit(
        self,
        template: str,
        data: Any,
        *,
        model: str | None = None,
        system: str | None = None,
        schema: Any = None,
        client: GLMClient | None = None,
        metadata: dict[str, str] | None = None,
        completion_window: str = "24h",
        **options: Any,
    ) -> BatchJob:
        """Write, upload and start the batch; the job is recorded for ``jobs()``."""
        client = _client(client)
        spec = OutputSchema.of(schema) if schema is not None else None  # checked before any upload
        fields = build_options(client.settings.provider, options)
        rows, _ = rows_of(data)
        prompts = render_prompts(template, rows)
        if not prompts:
            raise ValueError("glm.batch.submit() got no rows.")
        settings = client.endpoint.resolve()
        model = model or settings.model
        if not model:
            raise ValueError("glm.batch.submit() needs a model: pass model=... or set GLM_MODEL.")
        lines = []
        for i, prompt in enumerate(prompts):
            messages, body_fields = build_messages(prompt, system), fields
            if spec is not None:
                messages, body_fields = spec.request(settings.provider, messages, fields)
            request = assemble_payload(model, messages, body_fields)
            del request["stream"]  # a batch line is answered whole
            line = {"custom_id": f"row-{i}", "method": "POST", "url": ENDPOINT, "body": request}
            lines.append(json.dumps(line, ensure_ascii=False).encode())
        base_url = str(settings.base_url).rstrip("/")
        headers = _headers(client, base_url)
        upload_headers = _headers(client, base_url, json_body=False)
        parts = []
        for first, chunk in _split(lines):
            upload = b"\n".join(chunk) + b"\n"
            files = {"file": (f"glm-batch-{first}.jsonl", upload, "application/jsonl")}
            response = _send(
                client,
                "POST",
                base_url + "/files",
                headers=upload_headers,
                files=files,
                data={"purpose": "batch"},
            )
            file_id = _check(response, "/files", base_url).json()["id"]
            body = {
                "input_file_id": file_id,
                "endpoint": ENDPOINT,
                "completion_window": completion_window,
                "metadata": metadata or {"source": "glm_notebook"},
            }
            response = _send(client, "POST", base_url + "/batches", headers=headers, json=body)
            created = _check(response, "/batches", base_url).json()
            parts.append(
                {"batch_id": created["id"], "input_file_id": file_id, "first_row": first, "rows": len(chunk)}
            )
        record = {
            "id": parts[0]["batch_id"],
            "created": time.time(),
            "base_url": base_url,
            "provider": settings.provider,
            "model": model,
            "rows": len(prompts),
            "parts": parts,
        }
        if spec is not None:
            record["schema"] = spec.schema  # JSON: results() in another process validates with it
        store = AnswerCache()
        try:
            store.put_job(record)
        finally:
            store.close()
        return BatchJob(record, client, schema)

    def jobs(self, client: GLMClient | None = None) -> list[BatchJob]:
        """The jobs submitted from this machine (the store's), newest first."""
        store = AnswerCache()
        try:
            return [BatchJob(r, client) for r in store.jobs()]
        finally:
            store.close()

    def job(self, job_id: str, client: GLMClient | None = None) -> BatchJob:
        for job in self.jobs(client):
            if job.id == job_id:
                return job
        raise KeyError(f"no batch job {job_id!r} on this machine (glm.batch.jobs() lists them)")


_ROW_ID = re.compile(r'"custom_id"\s*:\s*"(row-\d{1,12})"')


class _Broken(Exception):
    """A batch output line that is not what the Batch API writes (its row's error says how)."""


def _fail(row: int, why: str, results: list[ChatResult | None], errors: dict[int, Exception]) -> None:
    if results[row] is None:
        errors[row] = APIError(f"row {row}: {why}")


def _missing_rows(results: list[ChatResult | None], errors: dict[int, Exception], strays: list[str]) -> None:
    """Rows with neither an answer nor an error after every line was read get an error saying so."""
    note = ""
    if strays:
        shown = "; ".join(strays[:3]) + (f"; and {len(strays) - 3} more" if len(strays) > 3 else "")
        note = f" ({len(strays)} line(s) could not be matched to a row: {shown})"
    for i, result in enumerate(results):
        if result is None and i not in errors:
            errors[i] = APIError(
                f"row {i}: the batch's output and error files have no usable line for it{note}"
            )


def _answer_of(line: dict[str, Any]) -> ChatResult:
    """The ChatResult of one output line, or the row's error raised (typed from the error body,
    ``_Broken`` when the line is not shaped as the Batch API writes it)."""
    response = line.get("response")
    if response is not None and not isinstance(response, dict):
        raise _Broken(f"has a response that is a JSON {type(response).__name__}, not an object")
    response = response or {}
    body = response.get("body")
    status = response.get("status_code")
    error = line.get("error")
    if status == 200 and not error and not isinstance(body, dict):
        raise _Broken(f"has a body that is not a chat completion (a JSON {type(body).__name__})")
    if error or status != 200 or not isinstance(body, dict):
        if status is None and not error and body is None:
            raise _Broken("has neither a response nor an error")
        status = status if isinstance(status, int) and not isinstance(status, bool) else None
        raise make_api_error(status, body if isinstance(body, dict) else {"error": error})
    if isinstance(body.get("error"), dict):  # an error object in a 200 body
        raise make_api_error(200, body)
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise _Broken("has a body that is not a chat completion (no choices[0].message)")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _Broken(f"has an answer whose content is a JSON {type(content).__name__}, not text")
    if content is None and not message.get("tool_calls") and choice.get("finish_reason") != "sensitive":
        raise _Broken("has a chat completion with no content")
    result = ChatResult(request={})
    state = StreamState(result, time.monotonic())
    state.feed_completion(body)
    state.finish()  # a filtered answer raises its ContentFilterError: that row's error
    return result


def _split(lines: list[bytes]) -> list[tuple[int, list[bytes]]]:
    """Consecutive chunks of at most MAX_LINES lines and MAX_BYTES bytes: (first row, lines)."""
    chunks: list[tuple[int, list[bytes]]] = []
    current: list[bytes] = []
    size, first = 0, 0
    for i, line in enumerate(lines):
        if current and (len(current) >= MAX_LINES or size + len(line) + 1 > MAX_BYTES):
            chunks.append((first, current))
            current, size, first = [], 0, i
        current.append(line)
        size += len(line) + 1
    chunks.append((first, current))
    return chunks


batch = BatchAPI()
