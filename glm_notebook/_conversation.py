"""Chat memory: named conversations whose turns are keyed by the cell that asked them.

Re-running a cell replaces that cell's earlier turn (and keeps its place in the history) instead
of appending a duplicate; a turn without a cell id (plain Python, terminal IPython) is appended.
Re-running an *earlier* cell drops the turns after it: they answered the old version, and the
re-run was asked without them. ``record`` returns how many it dropped, so the magic says so.
Looking a conversation up (``find``) never creates it; only asking in it (``get``) does.

Preserved thinking (GLM-4.7+): a turn keeps its reasoning and, for a tool or schema answer, every
message after the question as it was sent and received (``Turn.replies``). With preserved
thinking on, ``messages(..., preserved=True)`` sends those back byte for byte, in order; off, an
earlier turn is the question and the answer's text only (no reasoning tokens spent).
``preserves_thinking`` decides, as GLM does: ``clear_thinking`` when set, else on only on the
coding endpoint (provider ``zai-coding``). ``without_earlier_reasoning`` applies the same rule to
any message list (``client.chat(messages)``).

A store made with an ``opener`` (the magic's: ``_conversation_db``) keeps every turn on disk, so
a conversation continues after a kernel restart; if the store cannot be opened or written, it
says so once and carries on in memory (an answer is never lost).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class TurnStore(Protocol):
    """Where a store keeps its turns beyond the kernel (``_conversation_db.ConversationDB``)."""

    path: Any
    notebook: str

    def turns(self, name: str) -> list[Turn]: ...
    def record(self, name: str, turn: Turn) -> tuple[list[Turn], int]: ...
    def delete(self, name: str | None) -> None: ...
    def names(self) -> list[str]: ...
    def close(self) -> None: ...


#: Providers whose endpoint keeps earlier reasoning unless told otherwise (GLM's coding endpoint).
PRESERVED_BY_DEFAULT = frozenset({"zai-coding"})


def preserves_thinking(provider: str, options: Mapping[str, Any]) -> bool:
    """True when earlier assistant turns are sent with their ``reasoning_content``.

    ``clear_thinking`` decides when set (as an option, or inside a ``thinking`` wire dict);
    unset, it is GLM's default for the endpoint: preserved on ``zai-coding``, cleared elsewhere
    (bigmodel, zai, OpenAI-compatible and local servers).
    """
    clear = options.get("clear_thinking")
    thinking = options.get("thinking")
    if clear is None and isinstance(thinking, Mapping):
        clear = thinking.get("clear_thinking")
    if isinstance(clear, bool):
        return not clear
    return provider in PRESERVED_BY_DEFAULT


def without_earlier_reasoning(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with ``reasoning_content`` dropped from the assistant turns before the last
    user message (cleared thinking). The turns after it (this answer's tool calls) keep theirs:
    interleaved thinking needs them. Messages are copied, never changed in place."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    out = []
    for i, m in enumerate(messages):
        if i < last_user and m.get("role") == "assistant" and "reasoning_content" in m:
            m = {k: v for k, v in m.items() if k != "reasoning_content"}
        out.append(m)
    return out


@dataclass
class Turn:
    """One question and its answer (``replies``: the messages after the question, as exchanged)."""

    key: str
    user: Any  # the question as sent: text, or a list of parts (text with context blocks, images)
    assistant: str
    reasoning: str = ""  # all the answer's reasoning, for %glm history --reasoning
    replies: list[dict[str, Any]] | None = None  # None: one assistant message from text + reasoning
    created: float = field(default_factory=time.time)

    def user_text(self) -> str:
        """The question for ``%glm history``: its text parts, an image as ``[image]``."""
        if isinstance(self.user, str):
            return self.user
        return "\n".join(
            p.get("text", "") if p.get("type") == "text" else "[image]"
            for p in self.user
            if isinstance(p, dict)
        )

    def sent(self, *, preserved: bool) -> list[dict[str, Any]]:
        """The turn's messages in a later request: all of them with their reasoning (preserved),
        else the question and the answer's text."""
        question = {"role": "user", "content": self.user}
        if not preserved:
            return [question, {"role": "assistant", "content": self.assistant}]
        if self.replies is not None:
            return [question, *(dict(m) for m in self.replies)]
        answer: dict[str, Any] = {"role": "assistant", "content": self.assistant}
        if self.reasoning:
            answer["reasoning_content"] = self.reasoning
        return [question, answer]


def replies_after_question(exchange: list[dict[str, Any]], questions: int) -> list[dict[str, Any]]:
    """The messages of ``exchange`` (a tool loop's ``result.messages``) after its ``questions``-th
    user message: this answer's assistant and tool turns, as sent and received."""
    seen = 0
    for i, m in enumerate(exchange):
        if m.get("role") == "user":
            seen += 1
            if seen == questions:
                return [dict(m) for m in exchange[i + 1 :]]
    return []


def place(turns: list[Turn], turn: Turn) -> tuple[list[Turn], int]:
    """``turns`` with ``turn`` added: replacing the turn with its key (dropping the later ones) or
    appended. Returns the new list and how many turns were dropped."""
    for i, t in enumerate(turns):
        if t.key == turn.key:
            return [*turns[:i], turn], len(turns) - i - 1
    return [*turns, turn], 0


