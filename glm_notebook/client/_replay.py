"""Record and replay: answer files, and the question key every model call is looked up by.

``glm.replay(path, strict=False)`` (also ``%glm replay PATH [--strict]`` and
``GLM_NOTEBOOK_REPLAY`` / ``GLM_NOTEBOOK_REPLAY_STRICT`` at ``%load_ext``) turns it on for the
whole process: every chat request (a plain answer, each turn of a tool loop or schema answer, each
compare panel, each ``glm.map`` row) is made by ``_engine.Exchange``, which asks ``active()``
first. A hit is handed out through the same stream events, at once, and nothing is sent (the
offline model is not even started); a miss is asked as usual and its complete answer appended; a
strict miss raises ``ReplayMissError`` before anything is sent.

What is matched (``question_key``): the messages as sent, the model the caller asked for (None
when it came from the provider's default), and the generation options as sent, including the
tools' JSON schemas, ``tool_choice`` and the output schema. Not matched: the provider, base URL
and key, and what the client adds for a provider: ``stream``, ``tool_stream``, and the form a
schema takes on the wire (cloud: instruction in the system prompt; servers: ``json_schema``;
the offline model: ``json_object`` + schema) - all three count as the same schema.

The file: UTF-8 text, one JSON object a line with sorted keys, appended in the order answers
arrive, never rewritten: a hit writes nothing, so a re-run of an unchanged notebook leaves it
byte-identical. A record holds the key, the answer (text, reasoning, tool calls, usage, finish
reason, response id), the model that answered, when it was recorded (UTC, to the second),
its time to first token and duration, and the start of the question for a reviewer; never the
messages, a header or the key. The same question asked again in a session gets the next
recorded answer for it (so ``--samples 3`` replays three), cycling when there are fewer.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from .._errors import ConfigurationError, ReplayMissError
from .._settings import seen_keys
from .._types import ChatResult
from ..context._text import mask_secrets
from ..tools._schema import INSTRUCTION_HEAD

__all__ = ["AnswerFile", "Question", "active", "replay", "stop", "utc_now"]

MAX_FILE_BYTES = 256 * 1024 * 1024  # an answer file larger than this is refused before reading
_QUESTION_CHARS = 80

#: Set by the notebook layer: names the running cell for a strict miss ("cell [3]"); None in scripts.
describe_caller: Callable[[], str | None] | None = None


@dataclass(frozen=True)
class Question:
    """What a request asks: the caller's model (None: the provider's default), messages, option fields."""

    model: str | None
    messages: list[dict[str, Any]]
    fields: dict[str, Any]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _hash(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _neutral(question: Question) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Messages and options without what the client adds per provider (module docstring)."""
    fields = {k: v for k, v in question.fields.items() if k not in ("stream", "tool_stream")}
    messages = question.messages
    wire = fields.get("response_format")
    if isinstance(wire, dict):
        if isinstance(wire.get("json_schema"), dict) and "schema" in wire["json_schema"]:
            fields["response_format"] = {"schema": wire["json_schema"]["schema"]}
        elif "schema" in wire:
            fields["response_format"] = {"schema": wire["schema"]}
        elif wire.get("type") == "json_object" and messages and messages[0].get("role") == "system":
            content = messages[0].get("content")
            head, found, schema = (
                content.rpartition(INSTRUCTION_HEAD) if isinstance(content, str) else ("", "", "")
            )
            if found:
                try:
                    fields["response_format"] = {"schema": json.loads(schema)}
                except ValueError:
                    pass
                else:
                    head = head.removesuffix("\n\n")
                    rest = messages[1:]
                    messages = [{**messages[0], "content": head}, *rest] if head else rest
    return messages, fields


def question_key(question: Question) -> str:
    """The key a question is recorded and looked up under."""
    messages, fields = _neutral(question)
    return _hash({"messages": messages, "model": question.model, "options": fields})


def stem_key(question: Question) -> str | None:
    """For a question after tool results: its key with those results blanked, so a miss can tell
    that only a tool's result changed. None when the last message is not a tool result."""
    messages = question.messages
    if not messages or messages[-1].get("role") != "tool":
        return None
    cut = len(messages)
    while cut and messages[cut - 1].get("role") == "tool":
        cut -= 1
    blanked = [*messages[:cut], *({**m, "content": ""} for m in messages[cut:])]
    return question_key(Question(question.model, blanked, question.fields))


