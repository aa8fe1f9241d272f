"""A notebook executed by nbclient (a real kernel) and saved: the answers read as Markdown."""

from __future__ import annotations

import json
import os

import nbformat
from _constants import TEST_KEY
from nbclient import NotebookClient

from glm_notebook.testing import Fault, Reply

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def run_notebook(tmp_path, server, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    env = {
        **os.environ,
        "GLM_PROVIDER": "zai",
        "GLM_BASE_URL": server.base_url,
        "ZAI_API_KEY": TEST_KEY,
    }
    env.pop("ZHIPUAI_API_KEY", None)
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.km = client.create_kernel_manager()
    client.km.kernel_cmd = None
    with _patched_env(env):
        client.execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4)


class _patched_env:
    """The kernel inherits the environment of the process that starts it."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        self.saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self.saved)


def test_saved_notebook_holds_the_answers_as_markdown(tmp_path, glm_server):
    long_answer = "## Plan\n\n" + "".join(f"- step {i}\n" for i in range(200))
    glm_server.enqueue(
        Reply(text="Hello **there**", reasoning="I should greet."), Reply(text=long_answer, chunk_size=3)
    )
    glm_server.enqueue(Fault.balance())
    nb = run_notebook(
        tmp_path,
        glm_server,
        [
            "%load_ext glm_notebook",
            "%%glm\nSay hello",
            "%%glm --max-tokens 900\nMake a plan",
            "%%glm\nOne more",
            "print(_glm.error.__class__.__name__)",
        ],
    )
    first, second, failed = (nb.cells[i].outputs for i in (1, 2, 3))
    for outputs in (first, second, failed):
        assert outputs, "a %%glm cell left no output"
        assert all(WIDGET_MIME not in o.get("data", {}) for o in outputs)
    md = first[-1]["data"]["text/markdown"]
    assert "Hello **there**" in md and "<details>" in md and "I should greet." in md
    assert long_answer.strip() in second[-1]["data"]["text/markdown"]
    assert "balance" in failed[-1]["data"]["text/markdown"]
    assert nb.cells[4].outputs[0]["text"].strip() == "InsufficientBalance"
    assert glm_server.requests[1].json["max_tokens"] == 900


SIZE_ANSWER = "## An answer\n\n" + " ".join(f"word{i}" for i in range(300)) + "\n\n- a\n- list\n"


def _saved_size(tmp_path, server, cells: int) -> tuple[int, nbformat.NotebookNode]:
    for _ in range(cells):
        server.enqueue(Reply(text=SIZE_ANSWER, chunk_size=7))
    folder = tmp_path / f"n{cells}"
    folder.mkdir()
    nb = run_notebook(folder, server, ["%load_ext glm_notebook", *["%%glm\nSay it" for _ in range(cells)]])
    return len((folder / "saved.ipynb").read_bytes()), nb


def test_a_finished_glm_cell_adds_little_beyond_its_answer_to_a_saved_notebook(tmp_path, glm_server):
    """One %%glm cell vs six, run by nbclient (as nbconvert --execute and papermill do) and saved.

    nbclient saves the widget state of every widget a run made, closed ones included: each live
    view's state must be small (its ~90 KB code is sent in a message, never kept as state).
    """
    one, _ = _saved_size(tmp_path, glm_server, 1)
    six, nb = _saved_size(tmp_path, glm_server, 6)
    per_cell = (six - one) / 5
    output = nb.cells[1].outputs[-1]
    answer = len(nbformat.writes(nbformat.v4.new_notebook(cells=[nb.cells[1]]))) - len(
        nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(nb.cells[1].source)]))
    )  # the cell's saved outputs: the answer as Markdown and as plain text, with the status line
    assert output["data"]["text/markdown"].startswith(SIZE_ANSWER.strip())
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    state_bytes = len(json.dumps(widgets))
    beyond = per_cell - answer
    print(
        f"\nsaved notebook: 1 cell {one} B, 6 cells {six} B: {per_cell:.0f} B per cell, "
        f"{answer} B of it the answer's output, {beyond:.0f} B beyond it; widget state {state_bytes} B"
    )
    assert beyond <= 3_000, (one, six, per_cell, answer)


def test_a_long_answer_is_saved_as_markdown_outputs_that_read_as_one(tmp_path, glm_server):
    """A long answer's saved copy is several Markdown outputs (JupyterLab renders each in its own
    task); saved and converted by nbconvert it reads as the one answer, in order, with the
    provenance on the first output and the thinking and status line once, at the end."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    sections = [
        f"## Part {i}\n\nPart {i} says [see the guide][guide]. {'More words. ' * 25}\n\n- one\n- two\n\n```python\nx = {i}\n```"
        for i in range(120)
    ]
    answer = "\n\n".join([*sections, "[guide]: https://example.org/guide"])
    assert len(answer) > 2 * 16_000
    glm_server.enqueue(Reply(text=answer, reasoning="Plan the parts.", chunk_size=400))
    nb = run_notebook(tmp_path, glm_server, ["%load_ext glm_notebook", "%%glm\nWrite the parts"])
    outputs = nb.cells[1].outputs
    assert len(outputs) > 1 and all(o["output_type"] == "display_data" for o in outputs), outputs
    assert all(set(o["data"]) == {"text/markdown", "text/plain"} for o in outputs)
    assert "glm_notebook" in outputs[0]["metadata"]
    assert not any("glm_notebook" in o.get("metadata", {}) for o in outputs[1:])
    assert "\n\n".join(o["data"]["text/plain"] for o in outputs).startswith(answer)

    html, _ = HTMLExporter().from_notebook_node(nb)
    soup = BeautifulSoup(html, "html.parser")
    cell = soup.select(".jp-CodeCell")[1]
    rendered = cell.select(".jp-RenderedMarkdown")
    assert len(rendered) == len(outputs)
    text = cell.select_one(".jp-Cell-outputArea").get_text(" ", strip=True)
    # nothing but the answer between the pieces: no prompt, no separator text
    assert text == " ".join(r.get_text(" ", strip=True) for r in rendered)
    positions = [text.index(f"Part {i} says") for i in range(120)]
    assert positions == sorted(positions)
    assert text.count("Thinking") == 1 and text.index("Thinking") > positions[-1]
    assert text.rstrip().endswith("stop")
    # the reference definition at the end of the answer reaches the links of every piece
    links = [a["href"] for r in rendered for a in r.select("a") if "guide" in a.get_text()]
    assert links == ["https://example.org/guide"] * 120
