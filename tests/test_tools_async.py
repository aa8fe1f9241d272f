"""Tools from plain Python, async client, over a real loopback socket: the same loop as the sync
client (exact follow-ups, each failure path), plus what only the async client does: parallel calls
run concurrently (async tools on the loop, sync tools in worker threads), async approvers."""

from __future__ import annotations

import asyncio
import threading

import pytest

import glm_notebook as glm
from glm_notebook.testing import Reply

KEY = "sk-async-tools-key-5151"
MODEL = "glm-5"


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


@pytest.fixture
async def client(server):
    async with glm.AsyncGLMClient(
        base_url=server.base_url, api_key=KEY, model=MODEL, provider="openai-compatible", timeout=10.0
    ) as c:
        yield c


def call(name: str, arguments, id: str | None = None) -> dict:
    return {"id": id or f"call_{name}", "name": name, "arguments": arguments}


async def lookup(word: str) -> str:
    """Look a word up.

    Args:
        word: the word.
    """
    await asyncio.sleep(0)
    return f"{word}: a greeting"


async def test_follow_up_messages_are_exact(server, client):
    server.enqueue(
        Reply(
            reasoning="Look it up.",
            tool_calls=[call("lookup", {"word": "hello"}, id="w1")],
            tool_shape="whole",
        ),
        Reply(text="It is a greeting."),
    )
    result = await client.chat("What is hello?", tools=[lookup])
    first, second = server.requests
    assert first.json["tool_stream"] is True and first.json["tools"][0]["function"]["name"] == "lookup"
    assert second.json["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Look it up.",
            "tool_calls": [
                {
                    "id": "w1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"word": "hello"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "w1", "content": "hello: a greeting"},
    ]
    assert result.text == "It is a greeting." and result.tool_calls[0].output == "hello: a greeting"
    assert result.messages[-1] == {"role": "assistant", "content": "It is a greeting."}


async def test_parallel_async_calls_run_concurrently(server, client):
    arrived = asyncio.Event()
    waiting = []

    async def meet(name: str) -> str:
        """Wait for the other call."""
        waiting.append(name)
        if len(waiting) == 2:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), 5)  # one after the other would time out here
        return f"met {name}"

    server.enqueue(
        Reply(tool_calls=[call("meet", {"name": "a"}, id="1"), call("meet", {"name": "b"}, id="2")])
    )
    server.enqueue(Reply(text="Both met."))
    result = await client.chat("meet", tools=[meet])
    assert [c.output for c in result.tool_calls] == ["met a", "met b"] and [
        c.error for c in result.tool_calls
    ] == [None, None]


async def test_parallel_sync_calls_run_in_threads_concurrently(server, client):
    barrier = threading.Barrier(2, timeout=5)

    def meet(name: str) -> str:
        """Wait for the other call."""
        barrier.wait()  # BrokenBarrierError (sent back as an error) if the calls ran one by one
        return f"met {name}"

    server.enqueue(
        Reply(tool_calls=[call("meet", {"name": "a"}, id="1"), call("meet", {"name": "b"}, id="2")])
    )
    server.enqueue(Reply(text="ok"))
    result = await client.chat("meet", tools=[meet])
    assert [c.output for c in result.tool_calls] == ["met a", "met b"]


async def test_failures_tell_the_model(server, client):
    async def explode() -> str:
        """Fails."""
        raise KeyError("missing")

    server.enqueue(
        Reply(
            tool_calls=[
                call("explode", "", id="1"),
                call("lookup", '{"word": 3}', id="2"),
                call("eval", '{"code": "1"}', id="3"),
            ]
        ),
        Reply(text="Sorry."),
    )
    result = await client.chat("go", tools=[explode, lookup])
    contents = [m["content"] for m in server.requests[1].json["messages"][2:]]
    assert contents[0] == "Error: KeyError: 'missing'"
    assert contents[1].startswith("Error: invalid arguments for lookup: word: Input should be a valid string")
    assert contents[2] == "Error: there is no tool named 'eval'. The tools you can call are: explode, lookup."
    assert [c.error for c in result.tool_calls] == contents


async def test_raise_tool_errors_and_max_tool_turns(server, client):
    async def explode() -> str:
        """Fails."""
        raise KeyError("missing")

    server.enqueue(Reply(tool_calls=[call("explode", "")]))
    with pytest.raises(KeyError):
        await client.chat("go", tools=[explode], raise_tool_errors=True)
    server.reset()
    server.api_key = KEY
    again = Reply(tool_calls=[call("lookup", {"word": "x"})])
    server.enqueue(again, again)
    with pytest.raises(glm.ToolLoopError) as caught:
        await client.chat("loop", tools=[lookup], max_tool_turns=1)
    assert len(server.requests) == 2 and caught.value.partial.tool_calls[0].output == "x: a greeting"


async def test_an_async_approver_decides(server, client):
    asked = []

    async def approver(c) -> bool:
        asked.append(c.name)
        return False

    server.enqueue(Reply(tool_calls=[call("lookup", {"word": "x"})]), Reply(text="Not allowed."))
    result = await client.chat("go", tools=[glm.tool(lookup, approve=True)], approver=approver)
    assert asked == ["lookup"] and result.tool_calls[0].output == "denied by the user"
    assert server.requests[1].json["messages"][-1]["content"] == "denied by the user"


async def test_an_api_error_mid_loop_keeps_the_calls_and_transcript(server, client):
    from glm_notebook.testing import Fault

    server.enqueue(Reply(tool_calls=[call("lookup", {"word": "x"}, id="x")]), Fault.auth())
    with pytest.raises(glm.AuthenticationError) as caught:
        await client.chat("go", tools=[lookup])
    assert [c.output for c in caught.value.partial.tool_calls] == ["x: a greeting"]
    assert [m["role"] for m in caught.value.partial.messages] == ["user", "assistant", "tool"]


async def test_async_stream_with_tools_yields_results_and_stop_ends_the_loop(server, client):
    server.enqueue(
        Reply(tool_calls=[call("lookup", {"word": "hi"}, id="a"), call("lookup", {"word": "yo"}, id="b")]),
        Reply(text="Both are greetings."),
    )
    async with client.stream("hi? yo?", tools=[lookup]) as stream:
        events = [e async for e in stream]
    assert sorted(e.tool_call.id for e in events if e.kind == "tool_result") == ["a", "b"]
    assert stream.result.text == "Both are greetings." and stream.result.complete

    before = len(server.requests)
    server.enqueue(Reply(tool_calls=[call("lookup", {"word": "hi"}, id="c")]), Reply(text="never"))

    async def stopping(word: str) -> str:
        """Stops the run."""
        stream2.cancel()
        return word

    async with client.stream("go", tools=[glm.tool(stopping, name="lookup")]) as stream2:
        [e async for e in stream2]
    assert len(server.requests) == before + 1 and stream2.result.stopped  # no turn after Stop
    assert [m["role"] for m in stream2.result.messages] == ["user", "assistant", "tool"]
