"""Tools from plain Python, sync client, over a real loopback socket (GLMTestServer).

What the user sees: the schema GLM gets from a function, the exact follow-up messages the loop
sends (assistant message with tool_calls and reasoning_content, one tool message per call), the
record in ``result.tool_calls`` / ``result.messages``, and what the model is told on each failure.
The openai SDK, reading the same streams, finds the same calls.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Literal

import openai
import pytest

import glm_notebook as glm
from glm_notebook.testing import TOOL_SHAPES, Reply

KEY = "sk-tools-test-key-4242"
MODEL = "glm-4.7-flash"


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


@pytest.fixture
def client(server):
    with glm.GLMClient(
        base_url=server.base_url, api_key=KEY, model=MODEL, provider="openai-compatible", timeout=10.0
    ) as c:
        yield c


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
    """Current weather for a city.

    Args:
        city: the city's name.
        unit: degrees Celsius or Fahrenheit.
    """
    return {"city": city, "temp": 21, "unit": unit}


def call(name: str, arguments, id: str | None = None) -> dict:
    return {"id": id or f"call_{name}", "name": name, "arguments": arguments}


def chat_messages(request) -> list[dict]:
    return request.json["messages"]


# -- the schema GLM sees -------------------------------------------------------------------------


def test_schema_from_signature_hints_and_google_docstring():
    spec = glm.tool(get_weather).definition()
    assert spec == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "the city's name."},
                    "unit": {
                        "type": "string",
                        "enum": ["C", "F"],
                        "default": "C",
                        "description": "degrees Celsius or Fahrenheit.",
                    },
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }


def numpy_style(path: str, limit: int = 10) -> list[str]:
    """List files.

    Parameters
    ----------
    path : str
        Folder to list.
    limit : int
        At most this many.
    """
    return []


def rest_style(title: str, json: bool = False) -> str:
    """Make a heading.

    :param title: the heading's text.
    :param json: answer as JSON.
    """
    return title


@pytest.mark.parametrize(
    "fn, expected",
    [
        (numpy_style, {"path": "Folder to list.", "limit": "At most this many."}),
        (rest_style, {"title": "the heading's text.", "json": "answer as JSON."}),
    ],
)
def test_parameter_descriptions_from_numpy_and_rest_docstrings(fn, expected):
    params = glm.tool(fn).parameters
    assert {name: p["description"] for name, p in params["properties"].items()} == expected
    assert "title" not in params and all("title" not in p for p in params["properties"].values())


def test_decorator_options_and_plain_names():
    @glm.tool(name="lookup", description="Find a word.", approve=True)
    async def find(word: str) -> str:
        return word

    assert (find.name, find.description, find.approve, find.is_async) == (
        "lookup",
        "Find a word.",
        True,
        True,
    )
    assert find.parameters["properties"] == {"word": {"type": "string"}}

    @glm.tool
    def plain(x: int) -> int:
        """Double it."""
        return 2 * x

    assert plain(4) == 8 and plain.name == "plain"  # the decorated function still works
    with pytest.raises(glm.InvalidOptionError, match="name="):
        glm.tool(lambda x: x)


def test_pydantic_is_imported_only_when_tools_are_used(server):
    code = f"""
import sys, glm_notebook as glm
from glm_notebook.testing import GLMTestServer, Reply
print('after import', 'pydantic' in sys.modules)
@glm.tool
def f(x: int) -> int:
    return x
