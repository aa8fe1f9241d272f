"""Record and replay in plain Python: answers from an answer file, misses asked and appended,
strict misses that send nothing; over a real socket (the GLM test server counts the requests)."""

from __future__ import annotations

import asyncio
import json

import pytest
from _constants import TEST_KEY

import glm_notebook as glm
from glm_notebook._status import status_line
from glm_notebook.testing import Reply

KEYLESS = ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL", "GLM_MODEL")


@pytest.fixture(autouse=True)
def _replay_off():
    yield
    from glm_notebook.client import _replay

    _replay.stop()


@pytest.fixture
def keyless(monkeypatch, tmp_path):
    """A machine with no key and no network: the offline model would be the provider, and it
    cannot start (its model file does not exist), so any attempt to ask would fail loudly."""
    for name in KEYLESS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(tmp_path / "no-such-model.gguf"))
    monkeypatch.chdir(tmp_path)


def live_client(server):
    return glm.GLMClient(
        base_url=server.base_url, api_key=server.api_key or "k-live-1234567890", model="glm-4.7"
    )


def test_a_recorded_answer_replays_with_no_key_and_sends_nothing(glm_server, tmp_path, keyless):
    path = tmp_path / "lesson.answers.jsonl"
    glm_server.enqueue(Reply(text="Nucleus sampling keeps the top mass.", reasoning="Think."))
    with glm.replay(path):
        live = live_client(glm_server).chat("Explain top_p", temperature=0.0, max_tokens=50)
    assert len(glm_server.requests) == 1
    recorded = path.read_bytes()
    assert recorded.count(b"\n") == 1 and b"k-live" not in recorded

    offline = glm.GLMClient()  # no key: provider "local", which is never started
    assert offline.provider == "local"
    with glm.replay(path, strict=True):
        again = offline.chat("Explain top_p", temperature=0.0, max_tokens=50)
        events = [e.kind for e in offline.stream("Explain top_p", temperature=0.0, max_tokens=50)]
    assert len(glm_server.requests) == 1  # nothing sent
    assert (again.text, again.reasoning, again.finish_reason) == (
        live.text,
        live.reasoning,
        live.finish_reason,
    )
    assert again.usage == live.usage and again.model == live.model
    assert events[:2] == ["reasoning", "text"] and "finish" in events
    assert again.provenance["replayed"] is True and live.provenance["replayed"] is False
    assert again.provenance["created"] == live.provenance["created"]
    assert path.read_bytes() == recorded  # a replay writes nothing


def test_a_strict_miss_sends_nothing_and_says_how_to_record(glm_server, tmp_path):
    path = tmp_path / "a.jsonl"
    client = live_client(glm_server)
    with glm.replay(path, strict=True):
        with pytest.raises(glm.ReplayMissError) as caught:
            client.chat("Never recorded")
    assert glm_server.requests == []
    message = str(caught.value)
    assert "a.jsonl" in message and "Never recorded" in message and "not strict" in message
    assert not path.exists()


def test_a_miss_is_asked_and_appended_and_a_rerun_leaves_the_file_byte_identical(glm_server, tmp_path):
    path = tmp_path / "a.jsonl"
    client = live_client(glm_server)
    with glm.replay(path):
        client.chat("one", temperature=0.2)
    first = path.read_bytes()
    with glm.replay(path):
        client.chat("one", temperature=0.2)  # hit
        client.chat("two", temperature=0.2)  # miss: asked and appended
    assert len(glm_server.requests) == 2
    lines = path.read_bytes().splitlines(keepends=True)
    assert b"".join(lines[:1]) == first and len(lines) == 2
    second = path.read_bytes()
    with glm.replay(path):  # a re-record of the unchanged run: all hits, nothing rewritten
        client.chat("one", temperature=0.2)
        client.chat("two", temperature=0.2)
    assert path.read_bytes() == second and len(glm_server.requests) == 2


