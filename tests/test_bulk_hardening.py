"""glm.map, the answer cache and Batch API results under hostile or failing conditions (issue 18.5):
Retry-After values that would hang a run, broken lines in a batch output file, a cache that cannot
be written, two processes sharing one cache file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter

import pytest
from _constants import TEST_KEY

import glm_notebook as glm
from glm_notebook._types import ChatResult
from glm_notebook.bulk._cache import AnswerCache, CacheWarning
from glm_notebook.client._retry import parse_retry_after
from glm_notebook.testing import Fault, Reply
from glm_notebook.testing._frames import last_user_text


@pytest.fixture
def client(glm_server):
    glm_server.api_key = TEST_KEY
    with glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai") as c:
        yield c


def run_in_thread(fn, timeout=60.0):
    """``fn()``'s result or exception; fails the test instead of hanging it."""
    out: dict[str, object] = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"still running after {timeout} s: a hang"
    return out


DAY = 86_400.0  # client._retry.RETRY_AFTER_CEILING_S


# -- 1. Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0.25", 0.25),
        ("3600", 3600.0),
        ("inf", DAY),
        ("Infinity", DAY),
        ("1e400", DAY),
        ("Fri, 31 Dec 9999 23:59:59 GMT", DAY),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # past
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),  # a naive date
        ("nan", None),
        ("-5", None),
        ("-inf", None),
        ("soon", None),
        ("", None),
        ("Wed, 21 Oct 99999999999999999999 07:28:00 GMT", None),  # OverflowError in the parser
        ("Sat, 01 Jan 10000 00:00:00 GMT", None),
        ("Wed, 99 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_retry_after_is_always_a_bounded_number_or_none(header, expected):
    assert parse_retry_after(header) == expected


LONG_WAITS = ["3600", "inf", "1e400", "Fri, 31 Dec 9999 23:59:59 GMT"]


@pytest.mark.parametrize("header", LONG_WAITS)
@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_past_the_cap_stops_the_run_with_a_clear_error(glm_server, client, header, status):
    def responder(request):
        text = last_user_text(request)
        if text == "r3":
            code = "1302" if status == 429 else "503"
            return Fault.http(status, code, headers={"Retry-After": header})
        return Reply(text=f"answer {text}")

    glm_server.responder = responder
    out = run_in_thread(lambda: glm.map("{text}", [f"r{i}" for i in range(8)], client=client, concurrency=1))
    error = out.get("error")
    assert isinstance(error, glm.RateLimitError if status == 429 else glm.ServerError), out
    message = str(error)
    assert "Retry-After" in message and "60 s" in message and "run it again later" in message
    batch = error.batch
    assert batch.texts[:3] == ["answer r0", "answer r1", "answer r2"] and batch.texts[3] is None
    assert AnswerCache().count() == batch.done == 3  # the answers that came are kept and cached


@pytest.mark.parametrize(
    "header", ["nan", "-5", "-inf", "soon", "Wed, 21 Oct 99999999999999999999 07:28:00 GMT", "0.1"]
)
def test_a_useless_retry_after_falls_back_to_the_runs_own_backoff(glm_server, client, header):
    refused = []

    def responder(request):
        text = last_user_text(request)
        if text == "r3" and not refused:
            refused.append(text)
            return Fault.http(429, "1302", headers={"Retry-After": header})
        return Reply(text=f"answer {text}")

    glm_server.responder = responder
    out = run_in_thread(lambda: glm.map("{text}", [f"r{i}" for i in range(8)], client=client))
    assert "error" not in out, out.get("error")
    result = out["value"]
    assert result.texts == [f"answer r{i}" for i in range(8)] and refused


def test_the_plain_client_does_not_sleep_an_hour_either(glm_server, client):
    glm_server.enqueue(Fault.rate_limit(retry_after=3600), Reply(text="late"))
    out = run_in_thread(lambda: client.chat("hi"))
    assert isinstance(out.get("error"), glm.RateLimitError)  # past the retry deadline: raised at once


# -- 2. One broken line in a Batch API output file fails its row only -------------------------------

GOOD_BODY = {"choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]}


def _line(custom_id="row-2", **fields):
    line = {"id": "line-x", "response": {"status_code": 200, "body": GOOD_BODY}, "error": None, **fields}
    if custom_id is not None:
        line["custom_id"] = custom_id
    return json.dumps(line)


BROKEN = {
    "cut JSON that names its row": ('{"custom_id": "row-2", "response": {"status_co', "not JSON"),
    "an HTML error page": ("<html><body>502 Bad Gateway</body></html>", "not JSON"),
    "a JSON number": ("42", "not an object"),
    "a JSON array": ('[{"custom_id": "row-2"}]', "not an object"),
    "no custom_id": (_line(None), "has no custom_id"),
    "an unknown custom_id": (_line("row-99"), "no row of this job"),
    "a custom_id of another tool": (_line("request-2"), "no row of this job"),
    "non-ASCII digits": (_line("row-\u0662"), "no row of this job"),
    "a body that is no completion": (
        _line(response={"status_code": 200, "body": {"foo": 1}}),
        "not a chat completion",
    ),
    "choices empty": (_line(response={"status_code": 200, "body": {"choices": []}}), "not a chat completion"),
    "a body that is a list": (_line(response={"status_code": 200, "body": [1]}), "row 2"),
    "a response that is a string": (_line(response="ok"), "not an object"),
    "content that is a number": (
        _line(response={"status_code": 200, "body": {"choices": [{"message": {"content": 7}}]}}),
        "not text",
    ),
    "no content at all": (
        _line(response={"status_code": 200, "body": {"choices": [{"message": {}, "finish_reason": "stop"}]}}),
        "no content",
    ),
    "an error object in a 200 body": (
        _line(response={"status_code": 200, "body": {"error": {"code": "1261", "message": "too long"}}}),
        "too long",
    ),
    "a status code that is text": (
        _line(response={"status_code": "500", "body": None}, error={"code": "500", "message": "boom"}),
        "boom",
    ),
    "tool calls that are not a list": (
        _line(
            response={
                "status_code": 200,
                "body": {
                    "choices": [{"message": {"content": None, "tool_calls": 5}, "finish_reason": "stop"}]
                },
            }
        ),
        "row 2",
    ),
    "neither response nor error": (_line(response=None), "neither a response nor an error"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_output_line_fails_its_row_only(glm_server, client, case):
    raw, says = BROKEN[case]
    glm_server.responder = lambda request: Reply(text=f"answer {last_user_text(request)}")
    glm_server.batches.broken_lines = {2: raw}
    job = glm.batch.submit("{text}", [f"r{i}" for i in range(6)], client=client)
    job.wait(poll_interval=0.01)
    result = run_in_thread(job.results)
    assert "error" not in result, result.get("error")
    batch = result["value"]
    assert batch.texts == ["answer r0", "answer r1", None, "answer r3", "answer r4", "answer r5"]
    assert list(batch.errors) == [2]
    error = batch.errors[2]
    assert isinstance(error, glm.GLMError) and says in str(error), str(error)


def test_a_stray_line_does_not_hide_the_others(glm_server, client):
    glm_server.responder = lambda request: Reply(text=f"answer {last_user_text(request)}")
    glm_server.batches.broken_lines = {0: "{not json", 1: _line("row-1")}
    job = glm.batch.submit("{text}", ["a", "b", "c"], client=client)
    job.wait(poll_interval=0.01)
    batch = job.results()
    assert batch.texts == [None, "x", "answer c"]
    assert "no usable line" in str(batch.errors[0]) and "not JSON" in str(batch.errors[0])


# -- 3. A cache that cannot be written keeps the answers, with one warning ---------------------------


def _mount(*args):
    """Run mount(8) for a real full or read-only filesystem. It needs root, as `make test` has in
    CI; elsewhere the test fails saying so rather than skipping (a skip would hide the check)."""
    assert os.geteuid() == 0, "this test mounts a tmpfs: run it as root (CI runs make test as root)"
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    assert done.returncode == 0, f"mount {' '.join(args)} failed: {done.stderr.strip()}"


@pytest.fixture
def tmpfs(tmp_path):
    """A mount point; whatever a test mounts there is unmounted after it."""
    point = tmp_path / "mnt"
    point.mkdir()
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def map_with_warnings(client, rows, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_in_thread(lambda: glm.map("{text}", rows, client=client, **kwargs))
    assert "error" not in out, repr(out.get("error"))
    return out["value"], [w for w in caught if issubclass(w.category, CacheWarning)]


def echo(glm_server, size=0):
    glm_server.responder = lambda r: Reply(text=f"answer {last_user_text(r)}" + "x" * size)


def test_a_full_disk_keeps_every_answer_and_warns_once(glm_server, client, tmpfs, monkeypatch):
    _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(tmpfs))
    path = tmpfs / "answers.sqlite3"
    monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(path))
    AnswerCache().close()  # the file exists, then the disk fills up
    with contextlib.suppress(OSError), open(tmpfs / "filler", "wb", buffering=0) as filler:
        while True:
            filler.write(b"\0" * 4096)
    assert os.statvfs(tmpfs).f_bavail == 0  # really full
    filler_size = (tmpfs / "filler").stat().st_size
    os.truncate(tmpfs / "filler", filler_size - 64 * 1024)  # room for a few answers: it fills mid-run
    echo(glm_server, size=3000)
    rows = [f"r{i}" for i in range(30)]
    result, caught = map_with_warnings(client, rows)
    assert result.texts == [f"answer r{i}" + "x" * 3000 for i in range(30)] and not result.errors
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "disk is full" in message and str(path) in message and "cache=False" in message
    stored = AnswerCache().count()
    assert 0 < stored < 30 and f"({30 - stored} not stored)" in message  # it filled mid-run


def test_a_read_only_filesystem_serves_what_is_stored_and_asks_the_rest(
    glm_server, client, tmpfs, monkeypatch
):
    _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(tmpfs))
    monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(tmpfs / "answers.sqlite3"))
    echo(glm_server)
    assert glm.map("{text}", ["r0", "r1"], client=client).done == 2
    _mount("-o", "remount,ro", str(tmpfs))
    result, caught = map_with_warnings(client, [f"r{i}" for i in range(5)])
    assert result.texts == [f"answer r{i}" for i in range(5)] and result.cached == [0, 1]
    assert len(caught) == 1 and "read-only" in str(caught[0].message)


def test_a_read_only_file_in_a_writable_directory(glm_server, client, tmp_path, monkeypatch, cache_file):
    echo(glm_server)
    assert glm.map("{text}", ["r0"], client=client).done == 1
    _mount("--bind", str(cache_file), str(cache_file))
    try:
        _mount("-o", "remount,ro,bind", str(cache_file))
        result, caught = map_with_warnings(client, ["r0", "r1", "r2"])
    finally:
        subprocess.run(["umount", "-l", str(cache_file)], capture_output=True)
    assert result.texts == ["answer r0", "answer r1", "answer r2"]
    assert len(caught) == 1 and "cannot be written" in str(caught[0].message)


def test_a_database_locked_by_another_process(glm_server, client, cache_file):
    echo(glm_server)
    AnswerCache().close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()",
            str(cache_file),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result, caught = map_with_warnings(client, [f"r{i}" for i in range(6)])
    finally:
        holder.kill()
        holder.wait()
    assert result.texts == [f"answer r{i}" for i in range(6)]
    assert len(caught) == 1 and "locked" in str(caught[0].message)


@pytest.mark.parametrize("kind", ["a file where the directory should be", "a file that is not SQLite"])
def test_a_cache_that_cannot_be_opened_runs_without_one(
    glm_server, client, tmp_path, monkeypatch, cache_file, kind
):
    echo(glm_server)
    if kind.startswith("a file where"):
        (tmp_path / "blocker").write_text("x")
        monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(tmp_path / "blocker" / "answers.sqlite3"))
    else:
        cache_file.write_bytes(b"this is no database" * 100)
    result, caught = map_with_warnings(client, ["r0", "r1"])
    assert result.texts == ["answer r0", "answer r1"] and len(caught) == 1


