"""``--chat`` conversations: preserved thinking (earlier reasoning sent back exactly, or not at all)
and conversations kept on disk per notebook, so they continue in a new kernel. Checked on the
request bodies the test server received, through a real IPython shell and real subprocess shells."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from _constants import TEST_KEY
from IPython.utils.capture import capture_output

import glm_notebook as glm
from glm_notebook import ConversationStore
from glm_notebook._conversation_db import ConversationDB
from glm_notebook.testing import Reply

# Reasoning as a model sends it: trailing spaces, blank lines, U+2028, CJK, an emoji, markup.
REASONING = [
    "First, think.  \n\nThe user asks\u2028about <b>x</b> ",
    "推理：第二步 🧠\n\t- a list\n",
    "Third:\r\nkeep the CR LF and  two spaces  ",
]


def magics(ip):
    return ip.magics_manager.registry["GLMMagics"]


def three_turns(ip, server):
    server.enqueue(*(Reply(text=f"answer {i}", reasoning=r) for i, r in enumerate(REASONING)))
    for i in range(3):
        ip.run_cell(f"%%glm --chat lab\nquestion {i}", cell_id=f"cell-{i}")
    return [r.json["messages"] for r in server.wait_for_requests(3)]


def test_preserved_thinking_sends_every_earlier_reasoning_unchanged(ip, zai_env, monkeypatch):
    monkeypatch.setenv("GLM_PROVIDER", "zai-coding")  # GLM's coding endpoint preserves by default
    third = three_turns(ip, zai_env)[2]
    assert third == [
        {"role": "user", "content": "question 0"},
        {"role": "assistant", "content": "answer 0", "reasoning_content": REASONING[0]},
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "answer 1", "reasoning_content": REASONING[1]},
        {"role": "user", "content": "question 2"},
    ]
    # equal strings: the same UTF-8 bytes as the reasoning that streamed in (checked on the body)
    assert json.loads(zai_env.requests[2].body)["messages"][3]["reasoning_content"] == REASONING[1]


def test_cleared_thinking_sends_no_reasoning(ip, zai_env):
    requests = three_turns(ip, zai_env)  # provider zai: GLM's standard endpoint clears by default
    assert requests[2] == [
        {"role": "user", "content": "question 0"},
        {"role": "assistant", "content": "answer 0"},
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "question 2"},
    ]
    assert all(b"reasoning_content" not in r.body for r in zai_env.requests)


@pytest.mark.parametrize(("provider", "clear", "kept"), [("zai", False, True), ("zai-coding", True, False)])
def test_clear_thinking_setting_overrides_the_endpoint_default(
    ip, zai_env, monkeypatch, provider, clear, kept
):
    monkeypatch.setenv("GLM_PROVIDER", provider)
    magics(ip).clear_thinking = clear
    third = three_turns(ip, zai_env)[2]
    assert [m.get("reasoning_content") for m in third if m["role"] == "assistant"] == (
        REASONING[:2] if kept else [None, None]
    )


def test_a_tool_turn_is_kept_whole_with_its_reasoning(ip, zai_env, monkeypatch):
    monkeypatch.setenv("GLM_PROVIDER", "zai-coding")
    ip.run_cell("def where(city: str) -> str:\n    'Where a city is.'\n    return city + ' is in France'")
    zai_env.enqueue(
        Reply(
            reasoning="I should look it up.",
            tool_calls=[{"id": "c1", "name": "where", "arguments": {"city": "Lyon"}}],
        ),
        Reply(text="Lyon is in France.", reasoning="The tool said so."),
        Reply(text="ok"),
    )
    ip.run_cell("%%glm --chat trip --tools where\nWhere is Lyon?", cell_id="t1")
    ip.run_cell("%%glm --chat trip\nAnd Paris?", cell_id="t2")
    second = zai_env.wait_for_requests(3)[2].json["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "assistant", "user"]
    assert second[1]["reasoning_content"] == "I should look it up."
    assert second[1]["tool_calls"][0]["function"] == {"name": "where", "arguments": '{"city": "Lyon"}'}
    assert second[2] == {"role": "tool", "tool_call_id": "c1", "content": "Lyon is in France"}
    assert second[3] == {
        "role": "assistant",
        "content": "Lyon is in France.",
        "reasoning_content": "The tool said so.",
    }


def test_history_shows_dates_and_on_request_the_kept_reasoning(ip, zai_env):
    zai_env.enqueue(Reply(text="four", reasoning="two plus two"))
    ip.run_cell("%%glm --chat maths\n2+2?", cell_id="m1")
    with capture_output() as plain:
        ip.run_line_magic("glm", "history maths")
    with capture_output() as full:
        ip.run_line_magic("glm", "history maths --reasoning")
    assert "-- turn 1, 20" in plain.stdout and "two plus two" not in plain.stdout
    assert "reasoning: two plus two" in full.stdout and "assistant: four" in full.stdout


# -- client.chat(messages): what happens to the reasoning the caller's messages carry -----------

HISTORY = [
    {"role": "user", "content": "q1"},
    {"role": "assistant", "content": "a1", "reasoning_content": " r1 \n"},
    {"role": "user", "content": "q2"},
]


@pytest.mark.parametrize(
    ("provider", "options", "kept"),
    [
        ("zai", {}, False),
        ("zai-coding", {}, True),
        ("zai", {"thinking": {"type": "enabled", "clear_thinking": False}}, True),
        ("zai-coding", {"thinking": {"type": "enabled", "clear_thinking": True}}, False),
        ("openai-compatible", {}, False),
    ],
)
def test_chat_messages_reasoning_sent_as_given_or_stripped(glm_server, provider, options, kept):
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider=provider, model="glm-4.7")
    client.chat(HISTORY, **options)
    sent = glm_server.requests[0].json["messages"]
    assert sent[1] == (HISTORY[1] if kept else {"role": "assistant", "content": "a1"})
    assert HISTORY[1]["reasoning_content"] == " r1 \n"  # the caller's list is not changed


def test_cleared_thinking_keeps_this_answers_tool_turn_reasoning(glm_server):
    """Interleaved thinking: within one answer the tool turn goes back with its reasoning."""
    client = glm.GLMClient(base_url=glm_server.base_url, api_key=TEST_KEY, provider="zai", model="glm-4.7")
    glm_server.enqueue(
        Reply(reasoning="look up", tool_calls=[{"id": "c1", "name": "where", "arguments": {"city": "Lyon"}}]),
        Reply(text="done"),
    )

    def where(city: str) -> str:
        """Where a city is."""
        return "France"

    client.chat(HISTORY, tools=[where])
    second = glm_server.wait_for_requests(2)[1].json["messages"]
    assert "reasoning_content" not in second[1]  # the earlier user turn's: cleared
    assert second[3]["reasoning_content"] == "look up"  # this answer's tool turn: kept


# -- conversations on disk -------------------------------------------------------------------

KERNEL = textwrap.dedent(
    """
    import sys
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "glm_notebook")
    for cell_id, source in {cells!r}:
        result = ip.run_cell(source, cell_id=cell_id)
        assert result.success, result.error_in_exec
    """
)


def kernel(server, cache, notebook, cells):
    """One kernel's life: a fresh Python process running ``cells`` (cell id, source) in IPython,
    each with its cell id as JupyterLab sends it (None: as nbclient and papermill run cells)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GLM_", "ZAI_", "ZHIPUAI_"))},
        "PYTHONPATH": os.pathsep.join(sys.path),
        "GLM_NOTEBOOK_CACHE": str(cache),
        "GLM_PROVIDER": "zai",
        "GLM_BASE_URL": server.base_url,
        "ZAI_API_KEY": TEST_KEY,
        "JPY_SESSION_NAME": notebook,
    }
    out = subprocess.run(
        [sys.executable, "-c", KERNEL.format(cells=cells)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_conversation_continues_in_a_new_kernel(glm_server, tmp_path):
    cache = tmp_path / "answers.sqlite3"
    notebook = str(tmp_path / "lesson.ipynb")
    kernel(
        glm_server, cache, notebook, [("a", "%%glm --chat tutor\nfirst"), ("b", "%%glm --chat tutor\nsecond")]
    )
    out = kernel(
        glm_server,
        cache,
        notebook,
        [
            ("c", "%%glm --chat tutor\nthird"),
            ("b", "%%glm --chat tutor\nsecond, edited"),
            ("l", "%glm chats"),
        ],
    )
    requests = glm_server.wait_for_requests(4)
    contents = [[m["content"] for m in r.json["messages"]] for r in requests]
    # the second kernel's first request carries the first kernel's two turns
    assert contents[2] == ["first", "You said: first", "second", "You said: second", "third"]
    # re-running cell b (same cell id, new kernel) replaces its turn and drops the later one
    assert contents[3] == ["first", "You said: first", "second, edited"]
    assert "replaced and the 1 later turn dropped" in out
    assert "tutor" in out and "2" in out.split("tutor")[-1].split()[0]
    # another notebook does not see it
    other = kernel(glm_server, cache, str(tmp_path / "other.ipynb"), [("l", "%glm chats")])
    assert "No conversations yet" in other and "other.ipynb" in other
    # %glm reset in a third kernel clears it on disk for the next one
    kernel(glm_server, cache, notebook, [("l", "%glm reset tutor")])
    kernel(glm_server, cache, notebook, [("d", "%%glm --chat tutor\nafresh")])
    assert [m["content"] for m in glm_server.wait_for_requests(5)[4].json["messages"]] == ["afresh"]
    assert TEST_KEY.encode() not in cache.read_bytes()


def test_a_kernel_without_cell_ids_keeps_its_conversations_in_memory(glm_server, tmp_path):
    """nbclient, papermill, nbval: every run asks from the top, not after the last run's turns."""
    cache, notebook = tmp_path / "answers.sqlite3", str(tmp_path / "run.ipynb")
    for _ in range(2):
        kernel(glm_server, cache, notebook, [(None, "%%glm --chat c\nq1"), (None, "%%glm --chat c\nq2")])
    contents = [[m["content"] for m in r.json["messages"]] for r in glm_server.wait_for_requests(4)]
    assert contents[2:] == [["q1"], ["q1", "You said: q1", "q2"]]  # the second run as the first


def test_a_turn_without_a_cell_id_is_appended_after_a_restart(ip, zai_env):
    ip.run_cell("%%glm --chat term\nq1", cell_id="1")
    ip.run_cell("%%glm --chat term\nq2")  # a console line in the notebook's kernel: no cell id
    store = ConversationStore(lambda: ConversationDB(os.getcwd()))  # the next kernel's store
    store.get("term").record("q3", "a3")  # anonymous again: never mistaken for q2's turn
    assert [t.user for t in store.get("term").turns] == ["q1", "q2", "q3"]


def test_stored_text_comes_back_exactly(tmp_path):
    odd = "lone \ud800 surrogate, NUL \x00, \u2028, 🧠"
    store = ConversationStore(lambda: ConversationDB("nb", tmp_path / "c.sqlite3"))
    store.get("x").record([{"type": "text", "text": odd}], odd, key="k", reasoning=odd)
    turn = ConversationStore(lambda: ConversationDB("nb", tmp_path / "c.sqlite3")).get("x").turns[0]
    assert (turn.user[0]["text"], turn.assistant, turn.reasoning) == (odd, odd, odd)


WRITER = textwrap.dedent(
    """
    import sys
    from glm_notebook import ConversationStore
    from glm_notebook._conversation_db import ConversationDB
    store = ConversationStore(lambda: ConversationDB("nb", sys.argv[1]))
    for i in range(15):
        store.get("shared").record(f"{sys.argv[2]}{i}", "a")
    """
)


def test_kernels_of_one_notebook_opening_and_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "c.sqlite3"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), w], env=env, stderr=subprocess.PIPE)
        for w in "ABCD"
    ]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert all(w.returncode == 0 for w in writers), errors
    assert b"cannot use" not in b"".join(errors)  # no writer fell back to memory
    rows = (
        sqlite3.connect(path).execute("SELECT position, record FROM chat_turns ORDER BY position").fetchall()
    )
    assert [p for p, _ in rows] == list(range(60))
    users = [json.loads(r)["user"] for _, r in rows]
    for w in "ABCD":  # every turn of each writer, in its order
        assert [u for u in users if u.startswith(w)] == [f"{w}{i}" for i in range(15)]


