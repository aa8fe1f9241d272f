"""%%glm and %glm through a real IPython shell against the GLM test server."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from _constants import TEST_KEY
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from glm_notebook.testing import Fault, Reply


def sent(server, i=-1):
    return server.wait_for_requests(1)[i].json


def test_cell_is_the_prompt_and_answer_is_stored(ip, zai_env):
    with capture_output() as out:
        ip.run_cell_magic("glm", "", "Say hi")
    assert "You said: Say hi" in out.stdout
    assert ip.user_ns["_glm"].text == "You said: Say hi"
    assert sent(zai_env)["messages"] == [{"role": "user", "content": "Say hi"}]


@pytest.mark.parametrize(
    "flags,expected",
    [
        ("--temperature 0", {"temperature": 0.0}),
        ("--temperature 1", {"temperature": 1.0}),
        ("--top-p 0.5", {"top_p": 0.5}),
        ("--max-tokens 7", {"max_tokens": 7}),
        ("--seed 0", {"seed": 0}),
        ("--stop END --stop STOP", {"stop": ["END", "STOP"]}),
        ("--thinking", {"thinking": {"type": "enabled"}}),
        ("--no-thinking", {"thinking": {"type": "disabled"}}),
        ("--model glm-5", {"model": "glm-5"}),
        ("--format json", {"response_format": {"type": "json_object"}}),
    ],
)
def test_flags_are_sent_exactly(ip, zai_env, flags, expected):
    with capture_output():
        ip.run_cell_magic("glm", flags, "Q")
    body = sent(zai_env)
    for key, value in expected.items():
        assert body[key] == value and type(body[key]) is type(value)
    for absent in {"temperature", "top_p", "max_tokens", "seed", "stop", "thinking"} - expected.keys():
        assert absent not in body


def test_system_flag_puts_a_system_message_first(ip, zai_env):
    with capture_output():
        ip.run_cell_magic("glm", '--system "You are terse."', "Q")
    assert sent(zai_env)["messages"][0] == {"role": "system", "content": "You are terse."}


def test_configured_defaults_apply_and_flags_override(ip, zai_env):
    ip.run_line_magic("config", "GLMMagics.temperature = 0.3")
    ip.run_line_magic("config", 'GLMMagics.model = "glm-4.5"')
    try:
        with capture_output():
            ip.run_cell_magic("glm", "", "Q1")
            ip.run_cell_magic("glm", "--temperature 0", "Q2")
        first, second = (r.json for r in zai_env.wait_for_requests(2))
        assert (first["temperature"], first["model"]) == (0.3, "glm-4.5")
        assert second["temperature"] == 0.0
    finally:
        ip.run_line_magic("config", "GLMMagics.temperature = None")
        ip.run_line_magic("config", "GLMMagics.model = None")


@pytest.mark.parametrize(
    "flags,message",
    [
        ("--temperature 1.5", "allowed from 0.0 to 1.0"),
        ("--top-p 0", "above 0.0 to 1.0"),
        ("--max-tokens 0", "max_tokens=0 is out of range"),
        ("--temperature hot", "invalid number value"),
        ("--format yaml", "invalid choice"),
        ("--bogus", "unrecognized arguments"),
        ("--new", "use it with --chat"),
    ],
)
def test_bad_flags_are_one_line_usage_errors_and_send_nothing(ip, zai_env, flags, message):
    with pytest.raises(UsageError, match=message):
        ip.run_cell_magic("glm", flags, "Q")
    time.sleep(0.05)
    assert zai_env.requests == []


def test_empty_cell_says_what_to_type(ip, zai_env):
    with pytest.raises(UsageError, match="write your prompt"):
        ip.run_cell_magic("glm", "", "  \n")


def test_braces_pass_through_without_vars(ip, zai_env):
    code = "def f(d): return {k: v for k, v in d.items()}"
    with capture_output():
        ip.run_cell_magic("glm", "", code)
    assert sent(zai_env)["messages"][-1]["content"] == code


def test_vars_fill_placeholders_and_missing_names_are_clear(ip, zai_env):
    ip.user_ns["topic"] = "top_p"
    with capture_output():
        ip.run_cell_magic("glm", "--vars", "Explain {topic} with {{braces}}")
    assert sent(zai_env)["messages"][-1]["content"] == "Explain top_p with {braces}"
    with pytest.raises(UsageError, match="not a defined variable"):
        ip.run_cell_magic("glm", "--vars", "Explain {nothing_here}")


def test_out_variable_holds_the_chat_result(ip, zai_env):
    with capture_output():
        ip.run_cell_magic("glm", "--out answer", "hello")
    assert ip.user_ns["answer"].text == "You said: hello"
    assert ip.user_ns["answer"] is ip.user_ns["_glm"]


def test_json_format_parses_into_result_json(ip, zai_env):
    zai_env.enqueue(Reply(text='{"a": 1, "b": [2, 3]}'))
    with capture_output():
        ip.run_cell_magic("glm", "--format json", "give json")
    assert ip.user_ns["_glm"].json == {"a": 1, "b": [2, 3]}


def test_code_format_puts_the_code_block_into_the_next_cell(ip, zai_env, monkeypatch):
    zai_env.enqueue(Reply(text="Here:\n```python\nprint('hi')\n```\nDone."))
    calls = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: calls.append(text))
    with capture_output():
        ip.run_cell_magic("glm", "--format code", "write code")
    assert calls == ["print('hi')"]


@pytest.mark.parametrize(
    "fault,words",
    [
        (Fault.balance(), "balance"),
        (Fault.auth(), "API key"),
        (Fault.model_not_found(), "model name"),
        (Fault.quota(), "quota"),
    ],
)
def test_api_errors_are_one_clear_line_without_traceback(ip, zai_env, fault, words):
    zai_env.enqueue(fault)
    with capture_output() as out:
        ip.run_cell_magic("glm", "", "Q")
    assert words in out.stdout and "Traceback" not in out.stdout + out.stderr
    assert ip.user_ns["_glm"].error is not None


def test_mid_stream_error_keeps_the_partial_text(ip, zai_env):
    zai_env.enqueue(Reply(text="one two three four", error_after=2, error_code="1301"))
    with capture_output() as out:
        ip.run_cell_magic("glm", "", "Q")
    result = ip.user_ns["_glm"]
    assert result.text and "one two three four".startswith(result.text)
    assert result.text in out.stdout and "1301" in out.stdout


def test_raise_errors_switch_fails_the_cell(ip, zai_env):
    import glm_notebook as glm

    ip.run_line_magic("config", "GLMMagics.raise_errors = True")
    zai_env.enqueue(Fault.balance())
    with capture_output(), pytest.raises(glm.InsufficientBalance):
        ip.run_cell_magic("glm", "", "Q")


def test_kernel_interrupt_stops_at_once_and_keeps_partial_text(ip, zai_env):
    zai_env.enqueue(Reply(text="word " * 200, delay=0.05))
    main = threading.main_thread().ident

    def interrupt():
        zai_env.wait_for_requests(1)
        time.sleep(0.6)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    start = time.monotonic()
    with capture_output() as out, pytest.raises(KeyboardInterrupt):
        ip.run_cell_magic("glm", "", "long answer")
    assert time.monotonic() - start < 5
    result = ip.user_ns.get("_glm")
    # _glm is this cell's partial answer (it used to keep the previous cell's, or nothing)
    assert result is not None and result.stopped and result.text.startswith("word")
    assert "word" in out.stdout and "stopped" in out.stdout
    zai_env.wait_until_finished(timeout=2)
    assert zai_env.requests[0].outcome == "client_disconnected"


def test_chat_rerun_replaces_the_cells_turn(ip, zai_env):
    ip.run_cell("%%glm --chat lesson\nfirst question", cell_id="cell-A")
    ip.run_cell("%%glm --chat lesson\nsecond question", cell_id="cell-B")
    ip.run_cell("%%glm --chat lesson\nsecond question, edited", cell_id="cell-B")
    requests = zai_env.wait_for_requests(3)
    contents = [m["content"] for m in requests[2].json["messages"]]
    assert contents == ["first question", "You said: first question", "second question, edited"]
    turns = ip.magics_manager.registry["GLMMagics"].conversations.get("lesson").turns
    assert [t.user for t in turns] == ["first question", "second question, edited"]


def test_new_starts_the_conversation_afresh(ip, zai_env):
    ip.run_cell("%%glm --chat c\nq1", cell_id="x1")
    ip.run_cell("%%glm --chat c --new\nq2", cell_id="x2")
    assert [m["content"] for m in zai_env.wait_for_requests(2)[1].json["messages"]] == ["q2"]


def test_line_magic_prompt_and_flags(ip, zai_env):
    with capture_output() as out:
        ip.run_line_magic("glm", "--temperature 0 What's the capital of France?")
    assert sent(zai_env)["temperature"] == 0.0
    assert sent(zai_env)["messages"][-1]["content"] == "What's the capital of France?"
    assert "You said" in out.stdout


def test_config_shows_masked_key_only(ip, zai_env):
    with capture_output() as out:
        ip.run_line_magic("glm", "config")
    assert "zai" in out.stdout and zai_env.base_url in out.stdout
    assert TEST_KEY not in out.stdout and TEST_KEY[-4:] in out.stdout


def test_models_history_reset_usage_help(ip, zai_env):
    zai_env.models = ["glm-4.7-flash", "glm-5"]
    with capture_output() as out:
        ip.run_line_magic("glm", "models")
        ip.run_cell("%%glm --chat h\nhello there", cell_id="h1")
        ip.run_line_magic("glm", "history h")
        ip.run_line_magic("glm", "usage")
        ip.run_line_magic("glm", "reset h")
        ip.run_line_magic("glm", "help")
    text = out.stdout
    assert "glm-5" in text and "user: hello there" in text
    assert "1 requests this session" in text and "prompt" in text
    assert "cleared" in text and "%%glm [flags]" in text
    assert ip.magics_manager.registry["GLMMagics"].conversations.get("h").turns == []


def test_help_documents_every_flag(ip):
    doc = ip.find_cell_magic("glm").__doc__
    for flag in (
        "--model",
        "--temperature",
        "--top-p",
        "--max-tokens",
        "--system",
        "--thinking",
        "--no-thinking",
        "--chat",
        "--new",
        "--format",
        "--out",
        "--vars",
        "--tune",
        "--compare",
    ):
        assert flag in doc


def test_widget_mode_ends_with_a_static_markdown_copy(ip, zai_env):
    ip.run_line_magic("config", 'GLMMagics.display_mode = "widget"')
    answer = "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>"
    zai_env.enqueue(Reply(text=answer, reasoning="thinking first"))
    with capture_output() as out:
        ip.run_cell_magic("glm", "", "Q")
    final = out.outputs[-1].data
    assert set(final) == {"text/markdown", "text/plain"}
    assert "| 1 | 2 |" in final["text/markdown"] and "<details>" in final["text/markdown"]
    assert "<script>" not in final["text/markdown"]
    assert "application/vnd.jupyter.widget-view+json" in out.outputs[0].data


def test_extension_load_does_not_import_the_client_or_widgets():
    import subprocess
    import sys

    code = (
        "from IPython.core.interactiveshell import InteractiveShell; import sys;"
        "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'glm_notebook');"
        "print('httpx' in sys.modules, 'ipywidgets' in sys.modules, 'anywidget' in sys.modules)"
    )
    env = {**os.environ, "GLM_PROVIDER": "local"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "False", "False"]


def test_extension_load_imports_no_asyncio_nor_pydantic():
    # Terminal IPython has no event loop module loaded; %load_ext must not pull one in (~40 ms).
    import subprocess
    import sys

    code = (
        "from IPython.core.interactiveshell import InteractiveShell; import sys;"
        "before = 'asyncio' in sys.modules;"
        "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'glm_notebook');"
        "print(before, 'asyncio' in sys.modules, 'pydantic' in sys.modules)"
    )
    env = {**os.environ, "GLM_PROVIDER": "local"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "False", "False"]
