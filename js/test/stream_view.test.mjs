// Tests of the built bundle (glm_notebook/static/stream_view.js) in jsdom: run `npm test` in js/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.requestAnimationFrame = dom.window.requestAnimationFrame.bind(dom.window);

const widget = (await import("../../glm_notebook/static/stream_view.js")).default;

let nextId = 0;

function fakeModel(state = {}) {
  const values = {
    _stream_id: `s${nextId++}`, model_name: "glm-4.7-flash", offline: false, title: null,
    status: "", error: "", done: false, show_stop_button: false, ...state,
  };
  const handlers = new Map();
  const sent = [];
  return {
    sent,
    get: (name) => values[name],
    set(name, value) {
      values[name] = value;
      for (const cb of handlers.get(`change:${name}`) || []) cb();
    },
    on(name, cb) {
      if (!handlers.has(name)) handlers.set(name, new Set());
      handlers.get(name).add(cb);
    },
    off(name, cb) {
      handlers.get(name)?.delete(cb);
    },
    send: (msg) => sent.push(msg),
    deliver(msg) {
      for (const cb of handlers.get("msg:custom") || []) cb(msg, []);
    },
  };
}

async function mount(state) {
  const model = fakeModel(state);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanupModel = await widget.initialize({ model });
  const cleanupView = await widget.render({ model, el });
  return { model, el, cleanup: () => (cleanupView(), cleanupModel()) };
}

// Rendering is throttled to frames (and slowed when a render is slow), so wait generously.
const frames = () => new Promise((resolve) => setTimeout(resolve, 300));

test("deltas are appended and rendered as Markdown", async () => {
  const { model, el, cleanup } = await mount();
  model.deliver({ type: "delta", seq: 1, text: "# Title\n\nSome **bold" });
  model.deliver({ type: "delta", seq: 2, text: "** text and `code` 你好 😀", reasoning: "I think" });
  await frames();
  const answer = el.querySelector(".glm-answer");
  assert.equal(answer.querySelector("h1").textContent, "Title");
  assert.equal(answer.querySelector("strong").textContent, "bold");
  assert.match(answer.textContent, /你好 😀/);
  assert.equal(el.querySelector(".glm-thinking").hidden, false);
  assert.equal(el.querySelector(".glm-thinking").open, false);
  assert.deepEqual(model.sent, [{ type: "hello" }]);
  cleanup();
});

test("hostile output cannot run script", async () => {
  const { model, el, cleanup } = await mount();
  const hostile = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](&#106;avascript:alert(1))",
    '<a href="javascript:alert(1)">a</a> <a href="vbscript:x">v</a> <a href="data:text/html,x">d</a>',
    '<iframe src="https://example.org"></iframe> <div onclick="alert(1)" style="position:fixed">s</div>',
    "<svg><script>alert(1)</script></svg> <form action=x><button>b</button></form>",
    "[ok](https://example.org)",
    "```html\n<div>kept as code</div>\n```",
  ].join("\n\n");
  model.deliver({ type: "delta", seq: 1, text: hostile });
  await frames();
  const html = el.querySelector(".glm-answer").innerHTML;
  for (const bad of ["<script", "onerror", "onclick", "<iframe", "javascript:", "vbscript:", "data:text", "<form", "<button", "style=", "<svg"]) {
    assert.equal(html.toLowerCase().includes(bad), false, `${bad} survived: ${html}`);
  }
  const link = [...el.querySelectorAll(".glm-answer a")].find((a) => a.textContent === "ok");
  assert.equal(link.getAttribute("href"), "https://example.org");
  assert.equal(link.getAttribute("target"), "_blank");
  assert.equal(link.getAttribute("rel"), "noopener noreferrer");
  assert.equal(el.querySelector(".glm-answer pre code").textContent, "<div>kept as code</div>\n");
  // The remote image became a link.
  assert.ok([...el.querySelectorAll(".glm-answer a")].some((a) => a.textContent.startsWith("[image:")));
  cleanup();
});

