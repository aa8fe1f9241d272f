"""The ``%%glm --tune`` playground in a real JupyterLab (issue 6, item 4): move the temperature
slider with the keyboard, press Run, and check what the test server received and what re-streamed.
"""

from __future__ import annotations

import json

import pytest
from _lab import LabPage, docs_screenshot, record_figures

from glm_notebook.testing import GLMTestServer, Reply

pytestmark = pytest.mark.browser

FIRST = "Low temperature: the same safe words, again and again, like a metronome."
SECOND = (
    "High temperature: words wander off the beaten path, surprising, sometimes brilliant, "
    "sometimes odd, never quite the same twice."
)


def test_tune_keyboard_slider_then_run(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    lab.new_notebook(
        ["%load_ext glm_notebook", "%%glm --tune --temperature 0.5\nDescribe temperature in one line."]
    )
    lab.run_cell(0)
    glm.enqueue(Reply(text=FIRST, delay=0.01), Reply(text=SECOND, delay=0.05))

    # the cell shows the playground and returns; its first run starts by itself
    lab.run_cell(1, timeout=60)
    out = lab.output(1)
    # the answer's last text and its final status are separate messages: wait for both
    a = lab.wait_answer(
        1,
        "a.kind === 'live' && a.status.endsWith('stop') && a.text.includes(" + json.dumps(FIRST) + ")",
        timeout=60,
    )
    assert FIRST in a["text"]
    first = glm.wait_until_finished(timeout=30)
    assert len(first) == 1 and first[0].json["temperature"] == 0.5, [r.json for r in first]

    # auto-run off, so that only Run sends a request (a user who wants to set up first)
    auto_run = out.locator(".widget-checkbox", has_text="auto-run on change").locator("input")
    auto_run.click()
    lab.page.wait_for_function("(el) => !el.checked", arg=auto_run.element_handle())

    temperature = out.locator(".widget-slider", has_text="temperature")
    handle = temperature.locator(".noUi-handle")
    readout = temperature.locator(".widget-readout")
    # the slider view fills its readout when it renders: wait for a value, not for the element
    lab.page.wait_for_function("(el) => el.innerText.trim() !== ''", arg=readout.element_handle())
    assert readout.inner_text() == "0.50"
    handle.focus()
    assert handle.evaluate("(h) => document.activeElement === h")
    seen = []
    for keys, expected in (
        (["Home"], "0.00"),
        (["ArrowRight"] * 7, "0.35"),
        (["End"], "1.00"),
        (["ArrowLeft"] * 3, "0.85"),
    ):
        for key in keys:
            lab.page.keyboard.press(key)
        lab.page.wait_for_function(
            "([el, text]) => el.innerText.trim() === text",
            arg=[readout.element_handle(), expected],
            timeout=30_000,
        )
        seen.append(expected)
    # what assistive technology reads (noUiSlider formats aria-valuenow with one decimal)
    aria = {k: handle.get_attribute(k) for k in ("aria-valuenow", "aria-valuetext")}

    lab.start_answer_sampler(1)
    out.locator("button.widget-button", has_text="Run").first.click()
    reqs = glm.wait_for_requests(2, timeout=30)
    sent = reqs[1].json
    assert sent["temperature"] == 0.85, json.dumps(sent)
    assert isinstance(sent["temperature"], float) and repr(sent["temperature"]) == "0.85"
    assert sent["top_p"] == 1.0 and sent["max_tokens"] == 512, json.dumps(sent)
    assert sent["messages"][-1]["content"] == "Describe temperature in one line."

    # the view re-streamed: run #2, the new answer growing, then finished
    final = lab.wait_answer(
        1,
        "a.kind === 'live' && a.text.includes('never quite the same twice') && a.status.endsWith('stop')"
        " && a.all.includes('Run #2')",
        timeout=60,
    )
    lengths = [n for _, n in lab.answer_samples() if n]
    assert "Run #2" in final["all"], final["all"]
    assert FIRST not in final["text"], final
    assert len(set(lengths)) >= 3, lengths
    lab.select(0)  # no active-cell highlight in the picture
    docs_screenshot(lab, 1, "playground.png")

    assert len(glm.wait_until_finished(timeout=30)) == 2  # the keyboard moves sent nothing by themselves
    assert not lab.relevant_console_errors(), lab.console_errors
    record_figures(
        {
            "playground_keyboard_readouts": seen,
            "playground_sent_temperature": sent["temperature"],
            "playground_aria": aria,
        }
    )
