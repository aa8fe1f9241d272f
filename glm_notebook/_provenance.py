"""Provenance: the small dict saying what produced an answer, kept in a saved answer's output
metadata under ``glm_notebook`` (and given by ``ChatResult.provenance`` / ``_glm.provenance``).

Keys (DESIGN.md): ``model``, ``provider``, ``options`` (as sent, see below), ``usage`` (with
cached and reasoning tokens when the server reported them), ``cost`` (USD, or None), ``finish_reason``,
``id`` (the response id), ``created`` (UTC ISO 8601: when asked; for a replayed answer when it was
recorded), ``version`` (glm_notebook's), ``ttft_s``, ``duration_s``, ``replayed``; plus
``messages_sha256`` (the first 16 hex digits of the hash of the messages as sent).

It stays a few hundred bytes: the options are the payload's fields as sent except ``messages``,
``model`` and ``stream``; tools are listed by name, a ``response_format`` by its type, and any
other value longer than 200 characters as its hash. Never the key (it is only ever in a header),
never the messages.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# A ChatResult (``_types``), which imports this module for its ``provenance`` property: annotated
# loosely here so the import runs one way only.
ChatResult = Any

METADATA_KEY = "glm_notebook"
_LONG = 200


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _options(request: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in request.items():
        if name in ("messages", "model", "stream"):
            continue
        if name == "tools" and isinstance(value, list):
            value = [
                (t.get("function") or {}).get("name") or t.get("type") if isinstance(t, dict) else str(t)
                for t in value
            ]
        elif name == "response_format" and isinstance(value, dict):
            value = {"type": value.get("type")}
        elif len(json.dumps(value, default=str)) > _LONG:
            value = {"sha256": _digest(value)}
        shown[name] = value
    return shown


def _usage(result: ChatResult) -> dict[str, int] | None:
    usage = result.usage
    if usage is None:
        return None
    fields = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.cached_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def provenance_of(result: ChatResult) -> dict[str, Any]:
    """The provenance dict of one answer (see the module docstring)."""
    from ._version import __version__

    request = result.request or {}
    cost = result.cost
    return {
        "model": result.model or request.get("model"),
        "provider": result.origin.provider,
        "options": _options(request),
        "usage": _usage(result),
        "cost": None if cost is None else round(cost, 8),
        "finish_reason": result.finish_reason,
        "id": result.id,
        "created": result.origin.created,
        "version": __version__,
        "ttft_s": _seconds(result.metrics.ttft_s),
        "duration_s": _seconds(result.metrics.duration_s),
        "replayed": result.origin.replayed,
        "messages_sha256": _digest(result.messages or request.get("messages") or []),
    }


def output_metadata(results: list[ChatResult]) -> dict[str, Any]:
    """The ``metadata`` of a display message carrying these answers: one answer's provenance, or
    for a compare (several answers in one output) the first one's with every one under ``panels``."""
    if not results:
        return {}
    entry = provenance_of(results[0])
    if len(results) > 1:
        entry["panels"] = [provenance_of(r) for r in results]
    return {METADATA_KEY: entry}
