"""A long Markdown answer in a real JupyterLab (issue 13): a steady page while it streams.

A 100 KB answer with headings, paragraphs, links, lists, code blocks (with blank lines inside) and
tables streams as 20,000 deltas at full speed from the session's ``GLMTestServer``. The test prints
and records (``test-artifacts/browser_figures.json``) the longest main-thread task while the live
view is shown: every task, from a Chrome trace (``MainThreadTrace``), and those over 50 ms, from
PerformanceObserver ``longtask``. The swap to JupyterLab's own Markdown rendering at the end is
JupyterLab's work and is recorded separately, as is JupyterLab's running of the cell before the
view appears. The test checks that a heading rendered early in the stream is the same DOM node
when the stream ends (finished blocks are rendered once), and that the view had shown the whole
answer when it was swapped out (it renders a burst of text over several frames).

The goal is a longest task of at most 50 ms (measured 26-32 ms). This machine is shared, so the
test asserts only a generous sanity bound; ``make bench`` tracks render time per frame.
"""

from __future__ import annotations

import json
import time

import pytest
from _lab import LabPage, MainThreadTrace, long_tasks, page_now_ms, record_figures, start_lab

from glm_notebook.testing import GLMTestServer, Reply

pytestmark = pytest.mark.browser

N_DELTAS = 20_000


def long_markdown(sections: int = 140) -> str:
    """About 0.7 KB per section: a heading, a paragraph with links, a list, code and a table."""
    parts = ["# A long answer\n\nIt has every kind of block, many times over."]
    for i in range(sections):
        parts.append(
            f"## Section {i}: sampling, part {i}\n\n"
            f"Temperature {i / 100:.2f} divides the logits before the softmax; see "
            f"[the notes on part {i}](https://example.org/notes/{i}) and the "
            f"[reference](https://example.org/ref#{i}). A low value sharpens the distribution, a "
            f"high value flattens it, and *top-p* trims the unlikely tail of **section {i}**.\n\n"
            f"- first point of section {i}\n- second point, with `code` in it\n"
            f"- third point, which is a little longer than the others ({i})\n\n"
            f"```python\ndef step_{i}(logits, t={i / 10:.1f}):\n    scaled = [x / t for x in logits]\n\n"
            f"    # a blank line above: still the same code block\n    return scaled\n```\n\n"
            f"| option | value | note |\n|---|---|---|\n| temperature | {i / 100:.2f} | divides |\n"
            f"| top_p | 0.9 | trims |\n| max_tokens | {100 + i} | stops |"
        )
    return "\n\n".join(parts)


