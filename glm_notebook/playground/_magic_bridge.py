"""What ``%%glm --tune`` and ``%%glm --compare SPEC [--samples N]`` do, called by the magic.

Owns turning the magic's parsed flags into a Playground or a compare: flags and configured defaults
are the starting values (``--compare`` keys override the same flag), every user mistake is a
one-line UsageError raised before anything is sent, and compare results land in ``_glm`` (a list
of ChatResult) and ``--out VAR``. ``--tune --out VAR`` stores the Playground itself.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .._errors import GLMError
from ._grid import GRID_SYNTAX, parse_grid_spec

__all__ = ["run_from_magic"]

_PASSED_THROUGH = ("seed", "stop", "response_format")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split()).rstrip(".")


def run_from_magic(magics: Any, args: Any, prompt: str, options: dict[str, Any]) -> None:
    """Run ``--tune`` or ``--compare`` for the magic; ``options`` are already validated."""
    if args.tune and args.compare:
        raise UsageError("Use --tune or --compare, not both: --tune opens sliders, --compare runs a grid.")
    if getattr(args, "chat", None):
        raise UsageError("--chat does not combine with --tune or --compare: drop --chat to tune a prompt.")
    out = getattr(args, "out", None)
    if out and not out.isidentifier():
        raise UsageError(f"--out needs a Python variable name, got {out!r}.")
    model = args.model or magics.model
    system = args.system if args.system is not None else magics.system
    client = magics._client()
    if args.tune:
        return _tune(magics, client, prompt, model, system, options, out)
    return _compare(magics, client, args, prompt, model, system, options, out)


def _tune(
    magics: Any,
    client: Any,
    prompt: str,
    model: str | None,
    system: str | None,
    options: dict[str, Any],
    out: str | None,
) -> None:
    if not magics._use_widgets():
        raise UsageError(
            "--tune needs a notebook front end (JupyterLab, Notebook or VS Code); in terminal IPython "
            'use --compare, e.g. --compare "temperature=0.2,1.0".'
        )
    from IPython.display import display

    from ._playground import Playground

    fixed = {k: options[k] for k in _PASSED_THROUGH if options.get(k) is not None}
    try:
        playground = Playground(
            prompt,
            model=model,
            system=system,
            temperature=options.get("temperature"),
            top_p=options.get("top_p"),
            max_tokens=options.get("max_tokens"),
            thinking=options.get("thinking"),
            client=client,
            **fixed,
        )
    except GLMError as exc:
        raise UsageError(_one_line(exc) + ".") from None
    display(playground)
    if out:
        magics.shell.user_ns[out] = playground


def _compare(
    magics: Any,
    client: Any,
    args: Any,
    prompt: str,
    model: str | None,
    system: str | None,
    options: dict[str, Any],
    out: str | None,
) -> None:
    from ._compare import prepare_compare

    fmt = getattr(args, "format", None) or getattr(magics, "format", None)
    try:
        grid = parse_grid_spec(args.compare, client.provider)
        run = prepare_compare(
            prompt,
            grid,
            samples=args.samples,
            model=model,
            system=system,
            client=client,
            fixed=options,
            mode="widget" if magics._use_widgets() else "text",
            show_stop_button=magics._show_stop_button(),
            plain_text=fmt == "text",
        )
    except GLMError as exc:
        raise UsageError(f"Invalid --compare: {_one_line(exc)}. Use {GRID_SYNTAX}.") from None
    results, interrupted = run.execute()
    for panel in run.panels:
        magics.usage.record(panel.result, panel.error if isinstance(panel.error, GLMError) else None)
    magics.shell.user_ns["_glm"] = results
    if out:
        magics.shell.user_ns[out] = results
    if interrupted:
        raise KeyboardInterrupt
    failed = [p.error for p in run.panels if p.error is not None]
    if failed and getattr(magics, "raise_errors", False):
        raise failed[0]
