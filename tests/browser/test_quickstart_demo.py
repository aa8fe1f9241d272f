"""``make demo``: the committed quickstart, run top to bottom in a real JupyterLab with no key.

The offline chat model (SmolLM2) answers; every cell runs without an error; the first answer names
Paris; the playground shows its live view with a finished run; the compare shows both panels.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from _lab import REPO_ROOT, LabPage, start_lab

pytestmark = pytest.mark.browser

QUICKSTART = REPO_ROOT / "notebooks" / "01_quickstart.ipynb"

_CELLS_JS = """() => { const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.map((w) => ({type: w.model.type, count: w.model.type === 'code' ? w.model.executionCount : 0,
    source: w.model.sharedModel.getSource().slice(0, 60),
    outputs: w.model.type === 'code' ? [...Array(w.model.outputs.length).keys()].map((k) => w.model.outputs.get(k).toJSON()) : [],
    text: w.node.querySelector('.jp-OutputArea') ? w.node.querySelector('.jp-OutputArea').innerText : ''})); }"""


def test_the_quickstart_runs_top_to_bottom_with_no_key(lab_context, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(QUICKSTART, root / QUICKSTART.name)
    # no key of any provider: the offline model answers (the test process runs without them too)
    env = {"GLM_NOTEBOOK_CACHE": str(tmp_path / "cache.sqlite3")}
    with start_lab(env=env, root_dir=root) as server:
        lab = LabPage(lab_context.new_page(), server, default_timeout=300)
        try:
            lab.open(QUICKSTART.name)
            lab.command("notebook:clear-all-cell-outputs")
            lab.command("notebook:run-all-cells")
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                cells = lab.page.evaluate(_CELLS_JS)
                code = [c for c in cells if c["type"] == "code"]
                if all(c["count"] for c in code) and lab.kernel_status() == "idle":
                    break
                time.sleep(1)
            else:
                raise AssertionError(f"not every cell ran: {[(c['source'], c['count']) for c in code]}")
            lab.page.wait_for_function(
                "() => !document.querySelector('.jp-OutputArea .glm-stream:not(.glm-done)')", timeout=60_000
            )
            cells = [c for c in lab.page.evaluate(_CELLS_JS) if c["type"] == "code"]
            errors = [(c["source"], o) for c in cells for o in c["outputs"] if o["output_type"] == "error"]
            assert not errors, errors

            def markdown(cell: dict) -> str:
                return "".join(o.get("data", {}).get("text/markdown", "") for o in cell["outputs"])

            first = next(c for c in cells if c["source"].startswith("%%glm --max-tokens 40 --temperature 0"))
            assert "Paris" in markdown(first), first
            compare = next(c for c in cells if c["source"].startswith("%%glm --compare"))
            assert "temperature=0.0" in markdown(compare) and "temperature=0.8" in markdown(compare), compare
            # the playground (a widget) shows its first run, finished
            tune = next(
                i
                for i, c in enumerate(lab.page.evaluate(_CELLS_JS))
                if c["source"].startswith("%%glm --tune")
            )
            live = lab.page.wait_for_function(
                """(i) => { const w = window.jupyterapp.shell.currentWidget.content.widgets[i];
                   w.node.scrollIntoView({block: 'nearest'});
                   const s = w.node.querySelector('.glm-stream');
                   const a = s && {answer: s.querySelector('.glm-answer').innerText,
                                   status: s.querySelector('.glm-status').innerText};
                   return a && a.answer.trim() && a.status.endsWith('stop') ? a : false; }""",
                arg=tune,
                timeout=60_000,
            ).json_value()
            print(
                f"\nfirst answer: {markdown(first)[:200]!r}\nplayground: {live}\ncompare: {markdown(compare)[:500]!r}"
            )
            assert not lab.relevant_console_errors(), lab.console_errors
        finally:
            lab.page.close()
            server.shutdown_kernels(QUICKSTART.name)
