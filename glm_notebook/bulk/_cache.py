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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .._types import ChatResult, Usage

__all__ = ["AnswerCache", "answer_key", "connect", "default_cache_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    created REAL NOT NULL,
    model TEXT,
    record TEXT NOT NULL
)
"""
_JOBS = """
CREATE TABLE IF NOT EXISTS batch_jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    record TEXT NOT NULL
)
"""


def default_cache_path() -> Path:
    """``GLM_NOTEBOOK_CACHE``, else ``$XDG_CACHE_HOME/glm_notebook/answers.sqlite3``."""
    explicit = os.environ.get("GLM_NOTEBOOK_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "glm_notebook" / "answers.sqlite3"


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating its folder) the SQLite file at ``path`` as every table in it expects:
    write-ahead log, a 30 s wait for another process's write lock (also used by the ``--chat``
    conversations, ``_conversation_db``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30.0)
    # Two processes opening a new file at once: switching it to WAL can fail with "database is
    # locked" at once, without SQLite's busy wait (seen with two kernels): wait and try again.
    for attempt in range(100):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                db.close()
                raise
            time.sleep(0.05)
    db.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses nothing committed
    return db


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
        self._db = connect(self.path)
        self._db.execute(_SCHEMA)
        self._db.execute(_JOBS)
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The stored records of those keys that have one."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, text in self._db.execute(
                f"SELECT key, record FROM answers WHERE key IN ({marks})", chunk
            ):
                found[key] = json.loads(text)
        return found

    def put(self, key: str, result: ChatResult) -> None:
        """Store one answer and commit it at once."""
        text = json.dumps(record_of(result), ensure_ascii=False, default=str)
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, created, model, record) VALUES (?, ?, ?, ?)",
                (key, time.time(), result.model, text),
            )

    def put_job(self, record: dict[str, Any]) -> None:
        """Record a Batch API job (``_batch_api``) so a new process finds it."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO batch_jobs (id, created, record) VALUES (?, ?, ?)",
                (record["id"], record["created"], json.dumps(record)),
            )

    def jobs(self) -> list[dict[str, Any]]:
        """Every recorded job, newest first."""
        rows = self._db.execute("SELECT record FROM batch_jobs ORDER BY created DESC")
        return [json.loads(text) for (text,) in rows]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._db.close()
