"""What the sync and async clients share: construction, settings, turning a prompt and options
into an ``Exchange`` (the request engine in ``_engine``), and the stream handle's control surface
(``result``, ``cancel()``, ``on_notice()``).

Options and messages are validated when a stream is made, before anything is sent or started;
the endpoint (which may start the offline model) is resolved by the exchange at its first step.
Endpoint resolution is in ``_endpoint``, the socket shutdown behind cancel() in ``_cancel``, the
httpx options in ``_transport``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import httpx

from .._conversation import preserves_thinking, without_earlier_reasoning
from .._errors import APIError, InvalidOptionError, make_api_error
from .._options import build_options
from .._settings import SecretKey, Settings, mask_key, resolve_settings
from .._types import ChatResult
from ..tools import DEFAULT_TOOL_TURNS
from ._cancel import track_sockets
from ._endpoint import Endpoint
from ._engine import Exchange, Notify
from ._limits import DEFAULT_TOTAL_TIMEOUT, MAX_ERROR_BYTES, MAX_WHOLE_BYTES, BodyBuffer, TimeLimits
from ._replay import Question
from ._request import PreparedRequest, Prompt, assemble_payload, build_headers, build_messages
from ._retry import RetryPolicy
from ._transport import http_client_options

if TYPE_CHECKING:
    from ..tools._functions import Approver
    from ..tools._loop import ToolLoop

Answer = TypeVar("Answer")  # ChatResult for GLMClient, an awaitable of it for AsyncGLMClient
Stream = TypeVar("Stream")  # ChatStream / AsyncChatStream
LoopStream = TypeVar("LoopStream")  # ToolChatStream / AsyncToolChatStream (``_tool_stream``)


class StreamBase:
    """What ChatStream and AsyncChatStream share: the result so far, cancel() and notices."""

    def __init__(self, exchange: Exchange, http: Any) -> None:
        self._exchange = exchange
        self._http = http
        self.result: ChatResult = exchange.result

    @property
    def cancelled(self) -> bool:
        return self._exchange.cancelled.is_set()

    def cancel(self) -> None:
        """Stop the stream from any thread (or the event loop): the connection is shut down at once."""
        self._exchange.cancel()

    def on_notice(self, callback: Notify) -> None:
        """Call ``callback(notice)`` for each Notice ("starting", "retrying", "restarting"), from the
        thread or event loop that iterates the stream; a callback that raises is logged, not fatal."""
        self._exchange.on_notice(callback)


class ClientBase(Generic[Answer, Stream, LoopStream]):
    """Settings, retry policy and request preparation common to GLMClient and AsyncGLMClient.

    All arguments are keyword-only and optional: the provider, key, base URL and model are read
    from the environment / ``.env`` when not given (see the README). ``transport=`` is for tests
    (``httpx.MockTransport``); without it each client keeps its own connection pool.

    Time: ``timeout`` (60 s) bounds each wait on the network *and* how long the server may go
    without sending answer data (keep-alive comments do not count); ``total_timeout`` (1800 s,
    None for no limit) bounds one whole answer, from its first request to its last byte, retries
    and keep-alives included. Either ends in ``APITimeoutError`` keeping the partial answer.
    """

    _http_class: type[httpx.Client] | type[httpx.AsyncClient]
    http: Any

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        retry_deadline: float | None = None,
        total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if api_key is not None:
            api_key = SecretKey(api_key)  # this frame's locals show it masked (tracebacks with locals)
        settings = resolve_settings(api_key=api_key, base_url=base_url, provider=provider, model=model)
        deadline = retry_deadline if retry_deadline is not None else timeout
        policy = RetryPolicy(max_retries=max_retries, deadline_s=deadline)
        self._setup(Endpoint(settings), timeout, policy, transport, total_timeout=total_timeout)

    def _setup(
        self,
        endpoint: Endpoint,
        timeout: float,
        policy: RetryPolicy,
        transport: Any,
        connections: int | None = None,
        total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint  # may be shared with another client (AsyncGLMClient.from_client)
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.retry_policy = policy
        self.transport = transport
        self.time_limits = TimeLimits(idle_s=timeout, total_s=total_timeout)
        options = http_client_options(timeout, transport, connections, base_url=endpoint.settings.base_url)
        self.http = self._http_class(**options)
        if transport is None:
            track_sockets(self.http)

    @property
    def max_retries(self) -> int:
        """Extra attempts after a retryable failure (the retry policy's)."""
        return self.retry_policy.max_retries

    @property
    def settings(self) -> Settings:
        """Provider, base URL, model and key; the base URL and model of provider 'local' are known
        once the offline model has started (at the first request)."""
        return self.endpoint.settings

    @property
    def provider(self) -> str:
        return self.settings.provider

    @property
    def model(self) -> str | None:
        return self.settings.model

    @property
    def base_url(self) -> str | None:
        return self.settings.base_url

    @property
    def is_offline(self) -> bool:
        return self.settings.provider == "local"

    def __repr__(self) -> str:
        endpoint = self.__dict__.get("endpoint")
        if endpoint is None:  # a constructor that raised (a traceback printing its locals asks)
            return f"{type(self).__name__}(<not configured>)"
        s = endpoint.settings
        return (
            f"{type(self).__name__}(provider={s.provider!r}, base_url={s.base_url!r}, "
            f"model={s.model!r}, api_key={mask_key(s.api_key)!r})"
        )

    def exchange(
        self, prompt: Prompt, *, model: str | None, system: str | None, options: dict[str, Any]
    ) -> Exchange:
        """Validate options and messages (before anything else happens) and set up the request."""
        if "schema" in options:
            raise InvalidOptionError(
                "schema= is an argument of chat(), which can send the repair turn it may need; "
                "stream() sends one request: use chat(..., schema=...)."
            )
        context, images = options.pop("context", None), options.pop("images", None)
        if context is not None or images is not None:  # stream(..., context=, images=) as chat()
            prompt = self._attach(prompt, model, context, images)
        # The endpoint (which may start a local server) never changes the provider, so options
        # validated against it now stay valid.
        fields = build_options(self.settings.provider, options)
        messages = build_messages(prompt, system)
        if not preserves_thinking(self.settings.provider, options):  # cleared: no tokens spent on it
            messages = without_earlier_reasoning(messages)

        endpoint = self.endpoint

        def compose(settings: Settings) -> PreparedRequest:
            sent = messages
            default = endpoint.default_system  # the packaged offline chat model's, else None
            if default and not any(m.get("role") == "system" for m in messages):
                sent = [{"role": "system", "content": default}, *messages]
            return PreparedRequest(
                url=f"{settings.base_url}/chat/completions",
                payload=assemble_payload(model or settings.model, sent, fields),
                headers=build_headers(settings.api_key),
            )

        return Exchange(
            self.endpoint, compose, self.retry_policy, self.time_limits, Question(model, messages, fields)
        )

    def chat(
        self,
        prompt: Prompt,
        *,
        model: str | None = None,
        system: str | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        max_tool_turns: int = DEFAULT_TOOL_TURNS,
        raise_tool_errors: bool = False,
        approver: Approver | None = None,
        schema: Any = None,
        context: Mapping[str, Any] | None = None,
        images: Sequence[Any] | None = None,
        **options: Any,
    ) -> Answer:
        """Ask and wait for the whole answer (``await`` it on AsyncGLMClient).

        With ``tools`` (functions, ``glm.tool(...)``, ``glm.web_search()``) GLM may call them: each
        call is checked, run and answered until the model is done or ``max_tool_turns`` tool turns
        have passed (then ``ToolLoopError``); ``tools/_loop`` says what the model gets on each
        failure. ``raise_tool_errors=True`` re-raises a tool's exception. ``approver(call) -> bool``
        decides the calls whose tool has ``approve`` set (default: an ``input()`` prompt).

        With ``schema`` (a pydantic model class, a dataclass, a TypedDict or a JSON-schema dict)
        the answer is asked for as JSON and validated into ``result.parsed``; a Markdown fence
        around it is stripped first. An invalid answer gets one repair turn, then
        ``SchemaValidationError``; usage is summed over both turns, ``result.messages`` has the
        whole exchange. ``_schema`` says what is sent per provider; with tools too, the answer
        that ends the tool loop is the one validated.

        ``context={"df": df}`` puts one labelled block per object (``glm.describe``) before the
        question; ``images=[fig, "plot.png"]`` sends them to a vision model (``context/_attach``).
        """
        if context is not None or images is not None:
            prompt = self._attach(prompt, model, context, images)
        if tools is None and schema is None:
            return self._answer(prompt, model, system, {**options, "tool_choice": tool_choice})
        loop = self.tool_loop(
            prompt,
            model=model,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            max_tool_turns=max_tool_turns,
            raise_tool_errors=raise_tool_errors,
            options=options,
            schema=schema,
        )
        return self._run_tools(loop, model, approver)

    def _attach(self, prompt: Prompt, model: str | None, context: Any, images: Any) -> Prompt:
        from ..context._attach import attach

        return attach(prompt, context=context, images=images, model=model or self.settings.model)

    @overload
    def stream(
        self,
        prompt: Prompt,
        *,
        model: str | None = ...,
        system: str | None = ...,
        tools: None = ...,
        **options: Any,
    ) -> Stream: ...

    @overload
    def stream(
        self,
        prompt: Prompt,
        *,
        model: str | None = ...,
        system: str | None = ...,
        tools: Sequence[Any],
        **options: Any,
    ) -> LoopStream: ...

    def stream(
        self,
        prompt: Prompt,
        *,
        model: str | None = None,
        system: str | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        max_tool_turns: int = DEFAULT_TOOL_TURNS,
        raise_tool_errors: bool = False,
        approver: Approver | None = None,
        **options: Any,
    ) -> Stream | LoopStream:
        """Start a streamed chat (``with`` / ``async with`` it); options are validated now, before
        any request is sent.

        With ``tools`` (the arguments of ``chat``) the tool loop streams: every turn's events plus
        a "tool_result" event per call (``glm_notebook.client._tool_stream``)."""
        if tools is None:
            if tool_choice is not None:
                options = {**options, "tool_choice": tool_choice}
            return self.plain_stream(prompt, model, system, options)
        loop = self.tool_loop(
            prompt,
            model=model,
            system=system,
            tools=tools,
            tool_choice=tool_choice,
            max_tool_turns=max_tool_turns,
            raise_tool_errors=raise_tool_errors,
            options=options,
        )
        return self.loop_stream(loop, model, approver)

    def plain_stream(
        self, prompt: Prompt, model: str | None, system: str | None, options: dict[str, Any]
    ) -> Stream:
        raise NotImplementedError  # the driver: one request's stream

    def loop_stream(self, loop: ToolLoop, model: str | None, approver: Approver | None) -> LoopStream:
        raise NotImplementedError  # the driver: the streamed tool loop over ``loop``

    def _answer(
        self, prompt: Prompt, model: str | None, system: str | None, options: dict[str, Any]
    ) -> Answer:
        raise NotImplementedError  # the driver: stream once, return the result

    def _run_tools(self, loop: ToolLoop, model: str | None, approver: Approver | None) -> Answer:
        raise NotImplementedError  # the driver: its tool stream (``_tool_stream``) to the end

    def tool_loop(
        self,
        prompt: Prompt,
        *,
        model: str | None = None,
        system: str | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        max_tool_turns: int = DEFAULT_TOOL_TURNS,
        raise_tool_errors: bool = False,
        options: dict[str, Any] | None = None,
        schema: Any = None,
    ) -> ToolLoop:
        """The turn decisions of ``chat(..., tools=[...])`` and/or ``schema=`` (imports pydantic
        now, not before); everything is checked here, before any request.

        ``tool_stream: true`` is added for the models that stream arguments with it, unless set."""
        from ..tools._functions import ToolSet
        from ..tools._loop import ToolLoop, supports_tool_stream
        from ..tools._schema import OutputSchema

        output = OutputSchema.of(schema) if schema is not None else None
        options = dict(options or {})
        context, images = options.pop("context", None), options.pop("images", None)
        if context is not None or images is not None:  # stream(..., tools=, context=): the first turn's
            prompt = self._attach(prompt, model, context, images)
        build_options(self.settings.provider, options)  # a bad option fails before the schemas are built
        toolset = ToolSet(tools if tools is not None else [])
        messages = build_messages(prompt, system)
        if output is not None:
            messages, options = output.request(self.settings.provider, messages, options)
        if (
            tools is not None
            and options.get("tool_stream") is None
            and supports_tool_stream(model or self.settings.model)
        ):
            options = {**options, "tool_stream": True}
        return ToolLoop(
            toolset,
            messages,
            options,
            tool_choice=tool_choice,
            max_tool_turns=max_tool_turns,
            raise_tool_errors=raise_tool_errors,
            schema=output,
        )

    def models_request(self) -> tuple[str, dict[str, str]]:
        settings = self.endpoint.resolve()  # may start the offline model
        headers = build_headers(settings.api_key)
        headers["Accept"] = "application/json"
        return f"{settings.base_url}/models", headers


def models_body(response: httpx.Response) -> BodyBuffer:
    """Where a ``/models`` answer is read: within ``MAX_WHOLE_BYTES`` decoded, an error page
    within ``MAX_ERROR_BYTES`` (a compressed bomb is refused, never inflated whole)."""
    encoding = response.headers.get("content-encoding", "")
    if response.status_code != 200:
        return BodyBuffer(encoding, MAX_ERROR_BYTES, truncate=True)
    return BodyBuffer(encoding, MAX_WHOLE_BYTES)


def model_ids(status: int, content: bytes) -> list[str]:
    """The ids in a ``/models`` answer; the typed error when the server refused."""
    if status != 200:
        raise make_api_error(status, content)
    try:
        data = json.loads(content).get("data", [])
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]
    except (ValueError, AttributeError, TypeError):
        raise APIError(f"APIError: {len(content)} bytes from /models are not a list of models.") from None
