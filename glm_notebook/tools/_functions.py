"""Python functions as tools: the name, description and JSON schema a model sees, argument
validation, running the function (sync or async, in either client), approval, and the built-in
``web_search`` tool.

A ``Tool`` wraps one callable. Its schema comes from the signature and type hints (pydantic v2
builds it and validates the arguments) and the parameter descriptions from the docstring (Google,
NumPy, reST or Epydoc, read by docstring_parser). Both libraries are imported only when a schema
is first needed, so ``import glm_notebook`` and ``%load_ext glm_notebook`` stay light. The model's
arguments are checked against the schema before anything runs; only the callables given to
``chat(tools=...)`` can run, looked up by their exact name (nothing is evaluated or imported).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidOptionError
from .._types import ToolCall

DENIED = "denied by the user"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

Approver = Callable[[ToolCall], Any]  # True to run the call; may be async in the async client


class ArgumentsError(ValueError):
    """The model's arguments are not JSON or do not fit the schema; the text is for the model."""


@dataclass(frozen=True)
class _Schema:
    description: str
    parameters: dict[str, Any]  # the JSON schema
    model: Any  # the pydantic model that validates the arguments (fields p0, p1, ...)
    names: list[str]  # the parameter name of each field
    positional: frozenset[str]  # positional-only parameters (passed by position)


class Tool:
    """A Python callable the model may call. ``glm.tool(fn)`` or ``@glm.tool`` make one; a plain
    function given to ``chat(tools=[...])`` is wrapped the same way. Calling the Tool calls the
    function, so a decorated function still works as before.

    ``approve``: True asks before every call; a predicate ``approve(arguments) -> bool`` (the
    validated arguments as a dict) asks when it returns True; False/None never asks.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        approve: bool | Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidOptionError(f"A tool must be a callable, got {type(fn).__name__}.")
        name = name or str(getattr(fn, "__name__", ""))
        if not _NAME.match(name):
            raise InvalidOptionError(
                f"Tool name {name!r} is not allowed: use 1-64 letters, digits, '_' or '-' "
                "(pass name=... for a lambda or a callable object)."
            )
        self.fn = fn
        self.name: str = name
        self.approve = approve
        self._description = description
        self._schema: _Schema | None = None
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
        )
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    # -- what the model sees ----------------------------------------------------------------------

    @property
    def description(self) -> str:
        return self._built().description

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments."""
        return self._built().parameters

    def definition(self) -> dict[str, Any]:
        """The entry of the request's ``tools`` list."""
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": function}

    def _built(self) -> _Schema:
        if self._schema is None:
            self._schema = _build_schema(self.fn, self.name, self._description)
        return self._schema

    # -- checking and running a call ----------------------------------------------------------------

    def validate(self, arguments: str) -> dict[str, Any]:
        """The keyword arguments for the function; ArgumentsError (a message for the model) if the
        text is not a JSON object or does not fit the schema. ``""`` means no arguments."""
        from pydantic import ValidationError

        try:
            data = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise ArgumentsError(
                f"Error: the arguments of {self.name} are not valid JSON ({exc}); "
                "send one JSON object that matches the tool's parameters."
            ) from None
        if not isinstance(data, dict):
            raise ArgumentsError(
                f"Error: the arguments of {self.name} must be a JSON object, got {type(data).__name__}."
            )
        schema = self._built()
        try:
            values = schema.model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ArgumentsError(
                f"Error: invalid arguments for {self.name}: {problems}. Fix them and call it again."
            ) from None
        given = values.model_fields_set  # left-out defaults stay the function's own
        names = schema.names
        return {names[int(f[1:])]: getattr(values, f) for f in type(values).model_fields if f in given}

    def _call(self, arguments: dict[str, Any]) -> Any:
        positional = self._built().positional
        if not positional:
            return self.fn(**arguments)
        args = [arguments[n] for n in self._built().names if n in positional and n in arguments]
        return self.fn(*args, **{k: v for k, v in arguments.items() if k not in positional})

    def needs_approval(self, arguments: dict[str, Any]) -> bool:
        if callable(self.approve):
            return bool(self.approve(arguments))
        return bool(self.approve)

    def run_sync(self, arguments: dict[str, Any]) -> Any:
        """Call the function; a coroutine is run to its end, never with asyncio.run inside a
        running loop (in Jupyter the kernel's loop runs: then on a fresh loop in a worker thread)."""
        value = self._call(arguments)
        if inspect.iscoroutine(value):
            return run_coroutine(value)
        return value

    async def run_async(self, arguments: dict[str, Any]) -> Any:
        """Await an async function; run a sync one in a worker thread so parallel calls overlap."""
        if self.is_async:
            return await self._call(arguments)
        value = await asyncio.to_thread(self._call, arguments)
        if inspect.iscoroutine(value):
            return await value
        return value


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to its end from sync code, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="glm-tool") as pool:
        return pool.submit(asyncio.run, coro).result()


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    approve: bool | Callable[[dict[str, Any]], bool] | None = None,
) -> Any:
    """Make ``fn`` a tool: ``@glm.tool``, ``@glm.tool(name=..., approve=True)`` or
    ``glm.tool(fn, approve=True)``. Plain functions work as tools too; this sets the name, the
    description (default: the docstring) and whether to ask before each call."""
    if fn is None:
        return functools.partial(tool, name=name, description=description, approve=approve)
    if isinstance(fn, Tool):  # re-wrapping keeps what was set before unless given again
        name = name or fn.name
        description = description if description is not None else fn._description
        approve = approve if approve is not None else fn.approve
        fn = fn.fn
    return Tool(fn, name=name, description=description, approve=approve)