print('after @glm.tool', 'pydantic' in sys.modules)
with GLMTestServer() as s:
    c = glm.GLMClient(base_url=s.base_url, api_key="k", model="{MODEL}", provider="openai-compatible")
    c.chat("hi")
    print('after a chat without tools', 'pydantic' in sys.modules)
    c.chat("hi", tools=[f])
    print('after a chat with tools', 'pydantic' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "after import False",
        "after @glm.tool False",
        "after a chat without tools False",
        "after a chat with tools True",
    ]
    load = (
        "from IPython.core.interactiveshell import InteractiveShell; import sys;"
        "InteractiveShell.instance().run_line_magic('load_ext', 'glm_notebook');"
        "print('pydantic' in sys.modules, 'docstring_parser' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# -- the loop: the exact follow-up messages ------------------------------------------------------


def test_follow_up_messages_are_exact(server, client):
    server.enqueue(
        Reply(
            reasoning="I need the weather.",
            text="Let me check.",
            tool_calls=[call("get_weather", {"city": "Paris"}, id="call_9")],
        ),
        Reply(text="It is 21 °C in Paris."),
    )
    result = client.chat("Weather in Paris?", tools=[get_weather], system="Be brief.")
    assert result.text == "It is 21 °C in Paris."
    first, second = server.requests
    assert first.json["tools"] == [glm.tool(get_weather).definition()]
    assert first.json["tool_stream"] is True  # glm-4.7-flash streams arguments with it
    assert chat_messages(second) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "reasoning_content": "I need the weather.",
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": '{"city":"Paris","temp":21,"unit":"C"}'},
    ]
    (done,) = result.tool_calls
    assert (done.name, done.parsed_arguments(), done.error) == ("get_weather", {"city": "Paris"}, None)
    assert json.loads(done.output) == {"city": "Paris", "temp": 21, "unit": "C"}
    assert result.messages == chat_messages(second) + [
        {"role": "assistant", "content": "It is 21 °C in Paris."}
    ]
    assert result.usage.completion_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_usage_is_summed_over_turns(server, client):
    u1 = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    u2 = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    u3 = {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37}
    server.enqueue(
        Reply(tool_calls=[call("get_weather", {"city": "Oslo"})], usage=u1),
        Reply(tool_calls=[call("get_weather", {"city": "Bergen"})], usage=u2),
        Reply(text="Cold.", usage=u3),
    )
    usage = client.chat("Oslo?", tools=[get_weather]).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (60, 15, 75)


def test_tool_stream_only_for_models_that_have_it(server):
    server.enqueue(Reply(text="ok"))
    with glm.GLMClient(
        base_url=server.base_url, api_key=KEY, model="qwen-local", provider="openai-compatible"
    ) as c:
        c.chat("hi", tools=[get_weather], tool_choice="auto")
    (request,) = server.requests
    assert "tool_stream" not in request.json and request.json["tool_choice"] == "auto"


def test_a_forced_tool_choice_is_sent_on_the_first_turn_only(server, client):
    forced = {"type": "function", "function": {"name": "get_weather"}}
    server.enqueue(Reply(tool_calls=[call("get_weather", {"city": "Rome"})]), Reply(text="Warm."))
    client.chat("Rome?", tools=[get_weather], tool_choice=forced)
    first, second = server.requests
    assert first.json["tool_choice"] == forced and "tool_choice" not in second.json


@pytest.mark.parametrize("shape", TOOL_SHAPES)
def test_every_stream_shape_gives_the_same_follow_up(server, client, shape):
    def now() -> str:
        """The time."""
        return "12:00"

    calls = [
        call("get_weather", {"city": "北京", "unit": "F"}, id="a"),
        call("now", "", id="b"),
        call("now", "{}", id="c"),
    ]
    server.enqueue(Reply(tool_calls=calls, tool_shape=shape, chunk_size=5), Reply(text="Done."))
    result = client.chat("Beijing weather and the time", tools=[get_weather, now])
    follow_up = chat_messages(server.requests[1])
    assert [c["id"] for c in follow_up[1]["tool_calls"]] == ["a", "b", "c"]
    assert [c["function"]["arguments"] for c in follow_up[1]["tool_calls"]] == [
        '{"city": "北京", "unit": "F"}',
        "{}",  # a zero-argument call streamed as "" goes back as {}
        "{}",
    ]
    assert follow_up[2:] == [
        {"role": "tool", "tool_call_id": "a", "content": '{"city":"北京","temp":21,"unit":"F"}'},
        {"role": "tool", "tool_call_id": "b", "content": "12:00"},
        {"role": "tool", "tool_call_id": "c", "content": "12:00"},
    ]
    assert [c.error for c in result.tool_calls] == [None, None, None]


