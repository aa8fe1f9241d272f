"""``%%glm`` in a real ``jupyter console`` in a terminal (tmux): the answer streams and stays.

jupyter console prints stdout as it arrives and ignores ``update_display_data``, and sends no cell
id with its execute requests: there the answer streams to stdout (as in terminal IPython), with no
widget repr. The terminal is read with ``tmux capture-pane`` while the answer streams from the GLM
test server (a word every 0.1 s).

Needs tmux (``make test`` installs it) and jupyter-console (the ``test`` extra); a missing one
fails the test with what to install, never a silent skip.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from _constants import TEST_KEY

from glm_notebook.testing import Reply
from glm_notebook.testing._script import split_words

REPO = Path(__file__).resolve().parents[1]
ANSWER = " ".join(f"word{i}" for i in range(40))


@pytest.fixture
def console(glm_server, tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: `apt-get install -y tmux` (make test installs it as root)")
    try:
        import jupyter_console  # noqa: F401
    except ImportError:
        pytest.fail("jupyter-console is missing: pip install -e '.[test]'")
    socket = f"glm-test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "ZAI_", "ZHIPUAI_"))}
    env.update(
        GLM_PROVIDER="zai",
        GLM_BASE_URL=glm_server.base_url,
        ZAI_API_KEY=TEST_KEY,
        GLM_NOTEBOOK_CACHE=str(tmp_path / "cache.sqlite3"),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        TERM="xterm-256color",
    )
    command = f"{shlex.quote(sys.executable)} -m jupyter_console --kernel python3"
    tmux = ["tmux", "-L", socket]
    subprocess.run(
        [*tmux, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "60", command],
        env=env,
        check=True,
        cwd=tmp_path,
    )

    def screen() -> str:
        out = subprocess.run(
            [*tmux, "capture-pane", "-p", "-J", "-S", "-200"], capture_output=True, text=True
        )
        return out.stdout

    def type_line(text: str) -> None:
        subprocess.run([*tmux, "send-keys", "-l", text], check=True)
        subprocess.run([*tmux, "send-keys", "Enter"], check=True)

    def wait_for(predicate, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"the console shows:\n{screen()}")

    try:
        wait_for(lambda s: "In [1]" in s)
        yield screen, type_line, wait_for
    finally:
        subprocess.run([*tmux, "send-keys", "C-d"], capture_output=True)
        subprocess.run([*tmux, "send-keys", "y", "Enter"], capture_output=True)
        time.sleep(1)
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def test_a_glm_answer_streams_in_jupyter_console(console, glm_server):
    screen, type_line, wait_for = console
    type_line("%load_ext glm_notebook")
    wait_for(lambda s: "In [2]" in s)
    glm_server.enqueue(Reply(chunks=split_words(ANSWER), delay=0.1))  # ~4 s
    type_line("%glm Count words")
    # part of the answer on screen while the rest is still coming
    partial = wait_for(lambda s: "word3 " in s)
    assert "word39" not in partial and "In [3]" not in partial, partial
    final = wait_for(lambda s: "In [3]" in s)
    print(f"\npartial:\n{partial}\nfinal:\n{final}")
    answer_area = final.split("%glm Count words", 1)[1]
    assert " ".join(answer_area.split()).startswith(ANSWER), final
    assert "· stop]" in answer_area, final
    assert "StreamView" not in final and "Markdown" not in final, final


def test_console_detection_reads_the_execute_request():
    # One rule for %%glm and glm.compare(): input allowed and no cell id means a console.
    from glm_notebook.answer._run import console_front_end

    def shell(metadata, content):
        kernel = type("K", (), {"get_parent": lambda self: {"metadata": metadata, "content": content}})()
        return type("S", (), {"kernel": kernel})()

    assert console_front_end(shell({}, {"allow_stdin": True}))  # jupyter console, qtconsole
    assert not console_front_end(shell({"cellId": "c1"}, {"allow_stdin": True}))  # a notebook
    assert not console_front_end(shell({}, {"allow_stdin": False}))  # nbclient, papermill, nbval
    assert not console_front_end(object())  # not an ipykernel shell
