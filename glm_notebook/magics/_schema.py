"""``%%glm --schema NAME``: the schema looked up in the user namespace, and the answer's turns.

The turns are the client's (``ClientBase.tool_loop(..., schema=...)``, the same decisions as
``client.chat(schema=...)``); here each one is an ``AnswerRun`` streamed into its own view: the
answer, and when it did not fit the schema, the one repair turn below it. ``_glm`` (and ``--out``)
end up holding the combined result, its ``parsed`` the validated object.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._errors import GLMError, SchemaValidationError
from ..answer._run import AnswerRun, needs_start

if TYPE_CHECKING:
    from .._types import ChatResult
    from ..client._sync import GLMClient
    from ..tools._schema import OutputSchema
    from ._magics import GLMMagics


def schema_from(name: str, namespace: dict[str, Any]) -> OutputSchema:
    """The schema named by ``--schema NAME``; a UsageError, before anything is sent, if it is not one."""
    from ..tools._schema import ACCEPTED, OutputSchema

    if name not in namespace:
        raise UsageError(f"--schema {name}: no variable {name!r}; define {ACCEPTED} named {name} first.")
    try:
        return OutputSchema.of(namespace[name])
    except GLMError as exc:
        raise UsageError(f"--schema {name}: {exc}") from None


def run_structured(
    magics: GLMMagics,
    client: GLMClient,
    schema: OutputSchema,
    messages: Any,
    *,
    model: str | None,
    system: str | None,
    options: dict[str, Any],
    out: str | None,
    plain_text: bool,
) -> tuple[ChatResult | None, BaseException | None]:
    """Stream the answer (and the repair turn, if needed); the result and what ended it early."""
    options = {k: v for k, v in options.items() if k != "response_format"}  # --format json: the schema's
    try:
        loop = client.tool_loop(
            messages,
            model=model,
            system=system,
            tools=None,
            tool_choice=None,
            max_tool_turns=1,
            raise_tool_errors=False,
            options=options,
            schema=schema,
        )
    except GLMError as exc:
        raise UsageError(str(exc)) from None
    from ..tools._loop import Ask

    step = loop.resume()
    while step is not None:
        assert isinstance(step, Ask)  # no tools given: the loop only asks
        run = AnswerRun(
            partial(client.stream, step.messages, model=model, **step.options),
            magics.answer_view(client, model, plain_text=plain_text),
            usage=magics.usage,
            on_end=lambda ended: magics.store_result(ended.result, out),
            starting=needs_start(client),
        )
        result = run.run()  # an interrupt re-raises here, after _glm holds the partial turn
        if run.error is not None:
            if isinstance(run.error, GLMError):
                loop.failed(run.error)
            return loop.result or result, run.error
        try:
            step = loop.resume(result)
        except SchemaValidationError as exc:
            magics.store_result(exc.partial, out)
            print(
                f"The answer does not match {schema.name} even after one repair turn "
                f"({exc.validation_error}); the text is in _glm.text."
            )
            return exc.partial, exc
        except GLMError as exc:  # the model called tools it was not given, again and again
            magics.store_result(exc.partial, out)
            print(exc)
            return exc.partial, exc
        if step is not None and loop.messages[-1].get("role") == "user":
            print(f"The answer did not match {schema.name}: asking once more with the validation error.")
    magics.store_result(loop.result, out)
    return loop.result, None
