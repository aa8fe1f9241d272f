"""Where ``--chat`` conversations live on disk: a table in the answer cache's SQLite file.

The file is ``glm.map``'s (``_store``: ``GLM_NOTEBOOK_CACHE``, else
``$XDG_CACHE_HOME/glm_notebook/answers.sqlite3``), opened the same way (write-ahead log, 30 s busy
timeout). Each turn is a row keyed by the notebook, the conversation's name and its position; the
row holds the question, the answer, its reasoning and tool messages (as exchanged, JSON with
ASCII escapes so every string comes back exactly) and the time it was asked. Never the API key:
only messages are stored.

A notebook is the path its front end gives the kernel: ``JPY_SESSION_NAME`` (Jupyter Server),
``__vsc_ipynb_file__`` (VS Code), else the working directory (terminal IPython, a plain kernel).

Two kernels of one notebook may write at once: a turn is placed inside one ``BEGIN IMMEDIATE``
transaction that reads the conversation's current keys and writes the change, so the writes
queue instead of interleaving, and each kernel reads the turns afresh before it asks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ._conversation import Turn, place
from ._store import connect, default_cache_path

__all__ = ["ConversationDB", "notebook_of"]

_TABLE = """
CREATE TABLE IF NOT EXISTS chat_turns (
    notebook TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    created REAL NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (notebook, name, position)
)
"""


def notebook_of(user_ns: dict[str, Any]) -> str:
    """The notebook a kernel runs: its path where the front end says it, else the working directory."""
    path = os.environ.get("JPY_SESSION_NAME") or user_ns.get("__vsc_ipynb_file__")
    if isinstance(path, str) and path.strip():
        return path
    return os.getcwd()


def _record(turn: Turn) -> str:
    body = {"user": turn.user, "assistant": turn.assistant, "reasoning": turn.reasoning}
    if turn.replies is not None:
        body["replies"] = turn.replies
    return json.dumps(body, ensure_ascii=True, default=str)  # ASCII: a lone surrogate survives too


def _turn(key: str, created: float, record: str) -> Turn:
    body = json.loads(record)
    return Turn(
        key,
        body["user"],
        body.get("assistant") or "",
        body.get("reasoning") or "",
        body.get("replies"),
        created,
    )


class ConversationDB:
    """The conversations of one notebook in the ``chat_turns`` table of one SQLite file."""

    def __init__(self, notebook: str, path: str | os.PathLike[str] | None = None) -> None:

        self.notebook = notebook
        self.path = Path(path) if path is not None else default_cache_path()
        self._db = connect(self.path)
        try:
            with self._db:
                self._db.execute(_TABLE)
        except BaseException:
            self._db.close()
            raise

    def turns(self, name: str) -> list[Turn]:
        rows = self._db.execute(
            "SELECT key, created, record FROM chat_turns WHERE notebook = ? AND name = ? ORDER BY position",
            (self.notebook, name),
        )
        return [_turn(*row) for row in rows]

    def record(self, name: str, turn: Turn) -> tuple[list[Turn], int]:
        """Place ``turn`` (replace its key's turn and drop the later ones, or append) in one
        transaction; the conversation's turns afterwards and how many were dropped."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # the write lock first: a second kernel waits here
        try:
            turns, dropped = place(self.turns(name), turn)
            position = len(turns) - 1
            db.execute(
                "DELETE FROM chat_turns WHERE notebook = ? AND name = ? AND position >= ?",
                (self.notebook, name, position),
            )
            db.execute(
                "INSERT INTO chat_turns (notebook, name, position, key, created, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self.notebook, name, position, turn.key, turn.created, _record(turn)),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return turns, dropped

    def delete(self, name: str | None) -> None:
        """Forget one conversation of this notebook, or all of them (None)."""
        with self._db:
            if name is None:
                self._db.execute("DELETE FROM chat_turns WHERE notebook = ?", (self.notebook,))
            else:
                self._db.execute(
                    "DELETE FROM chat_turns WHERE notebook = ? AND name = ?", (self.notebook, name)
                )

    def names(self) -> list[str]:
        """This notebook's conversations, most recently used first."""
        rows = self._db.execute(
            "SELECT name FROM chat_turns WHERE notebook = ? GROUP BY name ORDER BY MAX(created) DESC",
            (self.notebook,),
        )
        return [name for (name,) in rows]

    def close(self) -> None:
        self._db.close()
