"""The one SQLite file on this machine: where it lives and how every table in it is opened.

``glm.map``'s answer cache and claims (``bulk/_cache``), the Batch API's jobs (``bulk/_api``) and
the ``--chat`` conversations kept across restarts (``_conversation_db``) share it:
``GLM_NOTEBOOK_CACHE``, else ``$XDG_CACHE_HOME/glm_notebook/answers.sqlite3``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Literal

__all__ = ["connect", "default_cache_path"]


def default_cache_path() -> Path:
    """``GLM_NOTEBOOK_CACHE``, else ``$XDG_CACHE_HOME/glm_notebook/answers.sqlite3``."""
    explicit = os.environ.get("GLM_NOTEBOOK_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "glm_notebook" / "answers.sqlite3"


def connect(
    path: Path,
    *,
    timeout: float = 30.0,
    isolation_level: Literal["DEFERRED", "IMMEDIATE"] | None = "DEFERRED",
) -> sqlite3.Connection:
    """Open (creating its folder) the SQLite file at ``path`` as every table in it expects:
    write-ahead log, ``timeout`` seconds of waiting for another process's write lock (also used by
    the ``--chat`` conversations, ``_conversation_db``). ``isolation_level=None``: autocommit,
    transactions begun explicitly (the answer cache's ``BEGIN IMMEDIATE``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=timeout, isolation_level=isolation_level)
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
