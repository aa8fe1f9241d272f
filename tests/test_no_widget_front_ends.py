"""Streaming where no front end shows the live view: Markdown display updates of one display id.

A real kernel driven by a bare jupyter_client that executes as nbclient does (no widget manager,
like nbclient, JupyterLab with the widget extension disabled, editors without ipywidgets), and the
same kernel with a client that greets the view from a subshell as JupyterLab's widget manager does
(then nothing changes: no Markdown updates, one saved copy at the end). A client that allows
input() and sends no cell id is a console (``jupyter console``): the answer streams to stdout.
Answers come from the GLM test server.
"""

from __future__ import annotations

import os
import queue
import time
from typing import Any

import pytest
from _constants import TEST_KEY
from jupyter_client.manager import start_new_kernel

from glm_notebook.testing import Reply

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WORDS = 60
ANSWER = " ".join(f"word{i}" for i in range(WORDS))


@pytest.fixture
def kernel(glm_server: Any) -> Any:
    env = {k: v for k, v in os.environ.items() if k not in ("ZHIPUAI_API_KEY", "GLM_MODEL")}
    env.update(GLM_PROVIDER="zai", GLM_BASE_URL=glm_server.base_url, ZAI_API_KEY=TEST_KEY)
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        kc.execute_interactive("%load_ext glm_notebook", timeout=60)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _execute(kc: Any, code: str, *, console: bool) -> str:
    """An execute_request as a notebook runner sends it (nbclient, papermill, nbval: no cell id,
    no input()), or as a console does (``jupyter console``: no cell id, input() allowed)."""
    content = {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": console,
        "stop_on_error": True,
    }
    msg = kc.session.msg("execute_request", content)
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def _run_cell(kc: Any, code: str, *, greet: bool, console: bool = False) -> list[dict[str, Any]]:
    """Execute ``code`` and return its iopub messages; with ``greet``, the displayed view greets
    the kernel from a subshell (what it does in JupyterLab 4.4)."""
    subshell = None
    if greet:
        request = kc.session.msg("create_subshell_request", {})
        kc.control_channel.send(request)
        reply = kc.control_channel.get_msg(timeout=10)
        subshell = reply["content"]["subshell_id"]
    msg_id = _execute(kc, code, console=console)
    messages = []
    view_id = None
    greeted_at = 0.0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Like the view in a browser: greet once rendered, then every 0.4 s while the cell runs.
        if greet and view_id is not None and time.monotonic() - greeted_at >= 0.4:
            content = {"comm_id": view_id, "data": {"method": "custom", "content": {"type": "hello"}}}
            hello = kc.session.msg("comm_msg", content)
            hello["header"]["subshell_id"] = subshell
            kc.shell_channel.send(hello)
            greeted_at = time.monotonic()
        try:
            msg = kc.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "display_data" and WIDGET_MIME in msg["content"]["data"]:
            view_id = msg["content"]["data"][WIDGET_MIME]["model_id"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
    raise AssertionError("the cell did not finish")


def _display_id(messages: list[dict[str, Any]]) -> str:
    (shown,) = [
        m for m in messages if m["msg_type"] == "display_data" and WIDGET_MIME in m["content"]["data"]
    ]
    return shown["content"]["transient"]["display_id"]


def test_without_a_widget_front_end_the_answer_streams_as_markdown_display_updates(kernel, glm_server):
    glm_server.enqueue(Reply(text=ANSWER, delay=0.1))  # ~6 s of streaming
    messages = _run_cell(kernel, "%%glm\nCount words", greet=False)

    display_id = _display_id(messages)
    updates = [m for m in messages if m["msg_type"] == "update_display_data"]
    assert updates and all(m["content"]["transient"]["display_id"] == display_id for m in updates)
    # No other output: the updates replace the view, never a second copy.
    assert [m for m in messages if m["msg_type"] in ("display_data", "stream", "execute_result")] == [
        m for m in messages if m["msg_type"] == "display_data"
    ]
    *streaming, final = updates
    assert len(streaming) >= 10, len(streaming)
    texts = [m["content"]["data"]["text/plain"] for m in streaming]
    assert all("streaming…" in m["content"]["data"]["text/markdown"] for m in streaming)
    answer_parts = [t.rsplit("\n\n", 1)[0] for t in texts if t.startswith("word")]
    assert all(ANSWER.startswith(part) for part in answer_parts)
    assert len(set(answer_parts)) >= 8  # the text grows update by update
    # At most 10 updates a second (the kernel's own timestamps).
    first, last = (time_of(m) for m in (streaming[0], streaming[-1]))
    assert len(streaming) - 1 <= (last - first) * 10 + 1
    # It ends in the saved copy: the whole answer and the final status line.
    md = final["content"]["data"]["text/markdown"]
    assert ANSWER in md and "streaming…" not in md and "· stop" in md


def test_where_the_view_greets_nothing_changes(kernel, glm_server):
    glm_server.enqueue(Reply(text=ANSWER, delay=0.08))
    messages = _run_cell(kernel, "%%glm\nCount words", greet=True)

    display_id = _display_id(messages)
    updates = [m for m in messages if m["msg_type"] == "update_display_data"]
    assert len(updates) == 1, [
        m["content"]["data"].get("text/plain", "")[:40] for m in updates
    ]  # the saved copy only
    assert updates[0]["content"]["transient"]["display_id"] == display_id
    assert ANSWER in updates[0]["content"]["data"]["text/markdown"]


def time_of(msg: dict[str, Any]) -> float:
    return msg["header"]["date"].timestamp()


def test_a_console_gets_the_answer_streamed_to_stdout(kernel, glm_server):
    """``jupyter console`` prints stream messages as they come and ignores display updates: there
    the answer is stdout, streamed, ending in the status line; no widget and no display at all."""
    glm_server.enqueue(Reply(text=ANSWER, delay=0.05))
    messages = _run_cell(kernel, "%%glm\nCount words", greet=False, console=True)

    assert not [m for m in messages if m["msg_type"] in ("display_data", "update_display_data")]
    streamed = [m["content"]["text"] for m in messages if m["msg_type"] == "stream"]
    assert len(streamed) >= 5, streamed  # piece by piece, not once at the end
    text = "".join(streamed)
    assert text.startswith(ANSWER) and text.rstrip().endswith("· stop]"), text