@pytest.mark.parametrize("shape", TOOL_SHAPES)
def test_openai_sdk_finds_the_same_calls_as_we_do(server, client, shape):
    calls = [call("get_weather", {"city": "Zürich"}, id="x1"), call("get_weather", "", id="x2")]
    server.enqueue(Reply(tool_calls=calls, tool_shape=shape, chunk_size=4))
    with client.stream("hi") as stream:
        ours = stream.until_done().tool_calls
    server.enqueue(Reply(tool_calls=calls, tool_shape=shape, chunk_size=4))
    sdk = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    theirs: dict[int, dict] = {}
    for chunk in sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    ):
        for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            entry = theirs.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = tc.id or entry["id"]
            if tc.function and tc.function.name and tc.function.name != entry["name"]:
                entry["name"] += tc.function.name
            entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
    assert [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in ours] == [theirs[0], theirs[1]]
    assert ours[0].parsed_arguments() == {"city": "Zürich"} and ours[1].parsed_arguments() == {}


def test_results_other_than_str_go_back_as_json(server, client):
    @dataclass
    class Point:
        x: int
        y: int

    def where() -> Point:
        """Where it is."""
        return Point(1, 2)

    def words() -> str:
        """Some words."""
        return "not {json}"

    server.enqueue(Reply(tool_calls=[call("where", ""), call("words", "")]), Reply(text="ok"))
    client.chat("?", tools=[where, words])
    assert [m["content"] for m in chat_messages(server.requests[1])[2:]] == ['{"x":1,"y":2}', "not {json}"]


def test_preserved_thinking_sends_every_earlier_reasoning_back_unmodified(server, client):
    thinking = {"type": "enabled", "clear_thinking": False}
    first_thought, second_thought = "  First:\n  look up Paris. ", "Then Rome — 罗马."
    server.enqueue(
        Reply(reasoning=first_thought, tool_calls=[call("get_weather", {"city": "Paris"}, id="p")]),
        Reply(reasoning=second_thought, tool_calls=[call("get_weather", {"city": "Rome"}, id="r")]),
        Reply(reasoning="Compare.", text="Rome is as warm as Paris."),
    )
    result = client.chat("Paris or Rome?", tools=[get_weather], thinking=thinking)
    third = server.requests[2].json
    assert third["thinking"] == thinking
    sent = [m.get("reasoning_content") for m in third["messages"] if m["role"] == "assistant"]
    assert sent == [first_thought, second_thought]
    assert result.reasoning == "Compare." and [c.id for c in result.tool_calls] == ["p", "r"]


# -- what goes wrong, and what the model gets ----------------------------------------------------


def test_a_tool_that_raises_tells_the_model(server, client):
    def divide(a: int, b: int) -> float:
        """Divide."""
        return a / b

    server.enqueue(Reply(tool_calls=[call("divide", {"a": 1, "b": 0})]), Reply(text="Cannot divide by zero."))
    result = client.chat("1/0?", tools=[divide])
    tool_message = chat_messages(server.requests[1])[-1]
    assert tool_message["content"] == "Error: ZeroDivisionError: division by zero"
    assert result.tool_calls[0].error == "Error: ZeroDivisionError: division by zero"
    assert result.text == "Cannot divide by zero."


