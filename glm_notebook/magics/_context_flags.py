"""What ``%%glm --context a,b`` and ``--image x`` attach: objects from the user's namespace.

Only the choosing happens here; what the model sees of each object (``glm.describe``) and the
image checks are the client layer's (``_context``, ``_images``). Every mistake is a UsageError
raised before anything is sent.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError


def names_from(flag: str, value: str | None) -> list[str]:
    """``"df, f"`` → ``["df", "f"]``; an empty or malformed list is a UsageError."""
    if value is None:
        return []
    names = [n.strip() for n in value.split(",")]
    if not all(names):
        raise UsageError(f"{flag} takes variable names separated by commas, e.g. {flag} df,f")
    return names


def lookup(flag: str, name: str, namespace: dict[str, Any]) -> Any:
    """The variable ``name`` (dotted names such as ``results.best`` too), else a UsageError."""
    head, *rest = name.split(".")
    if not head.isidentifier() or head not in namespace:
        raise UsageError(f"{flag}: {name!r} is not a defined variable; run the cell that defines it first.")
    value = namespace[head]
    for attribute in rest:
        try:
            value = getattr(value, attribute)
        except AttributeError:
            raise UsageError(f"{flag}: {name!r} has no attribute {attribute!r}.") from None
    return value


def context_from(args: Any, namespace: dict[str, Any]) -> dict[str, Any]:
    """The ``context=`` keyword for the stream (empty when --context is not given)."""
    names = names_from("--context", getattr(args, "context", None))
    if not names:
        return {}
    return {"context": {name: lookup("--context", name, namespace) for name in names}}
