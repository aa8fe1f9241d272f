"""compare() and %%glm --compare: concurrent panels, grid order, per-panel errors, the saved copy."""

from __future__ import annotations

import os
import signal
import threading
import time

import nbformat
import pytest
from _constants import TEST_KEY
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from glm_notebook import GLMClient, InvalidOptionError
from glm_notebook.playground import compare, parse_grid_spec
from glm_notebook.testing import Fault, Reply

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SYNTAX = '--compare "temperature=0.2,1.0 top_p=0.5,1"'
HOSTILE = "<script>alert(1)</script> and <img src=x onerror=alert(2)>"


@pytest.fixture
def client(zai_env):
    with GLMClient(provider="zai", base_url=zai_env.base_url, api_key=TEST_KEY) as c:
        yield c


def by_temperature(replies):
    """A responder choosing the script from the request's temperature (requests arrive in any order)."""

    def respond(request):
        script = replies[request.get("temperature")]
        return script() if callable(script) else script

    return respond


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("temperature=0.2,1.0", {"temperature": [0.2, 1.0]}),
        ("temperature=0,1 top-p=0.5,1", {"temperature": [0.0, 1.0], "top_p": [0.5, 1.0]}),
        ("top_p=0.9; max_tokens=16,256", {"top_p": [0.9], "max_tokens": [16, 256]}),
        ('"max-tokens=7"', {"max_tokens": [7]}),
    ],
)
def test_grid_specs_parse_to_typed_values(spec, expected):
    grid = parse_grid_spec(spec, "zai")
    assert grid == expected
    assert all(type(v) is (int if k == "max_tokens" else float) for k, vs in grid.items() for v in vs)


@pytest.mark.parametrize(
    "spec,problem",
    [
        ("temperature", "is not key=value"),
        ("temp=0.2,1", "'temp' cannot be compared"),
        ("seed=1,2", "'seed' cannot be compared"),
        ("temperature=1.5", "out of range for provider 'zai'"),
        ("temperature=a,1", "needs a number"),
        ("max_tokens=1.5", "needs an integer"),
        ("temperature=0,,1", "empty value"),
        ("temperature=0 temperature=1", "given twice"),
        ("top_p=0", "above 0.0 to 1.0"),
    ],
)
def test_invalid_specs_are_one_line_usage_errors_and_send_nothing(ip, zai_env, spec, problem):
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("glm", f"--compare {spec!r}", "Q")
    message = str(info.value)
    assert "\n" not in message and problem in message and SYNTAX in message
    time.sleep(0.05)
    assert zai_env.requests == []


def test_local_servers_accept_temperature_up_to_two():
    assert parse_grid_spec("temperature=0,2", "local") == {"temperature": [0.0, 2.0]}
    with pytest.raises(InvalidOptionError, match="empty"):
        parse_grid_spec("  ", "local")


def test_samples_must_be_sensible(ip, zai_env):
    with pytest.raises(UsageError, match="samples must be an integer from 1 to 20"):
        ip.run_cell_magic("glm", '--compare "temperature=0,1" --samples 0', "Q")
    assert zai_env.requests == []


def test_compare_streams_every_panel_concurrently_in_grid_order(client, zai_env):
    zai_env.responder = lambda req: Reply(text=f"t={req['temperature']} p={req['top_p']} done", delay=0.15)
    results = compare("Q", temperature=[0, 1], top_p=[0.5, 1.0], client=client, display="none")
    assert [r.text for r in results] == [
        "t=0.0 p=0.5 done",
        "t=0.0 p=1.0 done",
        "t=1.0 p=0.5 done",
        "t=1.0 p=1.0 done",
    ]
    requests = zai_env.wait_until_finished()
    assert len(requests) == 4 and all(r.outcome == "complete" for r in requests)
    for a in requests:
        for b in requests:
            assert a.started_at < b.ended_at  # every request was open while every other one was
    # The async client uses the shared client's key, base URL and model.
    assert {r.headers.get("authorization") for r in requests} == {f"Bearer {TEST_KEY}"}
    assert {r.json["model"] for r in requests} == {client.model}


def test_python_values_are_sent_as_given_and_fixed_options_go_everywhere(client, zai_env):
    results = compare("Q", temperature=[0, 0.35], samples=2, seed=7, client=client, display="none")
    assert len(results) == 4
    sent = sorted((r.json["temperature"], r.json["seed"]) for r in zai_env.wait_until_finished())
    assert sent == [(0.0, 7), (0.0, 7), (0.35, 7), (0.35, 7)]
    assert all(type(t) is float for t, _ in sent)
    assert all("top_p" not in r.json and "max_tokens" not in r.json for r in zai_env.requests)


def test_invalid_python_values_fail_before_anything_is_sent(client, zai_env):
    with pytest.raises(InvalidOptionError, match="allowed from 0.0 to 1.0"):
        compare("Q", temperature=[0.5, 1.5], client=client, display="none")
    with pytest.raises(InvalidOptionError, match="seed"):
        compare("Q", temperature=[0.5], seed="x", client=client, display="none")
    assert zai_env.requests == []


def test_a_failing_panel_shows_its_error_and_the_others_complete(ip, zai_env):
    ip.run_line_magic("config", 'GLMMagics.display_mode = "widget"')
    zai_env.responder = by_temperature(
        {0.0: Reply(text="cold answer", delay=0.05), 0.5: Fault.balance(), 1.0: Reply(text="hot answer")}
    )
    with capture_output() as out:
        ip.run_cell_magic("glm", '--compare "temperature=0,0.5,1"', "Q")
    cold, failed, hot = ip.user_ns["_glm"]
    assert (cold.text, hot.text) == ("cold answer", "hot answer") and cold.complete and hot.complete
    assert type(failed.error).__name__ == "InsufficientBalance"
    assert WIDGET_MIME in out.outputs[0].data
    md = out.outputs[-1].data["text/markdown"]
    assert set(out.outputs[-1].data) == {"text/markdown", "text/plain"}
    assert "cold answer" in md and "hot answer" in md and md.count("**Error:**") == 1
    assert "balance" in md.split("temperature=0.5")[1].split("###")[0]
    assert "1 failed" in md