// The saved copy's corpus (tests/_inert.py), in the live view: answer, opened thinking and tool blocks.
const IMG = "<img src=x onerror=alert(1)>";
const CORPUS = [
  "$`$" + IMG + "`$", "[x](java&#x73;cript:alert(1))", "[x](java&amp;#x73;cript:alert(1))",
  "[x](%6Aavascript:alert(1)) [y](jav%09ascript:alert(1))", "[x](<javascript:alert(1)>) [y](\njavascript:alert(1))",
  "[x]: java&#x73;cript:alert(1)\n\n[y][x]", "[x]:\n  JAVASCRIPT:alert(1)\n\n[x]",
  "![a](javascript:alert(1)) ![b](data:image/svg+xml,<svg onload=alert(1)>)",
  "<svg><script>alert(1)</script></svg> <math><mi xlink:href=javascript:alert(1)>x</mi></math>",
  "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
  '<style>body{display:none}</style><div style="position:fixed;inset:0;z-index:9999">over</div>',
  "<IMG SRC=x\nONERROR=alert(1)>", "<div\n>\n\n" + IMG + "\n</div>", "<!-- x -->" + IMG + "<![CDATA[" + IMG + "]]>",
  "$$ a\n\n```\n$$ " + IMG + "\n```", "\\begin{x} a\n\n```\n\\end{x} " + IMG + "\n```",
  "```mermaid\ngraph TD\nA[" + IMG + "]\n```", "```js`\n" + IMG + "\n```", "```python\nprint('cut " + IMG,
  "<a href=\"jav&#x09;ascript:alert(1)\">t</a> <a href=\"  javascript:alert(1)\">s</a> <form><button formaction=javascript:alert(1)>b</button></form>",
  "<details open ontoggle=alert(1)>x</details> <input autofocus onfocus=alert(1)> <base href=javascript:alert(1)//>",
];

function assertInertDom(root, where) {
  for (const node of root.querySelectorAll("*")) {
    const tag = node.tagName.toLowerCase();
    assert.ok(!["script", "style", "iframe", "object", "embed", "svg", "math", "form", "base", "img", "link", "meta"].includes(tag), `${where}: <${tag}> ${node.outerHTML}`);
    for (const attr of node.attributes) {
      assert.ok(!attr.name.startsWith("on") && attr.name !== "style" && attr.name !== "srcset", `${where}: ${attr.name} on <${tag}>`);
      if (["href", "src", "xlink:href", "action", "formaction"].includes(attr.name)) {
        // as a browser reads the scheme (a percent-encoded scheme is a relative path: harmless)
        const url = attr.value.replace(/[\u0000-\u0020\u007f\\]/g, "").toLowerCase();
        assert.ok(!/^(javascript|vbscript|data):/.test(url), `${where}: ${attr.name}=${attr.value}`);
      }
    }
  }
}

test("the hostile corpus stays inert in the answer, the thinking and the tool blocks", async () => {
  const { model, el, cleanup } = await mount();
  const text = CORPUS.join("\n\n");
  model.deliver({ type: "delta", seq: 1, text, reasoning: text });
  model.deliver({ type: "tools", seq: 2, calls: CORPUS.map((c, i) => ({ id: `c${i}`, name: c, arguments: c, output: c, state: "done" })) });
  el.querySelector(".glm-thinking").open = true;
  el.querySelector(".glm-thinking").dispatchEvent(new window.Event("toggle"));
  for (let i = 0; i < 20 && !el.querySelector(".glm-reasoning").textContent; i += 1) await frames();
  assert.ok(el.querySelector(".glm-reasoning").textContent.includes("cut"));
  assertInertDom(el, "whole text");
  assert.equal(el.querySelectorAll(".glm-tool").length, CORPUS.length);
  cleanup();
  // and each piece alone, as a stream that grows character by character in a few steps
  for (const piece of CORPUS) {
    const one = await mount();
    const cuts = [0, 1, 3, 7, piece.length];
    for (let i = 1; i < cuts.length; i += 1) {
      one.model.deliver({ type: "delta", seq: i, text: piece.slice(cuts[i - 1], cuts[i]) });
    }
    await frames();
    assertInertDom(one.el, JSON.stringify(piece));
    one.cleanup();
  }
});

