"""chat(prompt, context={...}) and %%glm --context / {name} with --vars, over the real test server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _constants import TEST_KEY
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import glm_notebook as glm
from glm_notebook.testing import Reply


def area(width: float, height: float = 1.0) -> float:
    """Area of a rectangle."""
    return width * height


@pytest.fixture
def df():
    return pd.DataFrame({"city": ["Paris", None, "Rome"], "temp": [21.5, 19.0, np.nan]})


def block(name, obj):
    return f'<context name="{name}">\n{glm.describe(obj)}\n</context>'


def test_chat_with_context_sends_one_labelled_block_per_object_before_the_question(glm_server, df):
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-4.7")
    client.chat("Which column has missing values?", context={"df": df, "f": area})
    sent = glm_server.wait_for_requests(1)[0].json
    expected = block("df", df) + "\n\n" + block("f", area) + "\n\nWhich column has missing values?"
    assert sent["messages"] == [{"role": "user", "content": expected}]
    assert expected.startswith('<context name="df">\npandas DataFrame: 3 rows × 2 columns\n')
    assert '<context name="f">\nfunction area(width: float, height: float = 1.0) -> float' in expected


async def test_async_chat_sends_the_same_request(glm_server, df):
    async with glm.AsyncGLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-4.7") as aclient:
        await aclient.chat("Which column?", context={"df": df}, system="Be brief.")
    sent = glm_server.wait_for_requests(1)[0].json
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": block("df", df) + "\n\nWhich column?"},
    ]


def test_stream_takes_context_too_and_a_message_list_gets_it_on_the_last_user_turn(glm_server):
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-4.7")
    history = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    with client.stream(history, context={"xs": [1, 2, 3]}) as stream:
        stream.until_done()
    sent = glm_server.wait_for_requests(1)[0].json["messages"]
    assert sent[:2] == history[:2]
    assert sent[2] == {"role": "user", "content": block("xs", [1, 2, 3]) + "\n\nsecond"}
    assert history[2]["content"] == "second"  # the caller's list is not changed


def test_context_with_tools_reaches_the_first_turn(glm_server):
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-4.7")
    client.chat("Use it", context={"n": 3}, tools=[area])
    first = glm_server.wait_for_requests(1)[0].json
    assert first["messages"][0]["content"] == block("n", 3) + "\n\nUse it"


@pytest.mark.parametrize(
    "context,message",
    [
        (["df"], "context= takes a dict of names to objects"),
        ({"": 1}, "names must be short labels"),
        ({'a"b': 1}, "names must be short labels"),
    ],
)
def test_bad_context_is_an_error_before_sending(glm_server, context, message):
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-4.7")
    with pytest.raises(glm.InvalidOptionError, match=message):
        client.chat("Q", context=context)
    assert glm_server.requests == []


def test_a_secret_in_context_is_masked_on_the_wire(glm_server, monkeypatch):
    monkeypatch.setenv("ZAI_API_KEY", TEST_KEY)
    import os

    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-4.7")
    client.chat("What is set?", context={"env": os.environ, "client": client, "key": TEST_KEY})
    body = glm_server.wait_for_requests(1)[0].body
    assert TEST_KEY.encode() not in body
    assert "sk-…abcd" in glm_server.requests[0].json["messages"][0]["content"]


# -- the magic, in a real shell ---------------------------------------------------------------


def test_context_flag_sends_the_named_variables(ip, zai_env, df):
    ip.user_ns.update(df=df, f=area)
    with capture_output():
        ip.run_cell_magic("glm", "--context df,f", "Which column has missing values?")
    sent = zai_env.wait_for_requests(1)[0].json["messages"]
    assert sent == [
        {
            "role": "user",
            "content": block("df", df) + "\n\n" + block("f", area) + "\n\nWhich column has missing values?",
        }
    ]


def test_context_flag_with_an_unknown_name_is_a_usage_error_and_sends_nothing(ip, zai_env):
    ip.user_ns.pop("nope", None)
    with pytest.raises(UsageError, match="'nope' is not a defined variable"):
        ip.run_cell_magic("glm", "--context nope", "Q")
    with pytest.raises(UsageError, match="variable names separated by commas"):
        ip.run_cell_magic("glm", "--context a,,b", "Q")
    assert zai_env.requests == []


def test_vars_describes_objects_and_keeps_strings_and_numbers(ip, zai_env, df):
    ip.user_ns.update(df=df, topic="missing values", n=3, ratio=0.5, nothing=None)
    with capture_output():
        ip.run_cell_magic("glm", "--vars", "About {topic} ({n}, {ratio:.0%}, {nothing}) in:\n{df}")
    content = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert content == f"About missing values (3, 50%, None) in:\n{glm.describe(df)}"


def test_line_magic_takes_context(ip, zai_env):
    ip.user_ns["xs"] = list(range(5))
    with capture_output():
        ip.run_line_magic("glm", "--context xs How long is xs?")
    content = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert content == block("xs", list(range(5))) + "\n\nHow long is xs?"


def test_a_conversation_keeps_the_context_it_was_asked_with(ip, zai_env, df):
    """A follow-up in the same --chat still has the DataFrame the first question was about."""
    ip.user_ns.update(df=df)
    with capture_output() as out:
        ip.run_cell("%%glm --chat data --context df\nWhich column has missing values?", cell_id="c1")
        ip.run_cell("%%glm --chat data\nAnd how many rows are there?", cell_id="c2")
        ip.run_line_magic("glm", "history data")
    first, follow_up = (r.json["messages"] for r in zai_env.wait_for_requests(2))
    asked = block("df", df) + "\n\nWhich column has missing values?"
    assert first == [{"role": "user", "content": asked}]
    assert [m["content"] for m in follow_up] == [
        asked,
        "You said: " + asked,  # the test server echoes what it was sent
        "And how many rows are there?",
    ]
    assert 'user: <context name="df">' in out.stdout  # %glm history shows the question as sent


def test_schema_flag_with_context_sends_the_context(ip, zai_env, df):
    ip.user_ns.update(df=df)
    ip.user_ns["Answer"] = {
        "type": "object",
        "properties": {"column": {"type": "string"}},
        "required": ["column"],
    }
    zai_env.enqueue(Reply(text='{"column": "city"}'))
    with capture_output():
        ip.run_cell_magic("glm", "--schema Answer --context df", "Which column has missing values?")
    content = zai_env.wait_for_requests(1)[0].json["messages"][-1]["content"]
    assert content == block("df", df) + "\n\nWhich column has missing values?"
    assert ip.user_ns["_glm"].parsed == {"column": "city"}


def test_context_goes_to_every_compare_panel(ip, zai_env, df):
    ip.user_ns.update(df=df)
    with capture_output():
        ip.run_cell_magic(
            "glm", '--context df --compare "temperature=0,1"', "Which column has missing values?"
        )
    requests = zai_env.wait_for_requests(2)
    asked = block("df", df) + "\n\nWhich column has missing values?"
    assert [r.json["messages"] for r in requests] == [[{"role": "user", "content": asked}]] * 2
    assert [r.text for r in ip.user_ns["_glm"]] == ["You said: " + asked] * 2