def test_what_is_matched(glm_server, tmp_path):
    path = tmp_path / "a.jsonl"
    client = live_client(glm_server)
    with glm.replay(path):
        client.chat("q", temperature=0.2)
        client.chat("q", temperature=0.3)  # another option value: another question
        client.chat("q", temperature=0.2, model="glm-5")  # another model asked for
        client.chat("q", temperature=0.2, system="Be brief.")  # other messages
    assert len(glm_server.requests) == 4
    other = glm.GLMClient(base_url=glm_server.base_url, api_key="another-key", model="glm-4.7")
    with glm.replay(path, strict=True):  # another key and client: still the same questions
        assert other.chat("q", temperature=0.2).text == "You said: q"


def test_the_tool_loop_replays_each_turn_runs_the_tools_and_notices_a_changed_result(glm_server, tmp_path):
    path = tmp_path / "tools.jsonl"
    state = {"temp": 21}
    ran = []

    def weather(city: str) -> dict:
        """Current weather for a city."""
        ran.append(city)
        return {"city": city, "temp": state["temp"]}

    call = {"name": "weather", "arguments": {"city": "Paris"}}
    glm_server.enqueue(Reply(tool_calls=[call]), Reply(text="21 degrees in Paris."))
    client = live_client(glm_server)
    with glm.replay(path):
        live = client.chat("Weather in Paris?", tools=[weather])
    assert len(glm_server.requests) == 2 and len(path.read_text().splitlines()) == 2

    with glm.replay(path, strict=True):
        again = client.chat("Weather in Paris?", tools=[weather])
    assert len(glm_server.requests) == 2 and ran == ["Paris", "Paris"]  # the tool ran again
    assert again.text == live.text and again.provenance["replayed"] is True
    assert "replayed" in status_line(again)

    state["temp"] = 5  # the tool now answers differently: the turn after it is a new question
    with glm.replay(path, strict=True):
        with pytest.raises(glm.ReplayMissError, match="tool's result differs"):
            client.chat("Weather in Paris?", tools=[weather])
    assert len(glm_server.requests) == 2
    glm_server.enqueue(Reply(text="5 degrees in Paris."))
    with glm.replay(path):
        changed = client.chat("Weather in Paris?", tools=[weather])
    assert changed.text == "5 degrees in Paris." and len(glm_server.requests) == 3
    assert changed.provenance["replayed"] is False
    assert "differs from the recording" in status_line(changed)


def test_schema_answers_recorded_on_a_server_replay_on_the_offline_provider(glm_server, tmp_path, keyless):
    path = tmp_path / "schema.jsonl"
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    glm_server.enqueue(Reply(text='{"name": "Ada"}'))
    with glm.replay(path):
        live = glm.GLMClient(provider="openai-compatible", base_url=glm_server.base_url).chat(
            "Extract: Ada", schema=schema
        )
    assert glm.GLMClient().provider == "local"
    with glm.replay(path, strict=True):  # the offline provider puts the schema elsewhere on the wire
        again = glm.GLMClient().chat("Extract: Ada", schema=schema)
    assert again.parsed == live.parsed == {"name": "Ada"} and len(glm_server.requests) == 1


def test_async_compare_and_map_rows_replay(glm_server, tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(tmp_path / "cache.sqlite3"))
    path = tmp_path / "bulk.jsonl"
    client = live_client(glm_server)
    with glm.replay(path):
        first = glm.map("Say {x}", [{"x": "a"}, {"x": "b"}], client=client)
        panels = glm.compare("hello", temperature=[0.2, 1.0], client=client, display="none")
    sent = len(glm_server.requests)
    assert sent == 4
    with glm.replay(path, strict=True):
        second = glm.map("Say {x}", [{"x": "a"}, {"x": "b"}], client=client, cache=False)
        again = glm.compare("hello", temperature=[0.2, 1.0], client=client, display="none")

        async def one():
            async with glm.AsyncGLMClient.from_client(client) as aclient:
                return await aclient.chat("hello", temperature=0.2)

        awaited = asyncio.run(one())
    assert len(glm_server.requests) == sent
    assert second.texts == first.texts
    assert [r.text for r in again] == [r.text for r in panels]
    assert awaited.text == panels[0].text