def web_search(
    *,
    enable: bool = True,
    search_engine: str = "search_pro",
    count: int | None = None,
    search_recency_filter: str | None = None,
    content_size: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """GLM's built-in web search, for ``chat(tools=[glm.web_search()])``. The server runs the
    search; the sources it sends back are kept in ``result.extras["web_search"]`` as they came.
    Options left as None are not sent; other keywords pass through unchanged."""
    spec = {
        "enable": enable,
        "search_engine": search_engine,
        "count": count,
        "search_recency_filter": search_recency_filter,
        "content_size": content_size,
        **extra,
    }
    return {"type": "web_search", "web_search": {k: v for k, v in spec.items() if v is not None}}


class ToolSet:
    """The tools of one ``chat()``: the request's ``tools`` list and the callables by exact name."""

    def __init__(self, tools: Sequence[Any]) -> None:
        if isinstance(tools, (str, bytes, dict)) or not isinstance(tools, Sequence):
            raise InvalidOptionError(
                "tools must be a list of functions (or tool dicts such as glm.web_search())."
            )
        self.by_name: dict[str, Tool] = {}
        self.definitions: list[dict[str, Any]] = []
        for item in tools:
            if isinstance(item, dict):  # built-in tools and hand-written definitions pass through
                self.definitions.append(item)
                continue
            wrapped = item if isinstance(item, Tool) else Tool(item)
            if wrapped.name in self.by_name:
                raise InvalidOptionError(
                    f"Two tools are named {wrapped.name!r}: pass name=... to tell them apart."
                )
            self.by_name[wrapped.name] = wrapped
            self.definitions.append(wrapped.definition())

    def unknown(self, name: str) -> str:
        """What the model is told when it names a tool it was not given."""
        names = ", ".join(sorted(self.by_name)) or "none"
        return f"Error: there is no tool named {name!r}. The tools you can call are: {names}."


def tool_output(value: Any) -> str:
    """The text sent back for a result: a str as is, anything else as JSON (pydantic's encoder,
    so models, dataclasses, dates and sets work; other objects as their str())."""
    if isinstance(value, str):
        return value
    import pydantic_core

    return pydantic_core.to_json(value, fallback=str).decode()


def error_output(exc: BaseException) -> str:
    return f"Error: {type(exc).__name__}: {exc}"


# -- the schema ---------------------------------------------------------------------------------------


def _build_schema(fn: Callable[..., Any], name: str, description: str | None) -> _Schema:
    """The description, JSON schema and validating model for ``fn``.

    Fields are named ``p0, p1, ...`` with the parameter names as aliases, so a parameter called
    ``json`` or ``model_config`` cannot clash with pydantic's own attributes.
    """
    import docstring_parser
    from pydantic import ConfigDict, Field, create_model

    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    if description is None:
        parts = [doc.short_description or "", doc.long_description or ""]
        description = "\n\n".join(p for p in parts if p)
    param_help = {p.arg_name: p.description for p in doc.params if p.description}
    try:
        signature = _signature(fn)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(f"Tool {name!r}: cannot read the signature of {fn!r} ({exc}).") from None
    fields: dict[str, Any] = {}
    names: list[str] = []
    positional: set[str] = set()
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # *args / **kwargs have no schema: the model sends the named parameters only
        annotation = param.annotation
        if annotation is inspect.Parameter.empty:
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        field = Field(default, alias=param.name, description=param_help.get(param.name))
        fields[f"p{len(names)}"] = (annotation, field)
        names.append(param.name)
        if param.kind is param.POSITIONAL_ONLY:
            positional.add(param.name)
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    model = create_model(f"{name}_arguments", __config__=config, **fields)
    schema = _drop_titles(model.model_json_schema(by_alias=True))
    schema.setdefault("properties", {})
    return _Schema(description, schema, model, names, frozenset(positional))


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    """The signature with string annotations (``from __future__ import annotations``) resolved."""
    try:
        return inspect.signature(fn, eval_str=True)
    except NameError:  # a hint naming something not importable here: use it as written
        return inspect.signature(fn)


def _drop_titles(schema: Any) -> Any:
    """pydantic's schema without its generated ``title`` keys (noise for the model); property
    names (which may well be "title") are kept."""
    if isinstance(schema, list):
        return [_drop_titles(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {k: _drop_titles(v) for k, v in value.items()}
        else:
            out[key] = _drop_titles(value)
    return out