LONG_ANSWER = long_markdown()
_CUTS = [k * len(LONG_ANSWER) // N_DELTAS for k in range(N_DELTAS + 1)]
DELTAS = [LONG_ANSWER[a:b] for a, b in zip(_CUTS, _CUTS[1:], strict=False)]  # 4-6 characters each

# Watches the live view of the page's first %%glm output: the first <h2> it shows, whether that node
# is still the answer's first <h2> at every check and when the answer is done, and when the live
# view is removed (a MutationObserver: the times are taken inside the tasks that add and remove it,
# and marked with performance.mark, so a Chrome trace of the run can find them).
_WATCH_JS = """() => {
  const w = {heading: null, headingAt: null, checks: 0, replaced: 0, doneAt: null, sameAtDone: null,
             liveCharsAtDone: 0, liveCharsAtRemoval: 0, shownAt: null, removedAt: null, seen: false,
             root: null};
  const answerOf = (root) => root.querySelector('.glm-answer');
  const check = () => {
    const root = document.querySelector('.jp-OutputArea .glm-stream');
    if (!root) {
      if (w.seen && w.removedAt === null) {
        w.removedAt = performance.now();
        performance.mark('glm-view-removed');
        w.liveCharsAtRemoval = answerOf(w.root).textContent.length;  // what it showed until then
      }
      return;
    }
    if (!w.seen) { w.shownAt = performance.now(); performance.mark('glm-view-shown'); }
    w.seen = true;
    w.root = root;
    const first = answerOf(root).querySelector('h2');
    if (first && !w.heading) { w.heading = first; w.headingAt = performance.now(); w.headingText = first.textContent; }
    if (w.heading) {
      w.checks++;
      if (!w.heading.isConnected || answerOf(root).querySelector('h2') !== w.heading) w.replaced++;
    }
    if (w.doneAt === null && root.classList.contains('glm-done')) {
      w.doneAt = performance.now();
      w.sameAtDone = !!w.heading && w.heading.isConnected && answerOf(root).querySelector('h2') === w.heading;
      w.liveCharsAtDone = answerOf(root).textContent.length;
    }
  };
  w.timer = setInterval(check, 50);
  w.observer = new MutationObserver(() => {
    if (!w.seen) { if (document.querySelector('.jp-OutputArea .glm-stream')) check(); }
    else if (w.seen && w.removedAt === null && !document.querySelector('.jp-OutputArea .glm-stream')) check();
    else if (w.doneAt === null) { const r = document.querySelector('.jp-OutputArea .glm-stream.glm-done'); if (r) check(); }
  });
  w.observer.observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['class']});
  window.__glmWatch = w;
}"""

_WATCH_RESULT_JS = """() => { const w = window.__glmWatch; clearInterval(w.timer); w.observer.disconnect();
  const {heading, timer, observer, root, ...rest} = w; return rest; }"""


def test_long_markdown_answer_keeps_the_page_steady(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    assert len(DELTAS) == N_DELTAS and "".join(DELTAS) == LONG_ANSWER
    assert 95_000 <= len(LONG_ANSWER) <= 110_000, len(LONG_ANSWER)
    lab.new_notebook(["%load_ext glm_notebook", "%%glm\nExplain sampling at length."])
    lab.run_cell(0)
    glm.enqueue(Reply(chunks=DELTAS))

    lab.page.evaluate(_WATCH_JS)
    since = page_now_ms(lab.page)
    t0 = time.monotonic()
    with MainThreadTrace(lab.page.context.browser, lab.page) as trace:
        lab.page.evaluate("() => performance.mark('glm-run')")
        lab.run_cell(1, wait=False)
        lab.wait_cell_done(1, timeout=180)
        elapsed = time.monotonic() - t0
        final = lab.wait_answer(1, "a.kind === 'static' && a.status.endsWith('stop')", timeout=120)
        lab.page.evaluate("() => performance.mark('glm-saved-shown')")
        lab.page.wait_for_function("() => window.__glmWatch.removedAt !== null")
        # What JupyterLab does after the outputs settle comes within a moment: its table of
        # contents collects the outputs' headings 200 ms after the notebook stops changing.
        time.sleep(1.0)
    watch = lab.page.evaluate(_WATCH_RESULT_JS)
    tasks = long_tasks(lab.page, since)

    shown, removed = watch["shownAt"], watch["removedAt"]
    before = [t for t in tasks if t["start"] + t["duration"] < shown]  # JupyterLab running the cell
    live = [t for t in tasks if shown <= t["start"] + t["duration"] <= removed]
    swap = [t for t in tasks if t["start"] + t["duration"] > removed]
    longest_live = max((t["duration"] for t in live), default=0.0)
    traced = trace.between("glm-view-shown", "glm-view-removed")  # every task, not only > 50 ms
    figures = {
        "long_answer_chars": len(LONG_ANSWER),
        "long_answer_deltas": len(DELTAS),
        "long_answer_cell_seconds": round(elapsed, 2),
        "long_answer_longest_live_task_ms": round(longest_live, 1),
        "long_answer_longest_live_task_ms_traced": round(max(traced, default=0.0), 1),
        "long_answer_live_tasks_traced": len(traced),
        "long_answer_longest_task_before_view_ms": round(
            max((t["duration"] for t in before), default=0.0), 1
        ),
        "long_answer_live_long_tasks": len(live),
        "long_answer_live_long_task_total_ms": round(sum(t["duration"] for t in live), 1),
        "long_answer_longest_swap_task_ms": round(max((t["duration"] for t in swap), default=0.0), 1),
        # every task from running the cell until 1 s after the whole saved copy was on screen
        "long_answer_longest_task_run_to_saved_ms_traced": round(trace.longest_between("glm-run", None), 1),
        "long_answer_saved_copy_outputs": len(lab.output_data(1)),
        "long_answer_early_heading_checks": watch["checks"],
        "long_answer_early_heading_replaced": watch["replaced"],
        "long_answer_early_heading_same_node_at_end": watch["sameAtDone"],
        "long_answer_live_chars_at_end": watch["liveCharsAtDone"],
        "long_answer_live_chars_at_swap": watch["liveCharsAtRemoval"],
    }
    marks = {
        k: round(watch[k] - since)
        for k in ("shownAt", "headingAt", "doneAt", "removedAt")
        if watch[k] is not None
    }
    print(
        f"\nlong tasks (ms after the cell started: start+duration): {[(round(t['start'] - since), round(t['duration'])) for t in tasks]}; {marks}"
    )
    path = record_figures(figures)
    print(f"\n100 KB Markdown answer, {len(DELTAS)} deltas: {json.dumps(figures)}\n(written to {path})")

    # the early heading is one DOM node from when it appeared to the end of the stream
    assert watch["headingText"] == "Section 0: sampling, part 0", watch
    assert watch["checks"] >= 3, watch
    assert watch["replaced"] == 0 and watch["sameAtDone"] is True, figures
    # the live view really rendered the answer while it was measured. It renders a burst over
    # several frames, and at full speed the whole answer arrives in ~0.3 s, so the swap can come
    # while it is still a few frames behind (here 83-100% of the answer's rendered text was shown
    # by then; nothing is lost: the static copy below is the whole answer). It must have got at
    # least half-way (the rendered text is ~82% of the source's characters: no Markdown syntax).
    assert watch["liveCharsAtRemoval"] > 0.5 * 0.82 * len(LONG_ANSWER), figures
    # the static copy is JupyterLab's rendering of the whole answer
    # in several Markdown outputs (each rendered in its own task) that read as the one answer,
    # the provenance on the first
    outputs = lab.output_data(1)
    assert len(outputs) > 1 and all(set(o["data"]) == {"text/markdown", "text/plain"} for o in outputs)
    md = "\n".join(o["data"]["text/markdown"] for o in outputs)
    assert md.startswith(LONG_ANSWER), (len(md), md[-300:])
    assert "glm_notebook" in outputs[0]["metadata"], outputs[0]["metadata"]
    assert final["status"].endswith("stop"), final
    # goal <= 50 ms (benchmarked by make bench); here only a sanity bound for a shared machine
    assert longest_live < 2_000, figures


MATH_ANSWER = (
    "Euler's identity is $e^{i\\pi} + 1 = 0$, and $a_1 + b_1 = c_1$ keeps its underscores; $a < b$.\n\n"
    "$$\n\\sum_{i=1}^{n} x_i^2\n$$\n\n"
    "```python\nprint('code keeps its language')\n```\n"
)

_MATH_JS = """(i) => {
  const o = window.jupyterapp.shell.currentWidget.content.widgets[i].node.querySelector('.jp-OutputArea');
  const live = o.querySelector('.glm-stream .glm-answer');
  const md = o.querySelector('.jp-RenderedMarkdown');
  const code = (root) => { const c = root && root.querySelector('pre code'); return c ? c.className : null; };
  return {live: live ? [...live.querySelectorAll('.glm-math')].map((e) => e.textContent) : null,
          liveEm: live ? live.querySelectorAll('em').length : null, liveCode: code(live),
          typeset: md ? md.querySelectorAll('mjx-container').length : 0,
          mathErrors: md ? [...md.querySelectorAll('mjx-merror')].map((e) => e.getAttribute('data-mjx-error') || e.textContent) : [],
          mathText: md ? [...md.querySelectorAll('mjx-container')].map((e) => e.textContent).join(' | ') : '',
          staticCode: md ? (md.querySelector('pre code, pre') || {}).className || '' : null,
          staticCodeLang: md ? [...md.querySelectorAll('[class*="language-"], [data-language]')]
                                 .map((e) => e.className + ' ' + (e.dataset.language || '')).join('|') : null};
}"""


def test_math_and_code_survive_the_live_view_and_the_saved_copy(
    lab_page: LabPage, glm: GLMTestServer
) -> None:
    lab = lab_page
    lab.new_notebook(["%load_ext glm_notebook", "%%glm\nShow some math."])
    lab.run_cell(0)
    glm.enqueue(Reply(text=MATH_ANSWER, chunk_size=4, delay=0.03, finish_reason="stop"))
    lab.run_cell(1, wait=False)
    lab.wait_answer(1, "a.kind === 'live' && a.text.includes('code keeps')", timeout=60)
    live = lab.page.evaluate(_MATH_JS, 1)
    lab.wait_cell_done(1, timeout=60)
    lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    # JupyterLab typesets the saved copy's math (MathJax builds one mjx-container per formula)
    lab.page.wait_for_function(f"(i) => ({_MATH_JS})(i).typeset >= 4", arg=1, timeout=60_000)
    final = lab.page.evaluate(_MATH_JS, 1)
    print(f"\nlive: {live}\nstatic: {final}")
    assert live["live"] == [
        "$e^{i\\pi} + 1 = 0$",
        "$a_1 + b_1 = c_1$",
        "$a < b$",
        "$$\n\\sum_{i=1}^{n} x_i^2\n$$",
    ], live
    assert live["liveEm"] == 0 and live["liveCode"] == "language-python", live
    assert final["typeset"] == 4, final
    assert final["mathErrors"] == [] and "a<b" in final["mathText"], final  # "<" is TeX, not &lt;
    assert "language-python" in final["staticCodeLang"] or "python" in final["staticCode"], final
    md = lab.output_data(1)[0]["data"]["text/markdown"]
    # the saved Markdown has the math as written, '<' spelled as TeX (no raw '<' is saved)
    assert md.startswith(MATH_ANSWER.replace("$a < b$", "$a \\lt  b$").strip()), md


SAVED_ANSWER = "## An answer\n\n" + " ".join(f"word{i}" for i in range(300))


def test_a_glm_cell_adds_little_to_a_notebook_saved_with_widget_state(
    lab_browser, lab_env: dict[str, str], glm: GLMTestServer
) -> None:
    """JupyterLab with "save widget state" on: one %%glm cell vs six, saved with Ctrl+S."""
    settings = {"@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True}}
    sizes = {}
    with start_lab(env=lab_env, settings=settings) as server:
        context = lab_browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            for cells in (1, 6):
                lab = LabPage(context.new_page(), server)
                lab.new_notebook(["%load_ext glm_notebook", *["%%glm\nSay it" for _ in range(cells)]])
                lab.run_cell(0)
                for k in range(1, cells + 1):
                    glm.enqueue(Reply(text=SAVED_ANSWER, chunk_size=7))
                    lab.run_cell(k, timeout=60)
                    lab.wait_answer(k, "a.kind === 'static'", timeout=60)
                lab.save()
                nb = server.read_notebook(lab.notebook)
                state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
                assert state is not None, "JupyterLab saved no widget state: the setting did not apply"
                sizes[cells] = ((server.root_dir / lab.notebook).stat().st_size, len(json.dumps(state)))
                # Each answer's provenance survives JupyterLab's save, in its output's metadata.
                outputs = [o for c in nb.cells[1:] for o in c.outputs if "text/markdown" in o.get("data", {})]
                kept = [o.get("metadata", {}).get("glm_notebook") for o in outputs]
                assert len(kept) == cells and all(
                    p and p["replayed"] is False and p["model"] for p in kept
                ), kept
                assert all(len(json.dumps(p)) < 1_000 for p in kept)
                lab.page.close()
                server.shutdown_kernels(lab.notebook)
        finally:
            context.close()
    per_cell = (sizes[6][0] - sizes[1][0]) / 5
    answer_output = 2 * len(SAVED_ANSWER)  # its Markdown and plain-text copies
    figures = {
        "lab_saved_1_cell_bytes": sizes[1][0],
        "lab_saved_6_cells_bytes": sizes[6][0],
        "lab_saved_widget_state_bytes_6_cells": sizes[6][1],
        "lab_saved_bytes_per_cell_beyond_answer": round(per_cell - answer_output),
    }
    record_figures(figures)
    print(f"\nJupyterLab, save widget state on: {figures}")
    assert per_cell - answer_output <= 3_000, figures
