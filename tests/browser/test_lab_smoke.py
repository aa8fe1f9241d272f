"""Smoke tests of the browser harness: JupyterLab runs code, renders ipywidgets and anywidget,
saves outputs, the harness reads outputs only once they are rendered, and (finding for the Stop
button) delivers widget clicks to a busy kernel."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
from _lab import LabPage, LabServer, longest_task_ms

from glm_notebook.testing import GLMTestServer, Reply

pytestmark = pytest.mark.browser

ANYWIDGET_CELL = '''\
import anywidget, traitlets

class Hello(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const d = document.createElement("div");
      d.className = "glm-smoke-anywidget";
      d.textContent = "hello from anywidget " + model.get("n");
      el.appendChild(d);
    }
    export default { render };
    """
    n = traitlets.Int(7).tag(sync=True)

Hello()
'''

# The cell waits for the click until the test says the click had its chance (it creates the file
# RELEASE 3 s after clicking), not for a fixed time after display(b): on a loaded machine the
# browser can take seconds to render the button, and that must not eat into the click's 3 s.
BUSY_CLICK_CELL = """\
import os, threading, time
import ipywidgets as w
from IPython.display import display

ev = threading.Event()
seen = {}
def on_click(_):
    seen["thread"] = threading.current_thread().name
    seen["during_cell"] = not done.is_set()
    ev.set()

done = threading.Event()
b = w.Button(description="Press me")
b.on_click(on_click)
if ROUTE == "frontend-subshell":
    # honour the subshell_id JupyterLab put on the comm_msg (ipykernel 7.4 otherwise re-routes
    # it to the shell that last published on the comm: the main shell, busy with this cell)
    b.comm._reply_subshell_for = lambda data, default: default
display(b)
t0 = time.monotonic()
try:
    for i in range(1200):  # 120 s at most, if the test never releases the cell
        time.sleep(0.1)
        if ev.is_set():
            print(f"SAW CLICK i={i} thread={seen['thread']} main={threading.main_thread().name}"
                  f" waited={time.monotonic() - t0:.2f}s")
            break
        if os.path.exists(RELEASE):
            print("NO CLICK DURING CELL")
            break
    else:
        print("NO CLICK DURING CELL")
finally:
    done.set()
"""

CLICK_CHANCE_S = 3.0  # how long after the click the busy cell keeps looking for it


ENV_CELL = (
    "import sys, os, json\n"
    "print(json.dumps({'exe': sys.executable, 'prefix': sys.prefix,"
    " 'cfg': os.environ.get('JUPYTER_CONFIG_DIR'), 'ipy': os.environ.get('IPYTHONDIR')}))"
)


def test_smoke_run_widgets_anywidget_save_reopen(lab_server: LabServer, lab_page: LabPage) -> None:
    lab = lab_page
    t0 = time.monotonic()
    # the kernelspec: argv[0] 'python' is replaced by the server's sys.executable (the venv)
    spec = lab_server.kernelspecs()["kernelspecs"]["python3"]["spec"]
    assert spec["argv"][0] in ("python", "python3") or spec["argv"][0].startswith(sys.prefix), spec

    nb = lab.new_notebook(
        ["print(1+1)", "import ipywidgets as w; w.IntSlider(value=3)", ANYWIDGET_CELL, ENV_CELL]
    )
    # lab extensions from <venv>/share/jupyter/labextensions are loaded into the page
    cfg = lab.page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent)")
    names = {e["name"] for e in cfg.get("federated_extensions", [])}
    assert {"@jupyter-widgets/jupyterlab-manager", "anywidget"} <= names, names

    lab.run_cell(0)
    assert lab.wait_output_contains(0, "2").strip() == "2"

    lab.run_cell(1)
    slider = lab.output(1).locator(".widget-slider, .jupyter-widget-slider, .widget-hslider").first
    slider.wait_for(state="visible", timeout=60_000)
    assert "3" in lab.output_text(1)  # the slider's readout

    lab.run_cell(2)
    hello = lab.output(2).locator(".glm-smoke-anywidget")
    hello.wait_for(state="visible", timeout=60_000)
    assert hello.inner_text() == "hello from anywidget 7"
    lab.screenshot("smoke-widgets")

    # the kernel is the venv's python and sees the isolated Jupyter/IPython dirs
    lab.run_cell(3)
    info = json.loads(lab.wait_output_contains(3, '"exe"').strip().splitlines()[-1])
    assert info["prefix"] == sys.prefix, info
    assert os.path.realpath(info["exe"]) == os.path.realpath(sys.executable), info
    assert info["cfg"].startswith(str(lab_server.base_dir)), info
    assert info["ipy"].startswith(str(lab_server.base_dir)), info

    lab.save()
    saved = lab.server.read_notebook(nb)
    assert saved.cells[0].outputs[0]["text"].strip() == "2"

    lab.close_and_reopen(shutdown_kernel=True, wait_kernel=False)
    assert lab.output_text(0).strip() == "2"
    assert lab.prompt(0) == "[1]:"
    lab.screenshot("smoke-reopened")

    assert not lab.relevant_console_errors(), lab.console_errors
    assert not lab.relevant_http_errors(), lab.http_errors
    print(
        f"\nsmoke notebook round trip: {time.monotonic() - t0:.1f}s; longest task: {longest_task_ms(lab.page):.0f} ms"
    )


def test_interrupt_stops_busy_cell(lab_page: LabPage) -> None:
    lab = lab_page
    lab.new_notebook(["import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.05)"])
    lab.run_cell(0, wait=False)
    lab.wait_output_contains(0, "3")
    t = time.monotonic()
    lab.interrupt()
    lab.wait_output_contains(0, "KeyboardInterrupt", timeout=60)
    lab.wait_cell_done(0, timeout=60)
    assert time.monotonic() - t < 5


@pytest.mark.parametrize("output", ["glm-answer", "markdown-display"])
def test_outputs_are_read_once_rendered(lab_page: LabPage, glm: GLMTestServer, output: str) -> None:
    """The harness reads what JupyterLab has rendered, not the empty node it inserts first.

    JupyterLab fetches its Markdown parser on the first Markdown output of a page. With the
    page's fetches slowed down the cell is done, and its ``.jp-RenderedMarkdown`` node is in the
    page, well before that node is filled: read at that moment, a ``%%glm`` answer was
    ``{'kind': 'static', 'text': ''}`` (the flaky failure of issue 9) and an output's text ''.
    """
    lab = lab_page
    markdown_cell = "from IPython.display import Markdown, display\ndisplay(Markdown('**Bold** move'))"
    lab.new_notebook(["%load_ext glm_notebook", "%%glm\nCount to six.", markdown_cell])
    lab.run_cell(0)
    lab.slow_down_fetches()
    if output == "glm-answer":
        glm.enqueue(Reply(text="one two three four five six", delay=0.02))
        lab.run_cell(1)
        a = lab.wait_answer(1, "a.kind === 'static'")
        assert a["text"] == "one two three four five six", a
        assert a["status"].endswith("stop"), a
    else:
        lab.run_cell(2)
        assert lab.output_text(2).strip() == "Bold move"


def _click_while_busy(lab: LabPage, cell: int, route: str, release: Path) -> tuple[str, float, str, list]:
    """Run the busy cell ``cell``, click its button mid-run; return (output, delay, record, sent)."""
    lab.run_cell(cell, wait=False)
    button = lab.output(cell).locator("button", has_text="Press me")
    button.wait_for(state="visible", timeout=60_000)
    assert lab.is_cell_running(cell)
    lab.page.wait_for_function(  # the subshell JupyterLab creates for 'jupyter.widget' comms
        "() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;"
        " return !k.supportsSubshells"
        " || (k._comms.size > 0 && [...k._comms.values()].every(c => c.subshellId)); }",
        timeout=60_000,
    )
    lab.page.evaluate("() => { window.__glmCommMsgs = []; }")
    t_click = time.monotonic()
    button.click()
    try:
        text = lab.wait_output_contains(cell, "SAW CLICK", timeout=CLICK_CHANCE_S)
    except Exception:  # noqa: BLE001 - playwright TimeoutError: the click had its chance
        release.touch()
        text = lab.wait_output_contains(cell, "CLICK", timeout=60)
    t_seen = time.monotonic() - t_click
    lab.wait_cell_done(cell, timeout=60)
    lab.run_cell(cell + 1)
    record = lab.wait_output_contains(cell + 1, "{").strip()
    return text, t_seen, record, lab.page.evaluate("() => window.__glmCommMsgs")


def test_button_click_while_cell_busy(lab_page: LabPage) -> None:
    """Finding for the Stop button: does a widget click reach the kernel while a cell runs?

    ``ipykernel-default``: plain ipywidgets. JupyterLab sends the click's comm_msg with the
    subshell_id of its per-comm-target subshell, but ipykernel 7.4 routes it to the main shell
    (the comm's last publisher), so the callback runs on MainThread after the cell ends.
    ``frontend-subshell``: with ``comm._reply_subshell_for`` returning the frontend's choice the
    callback runs on the subshell thread while the cell is still busy.
    See the docstring of ``_lab.py`` for the whole finding.
    """
    lab = lab_page
    routes = ["ipykernel-default", "frontend-subshell"]
    cells: list[str] = []
    releases = [lab.server.base_dir / f"release-{route}" for route in routes]
    for route, release in zip(routes, releases, strict=True):
        cells += [f"ROUTE = {route!r}\nRELEASE = {str(release)!r}\n" + BUSY_CLICK_CELL, "print(seen)"]
    lab.new_notebook(cells)
    features = lab.kernel_info().get("supported_features")
    setting = lab.page.evaluate("() => window.jupyterapp.serviceManager.kernels.commsOverSubshells")
    lab.page.evaluate(  # record the subshell_id of each comm_msg as JupyterLab sends it
        """() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                   k.anyMessage.connect((_, a) => { if (a.direction === 'send'
                       && a.msg.header.msg_type === 'comm_msg' && window.__glmCommMsgs)
                     window.__glmCommMsgs.push(a.msg.header.subshell_id || null); }); }"""
    )
    print(f"\nkernel_info supported_features={features!r}; commsOverSubshells={setting!r}")
    assert features is not None and "kernel subshells" in features
    for i, route in enumerate(routes):
        text, t_seen, record, sent_to = _click_while_busy(lab, 2 * i, route, releases[i])
        print(
            f"[{route}] comm_msg subshell_id={sent_to!r}; cell printed {text.strip().splitlines()[-1]!r}"
            f" ({t_seen:.2f}s after the click); callback record {record}"
        )
        assert "'thread'" in record, "the click never reached the kernel"
        if route == "frontend-subshell":
            m = re.search(r"SAW CLICK i=(\d+) thread=(\S+) main=(\S+)", text)
            assert m, f"click not delivered while the cell was busy: {text!r}"
            assert m.group(2).startswith("subshell-") and m.group(2) != m.group(3)
            assert t_seen < 2