@pytest.mark.parametrize("breakage", ["not_a_database", "not_a_folder"])
def test_a_broken_store_warns_once_and_keeps_the_conversation_in_memory(
    ip, zai_env, tmp_path, monkeypatch, breakage
):
    if breakage == "not_a_database":
        path = tmp_path / "answers.sqlite3"
        path.write_bytes(b"this is not SQLite" * 100)
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "answers.sqlite3"
    monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(path))
    magics(ip).conversations.reopen()  # the fixture's reset opened the test's own file
    with capture_output() as out:
        ip.run_cell("%%glm --chat c\nq1", cell_id="1")
        ip.run_cell("%%glm --chat c\nq2", cell_id="2")
        ip.run_line_magic("glm", "chats")
    assert out.stderr.count("cannot use the conversation store") == 1, (out.stdout, out.stderr)
    assert "memory only" in out.stderr and "memory only" in out.stdout
    assert "You said: q2" in out.stdout and ip.user_ns["_glm"].text == "You said: q2"
    assert [m["content"] for m in zai_env.wait_for_requests(2)[1].json["messages"]] == [
        "q1",
        "You said: q1",
        "q2",
    ]


def test_a_store_that_breaks_mid_session_keeps_the_turns_so_far(ip, zai_env):
    ip.run_cell("%%glm --chat c\nq1", cell_id="1")
    magics(ip).conversations._db._db.close()  # the file goes away under the kernel
    with capture_output() as out:
        ip.run_cell("%%glm --chat c\nq2", cell_id="2")
        ip.run_cell("%%glm --chat c\nq3", cell_id="3")
    assert out.stderr.count("cannot use the conversation store") == 1, (out.stdout, out.stderr)
    assert [m["content"] for m in zai_env.wait_for_requests(3)[2].json["messages"]] == [
        "q1",
        "You said: q1",
        "q2",
        "You said: q2",
        "q3",
    ]