test("a gap asks for the full text once, and the full text repairs it", async () => {
  const { model, el, cleanup } = await mount();
  model.deliver({ type: "delta", seq: 1, text: "a" });
  model.deliver({ type: "delta", seq: 3, text: "c" });
  model.deliver({ type: "delta", seq: 4, text: "d" });
  assert.deepEqual(model.sent, [{ type: "hello" }, { type: "resync" }]);
  await frames();
  assert.equal(el.querySelector(".glm-notice").hidden, false);
  model.deliver({ type: "full", seq: 5, text: "abcd", reasoning: "" });
  model.deliver({ type: "delta", seq: 6, text: "e", end: { text: 5, reasoning: 0 } });
  await frames();
  assert.equal(el.querySelector(".glm-answer").textContent.trim(), "abcde");
  assert.equal(el.querySelector(".glm-notice").hidden, true);
  assert.deepEqual(model.sent.filter((m) => m.type !== "hello"), [{ type: "resync" }]);
  cleanup();
});

test("the final lengths are checked (UTF-16 units, like the kernel counts)", async () => {
  const { model, cleanup } = await mount();
  model.deliver({ type: "delta", seq: 1, text: "😀é", end: { text: 3, reasoning: 0 } });
  assert.deepEqual(model.sent, [{ type: "hello" }]);
  const other = await mount();
  other.model.deliver({ type: "delta", seq: 1, text: "ab", end: { text: 3, reasoning: 0 } });
  assert.deepEqual(other.model.sent, [{ type: "hello" }, { type: "resync" }]);
  cleanup();
  other.cleanup();
});

test("stop button or interrupt hint, status and error lines", async () => {
  const { model, el, cleanup } = await mount({ show_stop_button: true });
  await frames();
  const stop = el.querySelector(".glm-stop");
  assert.equal(stop.hidden, false);
  assert.equal(el.querySelector(".glm-hint").hidden, true);
  stop.click();
  // The button is already on, so the view does not need to greet the kernel.
  assert.deepEqual(model.sent, [{ type: "stop" }]);
  model.set("show_stop_button", false);
  await frames();
  assert.equal(el.querySelector(".glm-hint").hidden, false);
  model.set("status", "glm-4.7-flash · 12 tokens · stopped");
  model.set("error", "InsufficientBalance (HTTP 429, code 1113) - top up");
  model.set("done", true);
  await frames();
  assert.equal(el.querySelector(".glm-status").textContent, "glm-4.7-flash · 12 tokens · stopped");
  assert.equal(el.querySelector(".glm-error").textContent, "InsufficientBalance (HTTP 429, code 1113) - top up");
  assert.equal(el.querySelector(".glm-stop").hidden, true);
  assert.equal(el.querySelector(".glm-hint").hidden, true);
  cleanup();
});

test("the view greets the kernel again until the Stop button is turned on", async () => {
  const { model, cleanup } = await mount();
  await new Promise((resolve) => setTimeout(resolve, 900));
  const greeted = model.sent.filter((m) => m.type === "hello").length;
  assert.ok(greeted >= 2, `expected repeated greetings, got ${greeted}`);
  model.set("show_stop_button", true);
  await new Promise((resolve) => setTimeout(resolve, 900));
  assert.equal(model.sent.filter((m) => m.type === "hello").length, greeted);
  cleanup();
});

test("messages that arrive before the view is rendered are kept", async () => {
  const model = fakeModel();
  const cleanupModel = await widget.initialize({ model });
  model.deliver({ type: "delta", seq: 1, text: "early " });
  model.deliver({ type: "delta", seq: 2, text: "text" });
  const el = document.createElement("div");
  const cleanupView = await widget.render({ model, el });
  assert.equal(el.querySelector(".glm-answer").textContent.trim(), "early text");
  cleanupView();
  cleanupModel();
});

// ---------------------------------------------------------------------------------------------
// Block-by-block rendering (IncrementalMarkdown)

const { IncrementalMarkdown, isSafeUrl, renderMarkdown } = await import("../../glm_notebook/static/stream_view.js");

