"""glm.map over real sockets: alignment, each error class, the concurrency limit, the cache."""

from __future__ import annotations

import asyncio
import threading
import time

import pandas as pd
import pytest
from _constants import TEST_KEY

import glm_notebook as glm
from glm_notebook._types import ChatResult
from glm_notebook.bulk._cache import AnswerCache
from glm_notebook.testing import Fault, Reply
from glm_notebook.testing._frames import last_user_text


@pytest.fixture
def client(glm_server):
    glm_server.api_key = TEST_KEY
    with glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai") as c:
        yield c


def chat_requests(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_answers_are_aligned_with_a_list_of_strings(glm_server, client):
    rows = [f"row {i}" for i in range(40)]
    # a model with no price (glm-4.7-flash, the default, is free): no cost is invented
    result = glm.map("Echo {text}", rows, client=client, temperature=0.0, model="glm-unpriced")
    assert result.texts == [f"You said: Echo row {i}" for i in range(40)]
    assert not result.errors and result.stopped is None and len(result) == 40
    assert result.usage.total_tokens == sum(r.usage.total_tokens for r in result.results)
    assert all(r.json["temperature"] == 0.0 for r in chat_requests(glm_server))
    assert result.cost is None  # no price known: no cost invented


def test_dicts_dataframes_and_series(glm_server, client):
    dicts = [{"name": "Ada", "age": 36}, {"name": "Bo", "age": 7}]
    assert glm.map("{name} is {age}", dicts, client=client).texts == [
        "You said: Ada is 36",
        "You said: Bo is 7",
    ]
    frame = pd.DataFrame({"name": ["Ada", "Bo"], "age": [36, 7]}, index=["a", "b"])
    result = glm.map("{name} is {age:03d}", frame, client=client)
    frame["answer"] = result.texts
    assert list(frame["answer"]) == ["You said: Ada is 036", "You said: Bo is 007"]
    table = result.to_pandas()
    assert list(table.index) == ["a", "b"] and list(table["text"]) == list(frame["answer"])
    series = pd.Series(["x", "y"], index=[10, 20])
    assert list(glm.map("Say", series, client=client).to_pandas().index) == [10, 20]
    assert glm.map("Say", series, client=client).texts == ["You said: Say\n\nx", "You said: Say\n\ny"]
    assert glm.map("{}!", (c for c in "ab"), client=client).texts == ["You said: a!", "You said: b!"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: glm.map("{text}", ["a"], client=c, temperature=1.5), "temperature"),
        (lambda c: glm.map("{text}", ["a"], client=c, frobnicate=1), "frobnicate"),
        (lambda c: glm.map("{name}", [{"text": "a"}], client=c), "row 0 has no {name}"),
        (lambda c: glm.map("{text}", "abc", client=c), "one string"),
        (lambda c: glm.map("{text}", ["a"], client=c, concurrency=0), "concurrency"),
        (lambda c: glm.map("{text}", ["a"], client=c, max_concurrency="many"), "max_concurrency"),
    ],
)
def test_bad_input_fails_before_any_request(glm_server, client, call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call(client)
    assert message in str(info.value)
    assert chat_requests(glm_server) == []


def test_a_bad_key_stops_the_run_after_one_request(glm_server):
    glm_server.api_key = TEST_KEY
    with glm.GLMClient(base_url=glm_server.base_url, api_key="sk-wrong-key-9999", provider="zai") as c:
        with pytest.raises(glm.AuthenticationError) as info:
            glm.map("{text}", [f"r{i}" for i in range(20)], client=c)
    assert "glm.map stopped" in str(info.value) and "sk-wrong" not in str(info.value)
    assert info.value.batch.done == 0 and len(info.value.batch) == 20
    assert len(chat_requests(glm_server)) == 1


def test_no_balance_mid_run_stops_at_once_and_keeps_the_finished_rows(glm_server, client):
    def responder(request):
        text = last_user_text(request)
        return Fault.balance() if text == "r30" else Reply(text=text, first_delay=0.01)

    glm_server.responder = responder
    with pytest.raises(glm.InsufficientBalance) as info:
        glm.map("{text}", [f"r{i}" for i in range(200)], client=client)
    batch = info.value.batch
    assert 10 <= batch.done < 200 and batch.texts[30] is None
    assert all(t == f"r{i}" for i, t in enumerate(batch.texts) if t is not None)
    records = glm_server.wait_until_finished()
    refused = next(r for r in records if r.outcome == "error_status")
    # Nothing is sent once the client has read it (a request may cross the answer on the wire).
    assert not [r for r in records if r.started_at > refused.ended_at + 0.05]
    assert AnswerCache().count() == batch.done  # paid for, kept


def test_answers_in_flight_when_the_run_stops_are_finished_and_kept(glm_server, client):
    """A run-stopping error does not throw away answers already being generated (and paid for)."""

    def responder(request):
        text = last_user_text(request)
        if text == "r2":
            return Fault.balance()
        return Reply(text=f"answer {text}", first_delay=0.8 if text == "r1" else 0.0)

    glm_server.responder = responder
    with pytest.raises(glm.InsufficientBalance) as info:
        glm.map("{text}", [f"r{i}" for i in range(10)], client=client)
    batch = info.value.batch
    records = glm_server.wait_until_finished()
    by_text = {last_user_text(r.json): r for r in records}
    assert by_text["r1"].started_at < by_text["r2"].ended_at  # r1 was in flight when r2 was refused
    assert batch.texts[1] == "answer r1" and by_text["r1"].outcome == "complete"
    assert batch.texts[2] is None and "r2" not in [
        last_user_text(r.json) for r in records if r.outcome == "complete"
    ]
    assert AnswerCache().count() == batch.done  # every finished answer is cached
    assert "in flight were finished and kept" in str(info.value)


def test_prompt_too_long_and_content_filter_fail_their_row_only(glm_server, client):
    def responder(request):
        text = last_user_text(request)
        if text == "long":
            return Fault.http(400, "1261")
        if text == "unsafe":
            return Reply(text="partial answer", error_after=1)
        return Reply(text=text.upper())

    glm_server.responder = responder
    result = glm.map("{text}", ["a", "long", "b", "unsafe", "c"], client=client)
    assert result.texts == ["A", None, "B", None, "C"]
    assert isinstance(result.errors[1], glm.PromptTooLongError)
    assert isinstance(result.errors[3], glm.ContentFilterError)
    assert sorted(result.errors) == [1, 3] and result.missing == []
    assert "2 failed" in repr(result)


def test_server_errors_and_cut_streams_are_retried_per_row(glm_server, client):
    glm_server.enqueue(Fault.server_error(503), Reply(text="x", cut_after=0), Fault.drop())
    result = glm.map("{text}", [f"r{i}" for i in range(10)], client=client)
    assert result.done == 10 and not result.errors
    assert len(chat_requests(glm_server)) == 13


def test_a_limited_server_costs_no_failed_row_and_the_limit_is_found(glm_server, client):
    glm_server.concurrency_limit, glm_server.latency = 3, 0.02
    result = glm.map("{text}", [f"r{i}" for i in range(300)], client=client, cache=False)
    stats = glm_server.stats()
    assert result.done == 300 and not result.errors
    assert stats["answered"] == 300 and stats["peak_in_flight"] == 3
    assert stats["rejected"] <= 30  # found once, then only rare probes


def test_retry_after_is_honoured(glm_server, client):
    glm_server.concurrency_limit, glm_server.latency, glm_server.limit_retry_after = 2, 0.05, 0.4
    result = glm.map("{text}", [f"r{i}" for i in range(12)], client=client, cache=False)
    assert result.done == 12
    records = glm_server.wait_until_finished()
    refused = [r for r in records if r.outcome == "over_limit"]
    assert refused
    first = refused[0]
    later = [r for r in records if r.started_at > first.ended_at + 0.05]  # not crossing it on the wire
    assert min(r.started_at for r in later) - first.ended_at >= 0.35


def test_a_fixed_concurrency_is_kept(glm_server, client):
    glm_server.latency = 0.03
    glm.map("{text}", [f"r{i}" for i in range(30)], client=client, concurrency=5, cache=False)
    assert glm_server.stats()["peak_in_flight"] == 5
    glm_server.reset()
    glm_server.api_key = TEST_KEY
    glm_server.latency = 0.03
    glm.map("{text}", [f"r{i}" for i in range(60)], client=client, max_concurrency=4, cache=False)
    assert glm_server.stats()["peak_in_flight"] == 4


def test_the_cache_serves_finished_rows_and_never_keys_on_the_api_key(glm_server, client, cache_file):
    rows = [f"r{i}" for i in range(10)]
    first = glm.map("{text}", rows, client=client)
    assert len(chat_requests(glm_server)) == 10
    with glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY + "-other", provider="zai") as other:
        glm_server.api_key = None
        again = glm.map("{text}", rows, client=other)
    assert again.texts == first.texts and again.cached == list(range(10))
    assert again.results[0].usage == first.results[0].usage
    assert len(chat_requests(glm_server)) == 10
    assert TEST_KEY.encode() not in cache_file.read_bytes()
    glm.map("{text}", rows, client=client, temperature=0.5)  # other options: asked again
    glm.map("{text}", rows, client=client, model="glm-5")  # another model: asked again
    assert len(chat_requests(glm_server)) == 30
    glm.map("{text}", rows, client=client, refresh=True)
    assert len(chat_requests(glm_server)) == 40
    glm.map("{text}", ["new"], client=client, cache=False)
    glm.map("{text}", ["new"], client=client, cache=False)
    assert len(chat_requests(glm_server)) == 42 and AnswerCache().count() == 30


