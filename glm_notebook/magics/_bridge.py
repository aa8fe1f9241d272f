"""What ``%%glm --tune`` and ``%%glm --compare SPEC [--samples N]`` do, called by GLMMagics.

Owns turning the magic's parsed flags into a Playground or a compare: flags and configured defaults
are the starting values (``--compare`` keys override the same flag), every user mistake is a
one-line UsageError raised before anything is sent. A compare's results land in ``_glm`` (a list
of ChatResult) and ``--out VAR`` in a ``finally``, so an interrupted compare keeps its partial
answers; ``--tune --out VAR`` stores the Playground itself. The Playground gets no client: each run
uses the shared client of that moment, so ``reset_client()`` after a key change reaches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import GLMError
from .._types import ChatResult
from ..answer._run import stop_button
from ._args import choices_from

if TYPE_CHECKING:
    from ._magics import GLMMagics

__all__ = ["run_interactive"]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split()).rstrip(".")


def run_interactive(magics: GLMMagics, args: Any, prompt: Any, options: dict[str, Any]) -> None:
    """Run ``--tune`` or ``--compare`` for the magic; ``options`` are already validated."""
    if args.tune and args.compare:
        raise UsageError("Use --tune or --compare, not both: --tune opens sliders, --compare runs a grid.")
    if args.chat:
        raise UsageError("--chat does not combine with --tune or --compare: drop --chat to tune a prompt.")
    chosen = choices_from(args, magics)
    model, system = chosen.model, chosen.system
    if args.tune:
        _tune(magics, prompt, model, system, options, args.out)
    else:
        _compare(magics, args, prompt, model, system, options)


def _tune(
    magics: GLMMagics,
    prompt: str,
    model: str | None,
    system: str | None,
    options: dict[str, Any],
    out: str | None,
) -> None:
    if not magics.use_widgets():
        raise UsageError(
            "--tune needs a notebook front end (JupyterLab, Notebook or VS Code); in terminal IPython "
            'use --compare, e.g. --compare "temperature=0.2,1.0".'
        )
    from IPython.display import display

    from ..playground._playground import Playground

    try:
        playground = Playground(prompt, model=model, system=system, usage=magics.usage, **options)
    except GLMError as exc:
        raise UsageError(_one_line(exc) + ".") from None
    display(playground)
    if out:
        magics.user_ns[out] = playground


def _compare(
    magics: GLMMagics,
    args: Any,
    prompt: Any,
    model: str | None,
    system: str | None,
    options: dict[str, Any],
) -> None:
    from ..playground._compare import prepare_compare
    from ..playground._grid import GRID_SYNTAX, parse_grid_spec

    client = magics.shared_client()
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
            mode="widget" if magics.use_widgets() else "text",
            stop=stop_button(magics.stop_button, cell_busy=True),
            plain_text=choices_from(args, magics).format == "text",
            usage=magics.usage,
        )
    except GLMError as exc:
        raise UsageError(f"Invalid --compare: {_one_line(exc)}. Use {GRID_SYNTAX}.") from None
    results: list[ChatResult] = []
    try:
        results, interrupted = run.execute()
    finally:
        magics.store_result(results or run.results(), args.out)
    if interrupted:
        raise KeyboardInterrupt
    failed = [p.error for p in run.panels if p.error is not None]
    if failed and magics.raise_errors:
        raise failed[0]
