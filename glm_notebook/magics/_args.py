"""The %%glm flags and the GLMMagics defaults, declared once and generated from the options table.

Every option with ``flag=True`` in ``glm_notebook._options.OPTIONS`` gets, from its table entry:
a flag (``--top-p`` for ``top_p``; ``--thinking`` / ``--no-thinking`` for a bool; ``--stop``
repeatable; ``--reasoning-effort high`` for a choice, checked by the table so a wrong value is the
same one-line message as from Python), a configurable trait (``%config GLMMagics.top_p = 0.9``, see ``option_traits``) and
its place in the request (``options_from``: the flag, else the configured default, else not sent).
The other flags (model, system, chat, format, ...) are not generation options and are written here.
``%%glm?`` shows every flag with its help text (IPython's magic_arguments).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import traitlets
from IPython.core.magic_arguments import argument, magic_arguments

from .._options import FLAG_OPTIONS, OPTIONS, Option
from ..tools import DEFAULT_TOOL_TURNS

FORMATS = ("markdown", "text", "code", "json")


def _number(kind: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return int(text) if kind == "int" else float(text)

    # argparse names the type in its message: "argument --temperature: invalid number value: 'x'"
    parse.__name__ = "integer" if kind == "int" else "number"
    return parse


def _given(example: str) -> Callable[[str], str]:
    """An argparse type for a flag whose value cannot be empty: ``--model ''`` says what to pass
    (argparse shows it as "argument --model/-m: ..." and IPython raises it as a UsageError)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"the value is empty: give {example}, or leave the flag out.")
        return text

    parse.__name__ = "non-empty"
    return parse


def _help(opt: Option) -> str:
    if opt.slider:
        return f"{opt.help} (range: GLM cloud {opt.range_text('zai')}, local {opt.range_text('local')})."
    return opt.help + "."


def option_flags(opt: Option) -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """The argparse declarations of one table option (two for a bool: on and off)."""
    if opt.kind in ("float", "int"):
        return [argument(opt.flag_name, dest=opt.name, type=_number(opt.kind), default=None, help=_help(opt))]
    if opt.kind == "bool":
        return [
            argument(
                opt.flag_name,
                dest=opt.name,
                action="store_true",
                default=None,
                help=f"send {opt.name}=True: {opt.help}.",
            ),
            argument(
                f"--no-{opt.flag_name[2:]}",
                dest=opt.name,
                action="store_false",
                help=f"send {opt.name}=False.",
            ),
        ]
    if opt.kind == "choice":
        return [
            argument(
                opt.flag_name,
                dest=opt.name,
                default=None,
                metavar="{" + ",".join(opt.choices) + "}",
                help=opt.help + ".",
            )
        ]
    if opt.kind == "stop":
        return [
            argument(
                opt.flag_name,
                dest=opt.name,
                action="append",
                default=None,
                help=f"{opt.help} (repeat the flag for several).",
            )
        ]
    raise TypeError(f"option {opt.name!r} of kind {opt.kind!r} cannot be a flag")


def option_traits() -> dict[str, traitlets.TraitType[Any, Any]]:
    """One configurable default per flag option, None meaning "not sent" (for the GLMMagics class body)."""
    traits: dict[str, traitlets.TraitType[Any, Any]] = {}
    for name in FLAG_OPTIONS:
        opt = OPTIONS[name]
        help_text = f"Default {name} for %%glm ({opt.help}); None: not sent, the server decides."
        trait: traitlets.TraitType[Any, Any]
        if opt.kind == "float":
            trait = traitlets.Float(None, allow_none=True, help=help_text)
        elif opt.kind == "int":
            trait = traitlets.Int(None, allow_none=True, help=help_text)
        elif opt.kind == "bool":
            trait = traitlets.Bool(None, allow_none=True, help=help_text)
        elif opt.kind == "choice":
            trait = traitlets.Enum(list(opt.choices), None, allow_none=True, help=help_text)
        else:  # stop: one string or a list of strings
            trait = traitlets.Union(
                [traitlets.Unicode(), traitlets.List(traitlets.Unicode())],
                default_value=None,
                allow_none=True,
                help=help_text,
            )
        traits[name] = trait.tag(config=True)
    return traits


@dataclass(frozen=True)
class CellChoices:
    """What one run asks beyond the generation options: each flag, else its configured default."""

    model: str | None  # None (or ""): the client's model
    system: str | None
    format: str


def choices_from(args: Any, defaults: Any) -> CellChoices:
    """``--model`` / ``--system`` / ``--format``, else ``%config GLMMagics.model`` / ``system`` /
    ``format`` (``--system ""`` sends no system prompt even when one is configured)."""
    return CellChoices(
        model=getattr(args, "model", None) or defaults.model or None,
        system=args.system if getattr(args, "system", None) is not None else defaults.system,
        format=getattr(args, "format", None) or defaults.format,
    )


