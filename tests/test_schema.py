"""Structured output (``chat(prompt, schema=X)``) over a real loopback socket (GLMTestServer).

What the user sees: the exact request per provider kind (json_schema for OpenAI-compatible
servers, json_object plus the schema in the system prompt on GLM's cloud), ``result.parsed`` for
each kind of schema, the one repair turn with its exact messages, SchemaValidationError after a
second failure, fenced answers, and bad ``schema=`` arguments refused before any request.
Sync and async clients, and ``%%glm --schema`` in a real shell and a real kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pydantic
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from test_saved_notebook import run_notebook
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

import glm_notebook as glm
from glm_notebook.testing import Fault, Reply

KEY = "sk-schema-test-key-4242"
MODEL = "glm-4.7-flash"


class PersonModel(pydantic.BaseModel):
    name: str
    age: int


@dataclass
class PersonData:
    name: str
    age: int


class PersonDict(TypedDict):
    name: str
    age: int


PERSON_SCHEMA = {
    "title": "Person",
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
ANN = '{"name": "Ann", "age": 41}'


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


def make_client(server, provider="openai-compatible", cls=glm.GLMClient):
    return cls(base_url=server.base_url, api_key=KEY, model=MODEL, provider=provider, timeout=10.0)


@pytest.fixture
def client(server):
    with make_client(server) as c:
        yield c


def usage(prompt, completion):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# -- what is sent --------------------------------------------------------------------------------


def test_openai_compatible_servers_get_the_json_schema_nesting(server, client):
    server.enqueue(Reply(text=ANN))
    client.chat("Who is Ann?", schema=PERSON_SCHEMA, temperature=0.0)
    (request,) = server.requests
    assert request.json["messages"] == [{"role": "user", "content": "Who is Ann?"}]
    assert request.json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": PERSON_SCHEMA},
    }
    assert request.json["temperature"] == 0.0 and "tools" not in request.json
    assert "tool_stream" not in request.json


@pytest.mark.parametrize("provider", ["bigmodel", "zai", "zai-coding"])
def test_glm_cloud_gets_json_object_and_the_schema_in_the_system_prompt(server, provider):
    server.enqueue(Reply(text=ANN), Reply(text=ANN))
    with make_client(server, provider) as c:
        c.chat("Who is Ann?", schema=PersonModel)
        c.chat("Who is Ann?", schema=PersonModel, system="Be exact.")
    schema_text = json.dumps(pydantic.TypeAdapter(PersonModel).json_schema(), ensure_ascii=False)
    instruction = (
        "Answer with one JSON object and nothing else. It must match this JSON schema:\n" + schema_text
    )
    bare, with_system = (r.json for r in server.requests)
    assert bare["response_format"] == with_system["response_format"] == {"type": "json_object"}
    assert bare["messages"] == [
        {"role": "system", "content": instruction},
        {"role": "user", "content": "Who is Ann?"},
    ]
    assert with_system["messages"][0] == {"role": "system", "content": "Be exact.\n\n" + instruction}


# -- what comes back -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema, expected",
    [
        (PersonModel, PersonModel(name="Ann", age=41)),
        (PersonData, PersonData(name="Ann", age=41)),
        (PersonDict, {"name": "Ann", "age": 41}),
        (PERSON_SCHEMA, {"name": "Ann", "age": 41}),
    ],
    ids=["pydantic", "dataclass", "typeddict", "json-schema-dict"],
)
def test_parsed_is_the_validated_object_of_each_kind(server, client, schema, expected):
    server.enqueue(Reply(text=ANN, chunk_size=3))
    result = client.chat("Who is Ann?", schema=schema)
    assert result.parsed == expected and type(result.parsed) is type(expected)
    assert result.text == ANN and len(server.requests) == 1
    assert result.messages == [
        {"role": "user", "content": "Who is Ann?"},
        {"role": "assistant", "content": ANN},
    ]


@pytest.mark.parametrize(
    "text",
    [
        f"```json\n{ANN}\n```",
        f"```\n{ANN}\n```\n",
        f"Here you are:\n\n```json\n{ANN}\n```\nAnything else?",
    ],
)
def test_a_fenced_answer_is_parsed(server, client, text):
    server.enqueue(Reply(text=text))
    result = client.chat("Who is Ann?", schema=PersonModel)
    assert result.parsed == PersonModel(name="Ann", age=41) and len(server.requests) == 1
    assert result.text == text  # the raw text stays as it came


def test_an_invalid_answer_gets_one_repair_turn_with_the_validation_error(server, client):
    wrong = '{"name": "Ann", "age": "forty-one"}'
    server.enqueue(Reply(text=wrong, usage=usage(10, 4)), Reply(text=ANN, usage=usage(30, 5)))
    result = client.chat("Who is Ann?", schema=PersonModel, system="Be exact.")
    assert result.parsed == PersonModel(name="Ann", age=41)
    first, repair = server.requests
    expected = [
        first.json["messages"][0],  # the system prompt with the schema is sent again unchanged
        {"role": "user", "content": "Who is Ann?"},
        {"role": "assistant", "content": wrong},
        {
            "role": "user",
            "content": "Your answer does not match the required JSON schema: age: Input should be a "
            "valid integer, unable to parse string as an integer\n"
            "Answer again with only the corrected JSON object.",
        },
    ]
    assert repair.json["messages"] == expected
    assert repair.json["response_format"] == first.json["response_format"]
    assert result.messages == expected + [{"role": "assistant", "content": ANN}]
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (
        40,
        9,
        49,
    )


def test_an_answer_that_is_not_json_is_repaired_too(server, client):
    server.enqueue(Reply(text="Ann is 41."), Reply(text=ANN))
    result = client.chat("Who is Ann?", schema=PERSON_SCHEMA)
    assert result.parsed == {"name": "Ann", "age": 41}
    repair = server.requests[1].json["messages"][-1]["content"]
    assert repair.startswith(
        "Your answer does not match the required JSON schema: the answer is not valid JSON"
    )


def test_json_schema_dict_problems_are_named_by_path(server, client):
    server.enqueue(Reply(text='{"name": 7}'), Reply(text=ANN))
    client.chat("Who is Ann?", schema=PERSON_SCHEMA)
    repair = server.requests[1].json["messages"][-1]["content"]
    assert (
        "(top level): 'age' is a required property" in repair and "name: 7 is not of type 'string'" in repair
    )


def test_a_second_invalid_answer_raises_schema_validation_error(server, client):
    server.enqueue(
        Reply(text='{"name": "Ann"}', usage=usage(10, 3)), Reply(text="Sorry, no.", usage=usage(20, 2))
    )
    with pytest.raises(glm.SchemaValidationError) as info:
        client.chat("Who is Ann?", schema=PersonModel)
    error = info.value
    assert isinstance(error, glm.GLMError)
    assert error.text == "Sorry, no."
    assert "not valid JSON" in error.validation_error and "PersonModel" in str(error)
    assert error.partial.text == "Sorry, no." and error.partial.parsed is None
    assert error.partial.usage.total_tokens == 35
    assert [m["role"] for m in error.messages] == ["user", "assistant", "user", "assistant"]
    assert len(server.requests) == 2  # exactly one repair turn


def test_an_answer_cut_at_max_tokens_says_to_raise_max_tokens(server, client):
    server.enqueue(
        Reply(text='{"name": "An', finish_reason="length"), Reply(text='{"na', finish_reason="length")
    )
    with pytest.raises(glm.SchemaValidationError, match="raise max_tokens: the answer was cut off"):
        client.chat("Who is Ann?", schema=PersonModel, max_tokens=5)


@pytest.mark.parametrize(
    "bad, words",
    [
        (PersonData(name="Ann", age=41), "pass the class itself"),
        (int, "the class int"),
        ("Person", "str 'Person'"),
        ({"type": "no-such-type"}, "not a valid JSON schema"),
        ({"name": str, "age": int}, "write a TypedDict or a dataclass instead"),
        ({"name": "string"}, "is not a JSON schema for an answer"),
        ([PersonModel], "a pydantic model class, a dataclass, a TypedDict or a JSON-schema dict"),
    ],
)
def test_a_bad_schema_argument_is_refused_before_any_request(server, client, bad, words):
    with pytest.raises(glm.InvalidOptionError, match="schema=") as info:
        client.chat("Who is Ann?", schema=bad)
    assert words in str(info.value) and isinstance(info.value, ValueError)
    assert server.requests == []


def test_stream_says_schema_belongs_to_chat(server, client):
    with pytest.raises(glm.InvalidOptionError, match=r"use chat\(\.\.\., schema=\.\.\.\)"):
        client.stream("Who is Ann?", schema=PersonModel)
    assert server.requests == []


def test_response_format_and_schema_together_are_refused_before_any_request(server, client):
    with pytest.raises(glm.InvalidOptionError, match="schema= sets response_format itself"):
        client.chat("Who is Ann?", schema=PersonModel, response_format={"type": "json_object"})
    with pytest.raises(glm.InvalidOptionError, match="temperature"):
        client.chat("Who is Ann?", schema=PersonModel, temperature=7)
    assert server.requests == []


def test_tools_and_schema_together_validate_the_answer_that_ends_the_loop(server, client):
    def age_of(name: str) -> int:
        """How old someone is."""
        return 41

    server.enqueue(
        Reply(tool_calls=[{"id": "c1", "name": "age_of", "arguments": {"name": "Ann"}}]),
        Reply(text=ANN),
    )
    result = client.chat("How old is Ann?", tools=[age_of], schema=PersonDict)
    assert result.parsed == {"name": "Ann", "age": 41}
    first, second = server.requests
    assert first.json["response_format"]["type"] == "json_schema" and first.json["tools"]
    assert second.json["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": "41"}


# -- async ---------------------------------------------------------------------------------------


async def test_async_client_parses_repairs_and_raises_the_same_way(server):
    async with make_client(server, cls=glm.AsyncGLMClient) as c:
        server.enqueue(Reply(text=f"```json\n{ANN}\n```"))
        assert (await c.chat("Who?", schema=PersonData)).parsed == PersonData("Ann", 41)
        server.enqueue(Reply(text='{"age": 41}'), Reply(text=ANN))
        repaired = await c.chat("Who?", schema=PersonModel)
        assert repaired.parsed == PersonModel(name="Ann", age=41)
        assert (
            server.requests[2]
            .json["messages"][-1]["content"]
            .startswith("Your answer does not match the required JSON schema: name: Field required")
        )
        server.enqueue(Reply(text="no"), Reply(text="still no"))
        with pytest.raises(glm.SchemaValidationError) as info:
            await c.chat("Who?", schema=PERSON_SCHEMA)
        assert info.value.text == "still no"
        before = len(server.requests)
        with pytest.raises(glm.InvalidOptionError):
            await c.chat("Who?", schema=object())
        assert len(server.requests) == before == 5


async def test_async_client_with_an_async_tool_and_a_schema(server):
    async def age_of(name: str) -> int:
        """How old someone is."""
        return 41

    server.enqueue(
        Reply(tool_calls=[{"id": "c1", "name": "age_of", "arguments": {"name": "Ann"}}]),
        Reply(text='{"name": "Ann"}'),
        Reply(text=ANN),
    )
    async with make_client(server, cls=glm.AsyncGLMClient) as c:
        result = await c.chat("How old is Ann?", tools=[age_of], schema=PersonModel)
    assert result.parsed == PersonModel(name="Ann", age=41)
    assert [m["role"] for m in result.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    assert server.requests[2].json["tools"] == server.requests[0].json["tools"]  # offered in the repair too
    assert len(result.tool_calls) == 1 and result.tool_calls[0].output == "41"


def test_import_loads_no_validation_library_until_a_schema_needs_it(server):
    code = f"""
