"""Text helpers every ``describe`` uses: cutting to a budget, stripping terminal codes, and
keeping secrets out of what the model is sent (``looks_secret``, ``mask_secrets``)."""

from __future__ import annotations

import os
import re

from .._settings import mask_key

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def looks_secret(name: object) -> bool:
    """True for a name such as ``ZAI_API_KEY``, ``token``, ``db_password``."""
    return isinstance(name, str) and bool(_SECRET_NAME.search(name))


def truncate_middle(text: str, budget: int, *, unit: str = "characters") -> str:
    """``text`` cut in the middle to at most ``budget`` characters, saying how much was left out."""
    if len(text) <= budget:
        return text
    note_len = len(f"\n[{len(text):,} {unit} left out of {len(text):,}]\n")
    keep = max(budget - note_len, 0)
    head = keep * 2 // 3  # the start usually says more than the end
    tail = keep - head
    left_out = len(text) - head - tail
    note = f"\n[{left_out:,} {unit} left out of {len(text):,}]\n"
    return text[:head] + note + (text[len(text) - tail :] if tail else "")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes (IPython tracebacks are full of them)."""
    return _ANSI.sub("", text)


def mask_secrets(text: str) -> str:
    """Replace the value of any secret-looking environment variable with its masked form."""
    for name, value in os.environ.items():
        if looks_secret(name) and len(value) >= 8 and value in text:
            text = text.replace(value, mask_key(value))
    return text
