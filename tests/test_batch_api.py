"""glm.batch over real sockets: the JSONL, the status steps, results by custom_id, cancel, jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pydantic
import pytest
from _constants import TEST_KEY

import glm_notebook as glm
from glm_notebook.bulk._api import MAX_LINES, _split, read_time
from glm_notebook.testing import Fault, Reply
from glm_notebook.testing._frames import last_user_text


@pytest.fixture
def client(glm_server):
    glm_server.api_key = TEST_KEY
    with glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai") as c:
        yield c


def test_submit_wait_results_in_input_order_with_error_lines(glm_server, client):
    def responder(request):
        text = last_user_text(request)
        return Fault.http(400, "1261") if text == "Summarise: too long" else Reply(text=text.upper())

    glm_server.responder = responder
    rows = [{"text": t} for t in ("a", "b", "too long", "c")]
    job = glm.batch.submit("Summarise: {text}", rows, client=client, temperature=0.0, system="Be brief.")
    upload = next(r for r in glm_server.requests if r.path.endswith("/files"))
    assert b'name="purpose"' in upload.body and b"batch" in upload.body
    lines = [json.loads(x) for x in glm_server.batches.files["file-1"][1].decode().splitlines()]
    assert [x["custom_id"] for x in lines] == ["row-0", "row-1", "row-2", "row-3"]
    assert {x["url"] for x in lines} == {"/v4/chat/completions"} and {x["method"] for x in lines} == {"POST"}
    body = lines[0]["body"]
    assert body["temperature"] == 0.0 and "stream" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summarise: a"},
    ]
    created = next(r for r in glm_server.requests if r.path.endswith("/batches"))
    assert created.json["endpoint"] == "/v4/chat/completions" and created.json["completion_window"] == "24h"
    assert job.status().status == "in_progress"  # validating -> in_progress on this poll
    state = job.wait(poll_interval=0.01)
    assert state.status == "completed" and (state.completed, state.failed) == (3, 1)
    result = job.results()
    assert result.texts == ["SUMMARISE: A", "SUMMARISE: B", None, "SUMMARISE: C"]  # output came reversed
    assert isinstance(result.errors[2], glm.PromptTooLongError) and result.stopped is None
    assert result.usage.total_tokens > 0


def test_a_new_process_picks_the_job_up_again(glm_server, client, cache_file):
    job = glm.batch.submit("{text}", ["x", "y"], client=client)
    script = (
        "import glm_notebook as glm\n"
        f"c = glm.GLMClient(base_url={glm_server.base_url!r}, api_key={TEST_KEY!r}, provider='zai')\n"
        "job = glm.batch.jobs(client=c)[0]\n"
        "job.wait(poll_interval=0.01)\n"
        "print(job.id, job.results().texts)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "GLM_NOTEBOOK_CACHE": str(cache_file)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{job.id} ['You said: x', 'You said: y']"


def test_cancel_goes_through_cancelling_to_cancelled(glm_server, client):
    glm_server.batches.steps = 100  # it would stay validating for a long time
    job = glm.batch.submit("{text}", ["x"], client=client)
    assert job.cancel().status == "cancelling"
    glm_server.batches.steps = 1
    assert job.wait(poll_interval=0.01).status == "cancelled"
    result = job.results()
    assert result.texts == [None] and result.stopped == "cancelled"


def test_wait_times_out(glm_server, client):
    glm_server.batches.steps = 1000
    job = glm.batch.submit("{text}", ["x"], client=client)
    with pytest.raises(TimeoutError, match="validating"):
        job.wait(timeout=0.2, poll_interval=0.05)


def test_timestamps_in_seconds_or_milliseconds_read_the_same(glm_server, client):
    assert read_time(1764600000) == read_time(1764600000000)
    assert read_time(None) is None
    glm_server.batches.timestamps_ms = True
    job = glm.batch.submit("{text}", ["x"], client=client)
    assert job.status().created_at.year >= 2026


def test_big_inputs_are_split_into_parts():
    lines = [b"x" * 10] * (MAX_LINES + 5)
    parts = _split(lines)
    assert [(first, len(chunk)) for first, chunk in parts] == [(0, MAX_LINES), (MAX_LINES, 5)]


def test_providers_without_a_batch_api_get_a_clear_error(glm_server, client, monkeypatch):
    monkeypatch.setattr(glm_server.batches, "handle", lambda *a: Fault.http(404, "404", "no such endpoint"))
    with pytest.raises(glm.ConfigurationError, match="no Batch API"):
        glm.batch.submit("{text}", ["x"], client=client)
    with glm.GLMClient(provider="local") as offline, pytest.raises(glm.ConfigurationError, match="offline"):
        glm.batch.submit("{text}", ["x"], client=offline)


def test_bad_options_fail_before_any_upload(glm_server, client):
    with pytest.raises(glm.InvalidOptionError):
        glm.batch.submit("{text}", ["x"], client=client, temperature=3)
    with pytest.raises(ValueError, match="row 0 has no"):
        glm.batch.submit("{name}", [{"text": "x"}], client=client)
    assert glm_server.requests == []


class City(pydantic.BaseModel):
    name: str
    population: int


def test_schema_is_sent_per_row_and_each_answer_is_validated(glm_server, client, cache_file):
    def responder(request):
        text = last_user_text(request)
        return Reply(
            text='```json\n{"name": "Paris", "population": 2100000}\n```' if text == "Paris" else "Rome, big"
        )

    glm_server.responder = responder
    job = glm.batch.submit("{text}", ["Paris", "Rome"], client=client, schema=City)
    upload = glm_server.batches.files[job.parts[0]["input_file_id"]][1]
    body = json.loads(upload.decode().splitlines()[0])["body"]
    assert body["response_format"] == {
        "type": "json_object"
    }  # GLM's cloud: the schema goes in the system prompt
    assert body["messages"][0]["role"] == "system" and '"population"' in body["messages"][0]["content"]
    job.wait(poll_interval=0.01)
    result = job.results()
    assert result.parsed[0] == City(name="Paris", population=2100000)
    error = result.errors[1]
    assert isinstance(error, glm.SchemaValidationError) and error.text == "Rome, big"
    assert "no repair turn" in str(error) and result.parsed[1] is None
    # another process knows only the recorded JSON schema: it validates into plain dicts
    script = (
        "import glm_notebook as glm\n"
        f"c = glm.GLMClient(base_url={glm_server.base_url!r}, api_key={TEST_KEY!r}, provider='zai')\n"
        "r = glm.batch.jobs(client=c)[0].results()\n"
        "print(r.parsed, type(r.errors[1]).__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "GLM_NOTEBOOK_CACHE": str(cache_file)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[{'name': 'Paris', 'population': 2100000}, None] SchemaValidationError"


def test_a_bad_schema_fails_before_any_upload(glm_server, client):
    with pytest.raises(glm.InvalidOptionError, match="schema= takes"):
        glm.batch.submit("{text}", ["x"], client=client, schema=int)
    assert glm_server.requests == []