def test_cache_location_follows_xdg_cache_home(tmp_path, monkeypatch):
    from glm_notebook.bulk._cache import default_cache_path

    monkeypatch.delenv("GLM_NOTEBOOK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "glm_notebook" / "answers.sqlite3"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert str(default_cache_path()).endswith(".cache/glm_notebook/answers.sqlite3")


def test_works_inside_a_running_event_loop(glm_server, client):
    async def cell():  # a notebook cell: the kernel's loop runs in this thread
        return glm.map("{text}", ["a", "b"], client=client)

    assert asyncio.run(cell()).texts == ["You said: a", "You said: b"]


def test_max_cost_stops_before_the_estimate_passes_it(glm_server, client, monkeypatch):
    monkeypatch.setattr(ChatResult, "cost", property(lambda self: 0.01), raising=False)
    result = glm.map("{text}", [f"r{i}" for i in range(100)], client=client, max_cost=0.105)
    assert result.cost is not None and result.cost <= 0.105
    assert result.done == 10 and result.stopped.startswith("max_cost")
    assert len(result.missing) == 90


def test_max_cost_with_an_unknown_price_stops_after_the_first_answer(glm_server, client):
    result = glm.map(
        "{text}", [f"r{i}" for i in range(20)], client=client, max_cost=1.0, model="glm-unpriced"
    )
    assert result.done == 1 and "unknown" in result.stopped
    assert len(chat_requests(glm_server)) == 1


def test_an_interrupt_returns_the_partial_result_and_the_rerun_sends_only_the_rest(glm_server, client):
    import _thread

    glm_server.latency = 0.05
    rows = [f"r{i}" for i in range(400)]

    def interrupt_after_some():
        # Once 20 answers are cached (done by the client, not merely sent by the server: on a busy
        # machine the client can lag behind the server's count).
        deadline, watch = time.monotonic() + 30, AnswerCache()
        while watch.count() < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_after_some, daemon=True).start()
    partial = glm.map("{text}", rows, client=client)
    assert partial.stopped == "interrupted" and 20 <= partial.done < 400
    assert all(t == f"You said: r{i}" for i, t in enumerate(partial.texts) if t is not None)
    records = glm_server.wait_until_finished()
    assert any(r.outcome == "client_disconnected" for r in records)  # in flight: closed
    before = len(chat_requests(glm_server))
    rest = glm.map("{text}", rows, client=client)
    assert rest.done == 400 and sorted(rest.cached) == [i for i, t in enumerate(partial.texts) if t]
    assert len(chat_requests(glm_server)) - before == 400 - partial.done


def test_a_process_killed_mid_run_loses_only_its_unfinished_rows(glm_server, client, cache_file):
    import os
    import signal
    import subprocess
    import sys
    import time

    glm_server.latency = 0.05
    script = (
        "import glm_notebook as glm, sys\n"
        f"c = glm.GLMClient(base_url={glm_server.base_url!r}, api_key={TEST_KEY!r}, provider='zai')\n"
        "glm.map('{text}', [f'r{i}' for i in range(300)], client=c)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "GLM_NOTEBOOK_CACHE": str(cache_file)}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        # Kill once the child has cached some answers: the server's own count runs ahead of the
        # child's cache writes when the machine is busy, so waiting on it killed the child too early.
        deadline, watch = time.monotonic() + 60, AnswerCache()
        while watch.count() < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    glm_server.wait_until_finished()
    kept = AnswerCache().count()
    assert kept >= 50
    before = len(chat_requests(glm_server))
    result = glm.map("{text}", [f"r{i}" for i in range(300)], client=client)
    assert result.done == 300 and len(result.cached) == kept
    assert len(chat_requests(glm_server)) - before == 300 - kept
