"""The %glm sub-commands: config, models, reset, history, chats, usage, help (usage totals: ``_run``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from .._conversation import Conversation
from .._errors import GLMError
from .._options import FLAG_OPTIONS
from .._terminal import terminal_safe

if TYPE_CHECKING:
    from ._magics import GLMMagics

HELP = """\
%%glm [flags]        the cell is the prompt; the answer streams below (%%glm? lists every flag)
%glm <prompt>        a one-line prompt (flags may come first; do not end it with ?, IPython reads that as help)
%glm config          provider, base URL, model, masked key and the configured defaults
%glm models          the models the server lists
%glm reset [NAME]    forget one conversation (or all of this notebook's), also on disk
%glm history [NAME] [--reasoning]  a conversation's turns with their dates (and kept reasoning)
%glm chats           this notebook's conversations: name, turns, last used
%glm usage           calls, tokens and cost per model in this session
%glm fix [--code]    explain the last error; --code puts the fixed cell below
%glm replay PATH [--strict]   answer from a recorded answer file (misses asked and appended); %glm replay off
Defaults: %config GLMMagics.model = "glm-5"   (also temperature, top_p, max_tokens, system, ...)
Keys: set ZHIPUAI_API_KEY (bigmodel) or ZAI_API_KEY (z.ai), in the environment or a .env file;
with no key, the offline model answers."""


class LineCommands:
    """Dispatch for ``%glm <command>``."""

    NAMES = ("config", "models", "reset", "history", "chats", "usage", "help", "fix", "replay")

    def __init__(self, magics: GLMMagics) -> None:
        self.magics = magics

    def run(self, name: str, rest: str) -> None:
        getattr(self, f"cmd_{name}")(rest.strip())

    def cmd_help(self, rest: str) -> None:
        print(HELP)

    def cmd_config(self, rest: str) -> None:
        client = self.magics.shared_client()
        s = client.settings
        m = self.magics
        base = s.base_url or "(offline model, started on first use)"
        print(
            f"provider  {s.provider}\nbase URL  {base}\nmodel     {m.model or s.model or '(server default)'}"
        )
        print(f"API key   {s.masked_key}")
        defaults = {n: getattr(m, n) for n in (*FLAG_OPTIONS, "system", "format")}
        print("defaults  " + ", ".join(f"{k}={v!r}" for k, v in defaults.items() if v is not None))
        print(
            "change    %config GLMMagics.<name> = value  |  keys: ZHIPUAI_API_KEY, ZAI_API_KEY, GLM_BASE_URL"
        )

    def cmd_models(self, rest: str) -> None:
        client = self.magics.shared_client()
        try:
            names = client.models()
        except GLMError as exc:
            raise UsageError(str(exc)) from None
        print("\n".join(terminal_safe(n) for n in names) if names else "The server lists no models.")

    def cmd_reset(self, rest: str) -> None:
        if rest:
            self._conversation(rest)  # a typo is said, not "cleared"
        self.magics.conversations.reset(rest or None)
        print(f"Conversation {rest!r} cleared." if rest else "All conversations cleared.")

    def cmd_history(self, rest: str) -> None:
        words = rest.split()
        reasoning = "--reasoning" in words
        names = [w for w in words if w != "--reasoning"]
        if len(names) > 1 or any(w.startswith("-") for w in names):
            raise UsageError("Usage: %glm history [NAME] [--reasoning]")
        store = self.magics.conversations
        conversations = [self._conversation(names[0])] if names else [store.get(n) for n in store.names()]
        if not conversations:
            print("No conversations yet: use %%glm --chat NAME.")
        for conversation in conversations:
            turns = conversation.turns
            print(f"== {conversation.name} ({len(turns)} turns)")
            for number, t in enumerate(turns, 1):  # stored model text: no control sequences
                print(f"-- turn {number}, {_when(t.created)}")
                print(f"user: {terminal_safe(t.user_text())}")
                if reasoning and t.reasoning:
                    print(f"reasoning: {terminal_safe(t.reasoning)}")
                print(f"assistant: {terminal_safe(t.assistant)}\n")

    def cmd_chats(self, rest: str) -> None:
        if rest:
            raise UsageError("%glm chats takes no arguments: it lists this notebook's conversations.")
        store = self.magics.conversations
        chats = store.chats()
        where = store.location or "memory only (they end with the kernel)"
        if not chats:
            print(f"No conversations yet: use %%glm --chat NAME.  Kept in: {where}")
            return
        width = max(len(c.name) for c in chats)
        print(f"{'name'.ljust(width)}  turns  last used")
        for c in chats:
            print(f"{c.name.ljust(width)}  {c.turns:5}  {_when(c.last_used)}")
        print(f"Kept in: {where}")

    def _conversation(self, name: str) -> Conversation:
        """The conversation called ``name``; a name never used is a UsageError (nothing is created)."""
        conversation = self.magics.conversations.find(name)
        if conversation is None:
            known = ", ".join(repr(n) for n in self.magics.conversations.names()) or "none yet"
            raise UsageError(
                f"No conversation named {name!r} (known: {known}); start one with %%glm --chat {name}."
            )
        return conversation

    def cmd_usage(self, rest: str) -> None:
        print(self.magics.usage.report())

    def cmd_replay(self, rest: str) -> None:
        from ._replay_command import replay_command

        replay_command(rest)

    def cmd_fix(self, rest: str) -> None:
        """``%glm fix [--code] [flags] [your words]``: %%glm --fix on one line."""
        from ._magics import _parse_flags, _split_line_flags

        flags, words = _split_line_flags(rest, self.magics.parser)
        flags = " ".join("--format code" if f == "--code" else f for f in flags.split())
        self.magics.run_prompt(_parse_flags(self.magics.glm, f"--fix {flags}"), words)


def _when(created: float | None) -> str:
    """A turn's time for people: local date and time to the second."""
    return "-" if created is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
