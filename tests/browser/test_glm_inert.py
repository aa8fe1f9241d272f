"""Issue 18 in a real JupyterLab: the red team's attacks on the saved copy (math around a code
span, an entity inside a link's scheme, a tool name the model invents holding a link) stay text in
the live view and in the saved copy; no handler, no script link, no dialog."""

from __future__ import annotations

import pytest
from _lab import LabPage
from test_glm_stream import _FLAGS_JS, _MONITOR_JS, _assert_safe, _open_with_extension, _poke

from glm_notebook.testing import GLMTestServer, Reply

pytestmark = pytest.mark.browser

ANSWER = (
    "Math around code: $`$<img src=x onerror=window.__pwned=21>`$\n\n"
    "Entity in the scheme: [click](java&#x73;cript:window.__pwned=22) and "
    "[click](java&amp;#x73;cript:window.__pwned=23)\n\n"
    "$$ a\n\n```\n$$ <img src=x onerror=window.__pwned=24>\n```\n\n"
    "\\begin{x} a\n\n```\n\\end{x} <img src=x onerror=window.__pwned=25>\n```\n\n"
    "End of the dangerous part."
)
TOOL_NAME = "x\n\n[click](javascript:window.__pwned=26)"

DEFINE = '''def lookup(q: str) -> str:
    """Look something up."""
    return q'''


def test_red_team_answer_and_tool_name_stay_inert(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    dialogs: list[str] = []
    lab.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    lab.page.add_init_script(_FLAGS_JS)
    _open_with_extension(lab, DEFINE, "%%glm --tools lookup\nLook it up.")
    lab.run_cell(1)
    lab.page.evaluate(_MONITOR_JS)
    glm.enqueue(
        Reply(
            tool_calls=[{"id": "c1", "name": TOOL_NAME, "arguments": {"q": "<img src=x onerror=alert(1)>"}}]
        ),
        Reply(text=ANSWER + " " + " ".join(f"safe{i}" for i in range(150)), chunk_size=8, delay=0.05),
    )
    lab.run_cell(2, wait=False)
    lab.wait_answer(2, "a.kind === 'live' && a.text.includes('End of the dangerous part')", timeout=60)
    _assert_safe(lab, 2, "live view")
    lab.wait_cell_done(2, timeout=60)
    final = lab.wait_answer(2, "a.kind === 'static'", timeout=60)
    lab.page.evaluate(
        "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].node"
        ".querySelectorAll('details').forEach((d) => { d.open = true; })",
        2,
    )
    _assert_safe(lab, 2, "saved copy")
    poked = _poke(lab, 2)
    _assert_safe(lab, 2, "saved copy after clicks")
    assert dialogs == [], dialogs
    assert "Tool call: x [click](javascript:window.__pwned=26)" in final["all"], final["all"]
    assert "<img src=x onerror=window.__pwned=21>" in final["text"], final["text"]
    print("clicked:", poked)