def test_a_batch_job_that_cannot_be_recorded_is_still_returned(glm_server, client, tmpfs, monkeypatch):
    _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tmpfs))
    monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(tmpfs / "answers.sqlite3"))
    _mount("-o", "remount,ro", str(tmpfs))
    echo(glm_server)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = glm.batch.submit("{text}", ["a", "b"], client=client)
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(messages) == 1 and job.id in messages[0] and "not recorded" in messages[0]
    job.wait(poll_interval=0.01)
    assert job.results().texts == ["answer a", "answer b"]


# -- 4. Two processes on one cache file ask each row once -------------------------------------------

CHILD = """
import json, os, sys, time
import glm_notebook as glm
base_url, key, go, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
with glm.GLMClient(base_url=base_url, api_key=key, provider="zai") as client:
    result = glm.map("{text}", [f"r{i}" for i in range(n)], client=client, concurrency=2)
print(json.dumps({"texts": result.texts, "cached": result.cached}), flush=True)
"""


def start_child(glm_server, cache_file, go, n):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "ZHIPUAI", "ZAI_"))}
    env["GLM_NOTEBOOK_CACHE"] = str(cache_file)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), env.get("PYTHONPATH", "")] if p)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, glm_server.base_url, TEST_KEY, str(go), str(n)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout.readline().strip() == "ready"
    return child


