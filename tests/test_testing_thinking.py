"""The test server checks preserved thinking and reasoning_effort as GLM does (real loopback HTTP).

A tool conversation with ``clear_thinking=False`` passes ``Reply(require_reasoning_back=True)`` and
``server.check_preserved_thinking()``; a history whose reasoning was edited, dropped or swapped gets
GLM's HTTP 400 (code 1214) naming the turn; an effort GLM does not know is refused, a known one
recorded wherever the client put it.
"""

from __future__ import annotations

import httpx
import pytest
from _constants import TEST_KEY

import glm_notebook as glm
from glm_notebook.testing import Reply

REASONING_1 = "The user wants Paris weather.\n I should call get_weather — «exactly» once. "
REASONING_2 = "The tool said 21 C; answer briefly."


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"21 C in {city}"


@pytest.fixture
def client(glm_server):
    glm_server.api_key = TEST_KEY
    with glm.GLMClient(provider="zai", base_url=glm_server.base_url, api_key=TEST_KEY, model="glm-5.2") as c:
        yield c


def _tool_turns():
    return (
        Reply(
            reasoning=REASONING_1,
            tool_calls=[{"id": "call_w1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        ),
        Reply(reasoning=REASONING_2, text="It is 21 C in Paris.", require_reasoning_back=True),
    )


def test_a_tool_loop_with_preserved_thinking_sends_the_reasoning_back_unchanged(glm_server, client):
    glm_server.enqueue(*_tool_turns())
    result = client.chat(
        "Weather in Paris?", tools=[get_weather], clear_thinking=False, reasoning_effort="high"
    )
    assert result.text == "It is 21 C in Paris."
    first, second = glm_server.requests
    assert second.json["thinking"] == {"type": "enabled", "clear_thinking": False}
    assert second.json["messages"][1]["reasoning_content"] == REASONING_1
    assert second.reasoning_problems == [] and first.reasoning_problems is None
    assert (second.reasoning_effort, second.clear_thinking) == ("high", False)
    assert glm_server.check_preserved_thinking() == 1


def _history(reasoning_1, reasoning_2):
    """A three-turn conversation whose two earlier answers came from the server."""
    return [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1", "reasoning_content": reasoning_1},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2", "reasoning_content": reasoning_2},
        {"role": "user", "content": "Q3"},
    ]


def _two_answers(glm_server, client):
    glm_server.enqueue(Reply(reasoning="R one.", text="A1"), Reply(reasoning="R two.", text="A2"))
    client.chat("Q1", clear_thinking=False)
    client.chat(_history("R one.", None)[:3], clear_thinking=False)


def test_a_three_turn_history_with_every_reasoning_passes(glm_server, client):
    _two_answers(glm_server, client)
    glm_server.enqueue(Reply(text="A3", require_reasoning_back=True))
    assert client.chat(_history("R one.", "R two."), clear_thinking=False).text == "A3"
    assert glm_server.check_preserved_thinking() == 2


@pytest.mark.parametrize(
    ("reasoning_1", "reasoning_2", "message"),
    [
        ("R one.", "R two!", r"messages\[3\] \(assistant\): reasoning_content differs .* at character 5"),
        ("R one. ", "R two.", r"messages\[1\] \(assistant\): reasoning_content differs"),  # a space added
        ("R one.", None, r"messages\[3\] \(assistant\) has no reasoning_content"),
        ("R two.", "R one.", r"messages\[1\] .* messages\[3\]"),  # swapped
    ],
)
def test_a_changed_or_missing_reasoning_is_refused_like_glm(
    glm_server, client, reasoning_1, reasoning_2, message
):
    _two_answers(glm_server, client)
    glm_server.enqueue(Reply(text="A3", require_reasoning_back=True), Reply(text="next"))
    with pytest.raises(glm.InvalidRequestError, match=message) as caught:
        client.chat(_history(reasoning_1, reasoning_2), clear_thinking=False)
    assert caught.value.code == "1214"
    rejected = glm_server.wait_until_finished()[-1]  # the outcome is set just after the last byte
    assert rejected.reasoning_problems and rejected.outcome == "error_status"
    with pytest.raises(AssertionError, match="preserved thinking broken"):
        glm_server.check_preserved_thinking()
    assert glm_server.pending() == 1  # the scripted reply was used up by the refusal, not retried


def test_check_says_when_no_history_was_sent(glm_server, client):
    glm_server.enqueue(Reply(text="A1", reasoning="R."))
    client.chat("Q1")
    with pytest.raises(AssertionError, match="no earlier answer of this server"):
        glm_server.check_preserved_thinking()


def test_hand_written_answers_are_not_checked(glm_server, client):
    glm_server.enqueue(Reply(text="ok", require_reasoning_back=True))
    history = [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "mine"},
        {"role": "user", "content": "Q2"},
    ]
    assert client.chat(history).text == "ok"
    assert glm_server.requests[-1].reasoning_problems == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reasoning_effort", "extreme", "reasoning_effort 'extreme' is not one of none, minimal, low"),
        ("reasoning_effort", 3, "reasoning_effort 3 is not one of"),
        ("thinking", {"type": "enabled", "clear_thinking": "false"}, "clear_thinking must be true or false"),
    ],
)
def test_the_server_refuses_thinking_fields_glm_refuses(glm_server, field, value, message):
    glm_server.api_key = None
    body = {"model": "glm-5.2", "messages": [{"role": "user", "content": "Q"}], field: value}
    response = httpx.post(glm_server.base_url + "/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "1214" and message in response.json()["error"]["message"]
    assert glm_server.requests[-1].reply is not None and glm_server.stats()["chat_requests"] == 0


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh", "max"])
def test_every_documented_effort_is_accepted_and_recorded(glm_server, client, effort):
    client.chat("Q", reasoning_effort=effort)
    assert glm_server.requests[-1].json["reasoning_effort"] == effort
    assert glm_server.requests[-1].reasoning_effort == effort


def test_chat_template_kwargs_are_read_for_openai_compatible_clients(glm_server):
    glm_server.api_key = None
    with glm.GLMClient(provider="openai-compatible", base_url=glm_server.base_url, model="glm-5.2") as c:
        c.chat("Q", reasoning_effort="max", clear_thinking=False)
    rec = glm_server.requests[-1]
    assert rec.json["chat_template_kwargs"] == {"clear_thinking": False, "reasoning_effort": "max"}
    assert (rec.reasoning_effort, rec.clear_thinking) == ("max", False)
