"""GLMMagics: the %%glm cell magic, the %glm line magic and their configurable defaults.

Defaults are traitlets (``%config GLMMagics.model = "glm-5"``). A user mistake is a one-line
UsageError; options are validated against the options table before any request is sent.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Bool, Dict, Enum, TraitError, Unicode, observe, validate

from .._conversation import Conversation, ConversationStore, preserves_thinking, replies_after_question
from .._errors import GLMError, SchemaValidationError
from .._terminal import terminal_safe
from ..tools import DEFAULT_TOOL_TURNS
from ._args import FORMATS, choices_from, glm_arguments, option_traits
from ._args import options_from as _options_from
from ._line import LineCommands

if TYPE_CHECKING:
    from .._types import ChatResult
    from ..answer._run import AnswerView
    from ..answer._usage import SessionUsage
    from ..client._sync import GLMClient

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


class _DescribingFormatter(string.Formatter):
    """``{name}`` for --vars: strings and numbers as they are, anything else as ``glm.describe``
    shows it (a DataFrame becomes its summary, not megabytes of repr). Every filled-in value goes
    through the one masker (``context._text.mask_secrets``), and a value under a secret-looking
    name (``{api_key}``, ``{cfg.token}``) is shown masked (``describe_bound``)."""

    _field = ""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        self._field = field_name  # format_field comes next for this field
        return super().get_field(field_name, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> str:
        from ..context._describe import describe_bound
        from ..context._text import looks_secret, mask_secrets

        name, self._field = self._field, ""
        if looks_secret(name) and value is not None and not isinstance(value, (bool, float, complex)):
            return describe_bound(name, value)
        if format_spec or value is None or isinstance(value, (str, int, float, complex)):
            return mask_secrets(super().format_field(value, format_spec))
        return describe_bound(name, value)


def _fill_placeholders(prompt: str, namespace: dict[str, Any]) -> str:
    try:
        return _DescribingFormatter().vformat(prompt, (), namespace)
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
    # temperature, top_p, max_tokens, stop, seed, thinking, reasoning_effort, clear_thinking: one
    # trait per flag option of the table.
    vars().update(option_traits())
    system = Unicode(None, allow_none=True, help="Default system prompt.").tag(config=True)
    format = Enum(list(FORMATS), default_value="markdown", help="Default output format.").tag(config=True)
    interpolate = Bool(False, help="Fill {name} from the user namespace without --vars.").tag(config=True)
    display_mode = Enum(
        ["auto", "widget", "text"],
        default_value="auto",
        help="auto: live widget in a kernel, stdout in terminal IPython and in consoles (a front end "
        "that sends no cell id and allows input(): jupyter console, qtconsole).",
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
    keep_chats = Bool(
        True,
        help="Keep --chat conversations on disk (per notebook and name, in the answer cache's SQLite "
        "file) so they continue after a kernel restart; False: in memory only.",
    ).tag(config=True)
    prices = Dict(
        help='Prices, USD per 1M tokens, over the dated defaults, e.g. {"glm-4.7": {"input": 0.6, '
        '"output": 2.2, "cached_input": 0.11}}; same as glm.set_prices(...).',
    ).tag(config=True)

    @validate("prices")
    def _check_prices(self, proposal: Any) -> Any:
        from .._prices import set_prices

        try:
            set_prices(proposal["value"])  # checked, then applied (a bad table changes nothing)
        except GLMError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.current_cell_id: str | None = None
        self.conversations = ConversationStore(self._open_conversations)
        self._usage: SessionUsage | None = None
        self.commands = LineCommands(self)

    @property
    def usage(self) -> SessionUsage:
        """Calls, tokens and cost per model in this session (``%glm usage``), made on first use."""
        if self._usage is None:
            from ..answer._usage import SessionUsage

            self._usage = SessionUsage()
        return self._usage

    def _open_conversations(self) -> Any:
        """The on-disk conversations, opened when a cell with an id uses them (None: not now).

        Only a front end that sends cell ids (JupyterLab, Notebook 7, VS Code) can re-run a cell
        of an earlier kernel in place; without ids (nbclient, papermill, nbval, terminal IPython)
        every turn would be appended to the last run's, so such a kernel keeps them in memory."""
        if not self.keep_chats or not self.current_cell_id:
            return None
        from .._conversation_db import ConversationDB, notebook_of

        return ConversationDB(notebook_of(self.user_ns))

    @observe("keep_chats")
    def _keep_chats_changed(self, change: Any) -> None:
        self.conversations.reopen()

    def options_from(self, args: Any) -> dict[str, Any]:
        """The request options: flags, else configured defaults; None means not sent."""
        return _options_from(args, self)

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

    @line_magic("glm")  # type: ignore[arg-type]  # IPython types the named form for functions only
    def glm_line(self, line: str) -> None:
        """%glm <prompt>  |  %glm config | models | reset [NAME] | history [NAME] | chats | usage | fix [--code] | help"""
        words = line.strip().split(maxsplit=1)
        if not words:
            raise UsageError(
                "Type a prompt after %glm, or one of: config, models, reset, history, chats, usage, fix, help."
            )
        if words[0] in LineCommands.NAMES:
            self.commands.run(words[0], words[1] if len(words) > 1 else "")
            return
        flags, prompt = _split_line_flags(line, self.parser)
        self.run_prompt(_parse_flags(self.glm, flags), prompt)

    @property
    def parser(self) -> Any:
        """The %%glm flag parser (magic_arguments puts it on the decorated method)."""
        return cast(Any, self.glm).parser

    @property
    def user_ns(self) -> dict[str, Any]:
        """The user's namespace, where ``_glm`` and ``--out VAR`` go."""
        shell = self.shell
        assert shell is not None, "GLMMagics runs inside an IPython shell"
        return cast(dict[str, Any], shell.user_ns)

    # -- running ------------------------------------------------------------------------------

    def run_prompt(self, args: Any, prompt: str) -> None:
        """Run one prompt with parsed flags: an answer, a playground (--tune) or a grid (--compare)."""
        if getattr(args, "fix", False):
            from ._fix import NO_ERROR, fix_request

            fix = fix_request(self.shell, prompt)
            if fix is None:
                print(NO_ERROR)
                return
            print(fix.header)
            prompt = fix.prompt
        if not prompt.strip():
            raise UsageError(
                "The cell is empty: write your prompt under the %%glm line, e.g.\n"
                "%%glm --temperature 0\nExplain top_p in one sentence."
            )
        if args.new and not args.chat:
            raise UsageError("--new starts a conversation afresh: use it with --chat NAME.")
        check_variable_name(args.out)
        schema = self.schema_of(args)
        prompt = prompt.lstrip("\n").rstrip()  # the cell's trailing newline is not part of the question
        if (args.vars or self.interpolate) and not args.map:  # with --map, {column} is per row
            prompt = _fill_placeholders(prompt, self.user_ns)
        options = self.options_from(args)
        client = self.shared_client()
        from .._options import build_options

        try:
            build_options(client.provider, options)  # one clear line before anything runs
        except GLMError as exc:
            raise UsageError(str(exc)) from None
        if args.map:
            from ._map_view import run_map_cell

            run_map_cell(self, args, prompt, options, client)
            return
        asked_model = choices_from(args, self).model or client.model  # what --image checks against
        context = self.context_from(args, asked_model)
        from ._tool_flags import tools_from

        tools = tools_from(args, self.user_ns)
        if tools and (args.tune or args.compare):
            raise UsageError("--tools and --web-search work with one answer: drop --tune / --compare.")
        if context and args.tune:
            raise UsageError(
                "--context and --image do not work with --tune (the playground edits the question's "
                'text): use --compare, e.g. --compare "temperature=0.2,1.0", or drop --tune.'
            )
        if context.get("images"):
            from ._context_flags import show_sent_images

            show_sent_images(context["images"])
        if args.tune or args.compare:
            from ._bridge import run_interactive

            question: Any = prompt
            if context:  # every panel gets the same blocks and images
                question = _attached(prompt, context, asked_model)
            run_interactive(self, args, question, options)
            return

        chosen = choices_from(args, self)
        model, system, fmt = chosen.model, chosen.system, chosen.format
        conversation = None
        messages: Any = prompt
        cell_id = self.current_cell_id
        if args.chat:
            conversation = self.conversations.get(args.chat)
            preserved = preserves_thinking(client.provider, options)
            if args.new:  # asked without history; the old turns go only once this answer is kept
                messages = [{"role": "user", "content": prompt}]
            else:
                messages = conversation.messages(prompt, replacing=cell_id, preserved=preserved)
        asked: Any = prompt  # the question as sent (with its context blocks): what a conversation keeps
        if context:
            # Attached here, once, for every kind of answer below (plain, --tools, --schema); the
            # conversation records the question with its blocks, so a follow-up still has them.
            messages = _attached(messages, context, asked_model)
            asked = messages[-1]["content"]
            context = {}
        if tools or schema is not None:
            result, error = self.run_loop(
                client,
                messages,
                tools,
                args,
                model=model,
                system=system,
                schema=schema,
                options={**context, **options},
                plain_text=fmt == "text",
            )
        else:
            from ..answer._run import AnswerRun, needs_start

            run = AnswerRun(
                lambda: client.stream(messages, model=model, system=system, **context, **options),
                self.answer_view(client, model, plain_text=fmt == "text"),
                usage=self.usage,
                on_end=lambda ended: self.store_result(ended.result, args.out),
                starting=needs_start(client),
            )
            result = run.run()  # a kernel interrupt re-raises here, after _glm holds the partial answer
            error = run.error
        self.end_answer(
            result,
            error,
            fmt=fmt,
            conversation=conversation,
            asked=asked,
            cell_id=cell_id,
            sent=messages,
            fresh=bool(args.new),
        )

    def end_answer(
        self,
        result: ChatResult,
        error: BaseException | None,
        *,
        fmt: str,
        conversation: Conversation | None,
        asked: Any,
        cell_id: str | None,
        sent: Any = None,
        fresh: bool = False,
    ) -> None:
        """The one ending of every answer (plain, --tools, --schema): ``_glm`` / ``--out`` and the
        usage are already stored by the AnswerRun; here the conversation records the turn (saying
        how many later turns a re-run dropped), --format acts, and errors are raised as configured."""
        if error is not None and not isinstance(error, GLMError):
            raise error  # our bug, not the API's answer: keep its traceback
        if conversation is not None and error is None and not result.stopped:
            if fresh:  # --new: the conversation starts afresh with this kept answer, not before
                conversation.clear()
            dropped = record_turn(conversation, result, asked, cell_id, sent)
            if dropped:
                print(_dropped_note(conversation.name, dropped))
        if error is None and fmt == "code" and result.text:
            assert self.shell is not None
            self.shell.set_next_input(extract_code(result.text), replace=False)
        if error is None and fmt == "json" and result.parsed is None:
            try:
                result.json  # noqa: B018 - parse now so the user learns at once
            except ValueError as exc:
                print(f"The answer is not valid JSON ({exc}); the text is in _glm.text.")
        if error is not None and self.raise_errors:
            raise error

    def run_loop(
        self,
        client: GLMClient,
        messages: Any,
        tools: list[Any] | None,
        args: Any,
        *,
        model: str | None,
        system: str | None,
        schema: Any,
        options: dict[str, Any],
        plain_text: bool,
    ) -> tuple[ChatResult, BaseException | None]:
        """``--tools`` / ``--web-search`` / ``--schema``: the client's streamed loop in one view;
        every call shows as it happens, approvals in the view (``_tool_flags``), a schema's repair
        turn follows the answer that did not fit; ``_glm`` holds the record."""
        if schema is not None:  # --format json: the schema's response_format, not a second one
            options = {k: v for k, v in options.items() if k != "response_format"}
        # --schema alone: the answer and at most one repair turn, no tool turns to spend
        turns: int = (
            (DEFAULT_TOOL_TURNS if args.max_tool_turns is None else args.max_tool_turns) if tools else 1
        )
        try:
            loop = client.tool_loop(
                messages,
                model=model,
                system=system,
                tools=tools or None,
                options=options,
                schema=schema,
                max_tool_turns=turns,
            )
        except (GLMError, TypeError, ValueError) as exc:  # also a function that cannot be a tool
            raise UsageError(str(exc)) from None
        view = self.answer_view(client, model, plain_text=plain_text)
        approver = getattr(view, "approve", None)
        from ..answer._run import AnswerRun, needs_start

        run = AnswerRun(
            lambda: client.loop_stream(loop, model, approver),
            view,
            usage=self.usage,
            on_end=lambda ended: self.store_result(ended.result, args.out),
            starting=needs_start(client),
        )
        result = run.run()  # a kernel interrupt re-raises here, after _glm holds the transcript so far
        if isinstance(run.error, SchemaValidationError):  # the view said "asking once more" before
            print(
                f"The answer does not match {schema.name} even after one repair turn "
                f"({terminal_safe(run.error.validation_error)}); the text is in _glm.text."
            )
        return result, run.error

    def context_from(self, args: Any, model: str | None) -> dict[str, Any]:
        """``context=`` and ``images=`` for the stream, from --context NAMES and --image X; a name
        that is not a variable, or a bad image, is a UsageError before sending."""
        from ._context_flags import context_from

        return context_from(args, self.user_ns, model)

    # -- what the line commands and the --tune / --compare bridge use ---------------------------

    def schema_of(self, args: Any) -> Any:
        """The schema of ``--schema NAME`` (an OutputSchema) or None; a UsageError if it is not one."""
        if not args.schema:
            return None
        if args.tune or args.compare:
            raise UsageError("--schema works with one answer: drop --tune / --compare.")
        return schema_from(args.schema, self.user_ns)

    def shared_client(self) -> GLMClient:
        """The shared client (``glm.get_client()``); a configuration problem is a UsageError."""
        from ..client._sync import get_client
        from ._replay_command import name_cells

        name_cells(self.shell)  # a strict replay miss names the running cell
        try:
            return get_client()
        except GLMError as exc:
            raise UsageError(str(exc)) from None

    def use_widgets(self) -> bool:
        """True when answers go to a live widget (a kernel with a notebook front end), False for stdout.

        "auto": in a kernel, the live view, unless the front end is a console (``_console``)."""
        if self.display_mode != "auto":
            return bool(self.display_mode == "widget")
        return type(self.shell).__name__ == "ZMQInteractiveShell" and not self._console()

    def _console(self) -> bool:
        """Whether the running cell came from a console (``answer._run.console_front_end``)."""
        if self.current_cell_id:
            return False
        from ..answer._run import console_front_end

        return console_front_end(self.shell)

    def answer_view(self, client: GLMClient, model: str | None, *, plain_text: bool) -> AnswerView:
        """Where one %%glm answer is shown: a live view below the cell, or stdout."""
        if not self.use_widgets():
            from ..answer._run import TerminalView

            return TerminalView(offline=client.is_offline)
        from ..answer._live import LiveView
        from ..answer._run import stop_button

        return LiveView.show(
            model_name=model or client.model or "",
            offline=client.is_offline,
            stop=stop_button(self.stop_button, cell_busy=True),
            plain_text=plain_text,
        )

    def store_result(self, value: object, out: str | None) -> None:
        """``_glm`` (and ``--out VAR``) hold ``value``: a ChatResult, or a compare's list of them."""
        self.user_ns["_glm"] = value
        if out:
            self.user_ns[out] = value


