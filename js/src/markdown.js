// Markdown for the live view: marked to HTML, DOMPurify to a safe DocumentFragment, and
// IncrementalMarkdown, which renders a growing text block by block.
//
// A streamed answer only grows at its end, so the blocks before the last one (paragraphs,
// headings, lists, tables, code blocks) are final once the next block has begun on a complete
// line. IncrementalMarkdown renders each such block once and keeps its DOM nodes (links stay under
// the cursor, a selection survives); per frame it lexes and renders only the text from the first
// block that is not final yet, so the work per frame does not grow with the answer. The result is
// the same HTML as rendering the whole text at once (tests check it), with two exceptions that
// fall back to whole renders: reference-style link definitions (they change blocks above them) and
// carriage returns (marked rewrites them before it counts characters). Raw HTML that spans blocks
// (an open <div> in one block, its </div> in another) is sanitised block by block, each block on
// its own; the saved copy shows raw HTML as text anyway.
import DOMPurify from "dompurify";
import { Marked } from "marked";

// Math passes through as written: `$...$` and `$$...$$` are kept whole (marked would read `_` and
// `*` inside them as emphasis), shown as text in the live view; JupyterLab typesets the final copy.
function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const MATH_BLOCK = /^ {0,3}\$\$(?:[^$]|\$(?!\$))+?\$\$[ \t]*(?:\n+|$)/;
// Pandoc's rule: no space just inside the dollars, no digit right after the closing one ($5 and $6).
const MATH_INLINE = /^\$\$(?:[^$]|\$(?!\$))+?\$\$|^\$(?=[^\s$])(?:\\.|[^\\$\n])*?[^\s\\$]\$(?!\d)|^\$[^\s$\\]\$(?!\d)/;

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({
  extensions: [
    {
      name: "mathBlock",
      level: "block",
      start: (src) => src.match(/^ {0,3}\$\$/m)?.index,
      tokenizer(src) {
        const m = MATH_BLOCK.exec(src);
        return m ? { type: "mathBlock", raw: m[0], text: m[0].trim() } : undefined;
      },
      renderer: (token) => `<p class="glm-math">${escapeHtml(token.text)}</p>\n`,
    },
    {
      name: "mathInline",
      level: "inline",
      start: (src) => src.indexOf("$"),
      tokenizer(src) {
        const m = MATH_INLINE.exec(src);
        return m ? { type: "mathInline", raw: m[0], text: m[0] } : undefined;
      },
      renderer: (token) => `<span class="glm-math">${escapeHtml(token.text)}</span>`,
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// Sanitizing

const URL_ATTRIBUTES = new Set(["href", "src", "xlink:href", "action", "formaction", "cite", "background", "poster"]);
const BAD_SCHEME = /^(?:javascript|vbscript|data|file):/;

/** True when a URL cannot run script: no javascript:, vbscript:, data: or file: scheme. */
export function isSafeUrl(value) {
  // Browsers ignore ASCII whitespace and control characters while reading a scheme.
  const compact = String(value).replace(/[\u0000-\u0020\u007f]/g, "").toLowerCase();
  return !BAD_SCHEME.test(compact);
}

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true }, // no SVG or MathML
  FORBID_TAGS: [
    "style", "form", "button", "textarea", "select", "option", "iframe", "frame", "frameset",
    "object", "embed", "base", "link", "meta", "dialog", "template", "video", "audio", "source",
    "track", "picture",
  ],
  FORBID_ATTR: ["style", "srcset", "formaction", "action", "ping", "background", "poster"],
  ALLOW_DATA_ATTR: false,
  SANITIZE_NAMED_PROPS: true, // ids and names get a prefix: no DOM clobbering of the page
  RETURN_DOM_FRAGMENT: true,
};

let purifier = null;

function getPurifier() {
  if (purifier === null) {
    purifier = DOMPurify(globalThis.window);
    purifier.addHook("uponSanitizeAttribute", (node, data) => {
      if (data.attrName.startsWith("on")) data.keepAttr = false;
      else if (URL_ATTRIBUTES.has(data.attrName) && !isSafeUrl(data.attrValue)) data.keepAttr = false;
    });
  }
  return purifier;
}

function makeLink(doc, href, text) {
  const a = doc.createElement("a");
  a.setAttribute("href", href);
  a.textContent = text;
  return a;
}

function plainText(text, doc) {
  const pre = doc.createElement("pre");
  pre.textContent = text;
  return pre.outerHTML;
}

/** HTML (from marked) to a sanitized DocumentFragment. */
export function sanitize(html, doc = globalThis.document) {
  const fragment = getPurifier().sanitize(html, PURIFY_CONFIG);
  // Remote images could leak data through their URLs (prompt injection): show them as links.
  for (const img of fragment.querySelectorAll("img")) {
    const src = img.getAttribute("src") || "";
    if (!/^data:image\/(?:png|gif|jpeg|webp);/i.test(src)) {
      img.replaceWith(makeLink(doc, src, `[image: ${img.getAttribute("alt") || src}]`));
    }
  }
  for (const input of fragment.querySelectorAll("input")) {
    if ((input.getAttribute("type") || "").toLowerCase() === "checkbox") input.setAttribute("disabled", "");
    else input.remove();
  }
  for (const a of fragment.querySelectorAll("a")) {
    const href = a.getAttribute("href");
    if (href !== null && !isSafeUrl(href)) a.removeAttribute("href");
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
  }
  return fragment;
}

/** Markdown to a sanitized DocumentFragment (the whole text at once). */
export function renderMarkdown(text, doc = globalThis.document) {
  let html;
  try {
    html = marked.parse(text);
  } catch (_error) {
    html = plainText(text, doc);
  }
  return sanitize(html, doc);
}

// ---------------------------------------------------------------------------------------------
// Block by block

// Characters lexed at a time when rendering is behind the text (a burst from a fast stream).
const STEP = 1024;
export const now = () => (globalThis.performance ? performance.now() : Date.now());

function tokensHtml(tokens, links) {
  const list = tokens.slice();
  list.links = links;
  return marked.parser(list);
}

/**
 * Renders a growing Markdown text into `container`: final blocks once, the rest per update.
 * `update(text, deadline)` is cheap when only the end of the text changed; any other change starts
 * over.
 */
export class IncrementalMarkdown {
  constructor(container, doc = globalThis.document) {
    this.container = container;
    this.doc = doc;
    this.reset();
  }

  reset() {
    this.container.replaceChildren();
    this.text = "";
    this.stable = ""; // the source of the blocks rendered for good
    this.openNodes = []; // the nodes of the rest, replaced at each update
    this.openLength = 0;
    this.whole = false; // render the whole text each time (see the module comment)
    this.committedBlocks = 0;
    this.caughtUp = true; // false while a deadline left part of `text` unrendered
  }

  /**
   * Render `text`. With a `deadline` (a `performance.now()` time), stop committing blocks once it
   * has passed and return false: the rest is rendered by later calls (the view calls again on the
   * next frame), so a burst of many kilobytes never becomes one long task. Returns true when the
   * whole text is shown.
   */
  update(text, deadline = Infinity) {
    if (text === this.text && this.caughtUp) return true;
    if (!text.startsWith(this.stable)) this.reset();
    this.text = text;
    this.caughtUp = true;
    if (this.whole || text.slice(this.stable.length).includes("\r")) {
      this.whole = true;
      this.container.replaceChildren(renderMarkdown(text, this.doc));
      return true;
    }
    // Behind by more than a step of new text: lex a prefix of the rest. Its final blocks are final
    // in the whole text too (a prefix is what the stream looked like earlier), so they can be
    // committed. The first prefix covers the open part shown last time plus a step; a prefix that
    // holds no final block is doubled within the same call, and the deadline is checked only after
    // a commit, so every call commits something or renders to the end: it cannot stall.
    const fresh = text.length - this.stable.length - this.openLength;
    let step = deadline === Infinity || fresh <= STEP ? Infinity : this.openLength + STEP;
    for (;;) {
      const tail = text.slice(this.stable.length);
      const piece = tail.length > step ? tail.slice(0, step) : tail;
      const last = piece.length === tail.length;
      let tokens;
      try {
        tokens = marked.lexer(piece);
      } catch (_error) {
        if (!last) {
          step = Infinity;
          continue;
        }
        this.replaceOpen(sanitize(plainText(tail, this.doc), this.doc), tail.length);
        return true;
      }
      if (Object.keys(tokens.links || {}).length > 0) {
        // A reference definition can change any block above it: from now on, whole renders.
        this.whole = true;
        this.container.replaceChildren(renderMarkdown(text, this.doc));
        return true;
      }
      const cut = finalBlocks(tokens, piece);
      if (cut.count > 0) {
        const done = sanitize(tokensHtml(tokens.slice(0, cut.count), tokens.links), this.doc);
        this.removeOpen();
        this.container.append(done);
        this.stable += piece.slice(0, cut.length);
        this.committedBlocks += cut.count;
      }
      if (last) {
        this.replaceOpen(sanitize(tokensHtml(tokens.slice(cut.count), tokens.links), this.doc), tail.length - cut.length);
        return true;
      }
      if (cut.count === 0) {
        step *= 2; // one block longer than the piece: look further ahead
      } else {
        step = STEP;
        if (now() >= deadline) {
          this.caughtUp = false;
          return false;
        }
      }
    }
  }

  removeOpen() {
    for (const node of this.openNodes) node.remove();
    this.openNodes = [];
    this.openLength = 0;
  }

  replaceOpen(fragment, length) {
    this.removeOpen();
    this.openNodes = Array.from(fragment.childNodes);
    this.openLength = length; // characters of the text those nodes show (after this.stable)
    this.container.append(fragment);
  }
}

// A line starting with $$ and no $$ after it: a math block the lexer has not seen closed yet. Once
// its closing $$ arrives, everything in between becomes one block, lists and headings included.
const MATH_OPENER = /^ {0,3}\$\$/gm;

function opensMath(raw) {
  for (const match of raw.matchAll(MATH_OPENER)) {
    if (!raw.includes("$$", match.index + match[0].length)) return true;
  }
  return false;
}

/**
 * How many leading tokens of `tail` are final, and how many characters they span.
 *
 * A block is final once a later block has started on a line that is complete (a newline follows
 * its start): the lexer decided where the earlier block ends from that whole line, and text that
 * arrives later cannot change it. A half-written line can (`#` alone is a heading that ends the
 * list above it; `#x` is not). The last block always stays open, whatever follows it (a blank
 * line inside a code fence, a list that may get another item, a paragraph that a `---` line turns
 * into a heading). Nor is a block with a line that opens math (`$$`) it does not close: the
 * closing `$$` may come later and make one math block of everything in between.
 */
export function finalBlocks(tokens, tail) {
  const lastLine = tail.lastIndexOf("\n");
  let offset = 0;
  let best = { count: 0, length: 0 };
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (!tail.startsWith(token.raw, offset)) break; // raw text that is not the source: stop here
    if (token.type !== "space" && i > 0 && offset <= lastLine) best = { count: i, length: offset };
    if (token.type !== "code" && opensMath(token.raw)) break; // what follows may join its $$ block
    offset += token.raw.length;
  }
  return best;
}