def test_rate_limits_are_retried_per_panel(client, zai_env):
    seen = []

    def limited_once():
        seen.append(1)
        return Fault.rate_limit(retry_after=0) if len(seen) == 1 else Reply(text="after a retry")

    zai_env.responder = by_temperature({0.0: Reply(text="no wait"), 1.0: limited_once})
    first, second = compare("Q", temperature=[0, 1], client=client, display="none")
    assert (first.text, second.text) == ("no wait", "after a retry")
    assert (first.metrics.retries, second.metrics.retries) == (0, 1)


def test_the_static_copy_holds_every_panel_and_stays_inert(ip, zai_env):
    ip.run_line_magic("config", 'GLMMagics.display_mode = "widget"')
    zai_env.responder = lambda req: Reply(text=f"**T{req['temperature']}** {HOSTILE}", reasoning="hmm")
    with capture_output() as out:
        ip.run_cell_magic("glm", '--compare "temperature=0,1" --samples 2 --out grid', "Q")
    results = ip.user_ns["grid"]
    assert results is ip.user_ns["_glm"] and len(results) == 4
    md = out.outputs[-1].data["text/markdown"]
    assert "<script" not in md and "<img" not in md
    assert md.count("**T0.0**") == 2 and md.count("**T1.0**") == 2
    headings = [line for line in md.splitlines() if line.startswith("### ")]
    assert headings == [
        "### 1. temperature=0.0 · sample 1/2",
        "### 2. temperature=0.0 · sample 2/2",
        "### 3. temperature=1.0 · sample 1/2",
        "### 4. temperature=1.0 · sample 2/2",
    ]
    assert md.count("<details><summary>Thinking</summary>") == 4
    assert "2 settings × 2 samples" in md
    plain = out.outputs[-1].data["text/plain"]
    assert "=== 4. temperature=1.0 · sample 2/2 ===" in plain


def test_terminal_ipython_prints_each_answer_in_turn(ip, zai_env):
    zai_env.responder = by_temperature(
        {0.0: Reply(text="slow cold", first_delay=0.3), 1.0: Reply(text="quick hot")}
    )
    with capture_output() as out:
        ip.run_cell_magic("glm", '--compare "temperature=0,1" --top-p 0.5', "Q")
    text = out.stdout
    assert text.index("1. temperature=0.0") < text.index("slow cold") < text.index("2. temperature=1.0")
    assert text.index("quick hot") > text.index("slow cold")
    assert {r.json["top_p"] for r in zai_env.requests} == {0.5}  # a flag is a fixed option
    assert [r.text for r in ip.user_ns["_glm"]] == ["slow cold", "quick hot"]


def test_interrupt_cancels_every_panel_and_keeps_partial_texts(ip, zai_env):
    zai_env.responder = lambda req: Reply(text="w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12", delay=0.2)
    main = threading.get_ident()

    def interrupt():
        zai_env.wait_for_requests(2)
        time.sleep(0.5)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with capture_output(), pytest.raises(KeyboardInterrupt):
        ip.run_cell_magic("glm", '--compare "temperature=0,1"', "Q")
    results = ip.user_ns["_glm"]
    assert all(r.stopped and r.text.startswith("w1") for r in results)
    outcomes = [r.outcome for r in zai_env.wait_until_finished()]
    assert outcomes == ["client_disconnected", "client_disconnected"]


def test_saved_notebook_holds_every_panel_as_markdown(tmp_path, glm_server):
    from nbclient import NotebookClient

    glm_server.responder = lambda req: Reply(text=f"Answer at t={req['temperature']}: {HOSTILE}", delay=0.05)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext glm_notebook"),
        nbformat.v4.new_code_cell('%%glm --compare "temperature=0.2,1.0"\nSay something'),
        nbformat.v4.new_code_cell("print([r.text[:13] for r in _glm])"),
        # A playground in a real kernel: runs on a background thread, widgets sync from there.
        nbformat.v4.new_code_cell(
            "from glm_notebook import Playground\n"
            "pg = Playground('Tune me', temperature=0.35, auto_run=False)\n"
            "pg.run(); pg.wait(10)\n"
            "print(pg.last_result.text[:13], pg.last_result.request['temperature'])"
        ),
    ]
    env = {"GLM_PROVIDER": "zai", "GLM_BASE_URL": glm_server.base_url, "ZAI_API_KEY": TEST_KEY}
    saved = dict(os.environ)
    os.environ.pop("ZHIPUAI_API_KEY", None)
    os.environ.pop("GLM_MODEL", None)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=60, kernel_name="python3").execute(cwd=str(tmp_path))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    assert outputs and all(WIDGET_MIME not in o.get("data", {}) for o in outputs)
    md = outputs[-1]["data"]["text/markdown"]
    assert "Answer at t=0.2" in md and "Answer at t=1.0" in md and "<script" not in md
    assert "### 1. temperature=0.2" in md and "### 2. temperature=1.0" in md
    assert "['Answer at t=0', 'Answer at t=1']" in nb.cells[2].outputs[0]["text"]
    assert nb.cells[3].outputs[0]["text"].strip() == "Answer at t=0 0.35"