const LONG_MARKDOWN = [
  "# Sampling, step by step",
  "Temperature divides the logits; see [the docs](https://example.org/docs) and `top_p`.",
  "## A list\n\n- first item\n- second item with **bold**\n\n  continued inside the item\n- third",
  "1. one\n2. two\n3. three",
  "```python\ndef f(x):\n    return x\n\n\n# a blank line inside a fence is not a boundary\nprint(f(1))\n```",
  "| option | range |\n|---|---|\n| temperature | 0 to 1 |\n| top_p | (0, 1] |",
  "> a quote\n> over two lines",
  "Setext heading\n---",
  "Math stays: $a^2 + b^2$ and $$\\sum_i x_i$$.",
  "    indented code\n    block",
  "Last paragraph, *still open*.",
].join("\n\n");

function wholeHtml(text) {
  const box = document.createElement("div");
  box.append(renderMarkdown(text));
  return box.innerHTML;
}

function streamInto(text, sizes) {
  const box = document.createElement("div");
  const md = new IncrementalMarkdown(box);
  let at = 0;
  let k = 0;
  while (at < text.length) {
    at = Math.min(text.length, at + sizes[k++ % sizes.length]);
    md.update(text.slice(0, at));
  }
  return { box, md };
}

test("block by block gives the same HTML as one whole render, however the text is cut", () => {
  for (const sizes of [[1], [2, 3, 5], [7], [13, 1, 40], [200]]) {
    const { box, md } = streamInto(LONG_MARKDOWN, sizes);
    assert.equal(box.innerHTML, wholeHtml(LONG_MARKDOWN), `chunk sizes ${sizes}`);
    assert.ok(md.committedBlocks >= 8, `only ${md.committedBlocks} blocks were final`);
  }
});

test("an early block keeps its DOM node while the answer grows", () => {
  const box = document.createElement("div");
  const md = new IncrementalMarkdown(box);
  // A block is final once the next one has begun on a complete line (here: "Second\n").
  md.update("# Title\n\nFirst paragraph with a [link](https://example.org).\n\nSecond\n");
  const heading = box.querySelector("h1");
  const link = box.querySelector("a");
  for (let i = 0; i < 200; i += 1) md.update(`${md.text} word${i}${i % 20 === 19 ? "\n\n" : ""}`);
  assert.equal(box.querySelector("h1"), heading);
  assert.equal(box.querySelector("a"), link);
  assert.equal(box.querySelectorAll("h1").length, 1);
  assert.equal(box.innerHTML, wholeHtml(md.text));
});

test("a code fence spanning many chunks, with blank lines inside, is one block", () => {
  const fence = "Before.\n\n```js\nconst a = 1;\n\n\nconst b = 2;\n\n```\n\nAfter.";
  const box = document.createElement("div");
  const md = new IncrementalMarkdown(box);
  for (let at = 1; at <= fence.length; at += 1) {
    md.update(fence.slice(0, at));
    assert.ok(box.querySelectorAll("pre").length <= 1, `two code blocks at ${JSON.stringify(fence.slice(0, at))}`);
  }
  const code = box.querySelector("pre code");
  assert.equal(code.textContent, "const a = 1;\n\n\nconst b = 2;\n\n");
  assert.equal(code.className, "language-js");
  assert.equal(box.innerHTML, wholeHtml(fence));
});

test("a half-written line does not end the block above it", () => {
  // "#" alone is an (empty) heading that would end the list; "#x" is the list's text.
  const text = "- item\n#x more\n\nend";
  const { box } = streamInto(text, [1]);
  assert.equal(box.innerHTML, wholeHtml(text));
  assert.equal(box.querySelectorAll("h1").length, 0);
});

test("reference links defined later still resolve (whole renders from then on)", () => {
  const text = "See [the docs][d].\n\nMore text.\n\n[d]: https://example.org/d";
  const { box } = streamInto(text, [3]);
  assert.equal(box.querySelector("a").getAttribute("href"), "https://example.org/d");
  assert.equal(box.innerHTML, wholeHtml(text));
});