def asked(glm_server):
    return Counter(
        last_user_text(r.json) for r in glm_server.requests if r.path.endswith("/chat/completions")
    )


def test_two_processes_on_one_cache_ask_each_row_once(glm_server, cache_file, tmp_path):
    glm_server.api_key = TEST_KEY
    glm_server.responder = lambda r: Reply(text=f"answer {last_user_text(r)}", first_delay=0.1)
    go, n = tmp_path / "go", 16
    children = [start_child(glm_server, cache_file, go, n) for _ in range(2)]
    go.write_text("go")
    outputs = [json.loads(child.communicate(timeout=120)[0].strip().splitlines()[-1]) for child in children]
    assert [child.returncode for child in children] == [0, 0]
    for out in outputs:
        assert out["texts"] == [f"answer r{i}" for i in range(n)]
    counts = asked(glm_server)
    assert counts == Counter({f"r{i}": 1 for i in range(n)})  # each row paid once


def _foreign_claim(cache_file, key, pid, expires):
    db = sqlite3.connect(cache_file)
    with db:
        db.execute(
            "INSERT OR REPLACE INTO claims (key, owner, pid, host, expires) VALUES (?, ?, ?, ?, ?)",
            (key, f"{socket.gethostname()}:{pid}:other", pid, socket.gethostname(), expires),
        )
    db.close()


