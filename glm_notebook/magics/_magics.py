"""GLMMagics: the %%glm cell magic, the %glm line magic and their configurable defaults.

Defaults are traitlets (``%config GLMMagics.model = "glm-5"``). A user mistake is a one-line
UsageError; options are validated against the options table before any request is sent.
"""

from __future__ import annotations

import re
import string
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Bool, Enum, Float, Int, Unicode

from .._conversation import ConversationStore
from .._errors import GLMError
from .._types import ChatResult
from ._args import FORMATS, glm_arguments
from ._line import LineCommands, SessionUsage

_CODE_BLOCK = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def track_cell_ids(ipython: Any, magics: GLMMagics) -> None:
    """Remember the front end's cell id of the cell being run (for replace-on-rerun in chats)."""

    def pre_run_cell(info: Any) -> None:
        magics.current_cell_id = getattr(info, "cell_id", None)

    untrack_cell_ids(ipython)
    ipython.events.register("pre_run_cell", pre_run_cell)
    ipython._glm_pre_run_cell = pre_run_cell


def untrack_cell_ids(ipython: Any) -> None:
    hook = getattr(ipython, "_glm_pre_run_cell", None)
    if hook is not None:
        try:
            ipython.events.unregister("pre_run_cell", hook)
        except ValueError:
            pass
        ipython._glm_pre_run_cell = None


def _fill_placeholders(prompt: str, namespace: dict[str, Any]) -> str:
    try:
        return string.Formatter().vformat(prompt, (), namespace)
    except KeyError as exc:
        raise UsageError(
            f"--vars: {{{exc.args[0]}}} is not a defined variable; define it, or write {{{{ }}}} for a literal brace."
        ) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise UsageError(
            f"--vars: cannot fill the prompt ({exc}); write {{{{ }}}} for literal braces."
        ) from None


def _parse_flags(magic: Any, line: str) -> Any:
    """Parse flags with shell quoting (``--system "Be brief."`` gives ``Be brief.``, no quotes)."""
    import shlex

    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Cannot read the flags ({exc}): check the quotes.") from None
    return magic.parser.parse_args(argv)


def extract_code(text: str) -> str:
    """The first fenced code block of an answer, or the whole answer if it has none."""
    match = _CODE_BLOCK.search(text)
    return (match.group(1) if match else text).rstrip("\n")