test("hostile markup is sanitised in final blocks and in the open one, cut anywhere", () => {
  const hostile = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1)) [z](&#106;avascript:alert(1))",
    '<a href="javascript:alert(1)">a</a> <a href="data:text/html,x">d</a>',
    '<iframe src="https://example.org"></iframe> <div onclick="alert(1)" style="position:fixed">s</div>',
    "<svg><script>alert(1)</script></svg> <form action=x><button>b</button></form>",
    "<div>\n\n<img src=y onerror=alert(2)>\n\n</div>",
    "tail <b onmouseover=alert(3)>hover</b>",
  ].join("\n\n");
  for (const sizes of [[1], [4, 9], [hostile.length]]) {
    const box = document.createElement("div");
    const md = new IncrementalMarkdown(box);
    let at = 0;
    while (at < hostile.length) {
      at = Math.min(hostile.length, at + sizes[at % sizes.length]);
      md.update(hostile.slice(0, at));
      const bad = [...box.querySelectorAll("*")].filter(
        (e) =>
          ["SCRIPT", "IFRAME", "FORM", "BUTTON", "SVG", "svg"].includes(e.tagName) ||
          [...e.attributes].some(
            (a) => a.name.startsWith("on") || a.name === "style" || (["href", "src"].includes(a.name) && !isSafeUrl(a.value)),
          ),
      );
      assert.deepEqual(bad.map((e) => e.outerHTML), [], `at ${at} of ${sizes}`);
    }
  }
});

test("a text that is not an extension of the last one starts over", () => {
  const box = document.createElement("div");
  const md = new IncrementalMarkdown(box);
  md.update("# One\n\npara\n\nmore");
  md.update("# Two\n\nother");
  assert.equal(box.innerHTML, wholeHtml("# Two\n\nother"));
});

test("a burst under a deadline is rendered over several calls, final blocks only, ending as one whole render", () => {
  const burst = Array.from({ length: 12 }, () => LONG_MARKDOWN).join("\n\n");
  const whole = wholeHtml(burst);
  const box = document.createElement("div");
  const md = new IncrementalMarkdown(box);
  let calls = 0;
  let heading = null;
  while (!md.update(burst, 0)) {
    // a deadline already passed: one step (about a kilobyte) per call, never the whole burst
    calls += 1;
    assert.ok(calls < 1000, "never caught up");
    assert.ok(whole.startsWith(box.innerHTML), `call ${calls} shows something other than final blocks`);
    heading ??= box.querySelector("h1");
  }
  assert.ok(calls >= burst.length / 2048, `${calls} calls for ${burst.length} characters`);
  assert.equal(box.innerHTML, whole);
  assert.equal(box.querySelector("h1"), heading); // committed blocks were never re-rendered
  assert.equal(md.update(burst, 0), true); // nothing left to do
});

test("a math block whose closing $$ comes later is not cut into lists, however the text arrives", () => {
  const text = `${"Some prose. ".repeat(80)}\n\n$$\nE = mc^2\n- \\frac{1}{2} m v^2\n+ V(x)\n+ W(x)\n$$\n\nDone.\n`;
  for (const sizes of [[1], [7, 3], [990, 5]]) {
    const { box } = streamInto(text, sizes);
    assert.equal(box.innerHTML, wholeHtml(text), `chunk sizes ${sizes}`);
  }
  const box = document.createElement("div");
  const md = new IncrementalMarkdown(box);
  while (!md.update(text, 0));
  assert.equal(box.innerHTML, wholeHtml(text));
  assert.equal(box.querySelectorAll("li").length, 0);
});

test("a block longer than any step still finishes: every call commits or renders to the end", () => {
  const list = Array.from({ length: 3000 }, (_, i) => `- item ${i} with some words`).join("\n");
  const text = `# Title\n\n${list}\n\nAfter.`;
  const box = document.createElement("div");
  const md = new IncrementalMarkdown(box);
  let calls = 1;
  while (!md.update(text, 0)) {
    calls += 1;
    assert.ok(calls < 10, `${calls} calls and not done`);
  }
  assert.equal(box.innerHTML, wholeHtml(text));
});

