"""What ``%%glm --context a,b`` and ``--image x`` attach: objects from the user's namespace.

Only the choosing happens here; what the model sees of each object (``glm.describe``) and the
image checks are the client layer's (``context/_attach``, ``context/_images``). Every mistake is a UsageError
raised before anything is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError


def secret_values(namespace: Mapping[str, Any]) -> Callable[[], list[str]]:
    """A source for ``context._sources.add_secret_source``: the strings the user's namespace binds
    to secret-looking names (``api_key = '…'``), and one level down in a dict or an object's
    attributes (``config['password']``, ``cfg.token``), so the masker finds them anywhere,
    such as in an exception message that does not name them. (It is called only when the masker
    runs, so ``%load_ext`` does not load the masker.)"""

    def found(holder: Any) -> list[str]:
        from ..context._text import looks_secret

        items = holder if isinstance(holder, Mapping) else getattr(holder, "__dict__", None)
        if not isinstance(items, Mapping) or len(items) > 1000:
            return []
        return [v for k, v in list(items.items()) if isinstance(v, str) and looks_secret(k)]

    def values() -> list[str]:
        from ..context._text import looks_secret

        out: list[str] = []
        for name, value in list(namespace.items()):
            if name.startswith("_") or isinstance(value, type) or type(value).__name__ == "module":
                continue
            if isinstance(value, str):
                if looks_secret(name):
                    out.append(value)
                continue
            try:  # an object whose attribute lookup raises must not turn the masking off
                out += found(value)
            except Exception:  # noqa: BLE001 - user objects can raise anything
                continue
        return out

    return values


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


def context_from(args: Any, namespace: dict[str, Any], model: str | None) -> dict[str, Any]:
    """The ``context=`` and ``images=`` keywords for the stream (empty when neither flag is given).

    Images are checked and encoded now (``_images``), so a bad one is a UsageError before anything
    is sent; a note on downscaling is printed above the answer."""
    keywords: dict[str, Any] = {}
    names = names_from("--context", getattr(args, "context", None))
    if names:
        keywords["context"] = {name: lookup("--context", name, namespace) for name in names}
    specs = [n for value in getattr(args, "image", None) or [] for n in names_from("--image", value)]
    if specs:
        from .._errors import GLMError
        from ..context._images import image_parts

        try:
            parts, notes = image_parts([_image(spec, namespace) for spec in specs], model=model)
        except GLMError as exc:
            raise UsageError(f"--image: {exc}") from None
        for note in notes:
            print(f"Note: {note}")
        keywords["images"] = parts
    return keywords


def _image(spec: str, namespace: dict[str, Any]) -> Any:
    """One --image value: ``gcf``, a variable, or else an https URL or a path as text."""
    if spec == "gcf" and "gcf" not in namespace:
        return current_figure()
    head = spec.split(".")[0]
    if head.isidentifier() and head in namespace:
        return lookup("--image", spec, namespace)
    if spec.startswith(("https://", "http://")) or Path(spec).expanduser().is_file():
        return spec
    raise UsageError(
        f"--image: {spec!r} is neither a defined variable nor a file; give a variable, a path to a "
        "PNG or JPEG file, an https URL, or gcf for the current matplotlib figure."
    )


def current_figure() -> Any:
    """matplotlib's current figure, if pyplot is in use and it has something drawn."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    figure = pyplot.gcf() if pyplot is not None and pyplot.get_fignums() else None
    if figure is None or not figure.get_axes():
        raise UsageError(
            "--image gcf: there is no current matplotlib figure (the inline backend closes each "
            "cell's figures when it ends): draw a plot first, or keep it with fig = plt.gcf() in "
            "the plotting cell and use --image fig."
        )
    return figure


def show_sent_images(parts: list[dict[str, Any]]) -> None:
    """One small output above the answer: a thumbnail of each image sent (with Pillow) and a line
    naming it, so the saved notebook keeps what was asked about without the full image."""
    import base64

    from IPython.display import display

    from ..context._images import describe_part

    for number, part in enumerate(parts, 1):
        line, thumbnail = describe_part(part, number)
        bundle: dict[str, Any] = {"text/plain": f"[sent {line}]"}
        if thumbnail is not None:
            bundle["image/png"] = base64.b64encode(thumbnail).decode("ascii")
        display(bundle, raw=True)