def check_variable_name(out: str | None) -> None:
    """``--out VAR`` must name a Python variable; said before anything is sent."""
    if out and not out.isidentifier():
        raise UsageError(f"--out needs a Python variable name, got {out!r}.")


def schema_from(name: str, namespace: dict[str, Any]) -> Any:
    """The OutputSchema named by ``--schema NAME``; a UsageError, before anything is sent, if it is not one."""
    from ..tools._schema import ACCEPTED, OutputSchema

    if name not in namespace:
        raise UsageError(f"--schema {name}: no variable {name!r}; define {ACCEPTED} named {name} first.")
    try:
        return OutputSchema.of(namespace[name])
    except GLMError as exc:
        raise UsageError(f"--schema {name}: {exc}") from None


def record_turn(
    conversation: Conversation, result: ChatResult, asked: Any, cell_id: str | None, sent: Any
) -> int:
    """Keep an answer in its conversation: the text and reasoning, and for a tool or schema
    answer every assistant and tool message after the question, as exchanged (preserved thinking
    sends them back unmodified). Returns how many later turns a re-run dropped."""
    replies = None
    if result.messages and isinstance(sent, list):
        questions = sum(1 for m in sent if m.get("role") == "user")
        replies = replies_after_question(result.messages, questions) or None
    reasoning = "\n\n".join(
        m["reasoning_content"] for m in replies or [] if isinstance(m.get("reasoning_content"), str)
    )
    return conversation.record(
        asked, result.text, key=cell_id, reasoning=reasoning or result.reasoning, replies=replies
    )


def _dropped_note(name: str, dropped: int) -> str:
    turns = "turn" if dropped == 1 else "turns"
    return (
        f"Note: this cell's earlier turn in conversation {name!r} was replaced and the {dropped} later "
        f"{turns} dropped (they answered the old version); %glm history {name} shows what is kept."
    )


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


def _attached(messages: Any, context: dict[str, Any], model: str | None) -> list[dict[str, Any]]:
    """``messages`` with the ``--context`` blocks and ``--image`` parts on the last user turn."""
    from ..context._attach import attach

    try:
        attached = attach(messages, **context, model=model)
    except GLMError as exc:
        raise UsageError(str(exc)) from None
    return attached if isinstance(attached, list) else [{"role": "user", "content": attached}]
