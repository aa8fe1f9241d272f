// The %%glm streaming view: the browser half of glm_notebook.answer.StreamView (an anywidget).
//
// The kernel sends only new text, at most ~20 messages a second (see _stream_view.py for the
// message format). Per model, a StreamState appends the pieces, checks the sequence numbers and the
// final lengths, and asks the kernel for the full text once if something went missing. Each view
// renders Markdown at most once per animation frame (less often when rendering gets slow), block by
// block (markdown.js: finished blocks once, only the open last block again; a burst of text is
// rendered over several frames, FRAME_BUDGET_MS of script each), with marked, and
// sanitizes the HTML with DOMPurify: model output is untrusted and must never run script.
import { IncrementalMarkdown, now } from "./markdown.js";

export { finalBlocks, IncrementalMarkdown, isSafeUrl, renderMarkdown } from "./markdown.js";

// Keyed by the synced `_stream_id`: `initialize` (once per model) and `render` (once per view)
// receive different model proxies, so they meet here.
const STREAMS = new Map();

// ---------------------------------------------------------------------------------------------
// Per-model state: the text so far, fed by custom messages

/** Length check as the kernel counts it (UTF-16 code units = JavaScript string length). */
function complete(state) {
  return state.end !== null && state.text.length === state.end.text && state.reasoning.length === state.end.reasoning;
}

export class StreamState {
  constructor(model) {
    this.model = model;
    this.text = "";
    this.reasoning = "";
    this.seq = 0;
    this.end = null; // {text, reasoning} lengths, from the last message
    this.lost = false; // a gap or a length mismatch that no full copy has repaired yet
    this.resyncRequested = false;
    this.listeners = new Set();
    // Tool-call blocks by id (in order of arrival). Views follow `toolLog`, the ids in the order
    // they changed, from where they last looked, so an update costs the same however many calls
    // came before; a new `toolEpoch` (a full copy, or a replace) makes them redraw every block.
    this.tools = new Map();
    this.toolLog = [];
    this.toolEpoch = 0;
  }

  setTools(calls, replace) {
    if (replace) {
      this.tools = new Map();
      this.toolLog = [];
      this.toolEpoch += 1;
    }
    for (const call of Array.isArray(calls) ? calls : []) {
      if (!call || typeof call.id !== "string") continue;
      this.tools.set(call.id, call);
      if (!replace) this.toolLog.push(call.id);
    }
  }

  handle(msg) {
    if (msg === null || typeof msg !== "object" || typeof msg.seq !== "number") return;
    if (msg.seq <= this.seq) return; // a duplicate: already applied
    if (msg.type === "full") {
      this.text = typeof msg.text === "string" ? msg.text : "";
      this.reasoning = typeof msg.reasoning === "string" ? msg.reasoning : "";
      if (Array.isArray(msg.tools)) this.setTools(msg.tools, true);
      this.lost = false;
      this.resyncRequested = false;
    } else if (msg.type === "delta") {
      if (msg.seq !== this.seq + 1) this.lost = true; // a message went missing in transit
      if (typeof msg.text === "string") this.text += msg.text;
      if (typeof msg.reasoning === "string") this.reasoning += msg.reasoning;
    } else if (msg.type === "tools") {
      if (msg.seq !== this.seq + 1) this.lost = true;
      this.setTools(msg.calls, msg.replace === true);
    } else {
      return;
    }
    this.seq = msg.seq;
    if (msg.end) this.end = msg.end;
    if (this.end !== null && !complete(this)) this.lost = true;
    if (this.lost) this.requestResync();
    for (const listener of this.listeners) listener();
  }