def _key(client, text):
    from glm_notebook.bulk._cache import answer_key
    from glm_notebook.client._request import build_messages

    settings = client.endpoint.resolve()
    return answer_key(settings.provider, settings.base_url, settings.model, build_messages(text, None), {})


def test_a_row_asked_by_another_live_process_is_waited_for(glm_server, client, cache_file):
    echo(glm_server)
    AnswerCache().close()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        _foreign_claim(cache_file, _key(client, "r1"), other.pid, time.time() + 600)
        out: dict[str, object] = {}
        worker = threading.Thread(
            target=lambda: out.update(value=glm.map("{text}", ["r0", "r1", "r2"], client=client)), daemon=True
        )
        worker.start()
        glm_server.wait_for_requests(2, timeout=30)
        # the other process answers r1 and lets go of it
        store = AnswerCache()
        store.put(_key(client, "r1"), ChatResult(text="answer r1 from elsewhere", complete=True))
        store._db.execute("DELETE FROM claims")
        store.close()
        worker.join(60)
        assert not worker.is_alive()
    finally:
        other.kill()
        other.wait()
    result = out["value"]
    assert result.texts == ["answer r0", "answer r1 from elsewhere", "answer r2"] and result.cached == [1]
    assert asked(glm_server) == Counter({"r0": 1, "r2": 1})


@pytest.mark.parametrize("how", ["its process is dead", "its lease ran out"])
def test_a_stale_claim_is_taken_over(glm_server, client, cache_file, how):
    echo(glm_server)
    AnswerCache().close()
    if how == "its process is dead":
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        _foreign_claim(cache_file, _key(client, "r1"), gone.pid, time.time() + 600)
    else:
        _foreign_claim(cache_file, _key(client, "r1"), os.getppid(), time.time() - 1)
    out = run_in_thread(lambda: glm.map("{text}", ["r0", "r1"], client=client))
    assert out["value"].texts == ["answer r0", "answer r1"]
    assert not sqlite3.connect(cache_file).execute("SELECT * FROM claims").fetchall()


def test_a_process_killed_mid_run_blocks_nobody(glm_server, client, cache_file, tmp_path):
    """kill -9 leaves claims behind; the next run takes them over at once (the pid is gone)."""
    glm_server.api_key = TEST_KEY
    glm_server.responder = lambda r: Reply(text=f"answer {last_user_text(r)}", first_delay=5.0)
    go = tmp_path / "go"
    go.write_text("go")
    child = start_child(glm_server, cache_file, go, 6)
    glm_server.wait_for_requests(2, timeout=30)
    child.kill()
    child.wait()
    assert sqlite3.connect(cache_file).execute("SELECT COUNT(*) FROM claims").fetchone()[0] >= 1
    echo(glm_server)
    out = run_in_thread(lambda: glm.map("{text}", [f"r{i}" for i in range(6)], client=client))
    assert out["value"].texts == [f"answer r{i}" for i in range(6)]


def test_ctrl_c_releases_the_claims(glm_server, cache_file, tmp_path):
    glm_server.api_key = TEST_KEY
    glm_server.responder = lambda r: Reply(text=f"answer {last_user_text(r)}", first_delay=5.0)
    go = tmp_path / "go"
    go.write_text("go")
    child = start_child(glm_server, cache_file, go, 6)
    glm_server.wait_for_requests(2, timeout=30)
    child.send_signal(signal.SIGINT)
    output = child.communicate(timeout=60)[0]
    assert child.returncode == 0 and json.loads(output.strip().splitlines()[-1])["texts"][0] is None
    assert sqlite3.connect(cache_file).execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_claims_are_released_at_the_end_even_after_a_write_failed(tmp_path):
    # A write that timed out on a lock turns further writes off; the run's end still drops its
    # claims, or another process would wait out their lease.
    import sqlite3

    from glm_notebook.bulk._cache import AnswerCache

    cache = AnswerCache(tmp_path / "answers.sqlite3")
    cache.claim("k1")
    cache._failed(sqlite3.OperationalError("database is locked"))
    cache.release()
    other = AnswerCache(tmp_path / "answers.sqlite3")
    assert other._db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