def test_raise_tool_errors_re_raises(server, client):
    def broken() -> str:
        """Breaks."""
        raise RuntimeError("disk on fire")

    server.enqueue(Reply(tool_calls=[call("broken", "")]), Reply(text="never asked"))
    with pytest.raises(RuntimeError, match="disk on fire"):
        client.chat("go", tools=[broken], raise_tool_errors=True)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "arguments, told",
    [
        ('{"city": "Paris"', "are not valid JSON"),
        ('["Paris"]', "must be a JSON object"),
        ("{}", "city: Field required"),
        ('{"city": "Paris", "unit": "K"}', "unit: Input should be 'C' or 'F'"),
        ('{"city": "Paris", "country": "FR"}', "country: Extra inputs are not permitted"),
    ],
)
def test_bad_arguments_run_nothing_and_the_model_gets_the_validation_message(server, client, arguments, told):
    ran = []

    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        """Weather."""
        ran.append(city)
        return "sunny"

    server.enqueue(Reply(tool_calls=[call("get_weather", arguments)]), Reply(text="Sorry."))
    result = client.chat("Weather?", tools=[get_weather])
    assert ran == []
    content = chat_messages(server.requests[1])[-1]["content"]
    assert content.startswith("Error:") and told in content and "get_weather" in content
    assert result.tool_calls[0].error == content


def test_the_model_can_retry_after_invalid_arguments(server, client):
    server.enqueue(
        Reply(tool_calls=[call("get_weather", {"town": "Paris"})]),
        Reply(tool_calls=[call("get_weather", {"city": "Paris"})]),
        Reply(text="21 °C."),
    )
    result = client.chat("Weather?", tools=[get_weather])
    assert [c.error is None for c in result.tool_calls] == [False, True] and result.text == "21 °C."


def test_repeated_failures_count_as_turns_until_tool_loop_error(server, client):
    bad = Reply(tool_calls=[call("get_weather", "{oops")])
    server.enqueue(bad, bad, bad, Reply(text="never asked"))
    with pytest.raises(glm.ToolLoopError, match="max_tool_turns=2") as caught:
        client.chat("Weather?", tools=[get_weather], max_tool_turns=2)
    assert len(server.requests) == 3 and isinstance(caught.value, glm.GLMError)
    error = caught.value
    assert len(error.partial.tool_calls) == 3 and error.partial.tool_calls[-1].output is None
    assert [m["role"] for m in error.messages] == ["user", "assistant", "tool", "assistant", "tool"]


def test_an_unknown_tool_runs_nothing_and_the_model_hears_which_exist(server, client):
    server.enqueue(Reply(tool_calls=[call("os.system", {"cmd": "rm -rf /"})]), Reply(text="I cannot."))
    result = client.chat("Clean up", tools=[get_weather, numpy_style])
    content = chat_messages(server.requests[1])[-1]["content"]
    assert (
        content
        == "Error: there is no tool named 'os.system'. The tools you can call are: get_weather, numpy_style."
    )
    assert result.tool_calls[0].error == content


def test_approval_asks_before_each_call_and_a_denied_call_says_so(server, client):
    ran, asked = [], []

    def delete(path: str) -> str:
        """Delete a file."""
        ran.append(path)
        return "deleted"

    def approver(c):
        asked.append(c.parsed_arguments()["path"])
        return c.parsed_arguments()["path"] == "tmp.txt"

    server.enqueue(
        Reply(
            tool_calls=[
                call("delete", {"path": "tmp.txt"}, id="1"),
                call("delete", {"path": "/etc/passwd"}, id="2"),
            ]
        ),
        Reply(text="Done."),
    )
    result = client.chat("Clean", tools=[glm.tool(delete, approve=True)], approver=approver)
    assert asked == ["tmp.txt", "/etc/passwd"] and ran == ["tmp.txt"]
    assert [m["content"] for m in chat_messages(server.requests[1])[2:]] == ["deleted", "denied by the user"]
    assert result.tool_calls[1].error == "denied by the user"


