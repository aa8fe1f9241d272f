"""Record a notebook through nbclient (a real kernel) against the test server with a key, then
replay it in a fresh kernel with no key and no network, strict: same answers, zero requests, the
answer file untouched; every saved answer carries its provenance in the output metadata."""

from __future__ import annotations

import os
import re

import nbformat
from _constants import TEST_KEY
from nbclient import NotebookClient

from glm_notebook.testing import Reply

KEY_VARS = ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL", "GLM_MODEL")
PROVENANCE = {"model", "provider", "options", "usage", "cost", "finish_reason", "id", "created"}
PROVENANCE |= {"version", "ttft_s", "duration_s", "replayed"}

CELLS = [
    "%load_ext glm_notebook",
    "%%glm --temperature 0 --max-tokens 50\nExplain nucleus sampling in one sentence.",
    "%glm --temperature 0.5 What is a token",
    'def weather(city: str) -> dict:\n    """Current weather for a city."""\n    return {"city": city, "temp": 21}',
    "%%glm --tools weather\nWhat is the weather in Paris?",
    'Person = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}',
    "%%glm --schema Person\nExtract the person: Ada Lovelace wrote the first program.",
    '%%glm --compare "temperature=0.2,1.0"\nName a colour.',
    "print(_glm[0].provenance['replayed'], _glm[1].text)",
]


def run(tmp_path, cells, env_changes, name):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env.update(env_changes)
    client = NotebookClient(
        nb, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4), path.read_text(encoding="utf-8")


def answers(nb):
    """Each saved answer's Markdown without its status lines (they say "replayed"), and its metadata."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            markdown = output.get("data", {}).get("text/markdown")
            if markdown is not None:
                markdown = re.sub(r"<sub>\*.*?\*</sub>", "", markdown)
                markdown = re.sub(r"\*\*Compare: .*\n", "", markdown)  # its run's wall time and model
                found.append((markdown, output.get("metadata", {})))
    return found


def test_a_recorded_notebook_replays_strict_with_no_key_and_no_requests(tmp_path, glm_server):
    answer_file = tmp_path / "lesson.answers.jsonl"
    glm_server.enqueue(Reply(text="It samples from the smallest set of likely tokens."))
    glm_server.enqueue(Reply(text="A piece of a word."))
    glm_server.enqueue(Reply(tool_calls=[{"name": "weather", "arguments": {"city": "Paris"}}]))
    glm_server.enqueue(Reply(text="21 degrees in Paris."))
    glm_server.enqueue(Reply(text='{"name": "Ada Lovelace"}'))
    home = {
        "GLM_PROVIDER": "zai",
        "GLM_BASE_URL": glm_server.base_url,
        "ZAI_API_KEY": TEST_KEY,
        "GLM_NOTEBOOK_REPLAY": str(answer_file),
    }
    recorded, recorded_text = run(tmp_path, CELLS, home, "home")
    asked = len(glm_server.requests)
    assert asked == 7  # plain, line, two tool turns, schema, two panels
    file_bytes = answer_file.read_bytes()
    assert len(file_bytes.splitlines()) == 7

    in_class = {
        "GLM_NOTEBOOK_REPLAY": str(answer_file),
        "GLM_NOTEBOOK_REPLAY_STRICT": "1",
        "GLM_LOCAL_MODEL": str(tmp_path / "absent.gguf"),  # starting the offline model would fail
    }
    replayed, replayed_text = run(tmp_path, CELLS, in_class, "class")
    assert len(glm_server.requests) == asked  # zero requests
    assert answer_file.read_bytes() == file_bytes
    home_answers, class_answers = answers(recorded), answers(replayed)
    assert len(home_answers) == len(class_answers) == 5
    assert [a for a, _ in class_answers] == [a for a, _ in home_answers]
    assert "Error" not in replayed_text and "Not in the answer file" not in replayed_text
    assert replayed.cells[-1].outputs[0]["text"].startswith("True")

    for (_, live), (_, again) in zip(home_answers, class_answers, strict=True):
        assert PROVENANCE <= set(live["glm_notebook"]) and PROVENANCE <= set(again["glm_notebook"])
        assert live["glm_notebook"]["replayed"] is False and again["glm_notebook"]["replayed"] is True
        assert again["glm_notebook"]["created"] == live["glm_notebook"]["created"]
        assert len(str(live["glm_notebook"])) < 1200 or "panels" in live["glm_notebook"]
    statuses = re.findall(r"<sub>\*(.*?)\*</sub>", replayed_text)
    assert statuses and all("replayed (recorded" in s for s in statuses)

    run(tmp_path, CELLS, home, "again")  # a re-recording of the unchanged notebook
    assert len(glm_server.requests) == asked and answer_file.read_bytes() == file_bytes

    for text in (recorded_text, replayed_text, file_bytes.decode("utf-8")):
        assert TEST_KEY not in text and TEST_KEY[-8:] not in text


def test_a_strict_miss_in_a_notebook_sends_nothing_and_says_how_to_record(tmp_path, glm_server):
    answer_file = tmp_path / "empty.answers.jsonl"
    cells = ["%load_ext glm_notebook", "%%glm\nNever recorded question"]
    env = {
        "GLM_PROVIDER": "zai",
        "GLM_BASE_URL": glm_server.base_url,
        "ZAI_API_KEY": TEST_KEY,
        "GLM_NOTEBOOK_REPLAY": str(answer_file),
        "GLM_NOTEBOOK_REPLAY_STRICT": "1",
    }
    nb, text = run(tmp_path, cells, env, "miss")
    assert glm_server.requests == []
    plain = nb.cells[1].outputs[-1]["data"]["text/plain"]
    assert "Not in the answer file empty.answers.jsonl" in plain
    assert "cell [2]" in plain and "%glm replay empty.answers.jsonl" in plain
