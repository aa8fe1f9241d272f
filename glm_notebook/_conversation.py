"""Chat memory: named conversations whose turns are keyed by the cell that asked them.

Re-running a cell replaces that cell's earlier turn (and keeps its place in the history) instead
of appending a duplicate; a turn without a cell id (plain Python, terminal IPython) is appended.
Re-running an *earlier* cell drops the turns after it: they answered the old version, and the
re-run was asked without them. ``record`` returns how many it dropped, so the magic says so.
Looking a conversation up (``find``) never creates it; only asking in it (``get``) does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

_anonymous = itertools.count()


@dataclass
class Turn:
    """One question and its answer."""

    key: str
    user: Any  # the question as sent: text, or a list of parts (text with context blocks, images)
    assistant: str

    def user_text(self) -> str:
        """The question for ``%glm history``: its text parts, an image as ``[image]``."""
        if isinstance(self.user, str):
            return self.user
        return "\n".join(
            p.get("text", "") if p.get("type") == "text" else "[image]"
            for p in self.user
            if isinstance(p, dict)
        )


@dataclass
class Conversation:
    """An ordered list of turns; ``messages(prompt)`` builds the request history."""

    name: str
    turns: list[Turn] = field(default_factory=list)

    def messages(self, prompt: str, *, replacing: str | None = None) -> list[dict[str, Any]]:
        """History for a new question; when ``replacing`` a cell's turn, only the turns before it."""
        turns = self.turns
        if replacing is not None:
            keys = [t.key for t in turns]
            if replacing in keys:
                turns = turns[: keys.index(replacing)]
        out: list[dict[str, Any]] = []
        for t in turns:
            out.append({"role": "user", "content": t.user})
            out.append({"role": "assistant", "content": t.assistant})
        out.append({"role": "user", "content": prompt})
        return out

    def record(self, user: Any, assistant: str, *, key: str | None = None) -> int:
        """Store a turn; a turn with the key of an earlier one replaces it and drops later turns.

        Dropping the later turns keeps the history consistent with what the model saw: they were
        answered in the context of the old turn. Returns the number of turns dropped.
        """
        key = key or f"anon-{next(_anonymous)}"
        for i, t in enumerate(self.turns):
            if t.key == key:
                dropped = len(self.turns) - i - 1
                self.turns[i:] = [Turn(key, user, assistant)]
                return dropped
        self.turns.append(Turn(key, user, assistant))
        return 0

    def clear(self) -> None:
        self.turns.clear()


class ConversationStore:
    """All named conversations of a session."""

    def __init__(self) -> None:
        self._conversations: dict[str, Conversation] = {}

    def get(self, name: str) -> Conversation:
        """The conversation ``name``, created empty if there is none (for asking in it)."""
        if name not in self._conversations:
            self._conversations[name] = Conversation(name)
        return self._conversations[name]

    def find(self, name: str) -> Conversation | None:
        """The conversation ``name``, or None: looking never creates one (``%glm history TYPO``)."""
        return self._conversations.get(name)

    def names(self) -> list[str]:
        return list(self._conversations)

    def reset(self, name: str | None = None) -> None:
        if name is None:
            self._conversations.clear()
        else:
            self._conversations.pop(name, None)