import sys, glm_notebook as glm
from glm_notebook.testing import GLMTestServer, Reply
loaded = lambda: ('pydantic' in sys.modules, 'jsonschema' in sys.modules)
print(*loaded())
with GLMTestServer() as s:
    c = glm.GLMClient(base_url=s.base_url, api_key="k", model="{MODEL}", provider="openai-compatible")
    c.chat("hi")
    print(*loaded())
    s.enqueue(Reply(text='{{"a": 1}}'))
    print(c.chat("hi", schema={{"type": "object"}}).parsed, *loaded())
    from dataclasses import dataclass
    A = dataclass(type("A", (), {{"__annotations__": {{"a": int}}}}))
    s.enqueue(Reply(text='{{"a": 1}}'))
    print(c.chat("hi", schema=A).parsed, *loaded())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "False False",
        "False False",
        "{'a': 1} False True",  # a JSON-schema dict needs only jsonschema
        "A(a=1) True True",
    ]


# -- %%glm --schema ------------------------------------------------------------------------------


def test_magic_schema_flag_puts_the_object_in_glm_parsed(ip, zai_env):
    ip.user_ns["Person"] = PersonModel
    zai_env.enqueue(Reply(text='{"name": "Ann", "age": "x"}'), Reply(text=ANN))
    with capture_output() as out:
        ip.run_cell_magic("glm", "--schema Person --format json --out who", "Who is Ann?")
    assert ip.user_ns["_glm"].parsed == PersonModel(name="Ann", age=41)
    assert ip.user_ns["who"] is ip.user_ns["_glm"]
    assert "did not match PersonModel: asking once more" in out.stdout
    first, repair = (r.json for r in zai_env.requests)
    assert first["response_format"] == {"type": "json_object"}  # not sent twice by --format json
    assert first["messages"][0]["role"] == "system" and len(repair["messages"]) == 4


