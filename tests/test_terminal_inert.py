"""Terminal IPython: the answer, the thinking, the model name the server reports, tool names and
arguments and error messages reach stdout with no terminal control sequence in them."""

from __future__ import annotations

import io
import re

from IPython.utils.capture import capture_output

import glm_notebook as glm
from glm_notebook import tool
from glm_notebook.answer._run import AnswerRun, TerminalView
from glm_notebook.testing import GLMTestServer, Reply

ESC = "\x1b"
# Clear screen, cursor home, window title (BEL and ST ended), an OSC 8 hyperlink, colours, 8-bit
# CSI and OSC, a DCS string, bell, backspace and carriage-return overwrites, DEL, a lone ESC.
ATTACKS = (
    f"{ESC}[2J{ESC}[H{ESC}]0;pwned\x07{ESC}]2;title{ESC}\\"
    f"{ESC}]8;;https://evil.example\x07click{ESC}]8;;\x07 {ESC}[31mred{ESC}[0m "
    "\x9b2J\x9d0;c1 title\x9c \x1bPq#0;data\x1b\\ bell\x07 back\x08\x08ck over\rwrite del\x7f "
    f"{ESC}c{ESC}(0 end{ESC}"
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def run_in_terminal(server: GLMTestServer, **kwargs: object) -> str:
    out = io.StringIO()
    client = glm.GLMClient(provider="zai", base_url=server.base_url, api_key="test-key")
    try:
        AnswerRun(lambda: client.stream("hi", **kwargs), TerminalView(out)).run()  # type: ignore[arg-type]
    finally:
        client.close()
    return out.getvalue()


def test_escape_sequences_in_answer_thinking_and_model_name_never_reach_the_terminal() -> None:
    with GLMTestServer() as server:
        hostile = f"line one\n\tindented {ATTACKS}\nline three"
        server.enqueue(Reply(chunks=list(hostile), reasoning=hostile, model=f"glm{ESC}]0;x\x07-4"))
        shown = run_in_terminal(server)
    assert not CONTROL.search(shown), repr(shown)
    assert "line one\n\tindented " in shown and "\nline three" in shown  # newlines and tabs kept
    assert "click" in shown and "red" in shown and "[thinking] line one" in shown
    assert "[glm-4 · " in shown


def test_escape_sequences_in_tool_names_arguments_and_results_never_reach_the_terminal() -> None:
    def echo(text: str) -> str:
        """Echo."""
        return text

    with GLMTestServer() as server:
        server.enqueue(
            Reply(tool_calls=[{"id": "c1", "name": f"echo{ESC}[2J", "arguments": {"text": ATTACKS}}]),
            Reply(tool_calls=[{"id": "c2", "name": "echo", "arguments": {"text": ATTACKS}}]),
            Reply(text="done"),
        )
        shown = run_in_terminal(server, tools=[tool(echo)])
    assert not CONTROL.search(shown), repr(shown)
    assert "[tool echo(" in shown and "done" in shown


def test_history_models_and_compare_text_print_no_control_sequences(ip, zai_env):
    # Stored turns (now from disk too), the server's model list and a compare panel printed as
    # text are untrusted like a live answer.
    hostile = "ok \x1b]0;owned\x07\x1b[2J\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"
    zai_env.enqueue(Reply(text=hostile))
    with capture_output():
        ip.run_cell_magic("glm", "--chat talk", "hi")
    with capture_output() as out:
        ip.run_line_magic("glm", "history talk")
    assert "ok" in out.stdout and "\x1b" not in out.stdout and "\x07" not in out.stdout
    from glm_notebook.playground._compare_output import panel_text
    from glm_notebook.playground._grid import GridSetting

    panel = type("P", (), {})()
    panel.setting, panel.error = GridSetting({"temperature": 0.2}, 1, 1), None
    panel.result = glm.ChatResult()
    panel.result.text = hostile
    shown = panel_text(1, panel, offline=False)
    assert "ok" in shown and "\x1b" not in shown and "\x07" not in shown
