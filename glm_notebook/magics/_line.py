"""The %glm sub-commands (config, models, reset, history, usage, help) and session usage totals."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from .._errors import GLMError
from .._types import ChatResult

if TYPE_CHECKING:
    from ._magics import GLMMagics

HELP = """\
%%glm [flags]        the cell is the prompt; the answer streams below (%%glm? lists every flag)
%glm <prompt>        a one-line prompt (flags may come first; do not end it with ?, IPython reads that as help)
%glm config          provider, base URL, model, masked key and the configured defaults
%glm models          the models the server lists
%glm reset [NAME]    forget one conversation (or all)
%glm history [NAME]  show a conversation's turns
%glm usage           requests and tokens used in this session
Defaults: %config GLMMagics.model = "glm-5"   (also temperature, top_p, max_tokens, system, ...)
Keys: set ZHIPUAI_API_KEY (bigmodel) or ZAI_API_KEY (z.ai), in the environment or a .env file;
with no key, the offline model answers."""


@dataclass
class SessionUsage:
    """Requests and tokens this session, per model (tokens only when the server reported them)."""

    requests: int = 0
    failed: int = 0
    stopped: int = 0
    by_model: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def record(self, result: ChatResult, error: GLMError | None) -> None:
        self.requests += 1
        self.failed += error is not None
        self.stopped += result.stopped
        counts = self.by_model[result.model or "?"]
        counts[0] += 1
        if result.usage:
            counts[1] += result.usage.prompt_tokens
            counts[2] += result.usage.completion_tokens

    def report(self) -> str:
        lines = [f"{self.requests} requests this session ({self.failed} failed, {self.stopped} stopped)"]
        for model, (n, prompt, completion) in self.by_model.items():
            lines.append(f"  {model}: {n} requests, {prompt} prompt + {completion} completion tokens")
        return "\n".join(lines)


class LineCommands:
    """Dispatch for ``%glm <command>``."""

    NAMES = ("config", "models", "reset", "history", "usage", "help")

    def __init__(self, magics: GLMMagics) -> None:
        self.magics = magics

    def run(self, name: str, rest: str) -> None:
        getattr(self, f"cmd_{name}")(rest.strip())

    def cmd_help(self, rest: str) -> None:
        print(HELP)

    def cmd_config(self, rest: str) -> None:
        client = self.magics._client()
        s = client.settings
        m = self.magics
        base = s.base_url or "(offline model, started on first use)"
        print(
            f"provider  {s.provider}\nbase URL  {base}\nmodel     {m.model or s.model or '(server default)'}"
        )
        print(f"API key   {s.masked_key}")
        defaults = {
            n: getattr(m, n) for n in ("temperature", "top_p", "max_tokens", "system", "thinking", "format")
        }
        print("defaults  " + ", ".join(f"{k}={v!r}" for k, v in defaults.items() if v is not None))
        print(
            "change    %config GLMMagics.<name> = value  |  keys: ZHIPUAI_API_KEY, ZAI_API_KEY, GLM_BASE_URL"
        )

    def cmd_models(self, rest: str) -> None:
        client = self.magics._client()
        try:
            names = client.models()
        except GLMError as exc:
            raise UsageError(str(exc)) from None
        print("\n".join(names) if names else "The server lists no models.")

    def cmd_reset(self, rest: str) -> None:
        self.magics.conversations.reset(rest or None)
        print(f"Conversation {rest!r} cleared." if rest else "All conversations cleared.")

    def cmd_history(self, rest: str) -> None:
        store = self.magics.conversations
        names = [rest] if rest else store.names()
        if not names:
            print("No conversations yet: use %%glm --chat NAME.")
        for name in names:
            turns = store.get(name).turns
            print(f"== {name} ({len(turns)} turns)")
            for t in turns:
                print(f"user: {t.user}\nassistant: {t.assistant}\n")

    def cmd_usage(self, rest: str) -> None:
        print(self.magics.usage.report())
