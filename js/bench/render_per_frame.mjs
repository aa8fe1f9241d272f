// Render time per frame of the live view's Markdown, at 1 KB, 10 KB and 100 KB of answer, in jsdom.
// Run by benchmarks/bench_render.py (`make bench`); prints a table and, on its last line, JSON.
// It also times a 16 KB burst (one message of a stream at full speed): at once vs over frames.
//
// Each frame appends what ~50 ms of a fast stream adds (about 250 characters) and renders, as the
// view does at a flush. "block by block" is the view (IncrementalMarkdown: final blocks once, the
// open rest per frame); the peer in the same run is a whole re-render of the text per frame (what
// the view did before, and what `innerHTML = marked.parse(text)` loops do).
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;

const { FRAME_BUDGET_MS, IncrementalMarkdown, renderMarkdown } = await import("../../glm_notebook/static/stream_view.js");

function section(i) {
  return (
    `## Section ${i}: sampling, part ${i}\n\n` +
    `Temperature ${(i / 100).toFixed(2)} divides the logits before the softmax; see ` +
    `[the notes on part ${i}](https://example.org/notes/${i}). A low value sharpens the ` +
    `distribution, a high value flattens it, and *top-p* trims the tail of **section ${i}**.\n\n` +
    `- first point of section ${i}\n- second point, with \`code\` in it\n- third point (${i})\n\n` +
    "```python\n" + `def step_${i}(logits, t=0.7):\n    scaled = [x / t for x in logits]\n\n    return scaled\n` + "```\n\n" +
    `| option | value |\n|---|---|\n| temperature | ${(i / 100).toFixed(2)} |\n| top_p | 0.9 |\n\n`
  );
}

let ANSWER = "# A long answer\n\n";
for (let i = 0; ANSWER.length < 120_000; i += 1) ANSWER += section(i);

const STEP = 250; // characters per frame
const FRAMES = 40;
const now = () => performance.now();
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// One frame at `size` characters: the view holds the text up to `size - STEP` (rendered as a
// stream leaves it: every final block once), then STEP more characters arrive and it renders.
// Sampled at FRAMES positions around `size`, so blocks end at different places within the frame.
function frameAt(size, offset, whole) {
  const box = document.createElement("div");
  document.body.append(box);
  const md = new IncrementalMarkdown(box);
  const end = size + offset;
  if (!whole) {
    md.update(ANSWER.slice(0, end - 2 * STEP));
    md.update(ANSWER.slice(0, end - STEP));
  }
  const text = ANSWER.slice(0, end);
  const t0 = now();
  if (whole) box.replaceChildren(renderMarkdown(text));
  else md.update(text);
  const elapsed = now() - t0;
  box.remove();
  return elapsed;
}

function perFrame(size, whole) {
  const times = [];
  for (let k = 0; k < FRAMES; k += 1) times.push(frameAt(size, Math.round((k * STEP) / FRAMES) * 4, whole));
  return median(times);
}

for (let k = 0; k < 3; k += 1) perFrame(10_000, false), perFrame(10_000, true); // warm up the JIT

const results = {};
const rows = [];
for (const size of [1_000, 10_000, 100_000]) {
  const blocks = perFrame(size, false);
  const whole = perFrame(size, true);
  const key = `${size / 1000}kb`;
  results[`block_by_block_ms_${key}`] = blocks;
  results[`whole_render_ms_${key}`] = whole;
  rows.push(`  ${String(size / 1000).padStart(4)} KB: block by block ${blocks.toFixed(2)} ms/frame, whole re-render ${whole.toFixed(2)} ms/frame (${(whole / blocks).toFixed(1)}x)`);
}
results.flatness_100kb_over_1kb = results.block_by_block_ms_100kb / results.block_by_block_ms_1kb;

// A burst: at 50 KB of answer, 16 KB arrive in one message (a stream at full speed: the kernel
// sends at most ~20 messages a second). Rendered at once, that is one long call; the view gives
// each frame FRAME_BUDGET_MS of Markdown script and renders the rest on the next frames.
const BURST = 16_000;
function burstAt(offset, budget) {
  const box = document.createElement("div");
  document.body.append(box);
  const md = new IncrementalMarkdown(box);
  const end = 50_000 + offset;
  md.update(ANSWER.slice(0, end - BURST));
  const text = ANSWER.slice(0, end);
  let longest = 0;
  let calls = 0;
  for (let done = false; !done; calls += 1) {
    const t0 = now();
    done = md.update(text, budget === null ? Infinity : t0 + budget);
    longest = Math.max(longest, now() - t0);
  }
  box.remove();
  return { longest, calls };
}
const bursts = (budget) => Array.from({ length: 15 }, (_, k) => burstAt(k * 97, budget));
bursts(FRAME_BUDGET_MS), bursts(null); // warm up
const budgeted = bursts(FRAME_BUDGET_MS);
const atOnce = bursts(null);
results.burst_16kb_at_once_ms = median(atOnce.map((b) => b.longest));
results.burst_16kb_longest_frame_ms = median(budgeted.map((b) => b.longest));
results.burst_16kb_frames = median(budgeted.map((b) => b.calls));
rows.push(
  `  a 16 KB burst at 50 KB: at once ${results.burst_16kb_at_once_ms.toFixed(1)} ms in one call; ` +
    `with the view's ${FRAME_BUDGET_MS} ms budget, longest frame ${results.burst_16kb_longest_frame_ms.toFixed(1)} ms ` +
    `over ${results.burst_16kb_frames} frames`,
);
console.log(`live view Markdown, median render time per frame (+${STEP} characters each, jsdom):`);
for (const row of rows) console.log(row);
console.log(`  block by block at 100 KB / at 1 KB: ${results.flatness_100kb_over_1kb.toFixed(2)}x (flat: ~1)`);
console.log(JSON.stringify(results));