test("a view behind a burst of text catches up over several frames", async () => {
  const { model, el, cleanup } = await mount();
  const burst = Array.from({ length: 30 }, () => LONG_MARKDOWN).join("\n\n");
  model.deliver({ type: "delta", seq: 1, text: burst });
  const answer = el.querySelector(".glm-answer");
  const shown = [];
  for (let k = 0; k < 200 && answer.innerHTML !== wholeHtml(burst); k += 1) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    shown.push(answer.textContent.length);
  }
  assert.equal(answer.innerHTML, wholeHtml(burst));
  assert.ok(shown.filter((n, i) => i > 0 && n > shown[i - 1]).length >= 3, `shown per frame: ${shown}`);
  cleanup();
});

// ---------------------------------------------------------------------------------------------
// The loader (the widget's saved `_esm`): the code arrives in a message, imported once per page

import { readFileSync } from "node:fs";

const CODE = readFileSync(new URL("../../glm_notebook/static/stream_view.js", import.meta.url), "utf8");
const loader = (await import("../../glm_notebook/static/stream_view_loader.js")).default;
// Node imports data: URLs, not blob: URLs; browsers import both.
globalThis.Blob = class {
  constructor(parts) {
    this.source = parts.join("");
  }
};
let imports = 0;
URL.createObjectURL = (blob) => {
  imports += 1;
  return `data:text/javascript;base64,${Buffer.from(blob.source).toString("base64")}`;
};
URL.revokeObjectURL = () => {};

async function mountWithLoader(version, { code = true } = {}) {
  const model = fakeModel({ _code_version: version });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanupModel = loader.initialize({ model });
  const cleanupView = loader.render({ model, el });
  if (code) model.deliver({ type: "code", version, source: CODE });
  return { model, el, cleanup: () => (cleanupView && cleanupView(), cleanupModel()) };
}

test("the loader imports the code it is sent and hands over earlier messages in order", async () => {
  const before = imports;
  const { model, el, cleanup } = await mountWithLoader("v-test-1", { code: false });
  model.deliver({ type: "delta", seq: 1, text: "# Early\n\nfirst " });
  model.deliver({ type: "delta", seq: 2, text: "second" });
  assert.equal(el.querySelector(".glm-answer"), null); // no code yet: nothing shown
  model.deliver({ type: "code", version: "v-test-1", source: CODE });
  model.deliver({ type: "delta", seq: 3, text: " third" });
  await frames();
  assert.equal(el.querySelector(".glm-answer h1").textContent, "Early");
  assert.equal(el.querySelector(".glm-answer p").textContent, "first second third");
  assert.deepEqual(model.sent.filter((m) => m.type !== "hello"), []); // no gap seen, no resync
  assert.ok(model.sent.some((m) => m.type === "hello"));
  assert.equal(imports - before, 1);
  assert.ok(document.getElementById("glm-stream-view-style").textContent.includes(".glm-stream"));
  cleanup();
});

test("later views of the same code version reuse the imported module", async () => {
  const first = await mountWithLoader("v-test-2");
  await frames();
  const before = imports;
  const second = await mountWithLoader("v-test-2", { code: false });
  second.model.deliver({ type: "delta", seq: 1, text: "again" });
  await frames();
  assert.equal(second.el.querySelector(".glm-answer").textContent.trim(), "again");
  second.model.deliver({ type: "code", version: "v-test-2", source: CODE }); // sent anyway: ignored
  await frames();
  assert.equal(imports, before);
  assert.equal(document.querySelectorAll("#glm-stream-view-style").length, 1);
  first.cleanup();
  second.cleanup();
});

test("math passes through as written; code blocks keep their language class", () => {
  const text = "Inline $a_1^2 + b_1^2 = c_*^2$ and $x$, costs $5 and $6.\n\n$$\n\\sum_{i=1}^{n} x_i * y_i\n$$\n\n```python\nprint(1)\n```";
  const { box } = streamInto(text, [3]);
  const math = [...box.querySelectorAll(".glm-math")].map((e) => e.textContent);
  assert.deepEqual(math, ["$a_1^2 + b_1^2 = c_*^2$", "$x$", "$$\n\\sum_{i=1}^{n} x_i * y_i\n$$"]);
  assert.equal(box.querySelectorAll("em, strong").length, 0);
  assert.match(box.textContent, /costs \$5 and \$6\./);
  assert.equal(box.querySelector("pre code").className, "language-python");
  assert.equal(box.innerHTML, wholeHtml(text));
});

