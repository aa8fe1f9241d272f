"""One answer's lifecycle as a user meets it: what ``_glm`` holds after Ctrl-C, what the status line
says while the engine waits (rate limits, the offline model starting), a Playground after
``reset_client()``, conversations, compare() on the caller's client, and terminal IPython without
widget libraries. Real IPython shells, real SIGINTs, real sockets (the GLM test server).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest
from _constants import TEST_KEY
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import glm_notebook as glm
from glm_notebook.testing import Fault, Reply

RATE_LIMIT_NOTICE = re.compile(r"rate limited \(1302\), retrying in 1(\.0)? s")
OTHER_KEY = "sk-test-another-key-after-a-change-wxyz"


def _statuses_while(action):
    """Every status line any live StreamView showed while ``action()`` ran (sampled every 5 ms)."""
    from ipywidgets.widgets.widget import _instances

    from glm_notebook.answer._stream_view import StreamView

    seen: list[str] = []
    running = threading.Event()
    running.set()

    def watch():
        while running.is_set():
            for widget in list(_instances.values()):
                if isinstance(widget, StreamView) and widget.status and widget.status not in seen:
                    seen.append(widget.status)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        action()
    finally:
        running.clear()
        watcher.join(2)
    return seen


def _interrupt_after(server, seconds):
    main = threading.main_thread().ident

    def interrupt():
        server.wait_for_requests(1)
        time.sleep(seconds)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()


# -- Ctrl-C: _glm is this cell's partial answer ---------------------------------------------------


def test_after_an_interrupt_glm_holds_this_cells_partial_answer_not_the_last_cells(ip, zai_env):
    with capture_output():
        ip.run_cell_magic("glm", "", "first question")
    previous = ip.user_ns["_glm"]
    assert previous.text == "You said: first question"

    zai_env.enqueue(Reply(text="word " * 200, delay=0.05))
    _interrupt_after(zai_env, 0.6)
    with capture_output() as out, pytest.raises(KeyboardInterrupt):
        ip.run_cell_magic("glm", "--out partial", "a long answer")
    result = ip.user_ns["_glm"]
    assert result is not previous
    assert result.stopped and not result.complete and result.text.startswith("word")
    assert ip.user_ns["partial"] is result
    assert result.request["messages"][-1]["content"] == "a long answer"
    assert "stopped" in out.stdout
    with capture_output() as usage:
        ip.run_line_magic("glm", "usage")
    assert "2 requests this session (0 failed, 1 stopped)" in usage.stdout


def test_after_an_interrupt_in_widget_mode_the_static_copy_says_stopped(ip, zai_env):
    ip.run_line_magic("config", 'GLMMagics.display_mode = "widget"')
    zai_env.enqueue(Reply(text="word " * 200, delay=0.05))
    _interrupt_after(zai_env, 0.5)
    with capture_output() as out, pytest.raises(KeyboardInterrupt):
        ip.run_cell_magic("glm", "", "a long answer")
    result = ip.user_ns["_glm"]
    assert result.stopped and result.text.startswith("word")
    final = out.outputs[-1].data
    assert set(final) == {"text/markdown", "text/plain"}
    assert final["text/markdown"].startswith("word") and "stopped" in final["text/markdown"]


# -- notices in the status line -------------------------------------------------------------------


def test_a_rate_limit_wait_shows_in_the_live_status_line(ip, zai_env):
    ip.run_line_magic("config", 'GLMMagics.display_mode = "widget"')
    zai_env.enqueue(Fault.rate_limit(retry_after=1), Reply(text="after the wait"))

    with capture_output() as out:
        statuses = _statuses_while(lambda: ip.run_cell_magic("glm", "", "Q"))
    assert any(RATE_LIMIT_NOTICE.search(s) for s in statuses), statuses
    assert not any("waiting for the first token" in s for s in statuses)
    assert ip.user_ns["_glm"].text == "after the wait"
    assert ip.user_ns["_glm"].metrics.retries == 1
    # the notice gives way to the answer: the saved copy has the usual status line
    final = out.outputs[-1].data["text/markdown"]
    assert final.startswith("after the wait") and final.rstrip().endswith("stop*</sub>")
    assert "rate limited" not in final


def test_a_rate_limit_wait_is_printed_in_terminal_ipython(ip, zai_env):
    zai_env.enqueue(Fault.rate_limit(retry_after=1), Reply(text="after the wait"))
    with capture_output() as out:
        ip.run_cell_magic("glm", "", "Q")
    lines = out.stdout.splitlines()
    notice = next(i for i, line in enumerate(lines) if RATE_LIMIT_NOTICE.search(line))
    assert lines[notice].startswith("[") and lines[notice].endswith("]")
    assert notice < next(i for i, line in enumerate(lines) if "after the wait" in line)


_OFFLINE_START = textwrap.dedent(
    """
    import io, json, signal, sys, threading, time
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    mode = sys.argv[1]
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "glm_notebook")
    ip.run_line_magic("config", f'GLMMagics.display_mode = "{mode}"')
    main = threading.main_thread().ident
    seen = {}
    buf = io.StringIO()

    def shown():
        if mode == "text":
            return buf.getvalue() if "starting the offline model" in buf.getvalue() else None
        from ipywidgets.widgets.widget import _instances
        from glm_notebook.answer._stream_view import StreamView
        for w in list(_instances.values()):
            if isinstance(w, StreamView) and "starting the offline model" in w.status:
                return w.status

    def watch():
        while "status" not in seen:
            seen["status"] = shown()
            if seen["status"] is None:
                del seen["status"]
                time.sleep(0.005)
        import glm_notebook.local as local
        seen["server_started"] = local.current_server() is not None
        signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C while the model is still starting

    threading.Thread(target=watch, daemon=True).start()
    raised = None
    with capture_output() as out:
        sys.stdout = buf if mode == "text" else sys.stdout
        try:
            ip.run_cell_magic("glm", "--max-tokens 4", "Once upon a time")
        except KeyboardInterrupt:
            raised = "KeyboardInterrupt"
        finally:
            sys.stdout = sys.__stdout__
    r = ip.user_ns.get("_glm")
    final = out.outputs[-1].data if out.outputs else {}
    print(json.dumps({
        "raised": raised,
        "seen": seen,
        "stored": type(r).__name__,
        "stopped": getattr(r, "stopped", None),
        "text": getattr(r, "text", None),
        "final": final.get("text/markdown", ""),
        "printed": buf.getvalue(),
    }))
    """
)


@pytest.mark.local
@pytest.mark.parametrize("mode", ["widget", "text"])
def test_the_first_offline_start_is_shown_at_once_and_ctrl_c_stops_it_cleanly(tmp_path, mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "ZAI_", "ZHIPUAI_"))}
    env["GLM_PROVIDER"] = "local"
    done = subprocess.run(
        [sys.executable, "-c", _OFFLINE_START, mode],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "starting the offline model…" in report["seen"]["status"]
    assert report["raised"] == "KeyboardInterrupt"  # "Run All" stops here, as for any interrupt
    assert report["stored"] == "ChatResult" and report["stopped"] is True and report["text"] == ""
    if mode == "widget":
        assert "stopped" in report["final"]
    else:
        assert report["printed"].splitlines()[0] == "[starting the offline model…]"
        assert report["printed"].rstrip().endswith("stopped]")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


# -- the Playground follows the shared client -----------------------------------------------------


def test_a_playground_without_a_client_uses_the_shared_client_of_each_run(zai_env, monkeypatch):
    from glm_notebook.playground import Playground

    pg = Playground("Say hi", auto_run=False)
    try:
        pg.run()
        view = pg.view_box.children[0]
        # the cell has returned, so the view's own Stop works from the start (no "interrupt" hint)
        assert view.show_stop_button and not view.auto_stop_button
        assert pg.wait(10) and pg.last_result.text == "You said: Say hi"
        monkeypatch.setenv("ZAI_API_KEY", OTHER_KEY)
        glm.reset_client()  # a key change: the old shared client is closed
        pg.run()
        assert pg.wait(10)
        assert pg.last_result.error is None and pg.last_result.text == "You said: Say hi"
        first, second = zai_env.wait_until_finished()
        assert first.headers["authorization"] == f"Bearer {TEST_KEY}"
        assert second.headers["authorization"] == f"Bearer {OTHER_KEY}"
    finally:
        pg.close()


def test_a_tune_playground_survives_reset_client(ip, zai_env, monkeypatch):
    ip.run_line_magic("config", 'GLMMagics.display_mode = "widget"')
    with capture_output():
        ip.run_cell_magic("glm", "--tune --out pg", "Q")
    pg = ip.user_ns["pg"]
    try:
        assert pg.wait(10) and pg.last_result.complete
        monkeypatch.setenv("ZAI_API_KEY", OTHER_KEY)
        glm.reset_client()
        pg.run()
        assert pg.wait(10)
        assert pg.last_result.error is None and pg.last_result.text == "You said: Q"
        assert zai_env.requests[-1].headers["authorization"] == f"Bearer {OTHER_KEY}"
        with capture_output() as usage:
            ip.run_line_magic("glm", "usage")
        assert "2 requests this session" in usage.stdout  # playground runs count too
    finally:
        pg.close()


# -- conversations --------------------------------------------------------------------------------


def test_history_of_an_unknown_conversation_says_so_and_creates_nothing(ip, zai_env):
    ip.run_cell("%%glm --chat lesson\nhello", cell_id="c1")
    magics = ip.magics_manager.registry["GLMMagics"]
    with pytest.raises(UsageError, match=r"No conversation named 'lesosn' \(known: 'lesson'\)"):
        ip.run_line_magic("glm", "history lesosn")
    with pytest.raises(UsageError, match="No conversation named 'lesosn'"):
        ip.run_line_magic("glm", "reset lesosn")
    assert magics.conversations.names() == ["lesson"]
    with capture_output() as out:
        ip.run_line_magic("glm", "history lesson")
    assert "== lesson (1 turns)" in out.stdout


def _shout(word: str) -> str:
    """Return the word in capitals."""
    return word.upper()


@pytest.mark.parametrize("flags", ["", "--tools shout", "--schema Answer"], ids=["plain", "tools", "schema"])
def test_rerunning_an_earlier_chat_cell_says_how_many_later_turns_it_dropped(ip, zai_env, flags):
    # Every kind of answer ends the same way: the turn is recorded and a re-run says what it dropped.
    ip.user_ns["shout"] = _shout
    ip.user_ns["Answer"] = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    zai_env.responder = lambda request: Reply(text='{"a": 1}')
    for cell_id, question in (("A", "one"), ("B", "two"), ("C", "three")):
        ip.run_cell(f"%%glm --chat story {flags}\n{question}", cell_id=cell_id)
    with capture_output() as out:
        ip.run_cell(f"%%glm --chat story {flags}\none, again", cell_id="A")
    notes = [line for line in out.stdout.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and "2 later turns dropped" in notes[0] and "'story'" in notes[0]
    turns = ip.magics_manager.registry["GLMMagics"].conversations.get("story").turns
    assert [t.user for t in turns] == ["one, again"]
    # re-running the last cell drops nothing, so it says nothing
    with capture_output() as out:
        ip.run_cell(f"%%glm --chat story {flags}\none, a third time", cell_id="A")
    assert "Note:" not in out.stdout
    assert ip.user_ns["_glm"].text == '{"a": 1}'


# -- compare() runs on the caller's client --------------------------------------------------------


def test_compare_uses_the_callers_client_and_its_transport():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.host, body["temperature"], request.headers["authorization"]))
        chunk = {
            "choices": [{"delta": {"content": f"mock t={body['temperature']}"}, "finish_reason": "stop"}]
        }
        sse = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    client = glm.GLMClient(
        provider="zai",
        base_url="http://glm.invalid/v4",
        api_key=TEST_KEY,
        transport=httpx.MockTransport(handler),
    )
    with client:
        results = glm.compare("Q", temperature=[0, 1], client=client, display="none")
    assert [r.text for r in results] == ["mock t=0.0", "mock t=1.0"]
    assert sorted(seen) == [
        ("glm.invalid", 0.0, f"Bearer {TEST_KEY}"),
        ("glm.invalid", 1.0, f"Bearer {TEST_KEY}"),
    ]


def test_compare_keywords_come_from_the_options_table(client_zai):
    with pytest.raises(glm.InvalidOptionError, match="Unknown option 'temprature'"):
        glm.compare("Q", temprature=[0, 1], client=client_zai, display="none")
    results = glm.compare("Q", top_p=[0.5, 1.0], seed=3, thinking=False, client=client_zai, display="none")
    assert len(results) == 2 and all(r.complete for r in results)
    sent = [r.request for r in results]
    assert [s["top_p"] for s in sent] == [0.5, 1.0]
    assert all(s["seed"] == 3 and s["thinking"] == {"type": "disabled"} for s in sent)


@pytest.fixture
def client_zai(zai_env):
    with glm.GLMClient(provider="zai", base_url=zai_env.base_url, api_key=TEST_KEY) as c:
        yield c


# -- terminal IPython loads no widget library -----------------------------------------------------


def test_terminal_ipython_imports_no_widget_library(glm_server):
    code = textwrap.dedent(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "glm_notebook")
        ip.run_cell_magic("glm", "", "Say hi")
        print("after %%glm:", "anywidget" in sys.modules, "ipywidgets" in sys.modules)
        ip.run_cell_magic("glm", '--compare "temperature=0,1"', "Say hi")
        print("after --compare:", "anywidget" in sys.modules, "ipywidgets" in sys.modules)
        print("answer:", ip.user_ns["_glm"][1].text)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "ZAI_", "ZHIPUAI_"))}
    env.update(GLM_PROVIDER="zai", GLM_BASE_URL=glm_server.base_url, ZAI_API_KEY=TEST_KEY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "You said: Say hi" in done.stdout
    assert "after %%glm: False False" in done.stdout
    assert "after --compare: False False" in done.stdout
    assert "answer: You said: Say hi" in done.stdout


# -- the Stop button is decided in one place ------------------------------------------------------


@pytest.mark.parametrize(
    "mode,busy,expected",
    [
        ("auto", True, (False, True)),  # a busy cell: Stop once the browser's greeting got through
        ("auto", False, (True, False)),  # the cell has returned (a Playground run): Stop works at once
        ("always", True, (True, False)),
        ("never", True, (False, False)),
        ("never", False, (False, False)),
    ],
)
def test_stop_button_decision(mode, busy, expected):
    from glm_notebook.answer._run import stop_button

    assert tuple(stop_button(mode, cell_busy=busy)) == expected
