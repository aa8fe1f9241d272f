"""What a user sees of ``%%glm`` in a real JupyterLab (issue 6): live streaming, the status and
error lines, stopping (kernel interrupt and the Stop button), persistence after reopening, safety
against HTML in answers, and a 20,000-chunk answer.

Every kernel talks to the session's ``GLMTestServer`` (fixture ``glm``, see conftest.py); each test
scripts its replies with ``glm.enqueue(...)`` and reads ``glm.requests``. Figures (timings, the
longest main-thread task) are printed and merged into ``test-artifacts/browser_figures.json``.
"""

from __future__ import annotations

import json
import time

import pytest
from _lab import LabPage, MainThreadTrace, docs_screenshot, long_tasks, page_now_ms, record_figures

from glm_notebook.testing import Fault, GLMTestServer, Reply
from glm_notebook.testing._script import split_words

pytestmark = pytest.mark.browser

LOAD_EXT = "%load_ext glm_notebook"

# 60 words, so 60 chunks when split by words.
SAMPLING_ANSWER = (
    "Temperature divides the logits before the softmax, so a low value sharpens the distribution "
    "and the model almost always picks its favourite token, while a high value flattens it and "
    "rarer words get a chance. Top-p then keeps only the smallest set of tokens whose "
    "probabilities add up to p, and samples from that set, which trims the unlikely tail."
)


def _open_with_extension(lab: LabPage, *cells: str) -> str:
    """A new notebook: cell 0 loads the extension (and is run), then ``cells``."""
    name = lab.new_notebook([LOAD_EXT, *cells])
    lab.run_cell(0)
    assert lab.output_text(0).strip() == "", lab.output_text(0)
    return name


def _no_error_outputs(lab: LabPage, index: int) -> None:
    outputs = lab.output_data(index)
    assert not [o for o in outputs if o.get("output_type") == "error"], outputs
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs


# ----------------------------------------------------------------------------------------------
# 1. Streaming is live
# ----------------------------------------------------------------------------------------------