def test_the_answer_file_is_one_sorted_json_object_a_line_without_the_messages(glm_server, tmp_path):
    path = tmp_path / "a.jsonl"
    secret_context = "internal detail " * 40
    glm_server.enqueue(Reply(text="Noted."))
    with glm.replay(path):
        live_client(glm_server).chat(secret_context + "what now?")
    (line,) = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert list(record) == sorted(record)
    assert json.dumps(record, sort_keys=True, ensure_ascii=False) == line
    assert secret_context not in line and len(record["question"]) <= 80
    assert {"key", "answer", "model", "created"} <= set(record)


def test_a_broken_answer_file_is_one_clear_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"key": "x", "answer": {}}\nnot json\n')
    with pytest.raises(glm.GLMError, match="Line 2 of the answer file"):
        glm.replay(path)


def test_a_key_typed_into_a_prompt_does_not_reach_the_answer_file(glm_server, tmp_path):
    # The file keeps the start of each question for reviewers; it is committed, so secrets are masked.
    path = tmp_path / "lesson.answers.jsonl"
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai")
    secret = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
    glm_server.enqueue(Reply(text="It looks like one."))  # the test server would echo the question
    with glm.replay(path):
        client.chat(f"Is {secret} a valid key?")
    text = path.read_text()
    assert secret not in text and "Is sk-" in text


def test_recording_never_breaks_an_answer_that_arrived(glm_server, tmp_path):
    # A lone surrogate in the model's text (JSON allows "\\ud800"), then an answer file that cannot
    # be written: the answers are kept and shown; the first is recorded (escaped) and replays, the
    # second is not recorded, with one warning.
    import subprocess
    import warnings

    from glm_notebook.testing import Fault

    delta = '{"content": "half \\ud800 pair"}'  # on the wire: the JSON escape of a lone surrogate
    chunk = '{"choices": [{"index": 0, "delta": ' + delta + ', "finish_reason": "stop"}]}'
    body = f"data: {chunk}\n\ndata: [DONE]\n\n".encode()
    path = tmp_path / "lesson.answers.jsonl"
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai")
    glm_server.enqueue(Fault.raw(body))
    with glm.replay(path):
        assert client.chat("one").text == "half \ud800 pair"
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1
    with glm.replay(path, strict=True):
        assert client.chat("one").text == "half \ud800 pair"  # replayed as it arrived
    blocked = tmp_path / "ro" / "answers.jsonl"
    blocked.parent.mkdir()
    blocked.write_text("")
    # root ignores file modes: a read-only bind mount makes the file really unwritable
    assert subprocess.run(["mount", "--bind", "-o", "ro", str(blocked), str(blocked)]).returncode == 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with glm.replay(blocked):
                glm_server.enqueue(Reply(text="kept"))
                assert client.chat("two").text == "kept"
    finally:
        subprocess.run(["umount", str(blocked)], check=True)
    assert blocked.read_text() == ""
    assert len([w for w in caught if "cannot be written" in str(w.message)]) == 1


def test_usage_counts_a_replayed_answer_as_free(glm_server, tmp_path):
    from glm_notebook.answer._usage import SessionUsage

    path = tmp_path / "lesson.answers.jsonl"
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai", model="glm-4.7")
    usage = SessionUsage()
    with glm.replay(path):
        usage.record(client.chat("one"), None)  # recorded: a real request, priced
    with glm.replay(path, strict=True):
        usage.record(client.chat("one"), None)  # replayed: nothing paid now
    assert usage.requests == 1 and usage.replayed == 1
    assert usage.by_model["glm-4.7"].calls == 1
    assert "1 answers replayed" in usage.report()


def test_an_answer_that_repeats_the_api_key_is_not_written_to_the_answer_file(glm_server, tmp_path):
    path = tmp_path / "lesson.answers.jsonl"
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai")
    glm_server.enqueue(Reply(text=f"Your key is {TEST_KEY}."))
    with pytest.warns(RuntimeWarning, match="holding an API key was not recorded"), glm.replay(path):
        assert TEST_KEY in client.chat("what is my key?").text  # still shown to the user
    assert not path.exists() or TEST_KEY not in path.read_text()
