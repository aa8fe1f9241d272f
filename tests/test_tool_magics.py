"""``%%glm --tools`` in IPython and in a real kernel: the user's functions called by the model,
every call shown (terminal lines, the live view's blocks, ``<details>`` in the saved copy), the
status line counting turns and calls, approval, mistakes as UsageErrors before sending, and
``_glm`` holding the record, also after Stop."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from test_saved_notebook import run_notebook

from glm_notebook.testing import Reply

WEATHER = '''
def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temp": 21}
'''


def call(name, arguments, id):
    return {"id": id, "name": name, "arguments": arguments}


def test_tools_flag_runs_the_users_function_and_glm_holds_the_record(ip, zai_env):
    ip.run_cell(WEATHER)
    zai_env.enqueue(
        Reply(tool_calls=[call("get_weather", {"city": "Paris"}, "c1")]),
        Reply(tool_calls=[call("get_weather", {"city": "Lyon"}, "c2")]),
        Reply(text="Both are 21 °C."),
    )
    with capture_output() as out:
        ip.run_cell_magic("glm", "--tools get_weather", "Weather in Paris and Lyon?")
    result = ip.user_ns["_glm"]
    assert result.text == "Both are 21 °C." and result.complete
    assert [json.loads(c.output)["city"] for c in result.tool_calls] == ["Paris", "Lyon"]
    assert [m["role"] for m in result.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    first = zai_env.requests[0].json
    assert first["tools"][0]["function"]["name"] == "get_weather"
    text = out.stdout
    assert 'tool get_weather({"city": "Paris"}) → {"city":"Paris","temp":21}' in text
    assert "2 tool turns · 2 tool calls" in text


def test_web_search_and_max_tool_turns(ip, zai_env):
    ip.run_cell(WEATHER)
    zai_env.enqueue(
        Reply(tool_calls=[call("get_weather", {"city": "A"}, "a")]),
        Reply(tool_calls=[call("get_weather", {"city": "B"}, "b")]),
    )
    with capture_output() as out:
        ip.run_cell_magic("glm", "--tools get_weather --web-search --max-tool-turns 1", "Go")
    tools = zai_env.requests[0].json["tools"]
    assert [t["type"] for t in tools] == ["function", "web_search"]
    assert "max_tool_turns=1" in out.stdout  # the ToolLoopError is one line, the calls are kept
    assert [c.id for c in ip.user_ns["_glm"].tool_calls] == ["a", "b"]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ("--tools nowhere", "'nowhere' is not a defined variable"),
        ("--tools number", "'number' is a int, not a function"),
        ("--tools get_weather --tune", "drop --tune"),
        ("--max-tool-turns 3", "give the tools with --tools"),
        ("--tools get_weather --max-tool-turns 0", "max_tool_turns must be an integer of at least 1"),
    ],
)
def test_tool_flag_mistakes_are_usage_errors_before_sending(ip, zai_env, flags, words):
    ip.run_cell(WEATHER)
    ip.user_ns["number"] = 3
    with pytest.raises(UsageError, match=words):
        ip.run_cell_magic("glm", flags, "Go")
    assert zai_env.requests == []


def test_approval_in_the_terminal_asks_with_input_and_a_denial_reaches_the_model(ip, zai_env, monkeypatch):
    ip.run_cell("import glm_notebook as glm\n" + WEATHER + "risky = glm.tool(get_weather, approve=True)")
    zai_env.enqueue(Reply(tool_calls=[call("get_weather", {"city": "Oslo"}, "o")]), Reply(text="Denied."))
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    with capture_output():
        ip.run_cell_magic("glm", "--tools risky", "Oslo?")
    assert asked and "get_weather" in asked[0]
    assert zai_env.requests[1].json["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "o",
        "content": "denied by the user",
    }


def test_a_real_kernel_saves_each_call_as_details_and_stores_glm(tmp_path, glm_server):
    glm_server.enqueue(
        Reply(tool_calls=[call("get_weather", {"city": "Paris"}, "p")]),
        Reply(text="It is **21 °C**."),
    )
    nb = run_notebook(
        tmp_path,
        glm_server,
        [
            "%load_ext glm_notebook\n" + WEATHER,
            "%%glm --tools get_weather\nWeather in Paris?",
            "print(len(_glm.tool_calls), _glm.tool_calls[0].output, _glm.text)",
        ],
    )
    (answer,) = [o for o in nb.cells[1].outputs if "text/markdown" in o.get("data", {})]
    md = answer["data"]["text/markdown"]
    assert md.startswith("It is **21 °C**.")
    assert "<details><summary>Tool call&#58; get&#95;weather · " in md  # shown as "Tool call: get_weather"
    assert '```json\n{"city": "Paris"}\n```' in md and '```text\n{"city":"Paris","temp":21}\n```' in md
    assert "1 tool turn · 1 tool call" in md
    assert nb.cells[2].outputs[0]["text"].strip() == '1 {"city":"Paris","temp":21} It is **21 °C**.'


def test_a_hostile_tool_name_or_output_stays_text_in_the_saved_copy():
    from glm_notebook._types import ChatResult, ToolCall
    from glm_notebook.answer._saved_copy import static_bundle

    result = ChatResult(text="Done.", complete=True, finish_reason="stop")
    result.tool_calls = [
        ToolCall(
            index=0,
            id="x",
            name="<img src=x onerror=alert(1)>",
            arguments="{}",
            output=None,
            error="Unknown tool",
        ),
        ToolCall(
            index=1, id="y", name="ok", arguments='{"a": "```"}', output="</details><script>alert(2)</script>"
        ),
    ]
    md = static_bundle(result)["text/markdown"]
    assert "<img" not in md and "&#60;img src&#61;x onerror&#61;alert&#40;1&#41;&#62;" in md  # shown as text
    # the output sits in a fence longer than any backtick run inside, so it cannot close the block
    assert '````json\n{"a": "```"}\n````' in md
    assert "```text\n</details><script>alert(2)</script>\n```" in md


def test_live_view_approve_waits_for_the_click_and_stop_denies():
    import threading

    from glm_notebook._types import StreamEvent, ToolCall
    from glm_notebook.answer._live import LiveView
    from glm_notebook.answer._run import StopButton
    from glm_notebook.answer._stream_view import StreamView

    view = StreamView(model_name="glm-4.7-flash", background_flush=False)
    live = LiveView(view, stop=StopButton(True, False))  # clicks proven to reach the kernel
    call = ToolCall(index=0, id="c1", name="delete_rows", arguments='{"n": 3}')
    live.feed(StreamEvent("tool_call", text='{"n": 3}', tool_call=call))
    assert [b["state"] for b in view.tool_calls] == ["streaming"]
    answers = []
    asking = threading.Thread(target=lambda: answers.append(live.approve(call)))
    asking.start()
    for _ in range(100):
        if view.tool_calls and view.tool_calls[0]["state"] == "asking":
            break
        threading.Event().wait(0.01)
    assert view.tool_calls[0]["state"] == "asking" and not answers  # it waits for the user
    view._on_front_end_msg(view, {"type": "approve", "id": "c1", "ok": True}, [])  # the Approve click
    asking.join(2)
    assert answers == [True] and view.tool_calls[0]["state"] == "running"

    second = ToolCall(index=1, id="c2", name="delete_rows", arguments="{}")
    asking = threading.Thread(target=lambda: answers.append(live.approve(second)))
    asking.start()
    threading.Event().wait(0.1)
    view._on_front_end_msg(view, {"type": "stop"}, [])  # Stop while asking: denied, nothing waits
    asking.join(2)
    assert answers == [True, False]
    view.close()