test("tool calls show as blocks of text; Approve / Deny reach the kernel", async () => {
  const { model, el, cleanup } = await mount();
  assert.equal(el.querySelector(".glm-tools").hidden, true);
  model.deliver({ type: "tools", seq: 1, calls: [
    { id: "c1", name: "<img src=x onerror=alert(1)>", arguments: '{"city": "Pa', state: "streaming" },
  ] });
  await frames();
  const block = el.querySelector(".glm-tool");
  assert.equal(el.querySelectorAll(".glm-tool img").length, 0);
  assert.match(block.querySelector("summary").textContent, /^Tool call: <img src=x onerror=alert\(1\)> · …/);
  block.open = true; // the user opens it while the arguments stream
  model.deliver({ type: "tools", seq: 2, calls: [
    { id: "c1", name: "get_weather", arguments: '{"city": "Paris"}', state: "asking" },
  ] });
  await frames();
  assert.equal(el.querySelector(".glm-tool"), block, "the block is updated in place");
  assert.equal(block.open, true);
  assert.equal(block.querySelector(".glm-tool-ask").hidden, false);
  block.querySelector(".glm-deny").click();
  assert.deepEqual(model.sent.at(-1), { type: "approve", id: "c1", ok: false });
  model.deliver({ type: "tools", seq: 3, calls: [
    { id: "c1", name: "get_weather", arguments: '{"city": "Paris"}', state: "denied", error: "denied by the user" },
    { id: "c2", name: "get_weather", arguments: "{}", state: "done", output: "</pre><script>x</script>", duration_s: 0.012 },
  ] });
  await frames();
  const [first, second] = el.querySelectorAll(".glm-tool");
  assert.equal(first.querySelector(".glm-tool-ask").hidden, true);
  assert.equal(first.querySelector(".glm-tool-output").textContent, "denied by the user");
  assert.equal(second.querySelector("summary").textContent, "Tool call: get_weather · 0.01 s");
  assert.equal(second.querySelector(".glm-tool-output").textContent, "</pre><script>x</script>");
  assert.equal(el.querySelectorAll(".glm-tools script").length, 0);
  cleanup();
});

test("an update to one tool call touches only its block, however many there are", async () => {
  const { model, el, cleanup } = await mount();
  const calls = Array.from({ length: 500 }, (_, i) => ({ id: `c${i}`, name: "f", arguments: "{}", state: "streaming" }));
  model.deliver({ type: "tools", seq: 1, calls });
  await frames();
  const box = el.querySelector(".glm-tools");
  const before = [...box.children];
  assert.equal(before.length, 500);
  const changed = [];
  const observer = new window.MutationObserver((records) => changed.push(...records));
  observer.observe(box, { subtree: true, childList: true, characterData: true, attributes: true });
  model.deliver({ type: "tools", seq: 2, calls: [{ id: "c7", name: "f", arguments: "{}", state: "done", output: "ok" }] });
  model.deliver({ type: "tools", seq: 3, calls: [{ id: "c500", name: "g", arguments: "{}", state: "streaming" }] });
  for (let i = 0; i < 30 && box.children.length < 501; i += 1) await frames(); // renders slow down after a big one
  observer.disconnect();
  assert.deepEqual([...box.children].slice(0, 500), before, "no block was replaced");
  assert.equal(box.children[500].querySelector("summary").textContent, "Tool call: g · …");
  const touched = new Set(changed.map((r) => (r.target.nodeType === 1 ? r.target : r.target.parentNode).closest?.(".glm-tool")?.dataset.id ?? (r.target === box ? "box" : "?")));
  assert.deepEqual([...touched].sort(), ["box", "c500", "c7"]);
  // a full copy (after a lost message) redraws from scratch, with the tools it carries
  model.deliver({ type: "full", seq: 4, text: "", reasoning: "", tools: [calls[0]] });
  for (let i = 0; i < 30 && box.children.length !== 1; i += 1) await frames();
  assert.equal(box.children.length, 1);
  cleanup();
});