def test_approval_predicate_and_the_default_input_prompt(server, client, monkeypatch):
    prompts = []
    monkeypatch.setattr("builtins.input", lambda text: prompts.append(text) or "y")
    risky = glm.tool(get_weather, approve=lambda args: args["city"] == "Pyongyang")
    server.enqueue(
        Reply(
            tool_calls=[
                call("get_weather", {"city": "Paris"}),
                call("get_weather", {"city": "Pyongyang"}, id="2"),
            ]
        ),
        Reply(text="ok"),
    )
    result = client.chat("Weather?", tools=[risky])
    assert len(prompts) == 1 and "Pyongyang" in prompts[0] and "get_weather" in prompts[0]
    assert [c.error for c in result.tool_calls] == [None, None]


def test_async_tools_run_in_the_sync_client_also_inside_a_running_loop(server, client):
    threads = []

    async def slow_double(x: int) -> int:
        """Double it, slowly."""
        await asyncio.sleep(0.01)
        threads.append(threading.current_thread().name)
        return 2 * x

    def turn() -> None:
        server.enqueue(Reply(tool_calls=[call("slow_double", {"x": 21})]), Reply(text="42"))

    turn()
    assert client.chat("?", tools=[slow_double]).tool_calls[0].output == "42"

    async def in_a_notebook_cell() -> str:  # Jupyter's loop is running while a cell runs
        turn()
        return client.chat("?", tools=[slow_double]).tool_calls[0].output

    assert asyncio.run(in_a_notebook_cell()) == "42"
    assert threads[0] == threading.current_thread().name and threads[1].startswith("glm-tool")


def test_web_search_passes_through_and_its_sources_are_kept(server, client):
    sources = [{"title": "GLM-5", "link": "https://example.org/glm5", "refer": "ref_1"}]
    server.enqueue(Reply(text="GLM-5 came out.", extra={"web_search": sources}))
    spec = glm.web_search(count=3, search_recency_filter="oneWeek")
    result = client.chat("News on GLM?", tools=[spec])
    assert spec == {
        "type": "web_search",
        "web_search": {
            "enable": True,
            "search_engine": "search_pro",
            "count": 3,
            "search_recency_filter": "oneWeek",
        },
    }
    assert server.requests[0].json["tools"] == [spec]
    assert result.extras["web_search"] == sources and result.text == "GLM-5 came out."


def test_bad_tools_fail_before_anything_is_sent(server, client):
    with pytest.raises(glm.InvalidOptionError, match="Two tools"):
        client.chat("?", tools=[get_weather, glm.tool(numpy_style, name="get_weather")])
    with pytest.raises(glm.InvalidOptionError, match="max_tool_turns"):
        client.chat("?", tools=[get_weather], max_tool_turns=0)
    with pytest.raises(glm.InvalidOptionError, match="temperature"):
        client.chat("?", tools=[get_weather], temperature=7)
    assert server.requests == []


def test_stream_assembly_tolerates_repeated_names_and_calls_without_index():
    from glm_notebook._types import ChatResult
    from glm_notebook.client._sse import StreamState

    result = ChatResult()
    state = StreamState(result, 0.0)
    deltas = [
        {"id": "a", "function": {"name": "get_weather", "arguments": '{"city"'}},  # no index
        {"id": "a", "function": {"name": "get_weather", "arguments": ': "Oslo"}'}},  # name repeated
        {"id": "b", "function": {"name": "now", "arguments": {}}},  # arguments as an object
    ]
    for d in deltas:
        state.feed(json.dumps({"choices": [{"delta": {"tool_calls": [d]}}]}))
    assert [(c.index, c.id, c.name, c.arguments) for c in result.tool_calls] == [
        (0, "a", "get_weather", '{"city": "Oslo"}'),
        (1, "b", "now", "{}"),
    ]


def test_an_empty_tool_list_sends_no_tools(server, client):
    server.enqueue(Reply(text="plain"))
    result = client.chat("hi", tools=[])
    assert "tools" not in server.requests[0].json and result.text == "plain"
    assert result.messages == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "plain"}]