def test_streaming_is_live(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    chunks = split_words(SAMPLING_ANSWER)
    assert len(chunks) == 60
    _open_with_extension(lab, "%%glm\nExplain temperature and top_p in one paragraph.")
    glm.enqueue(Reply(chunks=chunks, delay=0.05))

    lab.start_answer_sampler(1)
    t0 = time.monotonic()
    lab.run_cell(1, wait=False)
    mid = lab.wait_answer(1, "a.kind === 'live' && a.text.length > 120", timeout=60)
    assert lab.is_cell_running(1)
    assert "streaming" in mid["status"], mid
    docs_screenshot(lab, 1, "stream-live.png")

    lab.wait_cell_done(1, timeout=60)
    elapsed = time.monotonic() - t0
    samples = lab.answer_samples()
    final = lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    docs_screenshot(lab, 1, "stream-final.png")

    lengths = [n for _, n in samples if n]  # distinct visible lengths of the live answer, in order
    print(f"\nvisible live lengths ({len(lengths)}): {lengths}; cell took {elapsed:.1f}s")
    assert len(set(lengths)) >= 3, samples
    assert lengths == sorted(lengths), f"the visible answer shrank while streaming: {lengths}"
    # the static copy shows exactly the whole answer, and the status line under it
    assert final["text"] == SAMPLING_ANSWER, final
    assert "60 tokens" in final["status"] and final["status"].endswith("stop"), final
    assert len(glm.requests) == 1
    _no_error_outputs(lab, 1)
    assert not lab.relevant_console_errors(), lab.console_errors
    record_figures({"live_stream_distinct_lengths": len(set(lengths))})


# ----------------------------------------------------------------------------------------------
# 2. Status line and errors
# ----------------------------------------------------------------------------------------------


def test_status_line_and_error_line(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    _open_with_extension(lab, "%%glm\nCount to six.", "%%glm --max-tokens 3\nCount to six.", "%%glm\nHello?")
    glm.enqueue(
        Reply(text="one two three four five six", delay=0.02),
        Reply(text="one two three", finish_reason="length"),
        Fault.balance(),
    )

    lab.run_cell(1)
    a = lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    assert a["text"] == "one two three four five six", a
    parts = [p.strip() for p in a["status"].split("·")]
    assert parts[0] == "glm-4.7-flash", a["status"]
    assert "6 tokens" in parts and parts[-1] == "stop", a["status"]
    assert any(p.endswith("s to first token") for p in parts), a["status"]
    _no_error_outputs(lab, 1)

    lab.run_cell(2)
    a = lab.wait_answer(2, "a.kind === 'static'", timeout=60)
    assert a["text"] == "one two three", a
    assert "3 tokens" in a["status"] and a["status"].endswith("length"), a["status"]

    lab.run_cell(3)
    a = lab.wait_answer(3, "a.kind === 'static' && a.error", timeout=60)
    print(f"\n1113 as the user sees it:\n{a['all']}")
    assert "\n" not in a["error"].strip(), a["error"]  # one line
    assert "balance" in a["error"].lower() and "1113" in a["error"], a["error"]
    assert "Traceback" not in a["all"] and "InsufficientBalance(" not in a["all"], a["all"]
    _no_error_outputs(lab, 3)
    assert lab.execution_count(3) is not None
    # 1113 is never retried: one request for the cell
    chats = [r for r in glm.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 3, [r.outcome for r in chats]
    assert chats[1].json["max_tokens"] == 3
    assert not lab.relevant_console_errors(), lab.console_errors


# ----------------------------------------------------------------------------------------------
# 3. Stopping: kernel interrupt, and the Stop button
# ----------------------------------------------------------------------------------------------

LONG_ANSWER = " ".join(f"word{i}" for i in range(400))  # 400 chunks x 0.05 s = 20 s if not stopped


def _stop_midstream(lab: LabPage, glm: GLMTestServer, how: str) -> dict[str, object]:
    """Run the slow cell 1, stop it with ``how`` ("interrupt" | "stop-button"), measure, check."""
    glm.enqueue(Reply(text=LONG_ANSWER, delay=0.05))
    lab.start_answer_sampler(1)
    lab.run_cell(1, wait=False)
    before = lab.wait_answer(1, "a.kind === 'live' && a.text.length > 40", timeout=60)
    figures: dict[str, object] = {}
    if how == "stop-button":
        # The view shows Stop once one of its greetings (every 0.4 s, at most 40) reached the kernel
        # while the cell runs: give it that long (the answer streams for 20 s), and record how long
        # it took after the first 40 characters were visible.
        shown = True
        t_wait = time.monotonic()
        try:
            before = lab.wait_answer(1, "a.kind === 'live' && a.stop", timeout=16)
        except AssertionError:  # timed out: record and judge below
            shown = False
        figures["shown"] = shown
        figures["stop_shown_after_40_chars_s"] = round(time.monotonic() - t_wait, 2)
        if not shown:
            record_figures({"stop_button_shown": False})
            a = lab.answer(1)
            # a view without a working Stop must tell the user to interrupt instead
            assert a["kind"] == "live" and a["hint"], a
            lab.interrupt()
            lab.wait_cell_done(1, timeout=60)
            features = lab.kernel_info().get("supported_features", [])
            # with kernel subshells (ipykernel 7 + JupyterLab 4.4+) Stop can work, so it must show
            assert "kernel subshells" not in features, (
                f"the Stop button did not appear while the answer streamed (kernel features {features})"
            )
            return figures  # no subshells: no Stop button, and the view said to interrupt instead
        assert not before["hint"], before  # Stop shown: no "interrupt the kernel" hint next to it
    assert lab.is_cell_running(1)
    shown_at_click = len(before["text"])

    # when the click really began (mouse button down: JupyterLab's toolbar acts on mousedown),
    # in the page: performance.now() and wall-clock seconds
    lab.page.evaluate(
        """() => document.addEventListener('mousedown', () => {
             const now = performance.now();
             window.__glmClick = window.__glmClick || {page: now, epoch: (performance.timeOrigin + now) / 1000};
           }, {capture: true, once: true})"""
    )
    t_call = time.time()
    if how == "interrupt":
        lab.interrupt(via="toolbar")
    else:
        lab.output(1).locator("button.glm-stop").click()
    t_called = time.time()
    click = lab.page.evaluate("() => window.__glmClick")
    t_page, t_click = click["page"], click["epoch"]

    recs = glm.wait_until_finished(timeout=30)
    rec = recs[-1]
    assert rec.outcome == "client_disconnected", rec.outcome
    assert rec.ended_at is not None
    disconnect_s = rec.ended_at - t_click
    lab.wait_cell_done(1, timeout=60)
    samples = lab.answer_samples()
    live_changes = [t for t, n in samples if n]  # times the live text changed (null = view gone)
    grew_after_click_ms = max((t - t_page for t in live_changes if t > t_page), default=0.0)

    final = lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    partial = final["text"]
    figures.update(
        {
            "playwright_click_call_s": round(t_called - t_call, 3),
            "click_to_server_disconnect_s": round(disconnect_s, 3),
            "last_visible_growth_after_click_ms": round(grew_after_click_ms, 1),
            "chars_at_click": shown_at_click,
            "chars_kept": len(partial),
            "answer_chars": len(LONG_ANSWER),
            "status": final["status"],
        }
    )
    print(f"\n{how}: {json.dumps(figures)}")
    # stopped within a second: the server saw the connection close, the text stopped growing
    assert disconnect_s < 1.0, figures
    assert grew_after_click_ms < 1000, figures
    # the partial text stays, with a "stopped" status
    assert partial and LONG_ANSWER.startswith(partial), final
    assert shown_at_click <= len(partial) < len(LONG_ANSWER), figures
    assert final["status"].endswith("stopped"), final
    return figures


def test_interrupt_stops_stream(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    _open_with_extension(lab, "%%glm\nCount slowly.", "print('after')")
    figures = _stop_midstream(lab, glm, "interrupt")
    # the interrupt ends the cell like any interrupt (Run All stops here)
    outputs = lab.output_data(1)
    assert [o.get("ename") for o in outputs if o.get("output_type") == "error"] == ["KeyboardInterrupt"], (
        outputs
    )
    # the kernel is fine afterwards
    lab.run_cell(2)
    assert lab.wait_output_contains(2, "after").strip() == "after"
    record_figures({f"interrupt_{k}": v for k, v in figures.items()})


def test_stop_button_stops_stream(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    _open_with_extension(lab, "%%glm\nCount slowly.", "print(_glm.stopped, len(_glm.text.strip()))")
    figures = _stop_midstream(lab, glm, "stop-button")
    if not figures["shown"]:
        return
    # Stop ends the answer, not the cell: no KeyboardInterrupt, and the result is stored
    _no_error_outputs(lab, 1)
    lab.run_cell(2)
    # print() writes its items one by one: wait for the whole line, not its first word
    expected = f"True {figures['chars_kept']}"
    assert lab.wait_output_contains(2, expected).strip() == expected
    record_figures({f"stop_button_{k}": v for k, v in figures.items()})


# ----------------------------------------------------------------------------------------------
# 5. Persistence: save, close, reopen with a new kernel
# ----------------------------------------------------------------------------------------------

MARKDOWN_ANSWER = (
    "## How sampling works\n\n"
    "1. **Temperature** rescales the logits.\n"
    "2. **Top-p** keeps the smallest likely set.\n\n"
    '```python\nprint("hello from the answer")\n```\n\n'
    "| option | range |\n|---|---|\n| temperature | 0 to 1 |\n"
)
WIDGET_LEFTOVERS = (
    "Error displaying widget",
    "StreamView(",
    "VBox(",
    "HBox(",
    "AnyWidget(",
    "Loading widget",
)

_RENDERED_JS = """(i) => {
  const o = window.jupyterapp.shell.currentWidget.content.widgets[i].node.querySelector('.jp-OutputArea');
  const md = o && o.querySelector('.jp-RenderedMarkdown');
  if (!md) return null;
  const q = (s) => [...md.querySelectorAll(s)].map((e) => e.innerText.trim());
  return {h2: q('h2'), li: q('ol > li'), strong: q('strong'), pre: q('pre'), td: q('td'),
          status: q('p > sub > em')};
}"""


def _check_rendered_markdown(lab: LabPage, index: int) -> dict[str, list[str]]:
    r = lab.page.evaluate(_RENDERED_JS, index)
    assert r is not None, lab.output_text(index)
    assert r["h2"] == ["How sampling works"], r
    assert r["li"] == ["Temperature rescales the logits.", "Top-p keeps the smallest likely set."], r
    assert r["strong"] == ["Temperature", "Top-p"], r
    assert r["pre"] == ['print("hello from the answer")'], r
    assert r["td"] == ["temperature", "0 to 1"], r
    assert r["status"] and r["status"][-1].endswith("stop"), r
    return r


def _no_widget_leftovers(lab: LabPage) -> None:
    text = lab.page_text()
    found = [s for s in WIDGET_LEFTOVERS if s in text]
    assert not found, f"{found} in the page:\n{text[-2000:]}"


def test_persistence_after_save_close_reopen(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    nb = _open_with_extension(lab, "%%glm\nHow does sampling work? Use a heading, a list, code and a table.")
    glm.enqueue(Reply(text=MARKDOWN_ANSWER, delay=0.01))
    lab.run_cell(1)
    lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    _check_rendered_markdown(lab, 1)
    _no_widget_leftovers(lab)
    lab.save()

    # what the file holds (what GitHub and nbconvert render): Markdown, no widget views
    saved = lab.server.read_notebook(nb)
    outputs = saved.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"], outputs
    data = outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" not in data, data
    assert data["text/markdown"].startswith(MARKDOWN_ANSWER.rstrip("\n")), data["text/markdown"]
    assert "How sampling works" in data["text/plain"]

    lab.close_and_reopen(shutdown_kernel=True)
    assert lab.cell_count() >= 2
    lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    _check_rendered_markdown(lab, 1)
    assert lab.prompt(1) == "[2]:", lab.prompt(1)
    _no_widget_leftovers(lab)
    assert not lab.relevant_console_errors(), lab.console_errors
    assert len(glm.requests) == 1  # reopening re-ran nothing


# ----------------------------------------------------------------------------------------------
# 6. Safety: HTML and script in an answer never run
# ----------------------------------------------------------------------------------------------

_FILLER = " ".join(f"safe{i}" for i in range(200))
SAFETY_ANSWER = (
    "Some HTML follows.\n\n"
    'An image <img src=x onerror="window.__pwned=1"> inline.\n\n'
    "<script>window.__pwned=2</script>\n\n"
    "A [click](javascript:window.__pwned=3) link.\n\n"
    '<b onmouseover="window.__pwned=4">hover me</b>\n\n'
    '<iframe src="javascript:parent.__pwned=5"></iframe>\n\n'
    '<iframe srcdoc="<script>parent.__pwned=6</script>"></iframe>\n\n'
    '<svg onload="window.__pwned=7"><circle r="5"></circle></svg>\n\n'
    '<a href="javascript:window.__pwned=8">raw link</a>\n\n'
    '<details open ontoggle="window.__pwned=9"><summary>sum</summary>body</details>\n\n'
    '<a href="&#106;avascript:window.__pwned=10">entity link</a> and [ent](&#106;avascript:window.__pwned=11)\n\n'
    "End of the dangerous part.\n\n" + _FILLER
)

# Set before any JupyterLab code runs, in every document this page loads (reopening included).
_FLAGS_JS = "window.__pwned = false; window.parent.__pwned = false;"

# Watches every output area for dangerous nodes, also ones that exist only for a moment.
_MONITOR_JS = """() => {
  if (window.__glmMonitor) window.__glmMonitor.obs.disconnect();
  const bad = [];
  const BAD_TAGS = new Set(['SCRIPT', 'IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'BASE', 'META', 'FORM']);
  const check = (el) => {
    if (!(el instanceof Element) || !el.closest('.jp-OutputArea')) return;
    for (const e of [el, ...el.querySelectorAll('*')]) {
      if (BAD_TAGS.has(e.tagName.toUpperCase())) bad.push('tag ' + e.outerHTML.slice(0, 100));
      for (const a of e.attributes) {
        const v = a.value.replace(/[\\u0000-\\u0020]/g, '').toLowerCase();
        if (a.name.toLowerCase().startsWith('on')) bad.push('handler ' + e.outerHTML.slice(0, 100));
        if (['href', 'src', 'xlink:href', 'action', 'formaction', 'srcdoc'].includes(a.name.toLowerCase())
            && (v.startsWith('javascript:') || v.startsWith('vbscript:') || v.startsWith('data:text')
                || a.name.toLowerCase() === 'srcdoc'))
          bad.push('url ' + e.outerHTML.slice(0, 100));
      }
    }
  };
  const obs = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') check(r.target);
      for (const n of r.addedNodes) check(n);
    }
  });
  obs.observe(document.body, {subtree: true, childList: true, attributes: true});
  document.querySelectorAll('.jp-OutputArea').forEach(check);
  window.__glmMonitor = {obs, bad};
}"""


def _safety_state(lab: LabPage) -> dict[str, object]:
    return lab.page.evaluate(
        "() => ({pwned: window.__pwned, monitored: !!window.__glmMonitor,"
        " bad: window.__glmMonitor ? window.__glmMonitor.bad.slice(0, 10) : null})"
    )


# Finds the k-th thing a curious user would click or hover in cell i's output, scrolls it into view
# and returns where it is, in one step (the live view may replace it by an identical element).
_TARGET_JS = """([i, k]) => {
  const o = window.jupyterapp.shell.currentWidget.content.widgets[i].node.querySelector('.jp-OutputArea');
  const targets = [];
  for (const a of o.querySelectorAll('a')) {
    if (['click', 'raw link', 'entity link', 'ent'].includes(a.innerText.trim()))
      targets.push({action: 'click', what: `<a href=${JSON.stringify(a.getAttribute('href'))}>${a.innerText.trim()}</a>`, el: a});
  }
  for (const sm of o.querySelectorAll('summary')) {
    if (sm.innerText.trim() === 'sum') targets.push({action: 'click', what: '<summary>sum', el: sm});
  }
  const walker = document.createTreeWalker(o, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const at = n.data.indexOf('hover me');
    if (at >= 0) {
      const r = document.createRange(); r.setStart(n, at); r.setEnd(n, at + 8);
      targets.push({action: 'hover', what: `'hover me' in <${n.parentElement.tagName.toLowerCase()}>`, el: n.parentElement, range: r});
    }
  }
  const t = targets[k];
  if (!t) return {count: targets.length};
  t.el.scrollIntoView({block: 'center'});
  const rect = (t.range || t.el).getBoundingClientRect();
  return {count: targets.length, action: t.action, what: t.what,
          x: rect.left + rect.width / 2, y: rect.top + rect.height / 2};
}"""


def _poke(lab: LabPage, index: int) -> list[str]:
    """Click each link, hover the "hover me" text and toggle <details> in cell ``index``'s output.

    With the mouse at the element's position, like a user (while the answer streams the live view
    re-renders its Markdown at each flush, so an element found a moment ago may since have been
    replaced by an identical one at the same place).
    """
    done = []
    k = 0
    while True:
        t = lab.page.evaluate(_TARGET_JS, [index, k])
        if k >= t["count"]:
            break
        if t["action"] == "click":
            lab.page.mouse.click(t["x"], t["y"])
        else:
            lab.page.mouse.move(t["x"], t["y"])
            lab.page.mouse.move(t["x"] + 2, t["y"])
        done.append(f"{t['action']} {t['what']}")
        k += 1
    lab.page.mouse.move(0, 0)
    # a javascript: link that navigated would replace the page; a # link only changes the hash
    lab.page.wait_for_function("() => !!window.jupyterapp")
    return done


def _assert_safe(lab: LabPage, index: int, where: str) -> None:
    state = _safety_state(lab)
    assert state["pwned"] is False, f"{where}: script ran in the page: __pwned={state['pwned']}"
    assert state["monitored"] and state["bad"] == [], (
        f"{where}: dangerous markup in the output: {state['bad']}"
    )
    counts = lab.page.evaluate(
        """(i) => { const o = window.jupyterapp.shell.currentWidget.content.widgets[i].node
                                 .querySelector('.jp-OutputArea');
                    return {script: o.querySelectorAll('script').length,
                            iframe: o.querySelectorAll('iframe, frame, object, embed').length,
                            onattr: [...o.querySelectorAll('*')].filter(
                              (e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
                            jslink: [...o.querySelectorAll('[href]')].filter(
                              (e) => /^\\s*(java|vb)script:/i.test(e.getAttribute('href'))).length}; }""",
        index,
    )
    assert counts == {"script": 0, "iframe": 0, "onattr": 0, "jslink": 0}, f"{where}: {counts}"


def test_html_in_answers_never_runs(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    lab.page.add_init_script(_FLAGS_JS)
    _open_with_extension(lab, "%%glm\nShow me some HTML.")
    lab.page.evaluate(_MONITOR_JS)
    glm.enqueue(Reply(text=SAFETY_ANSWER, chunk_size=10, delay=0.02))

    # live view, while the answer streams
    lab.run_cell(1, wait=False)
    live = lab.wait_answer(1, "a.kind === 'live' && a.text.includes('End of the dangerous part')", timeout=60)
    assert lab.is_cell_running(1), "the answer ended before the live view could be checked"
    _assert_safe(lab, 1, "live view")
    poked_live = _poke(lab, 1)
    assert lab.is_cell_running(1), "the answer ended before the live view could be poked: use a longer one"
    _assert_safe(lab, 1, "live view after clicks")
    assert "hover me" in live["text"] and "click" in live["text"], live
    assert "window.__pwned=2" not in live["text"]  # the <script> element is dropped, not shown

    # the static copy after the stream
    lab.wait_cell_done(1, timeout=60)
    final = lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    _assert_safe(lab, 1, "static output")
    poked_static = _poke(lab, 1)
    _assert_safe(lab, 1, "static output after clicks")
    # the dangerous markup is shown as text
    for literal in ('<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>", "<iframe"):
        assert literal in final["text"], (literal, final["text"])
    assert final["status"].endswith("stop"), final

    # after saving and reopening with a new kernel (the output is trusted: JupyterLab signed it)
    lab.save()
    lab.close_and_reopen(shutdown_kernel=True)
    lab.page.evaluate(_MONITOR_JS)
    reopened = lab.wait_answer(1, "a.kind === 'static'", timeout=60)
    assert reopened["text"] == final["text"]
    _assert_safe(lab, 1, "reopened notebook")
    poked_reopened = _poke(lab, 1)
    _assert_safe(lab, 1, "reopened notebook after clicks")
    print(f"\nlive: {poked_live}\nstatic: {poked_static}\nreopened: {poked_reopened}")
    print(f"http errors: {lab.http_errors}\nconsole errors: {lab.console_errors}")
    assert any(">click<" in p for p in poked_live) and any("hover" in p for p in poked_live), poked_live
    assert any(">click<" in p for p in poked_static), poked_static
    assert any(">click<" in p for p in poked_reopened), poked_reopened


# ----------------------------------------------------------------------------------------------
# 7. Load: 20,000 chunks at full speed
# ----------------------------------------------------------------------------------------------

N_CHUNKS = 20_000
# 200 paragraphs of 100 numbered words: any lost, doubled or reordered piece changes the text
LOAD_CHUNKS = [f"w{i:05d}" + ("\n\n" if i % 100 == 99 else " ") for i in range(N_CHUNKS - 1)] + [
    f"w{N_CHUNKS - 1:05d}"
]
LOAD_ANSWER = "".join(LOAD_CHUNKS)

_HEARTBEAT_JS = """() => {
  const hb = {last: performance.now(), maxGap: 0, beats: 0, notice: false, liveMax: 0};
  hb.id = setInterval(() => {
    const n = performance.now();
    hb.maxGap = Math.max(hb.maxGap, n - hb.last); hb.last = n; hb.beats++;
    if (hb.beats % 10 === 0) {  // cheap checks, no layout
      const a = document.querySelector('.jp-OutputArea .glm-answer');
      if (a) hb.liveMax = Math.max(hb.liveMax, a.textContent.length);
      if (document.querySelector('.glm-notice:not([hidden])')) hb.notice = true;
    }
  }, 16);
  window.__glmHeartbeat = hb;
}"""


def test_twenty_thousand_chunks_arrive_complete(lab_page: LabPage, glm: GLMTestServer) -> None:
    lab = lab_page
    assert len(LOAD_CHUNKS) == N_CHUNKS
    _open_with_extension(lab, "%%glm\nCount to twenty thousand.")
    glm.enqueue(Reply(chunks=LOAD_CHUNKS))

    lab.page.evaluate(_HEARTBEAT_JS)
    since = page_now_ms(lab.page)
    t0 = time.monotonic()
    with MainThreadTrace(lab.page.context.browser, lab.page) as trace:
        lab.page.evaluate("() => performance.mark('glm-run')")
        lab.run_cell(1, wait=False)
        lab.wait_cell_done(1, timeout=180)
        elapsed = time.monotonic() - t0
        # a long answer's saved copy is several outputs: wait for the last, which ends in the status
        final = lab.wait_answer(1, "a.kind === 'static' && a.status.includes('tokens')", timeout=120)
        lab.page.evaluate("() => performance.mark('glm-static')")
    tasks = long_tasks(lab.page, since)
    hb = lab.page.evaluate("() => { clearInterval(window.__glmHeartbeat.id); return window.__glmHeartbeat; }")

    # 0 characters lost: the Markdown source in the notebook and the visible text, exactly
    # (the saved copy of this 140 KB answer is several Markdown outputs, read in order as one)
    outputs = lab.output_data(1)
    md = "\n".join(o["data"]["text/markdown"] for o in outputs)
    assert md.startswith(LOAD_ANSWER + "\n\n<sub>*"), (len(md), md[:200], md[-300:])
    visible = final["text"]
    lost = len(LOAD_ANSWER) - len(visible)
    if visible != LOAD_ANSWER:
        first = next((k for k, (x, y) in enumerate(zip(visible, LOAD_ANSWER, strict=False)) if x != y), None)
        pytest.fail(
            f"visible text differs: {lost} characters short, first difference at {first}; "
            f"shown: {visible[:300]!r} ... {visible[-200:]!r}; answer: {final}"[:3000]
        )
    assert f"{N_CHUNKS} tokens" in final["status"], final["status"]
    assert glm.requests[-1].outcome == "complete"

    longest = max((t["duration"] for t in tasks), default=0.0)
    figures = {
        "load_chunks": N_CHUNKS,
        "load_answer_chars": len(LOAD_ANSWER),
        "load_chars_lost": lost,
        "load_cell_seconds": round(elapsed, 2),
        "load_longest_task_ms": round(longest, 1),
        # every task, not only those over 50 ms: the cell's run, the stream, the swap to the copy
        "load_longest_task_ms_traced": round(trace.longest_between("glm-run", "glm-static"), 1),
        "load_long_tasks": len(tasks),
        "load_long_task_total_ms": round(sum(t["duration"] for t in tasks), 1),
        "load_max_heartbeat_gap_ms": round(hb["maxGap"], 1),
        "load_live_view_max_chars_seen": hb["liveMax"],
        "load_live_view_resync_notice": hb["notice"],
        "load_status": final["status"],
    }
    path = record_figures(figures)
    print(f"\n20,000-chunk answer: {json.dumps(figures, ensure_ascii=False)}\n(written to {path})")
    # a generous sanity bound only: timings on a shared machine vary
    assert longest < 10_000, figures