def options_from(args: Any, defaults: Any) -> dict[str, Any]:
    """The request options of one %%glm run: each flag, else ``defaults``' trait, else None (not sent).

    ``--format json`` (or a json format default) asks for a JSON object (``response_format``).
    """
    options: dict[str, Any] = {}
    for name in FLAG_OPTIONS:
        value = getattr(args, name, None)
        options[name] = value if value is not None else getattr(defaults, name, None)
    if choices_from(args, defaults).format == "json":
        options["response_format"] = {"type": "json_object"}
    return options


def glm_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate the cell magic with every flag (applied bottom-up, so listed in reverse)."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        magic_arguments(),
        argument(
            "--model",
            "-m",
            type=_given("a model id, e.g. --model glm-4.7-flash"),
            default=None,
            help="model id, e.g. glm-4.7-flash, glm-5 (default: %%config GLMMagics.model).",
        ),
        *(flag for name in FLAG_OPTIONS for flag in option_flags(OPTIONS[name])),
        argument("--system", "-s", default=None, help="system prompt for this cell."),
        argument(
            "--chat",
            "-c",
            type=_given("a conversation name, e.g. --chat review"),
            default=None,
            metavar="NAME",
            help="continue the conversation NAME; re-running a cell replaces its earlier turn.",
        ),
        argument("--new", action="store_true", help="start the conversation given by --chat afresh."),
        argument(
            "--format",
            "-f",
            choices=FORMATS,
            default=None,
            help="markdown (default), text, code (answer's code goes into a new cell below), "
            "json (asks for a JSON object, parsed into result.json).",
        ),
        argument(
            "--schema",
            type=_given("a schema variable, e.g. --schema Answer"),
            default=None,
            metavar="NAME",
            help="answer as JSON fitting NAME (a pydantic model, dataclass, TypedDict or JSON-schema "
            "dict in your namespace); the validated object is in _glm.parsed.",
        ),
        argument(
            "--tools",
            type=_given("function names, e.g. --tools get_weather,search_docs"),
            default=None,
            metavar="NAMES",
            help="let the model call these functions of yours, e.g. --tools get_weather,search_docs; "
            "each call shows in the answer (glm.tool(f, approve=True) asks first).",
        ),
        argument(
            "--max-tool-turns",
            type=_number("int"),
            default=None,
            metavar="N",
            help=f"with --tools: at most N turns of tool calls (default {DEFAULT_TOOL_TURNS}).",
        ),
        argument("--web-search", action="store_true", help="let GLM search the web (its built-in tool)."),
        argument(
            "--out",
            "-o",
            type=_given("a variable name, e.g. --out answer"),
            default=None,
            metavar="VAR",
            help="also store the ChatResult in variable VAR (always in _glm).",
        ),
        argument(
            "--vars",
            action="store_true",
            help="fill {name} in the prompt from your variables ({{ }} for a literal brace).",
        ),
        argument(
            "--context",
            type=_given("variable names, e.g. --context df,f"),
            default=None,
            metavar="NAMES",
            help="show the model these variables, e.g. --context df,f (each summarised by glm.describe).",
        ),
        argument(
            "--image",
            type=_given("a variable, a path, an https URL or gcf, e.g. --image fig"),
            action="append",
            default=None,
            metavar="X",
            help="send an image to a vision model: a variable (matplotlib Figure, PIL image, numpy "
            "array, PNG/JPEG bytes), a path, an https URL, or gcf (the current figure); repeat "
            "or separate by commas for several.",
        ),
        argument(
            "--fix",
            action="store_true",
            help="explain the last error and suggest a fixed cell (the cell's text adds your words); "
            "with --format code the fix goes into a new cell below. Same as %%glm fix.",
        ),
        argument(
            "--map",
            type=_given("a variable holding the rows, e.g. --map df"),
            default=None,
            metavar="DATA",
            help="the cell is a template: ask it once per row of the variable DATA (a DataFrame, "
            "a list of dicts or strings), {column} filled per row; --out gets the BatchResult.",
        ),
        argument("--tune", action="store_true", help="open a playground with sliders for this prompt."),
        argument(
            "--compare",
            type=_given('settings, e.g. --compare "temperature=0.2,1.0"'),
            default=None,
            metavar="SPEC",
            help='run several settings side by side, e.g. "temperature=0.2,1.0" or "temperature=0,1 top_p=0.5,1".',
        ),
        argument(
            "--samples",
            type=_number("int"),
            default=1,
            help="with --compare: answers per setting.",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func
