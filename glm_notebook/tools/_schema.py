"""Structured output: what ``chat(prompt, schema=X)`` sends for a schema and how the answer is
checked, free of I/O (the turns themselves are ``tools/_loop.ToolLoop``'s, for both clients).

``schema=`` takes a pydantic model class, a dataclass, a TypedDict or a JSON-schema dict. pydantic
v2 (``TypeAdapter``, imported only now) builds the JSON schema of the first three and validates the
answer into the same kind of object: a model instance, a dataclass instance, a dict for a
TypedDict. A JSON-schema dict is checked as a schema up front and the answer validated against it
with ``jsonschema`` (a dependency every Jupyter install already has; imported only now), and
``parsed`` is the decoded dict.

On the wire (GLM_PROTOCOL.md, "Structured output"):

- GLM's cloud (providers bigmodel, zai, zai-coding) documents only ``response_format:
  {"type": "json_object"}``: that is sent, and the schema is put in the system prompt (appended to
  a system prompt of your own);
- OpenAI-compatible servers get ``{"type": "json_schema", "json_schema": {"name", "schema"}}``,
  the nesting llama.cpp's own server and vLLM read (and then constrain their decoding to);
- the embedded offline model (provider local) runs llama-cpp-python's server, whose request type
  accepts only ``"text"`` / ``"json_object"`` (``json_schema`` is an HTTP 400 there): it gets
  ``{"type": "json_object", "schema": {...}}``, which it turns into a grammar for the schema.

The answer is parsed after stripping a Markdown code fence (```json ... ```), which models often
add. If it is not JSON or does not fit the schema, exactly one repair turn is sent: the answer as
the assistant's message, then a user message with the validation error (``repair_message``). A
second failure raises ``SchemaValidationError`` with the raw ``text``, the message and the partial
result. ``response_format=`` together with ``schema=`` is refused: the schema sets it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from typing import Any

from .._errors import InvalidOptionError
from .._options import LOCAL_LIKE_PROVIDERS
from .._types import strip_fences

#: How the system-prompt instruction for GLM's cloud begins (the JSON schema follows it).
INSTRUCTION_HEAD = "Answer with one JSON object and nothing else. It must match this JSON schema:\n"

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")

ACCEPTED = "a pydantic model class, a dataclass, a TypedDict or a JSON-schema dict"


class SchemaMismatch(ValueError):
    """The answer is not JSON or does not fit the schema; the text is for the model (and you)."""


class OutputSchema:
    """One ``schema=`` argument, checked: its ``name``, its JSON ``schema`` and ``parse(text)``."""

    def __init__(self, name: str, schema: dict[str, Any], validate: Any) -> None:
        self.name = name
        self.schema = schema
        self._validate = validate  # JSON text -> the parsed object, or raise SchemaMismatch

    @classmethod
    def of(cls, schema: Any) -> OutputSchema:
        """Check ``schema`` (before any request): InvalidOptionError saying what is accepted."""
        if isinstance(schema, OutputSchema):
            return schema
        if isinstance(schema, dict):
            return _from_json_schema(schema)
        if isinstance(schema, type) and _is_typed_class(schema):
            return _from_type(schema)
        raise InvalidOptionError(f"schema= takes {ACCEPTED}; got {_describe(schema)}.")

    def parse(self, text: str) -> Any:
        """The validated object from an answer's text; SchemaMismatch says what is wrong."""
        body = strip_fences(text)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise SchemaMismatch(f"the answer is not valid JSON ({exc})") from None
        return self._validate(body, data)

    def request(
        self, provider: str, messages: list[dict[str, Any]], options: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The messages and options of the first request: response_format set, and on GLM's
        cloud the schema in the system prompt."""
        if options.get("response_format") is not None:
            raise InvalidOptionError(
                "schema= sets response_format itself: drop response_format=... (or --format json)."
            )
        if provider == "local":  # llama-cpp-python's server: json_schema is a 400 there
            return messages, {**options, "response_format": {"type": "json_object", "schema": self.schema}}
        if provider in LOCAL_LIKE_PROVIDERS:
            wire = {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.schema}}
            return messages, {**options, "response_format": wire}
        return _with_instruction(messages, self.instruction()), {
            **options,
            "response_format": {"type": "json_object"},
        }

    def instruction(self) -> str:
        """The system-prompt text that tells GLM's cloud models the schema."""
        return INSTRUCTION_HEAD + json.dumps(self.schema, ensure_ascii=False)

    def repair_message(self, problem: str) -> dict[str, Any]:
        """The user message of the repair turn, after the invalid answer."""
        return {
            "role": "user",
            "content": (
                f"Your answer does not match the required JSON schema: {problem}\n"
                "Answer again with only the corrected JSON object."
            ),
        }

    def __repr__(self) -> str:
        return f"OutputSchema(name={self.name!r})"


def _is_typed_class(obj: type) -> bool:
    try:  # knows both kinds of TypedDict (pydantic needs typing_extensions' before Python 3.12)
        from typing_extensions import is_typeddict
    except ImportError:  # pragma: no cover - pydantic depends on typing_extensions
        from typing import is_typeddict

    if dataclasses.is_dataclass(obj) or is_typeddict(obj):
        return True
    pydantic = sys.modules.get("pydantic")  # a BaseModel exists only if pydantic is loaded
    return pydantic is not None and issubclass(obj, pydantic.BaseModel)


def _from_type(cls: type) -> OutputSchema:
    from pydantic import TypeAdapter, ValidationError

    try:
        adapter: TypeAdapter[Any] = TypeAdapter(cls)
        schema = adapter.json_schema()
    except Exception as exc:  # noqa: BLE001 - pydantic's many schema errors: one clear message
        raise InvalidOptionError(
            f"schema={cls.__name__}: pydantic cannot build a JSON schema ({exc})."
        ) from None

    def validate(body: str, data: Any) -> Any:
        if not isinstance(data, dict):
            raise SchemaMismatch(f"expected a JSON object, got {type(data).__name__}")
        try:
            return adapter.validate_json(body)
        except ValidationError as exc:
            raise SchemaMismatch(_pydantic_problems(exc)) from None

    return OutputSchema(_wire_name(cls.__name__), schema, validate)


def _pydantic_problems(exc: Any) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


# Top-level keywords of which a JSON schema for an answer has at least one: a dict with none of
# them ({"name": "string"}) is valid JSON Schema that accepts anything, surely not what was meant.
_SCHEMA_KEYWORDS = frozenset(
    {"type", "properties", "$ref", "anyOf", "oneOf", "allOf", "enum", "const", "items", "required"}
)


def _from_json_schema(schema: dict[str, Any]) -> OutputSchema:
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(
            f"schema= dict must be a JSON schema, all JSON ({exc}); for Python types such as "
            "{'name': str} write a TypedDict or a dataclass instead."
        ) from None
    if not _SCHEMA_KEYWORDS & set(schema):
        raise InvalidOptionError(
            "schema= dict is not a JSON schema for an answer (it has none of "
            f"{', '.join(sorted(_SCHEMA_KEYWORDS))}); write e.g. {{'type': 'object', 'properties': "
            "{'name': {'type': 'string'}}, 'required': ['name']}, or pass a TypedDict or dataclass."
        )
    import jsonschema

    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidOptionError(f"schema= is not a valid JSON schema: {exc.message}.") from None
    validator = validator_class(schema)

    def validate(body: str, data: Any) -> Any:
        problems = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if problems:
            raise SchemaMismatch(
                "; ".join(
                    f"{'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
                    for e in problems
                )
            )
        return data

    return OutputSchema(_wire_name(str(schema.get("title") or "response")), schema, validate)


def _wire_name(name: str) -> str:
    """A name as OpenAI-compatible servers accept it (letters, digits, _ and -; at most 64)."""
    return _NAME_CHARS.sub("_", name)[:64] or "response"


def _with_instruction(messages: list[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    """``messages`` with ``instruction`` appended to a leading text system prompt, or put first."""
    if messages and messages[0].get("role") == "system" and isinstance(messages[0].get("content"), str):
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__name__} (not a pydantic model, dataclass or TypedDict)"
    if dataclasses.is_dataclass(obj):
        return f"an instance of {type(obj).__name__} (pass the class itself)"
    return f"{type(obj).__name__} {obj!r}"[:200]
