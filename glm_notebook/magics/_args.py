"""The %%glm flags, declared once. Sampling flags take their type and help from the options table.

``%%glm?`` shows every flag with its help text (IPython's magic_arguments).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments

from .._options import OPTIONS

FORMATS = ("markdown", "text", "code", "json")


def _number(kind: str, name: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return int(text) if kind == "int" else float(text)

    # argparse names the type in its message: "argument --temperature: invalid number value: 'x'"
    parse.__name__ = "integer" if kind == "int" else "number"
    return parse


def sampling_flag(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    opt = OPTIONS[name]
    return argument(
        f"--{name.replace('_', '-')}",
        dest=name,
        type=_number(opt.kind, name),
        default=None,
        help=f"{opt.help} (range: GLM cloud {opt.range_text('zai')}, local {opt.range_text('local')}).",
    )


def glm_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate the cell magic with every flag (applied bottom-up, so listed in reverse)."""
    decorators = [
        magic_arguments(),
        argument(
            "--model",
            "-m",
            default=None,
            help="model id, e.g. glm-4.7-flash, glm-5 (default: %%config GLMMagics.model).",
        ),
        sampling_flag("temperature"),
        sampling_flag("top_p"),
        sampling_flag("max_tokens"),
        argument("--seed", type=_number("int", "seed"), default=None, help=OPTIONS["seed"].help + "."),
        argument(
            "--stop", action="append", default=None, help="a stop string (repeat the flag for several)."
        ),
        argument("--system", "-s", default=None, help="system prompt for this cell."),
        argument(
            "--thinking",
            dest="thinking",
            action="store_true",
            default=None,
            help="turn GLM thinking mode on.",
        ),
        argument("--no-thinking", dest="thinking", action="store_false", help="turn GLM thinking mode off."),
        argument(
            "--chat",
            "-c",
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
            "--out",
            "-o",
            default=None,
            metavar="VAR",
            help="also store the ChatResult in variable VAR (always in _glm).",
        ),
        argument(
            "--vars",
            action="store_true",
            help="fill {name} in the prompt from your variables ({{ }} for a literal brace).",
        ),
        argument("--tune", action="store_true", help="open a playground with sliders for this prompt."),
        argument(
            "--compare",
            default=None,
            metavar="SPEC",
            help='run several settings side by side, e.g. "temperature=0.2,1.0" or "temperature=0,1 top_p=0.5,1".',
        ),
        argument(
            "--samples",
            type=_number("int", "samples"),
            default=1,
            help="with --compare: answers per setting.",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func
