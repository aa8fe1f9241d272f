"""The durable answer cache of ``glm.map``: one SQLite row committed per answer (and, in a
second table, the Batch API jobs submitted from this machine).

An answer is stored under a key made from what decides it: the provider and host it came from,
the model, the messages and the generation options as sent (and the schema's name and JSON
schema when one is given) - never the API key. A re-run after an interrupt, a crash, ``kill -9``
or a kernel restart finds every answer that was committed and sends only the rest; with
``temperature`` > 0 the stored answer is the earlier sample, by design (nothing is paid twice).

Where: ``$XDG_CACHE_HOME/glm_notebook/answers.sqlite3`` (``~/.cache/...`` when unset); the
environment variable ``GLM_NOTEBOOK_CACHE`` names another file (tests point it at a temporary
directory). The file uses SQLite's write-ahead log, so a process killed mid-run loses at most
the answer it was writing; every commit is one row.

A cache that cannot be written (a full disk, a read-only file or directory, a database another
process keeps locked for more than ``BUSY_TIMEOUT_S``) never costs an answer: the first failure
is remembered (``problem``), writing stops for the rest of the run, and the caller shows one
``CacheWarning`` (``glm.map`` at the end of the run, ``put_job`` at once). A file that cannot be
opened for writing is read read-only when possible, else the run goes without a cache.

Two processes on one file do not ask the same row twice: before a row is sent its key is
claimed (table ``claims``: owner, pid, host, lease end) in one ``BEGIN IMMEDIATE`` transaction
that also looks for a stored answer. A key claimed by another live owner is waited for (``peek``
until its answer is stored or the claim goes away). The owner renews its lease (``LEASE_S``)
while it runs, drops a claim with the row's answer or failure and all of them when the run ends,
Ctrl-C included; a claim whose process is gone (same host, POSIX) or whose lease ran out (a
crash, ``kill -9``, a frozen process, another host) is taken over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from .._store import connect, default_cache_path
from .._types import ChatResult, Usage

__all__ = ["AnswerCache", "CacheWarning", "answer_key", "connect", "default_cache_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    model TEXT,
    record TEXT NOT NULL
)
"""
_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    expires REAL NOT NULL
)
"""
_JOBS = """
CREATE TABLE IF NOT EXISTS batch_jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    record TEXT NOT NULL
)
"""


BUSY_TIMEOUT_S = 5.0  # how long a write waits for another process's lock before it gives up
LEASE_S = 60.0  # a claim not renewed for this long is taken over
Claim = Literal["mine", "answered", "elsewhere"]


class CacheWarning(UserWarning):
    """The answer cache could not be used as asked (answers are kept in the result)."""


def schema_id(schema: Any) -> Any:
    """What identifies a schema in a key: its JSON schema when it has one, else its name."""
    if schema is None:
        return None
    if isinstance(schema, dict):
        return schema
    dump = getattr(schema, "model_json_schema", None)
    if callable(dump):
        try:
            return dump()
        except Exception:  # noqa: BLE001 - an odd class still gets a key from its name
            pass
    return f"{getattr(schema, '__module__', '')}.{getattr(schema, '__qualname__', repr(schema))}"


def answer_key(
    provider: str,
    base_url: str | None,
    model: str | None,
    messages: list[dict[str, Any]],
    options: dict[str, Any],
    schema: Any = None,
) -> str:
    """The cache key: a SHA-256 over provider, host, model, messages, options and schema.

    The offline model's port changes on every start, so provider 'local' is keyed without host.
    """
    host = "" if provider == "local" else (urlsplit(base_url or "").netloc.lower())
    material = {
        "provider": provider,
        "host": host,
        "model": (model or "").lower(),
        "messages": messages,
        "options": options,
        "schema": schema_id(schema),
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def record_of(result: ChatResult) -> dict[str, Any]:
    """What is stored of an answer (text, reasoning, finish, model, usage, request, parsed)."""
    usage = dataclasses.asdict(result.usage) if result.usage is not None else None
    record = {
        "text": result.text,
        "reasoning": result.reasoning,
        "finish_reason": result.finish_reason,
        "model": result.model,
        "id": result.id,
        "usage": usage,
        "request": result.request,
    }
    parsed = getattr(result, "parsed", None)
    if parsed is not None:
        record["parsed"] = _jsonable(parsed)
    return record


def result_of(record: dict[str, Any], schema: Any = None) -> ChatResult:
    """A complete ChatResult from a stored record; ``parsed`` rebuilt with ``schema`` when given."""
    usage = Usage(**record["usage"]) if record.get("usage") else None
    result = ChatResult(
        text=record.get("text") or "",
        reasoning=record.get("reasoning") or "",
        finish_reason=record.get("finish_reason"),
        model=record.get("model"),
        id=record.get("id"),
        usage=usage,
        request=record.get("request") or {},
        complete=True,
    )
    if "parsed" in record and schema is not None:
        data = record["parsed"]
        try:
            if hasattr(schema, "model_validate"):
                data = schema.model_validate(data)
            elif dataclasses.is_dataclass(schema) and isinstance(data, dict):
                data = schema(**data)  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - the stored JSON is still the answer's data
            pass
        result.parsed = data
    return result


class AnswerCache:
    """The answers table in one SQLite file; open it in the thread that uses it."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.problem: str | None = None  # the first reason the cache could not be written
        self.unsaved = 0  # answers that could not be stored
        self.writable = True
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._warned = False
        self._db = self._open()

    # -- opening and failing --------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection | None:
        try:
            db = connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                for table in (_SCHEMA, _CLAIMS, _JOBS):
                    db.execute(table)
            except BaseException:
                db.close()
                raise
            return db
        except (OSError, sqlite3.Error) as exc:
            self._failed(exc)
        for mode in ("ro", "ro&immutable=1"):  # still serve what is stored, when it can be read
            try:
                uri = f"file:{quote(str(self.path.resolve()))}?mode={mode}"
                db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            except (OSError, sqlite3.Error):
                continue
            try:
                db.execute("SELECT key FROM answers LIMIT 1").fetchall()
                return db
            except sqlite3.Error:
                db.close()
        return None

    def _failed(self, exc: BaseException) -> None:
        """Stop writing for the rest of this cache's life; remember why (the first reason)."""
        self.writable = False
        if self.problem is None:
            text = str(exc).lower()
            if "full" in text or getattr(exc, "errno", None) == errno.ENOSPC or self._no_space():
                why = "the disk is full"
            elif "readonly" in text or "read-only" in text or not self._can_write():
                why = "the file or its directory is read-only"
            elif "locked" in text or "busy" in text:
                why = f"another process kept the database locked for more than {BUSY_TIMEOUT_S:g} s"
            else:
                why = f"{type(exc).__name__}: {exc}"
            self.problem = f"the answer cache {self.path} cannot be written ({why})"

    def _no_space(self) -> bool:
        """Whether the cache's filesystem has no free block left (SQLite may call that an I/O error)."""
        try:
            return os.statvfs(self.path.parent).f_bavail == 0
        except (OSError, AttributeError):  # no statvfs on Windows
            return False

    def _can_write(self) -> bool:
        """Whether the file (when it exists) and its directory are writable (a read-only mount
        counts, for root too)."""
        try:
            if self.path.exists() and not os.access(self.path, os.W_OK):
                return False
            return os.access(self.path.parent, os.W_OK) or not self.path.parent.exists()
        except OSError:
            return True

    def warning(self, what: str = "answers") -> str | None:
        """The one warning text for this cache's problem, or None when there was none."""
        if self.problem is None:
            return None
        lost = f" ({self.unsaved} not stored)" if self.unsaved else ""
        return (
            f"{self.problem}: the {what} of this run are in the result but not cached{lost}, so a "
            "re-run asks for them again and two processes may ask the same row. Free space or "
            "permissions, set GLM_NOTEBOOK_CACHE to a writable file, or pass cache=False."
        )

    def warn(self, what: str = "answers", stacklevel: int = 3) -> None:
        """Show the warning once per cache (``CacheWarning``)."""
        message = self.warning(what)
        if message is not None and not self._warned:
            self._warned = True
            warnings.warn(message, CacheWarning, stacklevel=stacklevel)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) so a read inside it holds."""
        assert self._db is not None
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # also a COMMIT that failed: never keep the write lock
                db.rollback()
            raise

    # -- answers --------------------------------------------------------------------------------
    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The stored records of those keys that have one."""
        return {key: record for key, (record, _) in self._answers(keys).items()}

    def _answers(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], float]]:
        found: dict[str, tuple[dict[str, Any], float]] = {}
        if self._db is None:
            return found
        unique = list(dict.fromkeys(keys))
        try:
            for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, text, created in self._db.execute(
                    f"SELECT key, record, created FROM answers WHERE key IN ({marks})", chunk
                ):
                    found[key] = (json.loads(text), created)
        except (sqlite3.Error, ValueError) as exc:
            self._failed(exc)
        return found

    def put(self, key: str, result: ChatResult) -> bool:
        """Store one answer, commit it at once and drop this owner's claim on it; False (and
        ``problem`` set) when it could not be stored."""
        if not self.writable or self._db is None:
            self.unsaved += 1
            return False
        text = json.dumps(record_of(result), ensure_ascii=False, default=str)
        try:
            with self._write() as db:
                db.execute(
                    "INSERT OR REPLACE INTO answers (key, created, model, record) VALUES (?, ?, ?, ?)",
                    (key, time.time(), result.model, text),
                )
                db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))
        except sqlite3.Error as exc:
            self._failed(exc)
            self.unsaved += 1
            return False
        return True

    # -- claims (two processes, one file) -------------------------------------------------------
    def claim(self, key: str, since: float = 0.0) -> tuple[Claim, dict[str, Any] | None]:
        """Before asking ``key``: ("answered", record) when an answer stored at or after ``since``
        exists, ("elsewhere", None) when another live owner (or another row of this owner's run,
        asking the same key) holds it, else ("mine", None) with the claim taken."""
        if not self.writable or self._db is None:
            stored = self._answers([key]).get(key)
            return ("answered", stored[0]) if stored and stored[1] >= since else ("mine", None)
        now = time.time()
        try:
            with self._write() as db:
                row = db.execute("SELECT record, created FROM answers WHERE key = ?", (key,)).fetchone()
                if row is not None and row[1] >= since:
                    return "answered", json.loads(row[0])
                held = db.execute(
                    "SELECT owner, pid, host, expires FROM claims WHERE key = ?", (key,)
                ).fetchone()
                if held is not None and _alive(*held, now=now):
                    return "elsewhere", None
                db.execute(
                    "INSERT OR REPLACE INTO claims (key, owner, pid, host, expires) VALUES (?, ?, ?, ?, ?)",
                    (key, self.owner, os.getpid(), socket.gethostname(), now + LEASE_S),
                )
        except (sqlite3.Error, ValueError) as exc:
            self._failed(exc)
        return "mine", None

    def peek(self, keys: list[str], since: float = 0.0) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """For keys waited for: (the answers stored since ``since``, the keys no live owner holds)."""
        answered = {k: rec for k, (rec, created) in self._answers(keys).items() if created >= since}
        rest = [k for k in dict.fromkeys(keys) if k not in answered]
        if self._db is None or not self.writable or not rest:
            return answered, set(rest)
        held: set[str] = set()
        now = time.time()
        try:
            for start in range(0, len(rest), 500):
                chunk = rest[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, *claim in self._db.execute(
                    f"SELECT key, owner, pid, host, expires FROM claims WHERE key IN ({marks})", chunk
                ):
                    if _alive(*claim, now=now):
                        held.add(key)
        except sqlite3.Error as exc:
            self._failed(exc)
            return answered, set(rest)
        return answered, set(rest) - held

    def renew(self) -> None:
        """Extend the lease of every claim this owner holds."""
        self._claims_write(
            "UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + LEASE_S, self.owner)
        )

    def release(self, key: str | None = None) -> None:
        """Drop this owner's claim on ``key`` (every claim of this owner when None). Releasing them
        all (the end of a run) is tried even after a write failed (a lock that timed out may be
        gone by then): a claim left behind makes another process wait out its lease."""
        if key is None:
            self._claims_write("DELETE FROM claims WHERE owner = ?", (self.owner,), best_effort=True)
        else:
            self._claims_write("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    def _claims_write(self, sql: str, params: tuple[Any, ...], best_effort: bool = False) -> None:
        if self._db is None or not (self.writable or best_effort):
            return
        try:
            with self._write() as db:
                db.execute(sql, params)
        except sqlite3.Error as exc:
            self._failed(exc)

    # -- Batch API jobs -------------------------------------------------------------------------
    def put_job(self, record: dict[str, Any]) -> None:
        """Record a Batch API job (``bulk/_api``) so a new process finds it; a store that cannot
        be written gives one CacheWarning naming the job (the job itself was submitted)."""
        if self.writable and self._db is not None:
            try:
                with self._write() as db:
                    db.execute(
                        "INSERT OR REPLACE INTO batch_jobs (id, created, record) VALUES (?, ?, ?)",
                        (record["id"], record["created"], json.dumps(record)),
                    )
                return
            except sqlite3.Error as exc:
                self._failed(exc)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.problem or 'the answer cache cannot be written'}: batch job {record['id']} was "
                "submitted but is not recorded, so glm.batch.jobs() will not list it; keep the "
                "returned job object (or its id) to ask for its results.",
                CacheWarning,
                stacklevel=3,
            )

    def jobs(self) -> list[dict[str, Any]]:
        """Every recorded job, newest first."""
        if self._db is None:
            return []
        rows = self._db.execute("SELECT record FROM batch_jobs ORDER BY created DESC")
        return [json.loads(text) for (text,) in rows]

    def count(self) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def _alive(owner: str, pid: int, host: str, expires: float, *, now: float) -> bool:
    """Whether a claim still holds: its lease runs and, on this host, its process exists."""
    if expires < now:
        return False
    if host != socket.gethostname() or os.name != "posix" or pid == os.getpid():
        return True  # another host or Windows: the lease decides; this process: another run's
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True
