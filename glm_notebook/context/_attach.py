"""Notebook objects and images in a prompt: ``chat(prompt, context={...}, images=[...])``.

Each object in ``context`` becomes one labelled block, ``describe(obj)`` inside
``<context name="df">`` … ``</context>``, put before the text of the (last) user message, so the
question comes last and the model reads what it is about first. Images become ``image_url`` parts
of that message (``_images``). Both clients call ``attach`` from ``ClientBase``, before anything is
sent, so a bad name or image fails at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import InvalidOptionError
from .._types import Prompt
from ._describe import DEFAULT_BUDGET, describe_bound

__all__ = ["attach", "context_text"]


def context_text(context: Mapping[str, Any], *, budget: int = DEFAULT_BUDGET) -> str:
    """The labelled blocks for ``context`` (name → object), each described within ``budget``
    (``describe_bound``: an object under a secret-looking name is masked)."""
    if not isinstance(context, Mapping):
        raise InvalidOptionError(
            f"context= takes a dict of names to objects, e.g. context={{'df': df}}; got {type(context).__name__}."
        )
    blocks = []
    for name, obj in context.items():
        if not isinstance(name, str) or not name.strip() or any(c in name for c in '"<>\n'):
            raise InvalidOptionError(f"context= names must be short labels such as 'df', got {name!r}.")
        blocks.append(f'<context name="{name}">\n{describe_bound(name, obj, budget=budget)}\n</context>')
    return "\n\n".join(blocks)


def attach(
    prompt: Prompt,
    *,
    context: Mapping[str, Any] | None = None,
    images: Sequence[Any] | None = None,
    model: str | None = None,
) -> Prompt:
    """``prompt`` with the context blocks and image parts added to its last user message."""
    if isinstance(prompt, str) and not prompt.strip():
        return prompt  # build_messages says the prompt is empty
    prefix = context_text(context) if context else ""
    parts: list[dict[str, Any]] = []
    if images is not None:
        from ._images import image_parts

        if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
            images = [images]  # one image given without a list
        parts, notes = image_parts(images, model=model)
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=4)
    if not prefix and not parts:
        return prompt
    messages: list[dict[str, Any]] = (
        [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    )
    users = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise InvalidOptionError("context= and images= go with a user message: the messages have none.")
    message = messages[users[-1]]
    content = message.get("content")
    if isinstance(content, str):
        text = f"{prefix}\n\n{content}" if prefix else content
        message["content"] = [*parts, {"type": "text", "text": text}] if parts else text
    else:  # already a list of parts: the blocks go first as a text part
        listed = list(content or [])
        message["content"] = [*parts, *([{"type": "text", "text": prefix}] if prefix else []), *listed]
    return messages
