"""``%%glm --tools`` in a real JupyterLab: a call that needs approval shows Approve / Deny in the
live view while the cell runs, the click reaches the kernel (the widget subshell, as Stop), the
call runs, and the saved copy keeps it as a collapsed ``<details>`` block."""

from __future__ import annotations

import pytest
from _lab import LabPage

from glm_notebook.testing import GLMTestServer, Reply

pytestmark = pytest.mark.browser

DEFINE = '''import glm_notebook as glm
def get_weather(city: str) -> dict:
    """Current weather for a city."""
    return {"city": city, "temp": 21}
risky = glm.tool(get_weather, approve=True)'''


def test_approve_button_reaches_the_kernel_and_the_call_is_saved(
    lab_page: LabPage, glm: GLMTestServer
) -> None:
    lab = lab_page
    lab.new_notebook(
        [
            "%load_ext glm_notebook",
            DEFINE,
            "%%glm --tools risky\nWeather in Paris?",
            "print(_glm.tool_calls[0].output)",
        ]
    )
    lab.run_cell(0)
    lab.run_cell(1)
    glm.enqueue(
        Reply(tool_calls=[{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]),
        Reply(text="It is 21 °C in Paris."),
    )
    lab.run_cell(2, wait=False)
    cell = lab.page.locator(".jp-Notebook .jp-Cell").nth(2)
    approve = cell.locator(".glm-tool .glm-approve")
    approve.wait_for(state="visible", timeout=30_000)
    assert "waiting for your approval" in cell.locator(".glm-tool summary").inner_text()
    assert lab.is_cell_running(2)  # the cell waits for the click: it reached us while it ran
    approve.click()
    lab.wait_cell_done(2, timeout=60)
    final = lab.wait_answer(2, "a.kind === 'static'", timeout=60)
    assert final["text"].startswith("It is 21 °C in Paris."), final
    md = lab.output_data(2)[0]["data"]["text/markdown"]
    assert (
        "<details><summary>Tool call&#58; get&#95;weather · " in md
    )  # shown as "Tool call: get_weather" and "1 tool call" in md
    second = glm.requests[-1].json["messages"][-1]
    assert second == {"role": "tool", "tool_call_id": "c1", "content": '{"city":"Paris","temp":21}'}
    lab.run_cell(3)
    assert lab.wait_output_contains(3, '"temp":21').strip() == '{"city":"Paris","temp":21}'