  requestResync() {
    if (this.resyncRequested) return;
    this.resyncRequested = true;
    try {
      this.model.send({ type: "resync" });
    } catch (_error) {
      // the comm is closed: the static copy the magic shows instead is complete
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tool calls ("tools" messages): one collapsible block each, text only

const TOOL_STATES = {
  streaming: "…", running: "running…", asking: "waiting for your approval", done: "", failed: "failed",
  denied: "denied",
};

// The blocks of each tools box by call id, so one call's update finds its block without a scan.
const BLOCKS = new WeakMap();

function blocksOf(box) {
  let blocks = BLOCKS.get(box);
  if (blocks === undefined) {
    blocks = new Map([...box.children].map((node) => [node.dataset.id, node]));
    BLOCKS.set(box, blocks);
  }
  return blocks;
}

function newToolBlock(doc, id, send) {
  const block = element(doc, "details", "glm-tool");
  block.dataset.id = id;
  const summary = element(doc, "summary", "glm-tool-summary");
  const args = element(doc, "pre", "glm-tool-args");
  const out = element(doc, "pre", "glm-tool-output");
  const ask = element(doc, "div", "glm-tool-ask");
  const approve = element(doc, "button", "glm-approve", "Approve");
  const deny = element(doc, "button", "glm-deny", "Deny");
  for (const [button, ok] of [[approve, true], [deny, false]]) {
    button.type = "button";
    button.addEventListener("click", () => {
      approve.disabled = deny.disabled = true;
      send({ type: "approve", id, ok });
    });
  }
  ask.append(approve, deny);
  block.append(summary, ask, args, out);
  return block;
}

// Text only (textContent): a tool's name, arguments and result are the model's, never HTML.
function fillToolBlock(block, call) {
  const state = typeof call.state === "string" ? call.state : "streaming";
  const seconds = typeof call.duration_s === "number" ? ` · ${call.duration_s.toFixed(2)} s` : "";
  const label = TOOL_STATES[state] ?? state;
  block.className = `glm-tool glm-tool-${state}`;
  const [summary, ask, args, out] = block.children;
  summary.textContent = `Tool call: ${call.name || "?"}${label ? ` · ${label}` : ""}${seconds}`;
  args.textContent = call.arguments || "";
  out.textContent = call.error || call.output || "";
  out.hidden = !out.textContent;
  ask.hidden = state !== "asking";
  if (state === "asking") {
    block.open = true; // the question must be seen
    for (const button of ask.children) button.disabled = false;
  }
}

/** Keep one <details> per call id in `box`, updated in place (its open/closed state survives). */
export function renderToolCalls(box, calls, doc, send) {
  const known = blocksOf(box);
  const wanted = new Map();
  for (const call of Array.isArray(calls) ? calls : []) {
    if (!call || typeof call.id !== "string") continue;
    const block = known.get(call.id) ?? newToolBlock(doc, call.id, send);
    fillToolBlock(block, call);
    wanted.set(call.id, block);
  }
  box.replaceChildren(...wanted.values());
  BLOCKS.set(box, wanted);
  box.hidden = wanted.size === 0;
}

/** Add or update one call's block, touching no other block (a new one goes last). */
export function updateToolCall(box, call, doc, send) {
  if (!call || typeof call.id !== "string") return;
  const blocks = blocksOf(box);
  let block = blocks.get(call.id);
  if (block === undefined) {
    block = newToolBlock(doc, call.id, send);
    blocks.set(call.id, block);
    box.append(block);
  }
  fillToolBlock(block, call);
  box.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// One view

function element(doc, tag, className, text) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Script time one frame may spend on Markdown when the view is behind; layout and paint come on
// top, and the whole frame must stay well under the 50 ms of a "long task".
export const FRAME_BUDGET_MS = 8;
const nextFrame = (callback) =>
  typeof globalThis.requestAnimationFrame === "function" ? requestAnimationFrame(callback) : setTimeout(callback, 16);

// The view's CSS, put into the module by build.mjs; one <style> per page, shared by every view.
const STYLE_ID = "glm-stream-view-style";

function ensureStyle(doc) {
  if (typeof __STREAM_VIEW_CSS__ !== "string") return; // the unbundled source (no CSS inside)
  let style = doc.getElementById(STYLE_ID);
  if (style === null) {
    style = doc.createElement("style");
    style.id = STYLE_ID;
    (doc.head || doc.documentElement).append(style);
  }
  if (style.textContent !== __STREAM_VIEW_CSS__) style.textContent = __STREAM_VIEW_CSS__;
}

function mountView(model, el, state) {
  const doc = el.ownerDocument || globalThis.document;
  ensureStyle(doc);
  const root = element(doc, "div", "glm-stream");
  const title = element(doc, "div", "glm-title");
  const thinking = element(doc, "details", "glm-thinking");
  const summary = element(doc, "summary", "", "Thinking");
  const reasoning = element(doc, "div", "glm-md glm-reasoning jp-RenderedHTMLCommon");
  thinking.append(summary, reasoning);
  const tools = element(doc, "div", "glm-tools");
  const answer = element(doc, "div", "glm-md glm-answer jp-RenderedHTMLCommon");
  const error = element(doc, "div", "glm-error");
  error.setAttribute("role", "alert");
  const footer = element(doc, "div", "glm-footer");
  const status = element(doc, "span", "glm-status");
  const stop = element(doc, "button", "glm-stop", "■ Stop");
  stop.type = "button";
  stop.title = "Stop the answer (keeps the text so far)";
  const hint = element(doc, "span", "glm-hint", "interrupt the kernel (■) to stop");
  const notice = element(doc, "div", "glm-notice");
  footer.append(status, stop, hint);
  root.append(title, thinking, tools, answer, error, notice, footer);
  el.replaceChildren(root);

  const answerMarkdown = new IncrementalMarkdown(answer, doc);
  const reasoningMarkdown = new IncrementalMarkdown(reasoning, doc);
  let toolEpoch = -1; // which full set of blocks is drawn
  let toolCursor = 0; // how far into state.toolLog the blocks are up to date
  let scheduled = false;
  let notBefore = 0;
  let disposed = false;

  function updateChrome() {
    const done = Boolean(model.get("done"));
    const titleText = model.get("title") || "";
    title.textContent = titleText;
    title.hidden = !titleText;
    thinking.hidden = state.reasoning.length === 0;
    summary.textContent = !done && state.text.length === 0 && state.reasoning.length > 0 ? "Thinking…" : "Thinking";
    const errorText = model.get("error") || "";
    error.textContent = errorText;
    error.hidden = !errorText;
    let statusText = model.get("status") || "";
    if (!statusText && !done) {
      const name = model.get("model_name") || "model";
      const where = model.get("offline") ? " · offline model" : "";
      const phase = state.text.length || state.reasoning.length ? "streaming…" : "waiting for the first token…";
      statusText = `${name}${where} · ${phase}`;
    }
    status.textContent = statusText;
    const canStop = Boolean(model.get("show_stop_button"));
    stop.hidden = done || !canStop;
    hint.hidden = done || canStop;
    notice.textContent = state.lost ? "Part of the streamed text did not arrive; asking the kernel for the full text…" : "";
    notice.hidden = !state.lost;
    root.classList.toggle("glm-done", done);
  }

  function renderNow() {
    scheduled = false;
    if (disposed) return;
    const started = now();
    const deadline = started + FRAME_BUDGET_MS;
    let caughtUp = answerMarkdown.update(state.text, deadline);
    const send = (msg) => model.send(msg);
    if (toolEpoch !== state.toolEpoch) {
      renderToolCalls(tools, [...state.tools.values()], doc, send);
      toolEpoch = state.toolEpoch;
      toolCursor = state.toolLog.length;
    } else if (toolCursor < state.toolLog.length) {
      const changed = new Set(state.toolLog.slice(toolCursor));
      toolCursor = state.toolLog.length;
      for (const id of changed) updateToolCall(tools, state.tools.get(id), doc, send);
    }
    // Collapsed thinking is rendered only when someone opens it.
    if (thinking.open) caughtUp = reasoningMarkdown.update(state.reasoning, Math.max(deadline, now() + 2)) && caughtUp;
    updateChrome();
    if (!caughtUp) {
      // Behind a burst of text: go on next frame, a budget's worth at a time (no long task).
      notBefore = 0;
      schedule();
      return;
    }
    // Keep rendering under about a quarter of the time, however long the answer grows.
    notBefore = now() + 3 * (now() - started);
  }

  function schedule() {
    if (scheduled || disposed) return;
    scheduled = true;
    const wait = notBefore - now();
    if (wait > 0) setTimeout(() => nextFrame(renderNow), wait);
    else nextFrame(renderNow);
  }

  const onToggle = () => schedule();
  const onClick = () => {
    stop.disabled = true;
    stop.textContent = "Stopping…";
    model.send({ type: "stop" });
  };
  thinking.addEventListener("toggle", onToggle);
  stop.addEventListener("click", onClick);
  state.listeners.add(schedule);
  for (const name of ["status", "error", "done", "title", "model_name", "offline", "show_stop_button"]) {
    model.on(`change:${name}`, schedule);
  }
  renderNow();
  // If a greeting reaches the kernel while the answer streams, so would a Stop click: the kernel
  // then shows the button. Greet again until it does: the first greeting of a fresh kernel can go
  // out before JupyterLab has made its subshell for widget messages, and then waits behind the cell.
  let greetings = 0;
  const greet = () => {
    if (disposed || model.get("done") || model.get("show_stop_button") || greetings >= 40) return;
    greetings += 1;
    model.send({ type: "hello" });
    greeter = setTimeout(greet, 400);
  };
  let greeter = null;
  greet();

  return () => {
    disposed = true;
    if (greeter !== null) clearTimeout(greeter);
    state.listeners.delete(schedule);
    thinking.removeEventListener("toggle", onToggle);
    stop.removeEventListener("click", onClick);
    for (const name of ["status", "error", "done", "title", "model_name", "offline", "show_stop_button"]) {
      model.off(`change:${name}`, schedule);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The anywidget contract

function attach(model) {
  const id = model.get("_stream_id");
  const state = new StreamState(model);
  const onMessage = (msg) => state.handle(msg);
  model.on("msg:custom", onMessage);
  STREAMS.set(id, state);
  return () => {
    model.off("msg:custom", onMessage);
    if (STREAMS.get(id) === state) STREAMS.delete(id);
  };
}

export default {
  // Runs once per model, before anywidget hands it any custom message: nothing is missed even if
  // the view is displayed later than the stream starts.
  initialize({ model }) {
    return attach(model);
  },
  render({ model, el }) {
    let detach = null;
    if (!STREAMS.has(model.get("_stream_id"))) detach = attach(model); // a host without initialize
    const unmount = mountView(model, el, STREAMS.get(model.get("_stream_id")));
    return () => {
      unmount();
      if (detach) detach();
    };
  },
};
