"""%glm fix and %%glm --fix: the failing cell, its traceback and its variables, in a real shell and a
real kernel, against the test server (the exact request)."""

from __future__ import annotations

import os
import sys

import nbformat
import pytest
from _constants import TEST_KEY
from IPython.utils.capture import capture_output
from nbclient import NotebookClient
from test_saved_notebook import _patched_env

from glm_notebook.magics._fix import INSTRUCTION, NO_ERROR
from glm_notebook.testing import Reply

FIXED = "The list has no index 5.\n\n```python\nitems = [1, 2, 3]\nprint(items[-1])\n```"


@pytest.fixture
def no_last_error(monkeypatch):
    for name in ("last_exc", "last_value", "last_type", "last_traceback"):
        monkeypatch.delattr(sys, name, raising=False)


def test_fix_sends_the_failing_cell_traceback_and_variables(ip, zai_env, no_last_error):
    ip.run_cell("items = [1, 2, 3]\nlimit = 5\nimport os", store_history=True)
    ip.run_cell("def pick(xs, i):\n    return xs[i]", store_history=True)
    with capture_output():
        failed = ip.run_cell("print(len(items))\npick(items, limit)  # boom", store_history=True)
    number = failed.execution_count
    assert isinstance(failed.error_in_exec, IndexError)
    with capture_output() as out:
        ip.run_line_magic("glm", "fix")
    assert f"Asking about In[{number}]: IndexError: list index out of range" in out.stdout
    content = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    variables, rest = content.split(INSTRUCTION)
    assert variables.startswith('<context name="items">\nlist, 3 items:\n[1, 2, 3]\n</context>')
    assert (
        '<context name="limit">' in variables and '<context name="pick">\nfunction pick(xs, i)' in variables
    )
    assert "os" not in variables.replace("Jupyter", "")  # modules are left out
    assert f"<cell In[{number}]>\nprint(len(items))\npick(items, limit)  # boom\n</cell>" in rest
    tb = rest.split("<traceback>\n")[1].split("\n</traceback>")[0]
    assert tb.startswith("Traceback (most recent call last):\n  Cell In[")
    assert "interactiveshell.py" not in tb  # IPython's own frames are left out
    assert "return xs[i]" in tb and tb.endswith("IndexError: list index out of range")
    assert "\x1b[" not in content


def test_fix_with_code_format_puts_the_fixed_cell_below_and_words_are_added(ip, zai_env, monkeypatch):
    with capture_output():
        ip.run_cell("items = [1, 2, 3]\nitems[5]", store_history=True)
    zai_env.enqueue(Reply(text=FIXED))
    calls = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: calls.append(text))
    with capture_output():
        ip.run_line_magic("glm", "fix --code I want the last item")
    assert calls == ["items = [1, 2, 3]\nprint(items[-1])"]
    content = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert content.endswith("</traceback>\n\nI want the last item")


def test_cell_magic_fix_takes_your_words_and_flags(ip, zai_env):
    with capture_output():
        ip.run_cell("1 / 0", store_history=True)
    with capture_output():
        ip.run_cell_magic("glm", "--fix --temperature 0", "Keep it short.")
    body = zai_env.wait_for_requests(1)[0].json
    assert body["temperature"] == 0.0
    assert body["messages"][0]["content"].startswith(INSTRUCTION)
    assert body["messages"][0]["content"].endswith(
        "ZeroDivisionError: division by zero\n</traceback>\n\nKeep it short."
    )


def test_a_syntax_error_cell_is_found_too(ip, zai_env):
    with capture_output():
        ip.run_cell("def broken(:\n    pass", store_history=True)
    with capture_output():
        ip.run_line_magic("glm", "fix")
    content = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert "def broken(:\n    pass\n</cell>" in content and "SyntaxError" in content


def test_no_error_is_one_line_and_sends_nothing(ip, zai_env, no_last_error):
    with capture_output() as out:
        ip.run_line_magic("glm", "fix")
    assert out.stdout.strip() == NO_ERROR
    assert zai_env.requests == []


def test_fix_in_a_real_kernel_with_ansi_tracebacks(tmp_path, glm_server):
    glm_server.enqueue(Reply(text=FIXED))
    nb = nbformat.v4.new_notebook()
    sources = [
        "%load_ext glm_notebook",
        "import pandas as pd\ndf = pd.DataFrame({'a': range(1_000_000)})",
        "df['b'].sum()",
        "%glm fix --code",
        "print(repr(_glm.text[:24]))",
    ]
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[2].metadata["tags"] = ["raises-exception"]
    env = {**os.environ, "GLM_PROVIDER": "zai", "GLM_BASE_URL": glm_server.base_url, "ZAI_API_KEY": TEST_KEY}
    env.pop("ZHIPUAI_API_KEY", None)
    client = NotebookClient(
        nb, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with _patched_env(env):
        client.execute()
    error = nb.cells[2].outputs[0]
    assert error["ename"] == "KeyError" and "\x1b[" in "".join(
        error["traceback"]
    )  # ANSI in the kernel's copy
    request = glm_server.wait_for_requests(1)[0]
    content = request.json["messages"][0]["content"]
    assert len(request.body) < 8_000
    assert content.startswith('<context name="df">\npandas DataFrame: 1,000,000 rows × 1 columns')
    assert "<cell In[3]>\ndf['b'].sum()\n</cell>" in content
    assert "KeyError: 'b'" in content and "\x1b[" not in content
    assert "Asking about In[3]: KeyError: 'b'" in "".join(o.get("text", "") for o in nb.cells[3].outputs)
    assert nb.cells[4].outputs[0]["text"].strip() == repr(FIXED[:24])


def test_fix_without_history_uses_the_code_ipython_ran(ip, zai_env):
    """nbval runs cells with store_history off: the source then comes from linecache."""
    ip.run_cell("values = {'a': 1}", store_history=False)
    with capture_output():
        ip.run_cell("values['b']", store_history=False)
    with capture_output() as out:
        ip.run_line_magic("glm", "fix")
    assert "Asking about the last failing cell: KeyError: 'b'" in out.stdout
    content = zai_env.wait_for_requests(1)[0].json["messages"][0]["content"]
    assert content.startswith('<context name="values">\ndict, 1 key:\n')
    assert "<cell the last failing cell>\nvalues['b']\n</cell>" in content


def test_a_key_in_the_failing_cell_or_its_message_is_masked(ip, zai_env):
    ip.user_ns["TEST_KEY"] = TEST_KEY
    with capture_output():
        ip.run_cell(f"key = {TEST_KEY!r}\nraise ValueError('bad key ' + key)", store_history=True)
    with capture_output() as out:
        ip.run_line_magic("glm", "fix")
    request = zai_env.wait_for_requests(1)[0]
    assert TEST_KEY.encode() not in request.body and TEST_KEY not in out.stdout
    assert "sk-…abcd" in request.json["messages"][0]["content"]