@dataclass
class Conversation:
    """An ordered list of turns; ``messages(prompt)`` builds the request history."""

    name: str
    turns: list[Turn] = field(default_factory=list)
    store: ConversationStore | None = field(default=None, repr=False, compare=False)

    def messages(
        self, prompt: Any, *, replacing: str | None = None, preserved: bool = False
    ) -> list[dict[str, Any]]:
        """History for a new question; when ``replacing`` a cell's turn, only the turns before it.
        ``preserved``: earlier turns go with their reasoning and tool messages, unmodified."""
        turns = self.turns
        if replacing is not None:
            keys = [t.key for t in turns]
            if replacing in keys:
                turns = turns[: keys.index(replacing)]
        out: list[dict[str, Any]] = []
        for t in turns:
            out.extend(t.sent(preserved=preserved))
        out.append({"role": "user", "content": prompt})
        return out

    def record(
        self,
        user: Any,
        assistant: str,
        *,
        key: str | None = None,
        reasoning: str = "",
        replies: list[dict[str, Any]] | None = None,
    ) -> int:
        """Store a turn; a turn with the key of an earlier one replaces it and drops later turns.

        Dropping the later turns keeps the history consistent with what the model saw: they were
        answered in the context of the old turn. Returns the number of turns dropped.
        """
        # A random key: an anonymous turn must never match one stored before a restart.
        turn = Turn(key or f"anon-{uuid.uuid4().hex}", user, assistant, reasoning, replies)
        saved = self.store.saved(self.name, turn) if self.store is not None else None
        if saved is not None:
            self.turns, dropped = saved
            return dropped
        self.turns, dropped = place(self.turns, turn)
        return dropped

    def clear(self) -> None:
        self.turns = []
        if self.store is not None:
            self.store.forget(self.name)


@dataclass(frozen=True)
class ChatSummary:
    """One line of ``%glm chats``."""

    name: str
    turns: int
    last_used: float | None


class ConversationStore:
    """All named conversations of a session; with ``opener``, also on disk (see the module doc).

    ``opener`` is called at each use until it returns the on-disk store (None: not now, memory
    only); once it has, or once it has failed, it is not called again.
    """

    def __init__(self, opener: Callable[[], TurnStore | None] | None = None) -> None:
        self._conversations: dict[str, Conversation] = {}
        self._opener = opener
        self._db: TurnStore | None = None
        self._broken = False

    # -- the disk, each use guarded: a failure warns once and leaves memory in charge ----------

    def _disk(self) -> TurnStore | None:
        if self._db is None and self._opener is not None and not self._broken:
            self._db = self._guard(self._opener)
        return self._db

    def _guard(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError, a corrupt file: all degrade
            db, self._db, self._broken = self._db, None, True
            where = f" ({db.path})" if db is not None else ""
            print(
                f"glm_notebook: cannot use the conversation store{where}: {type(exc).__name__}: {exc}. "
                "Conversations are kept in memory only from now on and will not survive a kernel "
                "restart (set GLM_NOTEBOOK_CACHE to a writable file to keep them).",
                file=sys.stderr,
            )
            if db is not None:
                db.close()
            return None

    def reopen(self) -> None:
        """Open the disk store again at next use (after ``GLMMagics.keep_chats`` changed)."""
        if self._db is not None:
            self._db.close()
        self._db, self._broken = None, False

    def saved(self, name: str, turn: Turn) -> tuple[list[Turn], int] | None:
        """Write ``turn`` to disk (one transaction); the conversation's turns after it and how many
        were dropped, or None when there is no disk store (the caller places it in memory)."""
        db = self._disk()
        return None if db is None else self._guard(lambda: db.record(name, turn))

    def forget(self, name: str | None) -> None:
        db = self._disk()
        if db is not None:
            self._guard(lambda: db.delete(name))

    def _loaded(self, name: str) -> list[Turn] | None:
        db = self._disk()
        return None if db is None else self._guard(lambda: db.turns(name))

    # -- the public surface ------------------------------------------------------------------

    def get(self, name: str) -> Conversation:
        """The conversation ``name``, created empty if there is none (for asking in it); its turns
        are read from disk first (another kernel of the notebook may have added some)."""
        if name not in self._conversations:
            self._conversations[name] = Conversation(name, store=self)
        conversation = self._conversations[name]
        turns = self._loaded(name)
        if turns is not None:
            conversation.turns = turns
        return conversation

    def find(self, name: str) -> Conversation | None:
        """The conversation ``name``, or None: looking never creates one (``%glm history TYPO``)."""
        if name in self._conversations or self._loaded(name):
            return self.get(name)
        return None

    def names(self) -> list[str]:
        db = self._disk()
        on_disk = self._guard(db.names) if db is not None else None
        return list(dict.fromkeys([*(on_disk or []), *self._conversations]))

    def chats(self) -> list[ChatSummary]:
        """Every conversation: its name, number of turns and when it was last asked in."""
        out = []
        for name in self.names():
            turns = self.get(name).turns
            out.append(ChatSummary(name, len(turns), max((t.created for t in turns), default=None)))
        return out

    @property
    def location(self) -> str | None:
        """Where the conversations are kept (the SQLite file), or None in memory."""
        db = self._disk()
        return None if db is None else f"{db.path} (notebook {db.notebook})"

    def reset(self, name: str | None = None) -> None:
        if name is None:
            self._conversations.clear()
        else:
            self._conversations.pop(name, None)
        self.forget(name)