def test_line_magic_takes_the_schema_flag_too(ip, zai_env):
    ip.user_ns["Person"] = PERSON_SCHEMA
    zai_env.enqueue(Reply(text=ANN))
    with capture_output():
        ip.run_line_magic("glm", "--schema Person Who's Ann?")
    assert ip.user_ns["_glm"].parsed == {"name": "Ann", "age": 41}
    assert zai_env.requests[0].json["messages"][-1] == {"role": "user", "content": "Who's Ann?"}


def test_magic_schema_that_never_fits_is_one_line_and_keeps_the_text(ip, zai_env):
    ip.user_ns["Person"] = PersonDict
    zai_env.enqueue(Reply(text="no"), Reply(text="nope"))
    with capture_output() as out:
        ip.run_cell_magic("glm", "--schema Person", "Who is Ann?")
    assert "does not match PersonDict even after one repair turn" in out.stdout
    assert ip.user_ns["_glm"].text == "nope" and ip.user_ns["_glm"].parsed is None


def test_magic_schema_api_error_is_one_line_and_raise_errors_raises_it(ip, zai_env):
    ip.user_ns["Person"] = PersonModel
    zai_env.enqueue(Reply(text="no"), Fault.balance())
    with capture_output() as out:
        ip.run_cell_magic("glm", "--schema Person", "Who is Ann?")
    assert "balance" in out.stdout and "Traceback" not in out.stdout
    assert isinstance(ip.user_ns["_glm"].error, glm.InsufficientBalance)
    ip.magics_manager.registry["GLMMagics"].raise_errors = True
    zai_env.enqueue(Fault.balance())
    with capture_output(), pytest.raises(glm.InsufficientBalance):
        ip.run_cell_magic("glm", "--schema Person", "Who is Ann?")


@pytest.mark.parametrize(
    "flags, words",
    [
        ("--schema Nobody", "no variable 'Nobody'"),
        ("--schema age", "schema= takes a pydantic model class"),
        ("--schema Person --tune", "drop --tune"),
    ],
)
def test_magic_schema_mistakes_are_usage_errors_before_sending(ip, zai_env, flags, words):
    ip.user_ns.update(Person=PersonModel, age=41)
    with pytest.raises(UsageError, match=words):
        ip.run_cell_magic("glm", flags, "Who is Ann?")
    assert zai_env.requests == []


def test_magic_schema_in_a_real_kernel(tmp_path, glm_server):
    glm_server.enqueue(Reply(text=f"```json\n{ANN}\n```"))
    nb = run_notebook(
        tmp_path,
        glm_server,
        [
            "%load_ext glm_notebook\nfrom dataclasses import dataclass\n"
            "@dataclass\nclass Person:\n    name: str\n    age: int",
            "%%glm --schema Person\nWho is Ann?",
            "print(repr(_glm.parsed))",
        ],
    )
    assert nb.cells[2].outputs[0]["text"].strip() == "Person(name='Ann', age=41)"
    assert glm_server.requests[0].json["response_format"] == {"type": "json_object"}