def _excerpt(question: Question) -> str:
    for message in reversed(question.messages):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, str):
            # The file is committed and reviewed: a key typed into a prompt must not land in it.
            text = " ".join(mask_secrets(content).split())
            return text if len(text) <= _QUESTION_CHARS else text[: _QUESTION_CHARS - 1] + "…"
    return ""


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class AnswerFile:
    """An answer file, loaded once; lookups in memory, misses appended (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str], *, strict: bool = False) -> None:
        self.path = Path(path).expanduser().absolute()
        self.strict = strict
        self._lock = threading.Lock()
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._stems: set[str] = set()
        self._served: dict[str, int] = {}
        self.hits = self.misses = self.recorded = 0
        self._write_warned = False
        if self.path.is_dir():
            raise ConfigurationError(
                f"{self.path} is a folder: give an answer file, e.g. lesson.answers.jsonl."
            )
        if not self.path.parent.is_dir():
            raise ConfigurationError(f"No folder {self.path.parent} for the answer file: create it first.")
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        size = self.path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigurationError(
                f"The answer file {self.path} is {size} bytes, over the {MAX_FILE_BYTES} limit: "
                "split it, one file per notebook."
            )
        with self.path.open("r", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key, answer = record["key"], record["answer"]
                    if not isinstance(key, str) or not isinstance(answer, dict):
                        raise TypeError
                    texts = (answer.get("text"), answer.get("reasoning"), answer.get("finish_reason"))
                    if not all(value is None or isinstance(value, str) for value in texts):
                        raise TypeError  # a hand-edited record: its answer would fail mid-replay
                    if not isinstance(answer.get("tool_calls") or [], list):
                        raise TypeError
                except (ValueError, KeyError, TypeError):
                    raise ConfigurationError(
                        f"Line {number} of the answer file {self.path} is not an answer record: "
                        "fix or delete that line (each line is one JSON object written by glm.replay)."
                    ) from None
                self._index(record)

    def _index(self, record: dict[str, Any]) -> None:
        self._answers.setdefault(record["key"], []).append(record)
        if isinstance(record.get("stem"), str):
            self._stems.add(record["stem"])

    def lookup(self, question: Question) -> dict[str, Any] | None:
        """The recorded answer for ``question``, or None (a miss, which may then be recorded).

        Raises ``ReplayMissError`` on a strict miss."""
        key = question_key(question)
        with self._lock:
            answers = self._answers.get(key)
            if answers:
                n = self._served.get(key, 0)
                self._served[key] = n + 1
                self.hits += 1
                return answers[n % len(answers)]
            self.misses += 1
        if self.strict:
            raise ReplayMissError(self._miss_message(question))
        return None

    def tool_results_differ(self, question: Question) -> bool:
        """True when this missed question differs from a recorded one only in its tool results."""
        stem = stem_key(question)
        return stem is not None and stem in self._stems

    def _miss_message(self, question: Question) -> str:
        where = describe_caller() if describe_caller is not None else None
        asked = _excerpt(question)
        what = f"{where} ({asked!r})" if where and asked else (where or repr(asked) or "this request")
        why = (
            " a tool's result differs from the recording, so the next turn is a new question;"
            if self.tool_results_differ(question)
            else ""
        )
        return (
            f"Not in the answer file {self.path.name} (strict replay, nothing was sent): {what}.{why} "
            f"To record it, run it with replay on but not strict (%glm replay {self.path.name}, or "
            "glm.replay(path)) where a model can answer; the answer is appended to the file."
        )

    def record(self, question: Question, result: ChatResult) -> None:
        """Append a complete live answer (nothing else is recorded)."""
        if not result.complete or result.error is not None or result.stopped:
            return
        record = {
            "key": question_key(question),
            "asked_model": question.model,
            "model": result.model,
            "created": result.origin.created or utc_now(),
            "provider": result.origin.provider,
            "question": _excerpt(question),
            "ttft_s": None if result.metrics.ttft_s is None else round(result.metrics.ttft_s, 3),
            "duration_s": None if result.metrics.duration_s is None else round(result.metrics.duration_s, 3),
            "answer": _answer_of(result),
        }
        stem = stem_key(question)
        if stem is not None:
            record["stem"] = stem
        line = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str) + "\n"
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in the model's text: escaped, still one line
            line = json.dumps(record, sort_keys=True, ensure_ascii=True, default=str) + "\n"
        if any(len(key) >= 8 and key in line for key in seen_keys()):
            # the model repeated an API key this process holds: such an answer is never written to
            # a file that is committed and shared (it is still shown, and asked again next time)
            warnings.warn(
                f"An answer holding an API key was not recorded in {self.path}.", RuntimeWarning, stacklevel=2
            )
            return
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line)
            except OSError as exc:  # the answer is paid for and shown: keep it, say once why not recorded
                if not self._write_warned:
                    self._write_warned = True
                    warnings.warn(
                        f"The answer file {self.path} cannot be written ({exc}): this answer and later "
                        "misses are not recorded. Free space or fix its permissions, then run again.",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                return
            self._index(json.loads(line))
            self.recorded += 1

    def __repr__(self) -> str:
        mode = "strict" if self.strict else "recording misses"
        count = sum(len(v) for v in self._answers.values())
        return f"AnswerFile({str(self.path)!r}, {mode}, {count} answers)"


def _answer_of(result: ChatResult) -> dict[str, Any]:
    usage = result.usage
    answer: dict[str, Any] = {
        "text": result.text,
        "reasoning": result.reasoning or None,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls],
        "finish_reason": result.finish_reason,
        "id": result.id,
        "usage": None
        if usage is None
        else {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cached_tokens": usage.cached_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
        },
    }
    try:
        json.dumps(result.extras)
    except (TypeError, ValueError):
        pass
    else:
        if result.extras:
            answer["extras"] = result.extras
    return answer


def completion_of(record: dict[str, Any]) -> dict[str, Any]:
    """A recorded answer as a whole ``chat.completion`` body (``StreamState.feed_completion`` reads it)."""
    answer = record["answer"]
    usage = answer.get("usage")
    wire_usage = None
    if isinstance(usage, dict):
        wire_usage = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        if usage.get("reasoning_tokens") is not None:
            wire_usage["completion_tokens_details"] = {"reasoning_tokens": usage["reasoning_tokens"]}
        if usage.get("cached_tokens") is not None:
            wire_usage["prompt_tokens_details"] = {"cached_tokens": usage["cached_tokens"]}
    calls = [
        {
            "id": c.get("id"),
            "type": "function",
            "function": {"name": c.get("name"), "arguments": c.get("arguments")},
        }
        for c in answer.get("tool_calls") or []
    ]
    message = {
        "content": answer.get("text") or None,
        "reasoning_content": answer.get("reasoning"),
        "tool_calls": calls,
    }
    extras = answer.get("extras") if isinstance(answer.get("extras"), dict) else {}
    return {
        **extras,
        "id": answer.get("id"),
        "model": record.get("model"),
        "usage": wire_usage,
        "choices": [{"message": message, "finish_reason": answer.get("finish_reason")}],
    }


# -- the process-wide switch ---------------------------------------------------------------------

_active: AnswerFile | None = None
_switch = threading.Lock()


def active() -> AnswerFile | None:
    """The answer file in use, or None when replay is off."""
    return _active


def stop() -> None:
    """Turn replay off (``%glm replay off``)."""
    global _active
    with _switch:
        _active = None


class Replay:
    """What ``glm.replay()`` returns: replay is on from the call; ``with`` turns it back to what it
    was at the end of the block; ``off()`` turns it off. ``file`` is the ``AnswerFile``."""

    def __init__(self, file: AnswerFile, previous: AnswerFile | None) -> None:
        self.file = file
        self._previous = previous

    def off(self) -> None:
        global _active
        with _switch:
            if _active is self.file:
                _active = None

    def __enter__(self) -> Replay:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        global _active
        with _switch:
            if _active is self.file:
                _active = self._previous

    def __repr__(self) -> str:
        return f"Replay({self.file!r})"


def replay(path: str | os.PathLike[str], strict: bool = False) -> Replay:
    """Answer every model call of this process from the answer file at ``path`` when it has the
    question; otherwise ask and append the answer, or with ``strict=True`` send nothing and raise
    ``ReplayMissError``. A missing file is created at the first recorded answer. See the README."""
    global _active
    file = AnswerFile(path, strict=bool(strict))
    with _switch:
        previous, _active = _active, file
    return Replay(file, previous)