def test_an_api_error_mid_loop_keeps_the_calls_and_transcript(server, client):
    from glm_notebook.testing import Fault

    server.enqueue(Reply(tool_calls=[call("get_weather", {"city": "Lima"}, id="l")]), Fault.balance())
    with pytest.raises(glm.InsufficientBalance) as caught:
        client.chat("Lima?", tools=[get_weather])
    partial = caught.value.partial
    assert [c.id for c in partial.tool_calls] == ["l"] and partial.tool_calls[0].output.startswith(
        '{"city":"Lima"'
    )
    assert [m["role"] for m in partial.messages] == ["user", "assistant", "tool"]


def test_positional_only_and_callable_object_tools(server, client):
    import math

    class Counter:
        def __call__(self, step: int = 1) -> int:
            """Count up."""
            return 40 + step

    server.enqueue(Reply(tool_calls=[call("sqrt", {"x": 9}), call("count", {"step": 2})]), Reply(text="ok"))
    result = client.chat(
        "?", tools=[glm.tool(math.sqrt, description="Square root."), glm.tool(Counter(), name="count")]
    )
    assert [c.output for c in result.tool_calls] == ["3.0", "42"]


# -- the streamed loop: client.stream(..., tools=[...]) -------------------------------------------


def test_stream_with_tools_yields_each_turn_and_a_result_per_call(server, client):
    server.enqueue(
        Reply(tool_calls=[call("get_weather", {"city": "Oslo"}, id="o"), call("nope", {}, id="n")]),
        Reply(text="Cold in Oslo."),
    )
    with client.stream("Oslo?", tools=[get_weather]) as stream:
        events = list(stream)
    kinds = [e.kind for e in events]
    results = [e.tool_call for e in events if e.kind == "tool_result"]
    # the unknown tool's answer is known before anything runs, the real call's after it ran
    assert [(c.id, c.error is None) for c in results] == [("n", False), ("o", True)]
    assert json.loads(results[1].output)["city"] == "Oslo" and results[1].duration_s is not None
    assert kinds.index("tool_result") > max(i for i, k in enumerate(kinds) if k == "tool_call")
    assert "".join(e.text for e in events if e.kind == "text") == "Cold in Oslo."
    assert stream.result.text == "Cold in Oslo." and stream.result.complete
    assert [c.id for c in stream.result.tool_calls] == ["o", "n"]
    assert [m["role"] for m in stream.result.messages] == ["user", "assistant", "tool", "tool", "assistant"]


def test_stop_during_a_tool_run_sends_no_further_turn_and_keeps_the_transcript(server, client):
    ran = []

    def slow() -> str:
        """Takes a moment."""
        ran.append(1)
        stream.cancel()  # Stop pressed while the tool runs
        return "done"

    server.enqueue(Reply(tool_calls=[call("slow", {}, id="s")]), Reply(text="never asked"))
    with client.stream("Go", tools=[slow]) as stream:
        events = list(stream)
    assert ran == [1] and len(server.requests) == 1  # the tool finished; no second turn was sent
    result = stream.result
    assert result.stopped and not result.complete
    assert [e.tool_call.output for e in events if e.kind == "tool_result"] == ["done"]
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool"]


def test_an_interrupt_mid_turn_keeps_every_earlier_call(server, client):
    server.enqueue(
        Reply(tool_calls=[call("get_weather", {"city": "Rome"}, id="r")]),
        Reply(text="Warm " * 50, delay=0.01),
    )
    stream = client.stream("Rome?", tools=[get_weather])
    with pytest.raises(KeyboardInterrupt), stream:
        for event in stream:
            if event.kind == "text":
                raise KeyboardInterrupt  # Ctrl-C while the second turn streams
    result = stream.result
    assert [c.id for c in result.tool_calls] == ["r"] and result.text.startswith("Warm")
    assert not result.complete
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