@magics_class
class GLMMagics(Magics):
    """%%glm: the cell is the prompt; the answer streams into the output below."""

    model = Unicode(
        None,
        allow_none=True,
        help="Model for %%glm when --model is not given (None: the provider's default).",
    ).tag(config=True)
    temperature = Float(
        None, allow_none=True, help="Default temperature (None: not sent, the server decides)."
    ).tag(config=True)
    top_p = Float(None, allow_none=True, help="Default top_p (None: not sent).").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Default max_tokens (None: not sent).").tag(config=True)
    system = Unicode(None, allow_none=True, help="Default system prompt.").tag(config=True)
    thinking = Bool(None, allow_none=True, help="Default thinking mode (None: not sent).").tag(config=True)
    format = Enum(list(FORMATS), default_value="markdown", help="Default output format.").tag(config=True)
    interpolate = Bool(False, help="Fill {name} from the user namespace without --vars.").tag(config=True)
    display_mode = Enum(
        ["auto", "widget", "text"],
        default_value="auto",
        help="auto: live widget in a kernel with a front end, stdout in terminal IPython.",
    ).tag(config=True)
    stop_button = Enum(
        ["auto", "always", "never"],
        default_value="auto",
        help="Stop button in the live view. auto: shown once a message from the browser has reached "
        "the kernel while the cell is busy (so a click really stops it; ipykernel >= 7 subshells), "
        "otherwise the view says to interrupt the kernel. always / never: force it.",
    ).tag(config=True)
    raise_errors = Bool(
        False, help="Raise API errors after showing them (useful to fail a notebook run in CI)."
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.current_cell_id: str | None = None
        self.conversations = ConversationStore()
        self.usage = SessionUsage()
        self.commands = LineCommands(self)

    # -- entry points -------------------------------------------------------------------------

    @glm_arguments
    @cell_magic
    def glm(self, line: str, cell: str | None = None) -> None:
        """Ask GLM: the cell is the prompt; the answer streams below.

        Example::

            %%glm --temperature 0 --max-tokens 200
            Explain nucleus sampling in two sentences.
        """
        self.run_prompt(_parse_flags(self.glm, line), cell or "")

    @line_magic("glm")
    def glm_line(self, line: str) -> None:
        """%glm <prompt>  |  %glm config | models | reset [NAME] | history [NAME] | usage | help"""
        words = line.strip().split(maxsplit=1)
        if not words:
            raise UsageError(
                "Type a prompt after %glm, or one of: config, models, reset, history, usage, help."
            )
        if words[0] in LineCommands.NAMES:
            self.commands.run(words[0], words[1] if len(words) > 1 else "")
            return
        flags, prompt = _split_line_flags(line, self.glm.parser)
        self.run_prompt(_parse_flags(self.glm, flags), prompt)

    # -- running ------------------------------------------------------------------------------

    def options_from(self, args: Any) -> dict[str, Any]:
        """The request options: flags, else configured defaults; None means not sent."""

        def pick(name: str) -> Any:
            value = getattr(args, name, None)
            return value if value is not None else getattr(self, name, None)

        options = {name: pick(name) for name in ("temperature", "top_p", "max_tokens", "thinking")}
        options["seed"] = args.seed
        options["stop"] = args.stop
        if (args.format or self.format) == "json":
            options["response_format"] = {"type": "json_object"}
        return options

    def run_prompt(self, args: Any, prompt: str) -> ChatResult | None:
        if not prompt.strip():
            raise UsageError(
                "The cell is empty: write your prompt under the %%glm line, e.g.\n"
                "%%glm --temperature 0\nExplain top_p in one sentence."
            )
        if args.new and not args.chat:
            raise UsageError("--new starts a conversation afresh: use it with --chat NAME.")
        prompt = prompt.lstrip("\n").rstrip()  # the cell's trailing newline is not part of the question
        if args.vars or self.interpolate:
            prompt = _fill_placeholders(prompt, self.shell.user_ns)
        options = self.options_from(args)
        client = self._client()
        from .._options import build_options

        try:
            build_options(client.provider, options)  # one clear line before anything runs
        except GLMError as exc:
            raise UsageError(str(exc)) from None
        if args.tune or args.compare:
            return self._interactive(args, prompt, options)

        model = args.model or self.model
        system = args.system if args.system is not None else self.system
        conversation = None
        messages: Any = prompt
        cell_id = self.current_cell_id
        if args.chat:
            conversation = self.conversations.get(args.chat)
            if args.new:
                conversation.clear()
            messages = conversation.messages(prompt, replacing=cell_id)
        try:
            stream = client.stream(messages, model=model, system=system, **options)
        except GLMError as exc:
            raise UsageError(str(exc)) from None
        result, error = self._show(stream, client, plain_text=(args.format or self.format) == "text")
        self.usage.record(result, error)
        self._store(result, args.out)
        if conversation is not None and error is None and not result.stopped:
            conversation.record(prompt, result.text, key=cell_id)
        fmt = args.format or self.format
        if error is None and fmt == "code" and result.text:
            self.shell.set_next_input(extract_code(result.text), replace=False)
        if error is None and fmt == "json":
            try:
                result.json  # noqa: B018 - parse now so the user learns at once
            except ValueError as exc:
                print(f"The answer is not valid JSON ({exc}); the text is in _glm.text.")
        if error is not None and self.raise_errors:
            raise error
        return None

    def _client(self) -> Any:
        from .._client import get_client

        try:
            return get_client()
        except GLMError as exc:
            raise UsageError(str(exc)) from None

    def _use_widgets(self) -> bool:
        if self.display_mode != "auto":
            return self.display_mode == "widget"
        return type(self.shell).__name__ == "ZMQInteractiveShell"

    def _show_stop_button(self) -> bool:
        """Show Stop from the start only when configured "always". In "auto" the view shows it once
        the browser's greeting has reached the kernel while the cell is busy, i.e. once a click
        is known to arrive in time (ipykernel >= 7 subshells); until then it says to interrupt."""
        return self.stop_button == "always"

    def _show(self, stream: Any, client: Any, *, plain_text: bool) -> tuple[ChatResult, GLMError | None]:
        from ._run import run_in_terminal, run_in_view

        offline = client.is_offline
        if not self._use_widgets():
            return run_in_terminal(stream, offline=offline)
        model_name = stream.result.model or client.model or ""
        return run_in_view(
            stream,
            model_name=model_name,
            offline=offline,
            show_stop_button=self._show_stop_button(),
            auto_stop_button=self.stop_button == "auto",
            plain_text=plain_text,
        )

    def _store(self, result: ChatResult, out: str | None) -> None:
        self.shell.user_ns["_glm"] = result
        if out:
            if not out.isidentifier():
                raise UsageError(f"--out needs a Python variable name, got {out!r}.")
            self.shell.user_ns[out] = result

    def _interactive(self, args: Any, prompt: str, options: dict[str, Any]) -> None:
        from ..playground import run_from_magic

        return run_from_magic(self, args, prompt, options)


_LINE_FLAG = re.compile(r"\s*(--?[A-Za-z][\w-]*)")
_FLAG_VALUE = re.compile(r"""\s+("[^"]*"|'[^']*'|\S+)""")


def _split_line_flags(line: str, parser: Any) -> tuple[str, str]:
    """Split ``%glm --temperature 0 What's new?`` into flags and prompt (flags come first).

    The prompt part is kept verbatim (apostrophes and quotes in it are not shell syntax).
    """
    # The flags that take a value, read off the %%glm parser (store_true flags have nargs 0).
    value_flags = {opt for action in parser._actions if action.nargs != 0 for opt in action.option_strings}
    flags: list[str] = []
    pos = 0
    while True:
        flag = _LINE_FLAG.match(line, pos)
        if not flag:
            break
        flags.append(flag.group(1))
        pos = flag.end()
        if flag.group(1) in value_flags:
            value = _FLAG_VALUE.match(line, pos)
            if value:
                flags.append(value.group(1))
                pos = value.end()
    return " ".join(flags), line[pos:].strip()