def test_keep_chats_false_writes_nothing(ip, zai_env, cache_file):
    magics(ip).keep_chats = False
    ip.run_cell("%%glm --chat c\nq1", cell_id="1")
    assert not cache_file.exists()
    with capture_output() as out:
        ip.run_line_magic("glm", "chats")
    assert "memory only" in out.stdout and out.stdout.splitlines()[1].split()[:2] == ["c", "1"]


def test_new_keeps_the_old_turns_until_its_own_answer_is_kept(ip, zai_env):
    # --chat NAME --new whose answer fails must not have wiped the (saved) conversation.
    from glm_notebook.testing import Fault

    ip.run_cell("%%glm --chat story\nonce upon a time", cell_id="a")
    zai_env.enqueue(Fault.balance())
    ip.run_cell("%%glm --chat story --new\nstart over", cell_id="b")
    store = ip.magics_manager.registry["GLMMagics"].conversations
    assert [t.user for t in store.get("story").turns] == ["once upon a time"]
    ip.run_cell("%%glm --chat story --new\nstart over", cell_id="b")
    assert [t.user for t in store.get("story").turns] == ["start over"]
    assert zai_env.requests[-1].json["messages"][-1]["content"] == "start over"
    assert len(zai_env.requests[-1].json["messages"]) == 1
