r"""The static copy of a finished answer, and the Markdown neutralising that makes it safe to save.

``static_bundle(result, error=None, offline=False)`` returns ``{"text/markdown": ..., "text/plain": ...}``.
The ``%%glm`` magic swaps the live StreamView for it when the stream ends, so the saved notebook
reads well on GitHub, in nbconvert and after reopening JupyterLab (no widget state needed).

The answer is untrusted model output placed into Markdown that some front ends render with raw HTML
enabled, so ``neutralize_markdown`` rewrites it before it is saved:

Renderers disagree about where code and math are (nbconvert's mistune reads ``$...$``, ``$$``,
``\\[`` and ``\begin{..}`` before code, across blocks), so nothing here relies on them agreeing:

* fenced and indented code blocks are left exactly as written (located with markdown-it-py);
* a code span is left as written unless it holds ``< > $ & : \``; then it becomes ``<code>`` with
  its punctuation as character references: the same code on screen, and no HTML, math or link
  to any renderer that does not see it as code (``$`$<img onerror>`$`` was one);
* everywhere else ``<`` becomes ``&lt;``: no raw HTML, no ``<script>``, no ``<img onerror>``;
  inside math (``$...$``, ``$$...$$``, found by the live view's rules) it becomes ``\lt `` instead:
  JupyterLab hands math to MathJax as written, where ``&lt;`` would show as those four characters;
* a ``$``, ``\\[`` or ``\begin{x}`` in prose that is not paired in the same stretch of prose is
  escaped, so no renderer can pair it with one inside a code block;
* character references that could spell a URL scheme (``&#106;``, ``&colon;``, ``&Tab;``) are
  escaped, so they show as written instead of decoding inside a link;
* a link or definition target that reads as ``javascript:``, ``vbscript:``, ``data:`` or ``file:``
  after entity and percent decoding (up to three times: mistune decodes twice) gets a ``#`` in
  front, which turns it into a harmless in-page anchor; an image becomes a link (loading it could
  leak what a prompt injection put in its URL), and a mermaid block holding ``<`` or ``&`` is
  shown as text (nbconvert writes mermaid source into its page unescaped).

The result is then parsed again with markdown-it-py in its most permissive mode (``html=True``, every
link scheme accepted). If any raw HTML or dangerous link is still found there, the text falls back to
a plain fenced block. The ``<details>`` wrappers this module adds around the reasoning and around
each tool call (its summary one line with every punctuation character a reference: a tool name
is the model's too; arguments and result fenced), the ``<sub>`` around the status line and the
``<code>`` tags above are the only raw HTML in the bundle. tests/test_saved_copy_inert.py runs a
hostile corpus through nbconvert's real exporter.
"""

from __future__ import annotations

import bisect
import html
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import backticks as _backticks
from markdown_it.rules_inline.state_inline import StateInline

from .._status import error_line, status_line
from .._types import ChatResult

# status_line lives in the widget-free glm_notebook._status; kept importable here.
__all__ = ["neutralize_markdown", "static_bundle", "static_bundles", "status_line", "streaming_bundle"]

_BAD_SCHEMES = ("javascript:", "vbscript:", "data:", "file:")
# A link destination follows "](" (inline link) or "]:" (reference definition), after optional
# whitespace that may include one line break.
# A target that starts with an escaped character reference (``&#106;avascript:``) is made inert too:
# left alone it would be a relative link to a file named "&..." (a 404 in JupyterLab).
_LINK_TARGET_RE = re.compile(r"(\]\s*[(:]\s*(?:&lt;)?)([^\s)]+)")
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Characters an entity must not produce outside code: they could spell a scheme such as "javascript:".
_SCHEME_CHARS_RE = re.compile(r"[A-Za-z0-9:\x00-\x20\x7f]")
_LONE_DOLLAR_RE = re.compile(r"(?<!\\)\$")
_IMAGE_RE = re.compile(r"(?<!\\)!\[")
_LATEX_OPENER_RE = re.compile(r"\\\\[\[(]|\\begin\{([a-z]*\*?)\}")
_LATEX_CLOSERS = {"\\\\[": "\\\\]", "\\\\(": "\\\\)"}
_RISKY_IN_CODE_RE = re.compile(r"[<>$&:\\]")
_PUNCTUATION_RE = re.compile(r"[!-/:-@\[-`{-~]")  # ASCII punctuation
_UNESCAPED_PIPE_RE = re.compile(r"(?<!\\)\|")
# Math as JupyterLab finds it before rendering Markdown: $$...$$ and \[...\] (may span lines),
# \(...\), and $...$ on one line by the live view's rule (js/src/markdown.js, after Pandoc: no space
# just inside the dollars, no digit right after, so "$5 and $6" stays prose). Found by a scan
# (_math_spans), not one regex: a lazy match from every unclosed "\[" to the end of the text
# took time quadratic in its length, and answers are untrusted.
_MATH_OPENER_RE = re.compile(r"\$\$|\$|\\\[|\\\(")
_INLINE_MATH_RE = re.compile(r"\$(?=[^\s$])(?:\\.|[^\\$\n])*?[^\s\\$]\$(?!\d)|\$[^\s$\\]\$(?!\d)")
_MATH_CLOSERS = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}
_MERMAID_RE = re.compile(r"\s*mermaid", re.IGNORECASE)
_OUR_HTML = ("<code>", "</code>")
_SENTINEL = "glm-notebook-end-of-text"
_MAX_PARSED = 300_000  # characters; markdown-it-py parses roughly 50-300 KB a second


def _record_code_spans(state: StateInline, silent: bool) -> bool:
    """The backticks rule, also recording where each code span sits in the source."""
    start, count = state.pos, len(state.tokens)
    matched = _backticks.backtick(state, silent)
    spans = state.env.get("code_spans")
    if (
        matched
        and not silent
        and spans is not None
        and len(state.src) == len(state.env["src"])  # skip image alt text: parsed from a shorter copy
        and len(state.tokens) > count
        and state.tokens[-1].type == "code_inline"
    ):
        spans.append((start, state.pos, state.tokens[-1].content))
    return matched


def _locator() -> MarkdownIt:
    # html=False and no autolinks: after "<" is escaped there are no tags or autolinks, so this
    # parser sees the same code spans as any renderer of the escaped text. Its parse() finds blocks
    # only (the inline pass runs on demand, in _code_spans), which keeps long answers fast.
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("autolink")
    md.inline.ruler.at("backticks", _record_code_spans)
    md.core.ruler.disable("inline")
    return md


def _checker() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # see every link, judge it below
    return md


_LOCATOR = _locator()
_CHECKER = _checker()


def _is_bad_url(url: str) -> bool:
    """True when ``url`` could name a script scheme in some renderer or browser."""
    for _ in range(3):  # renderers differ in how often they decode references (mistune: twice)
        url = urllib.parse.unquote(html.unescape(url))
    # Browsers ignore ASCII whitespace and control characters when reading a scheme.
    compact = re.sub(r"[\x00-\x20\x7f\\]", "", url).lower()
    return compact.startswith(_BAD_SCHEMES)


def _escape_entity(match: re.Match[str]) -> str:
    ref = match.group(0)
    decoded = html.unescape(ref)
    if decoded != ref and _SCHEME_CHARS_RE.search(decoded):
        return "&amp;" + ref[1:]
    return ref


def _escape_outside_math(text: str) -> str:
    """Prose outside math: no ``<`` (no HTML), and no math delimiter left without its partner here,
    which another renderer could pair with one inside code further on (nbconvert's mistune pairs
    ``$$``, ``\\[`` and ``\\begin{..}`` across blocks, code included, before it looks for code)."""
    text = _LONE_DOLLAR_RE.sub(r"\\$", text.replace("<", "&lt;"))
    # An image would load from its URL when the copy is shown, which can leak what a prompt
    # injection put there: a link, as in the live view.
    text = _IMAGE_RE.sub("[image: ", text)
    return _unpaired_latex(text)


def _unpaired_latex(text: str) -> str:
    # ``\\[`` with no ``\\]`` after it, ``\begin{x}`` with no ``\end{x}`` after it: their first
    # backslash becomes ``&#92;``, which shows the same and opens nothing.
    out, pos = [], 0
    for match in _LATEX_OPENER_RE.finditer(text):
        if match.start() < pos:
            continue
        closer = _LATEX_CLOSERS.get(match.group(0)) or "\\end{" + (match.group(1) or "") + "}"
        if text.find(closer, match.end()) == -1:
            out.append(text[pos : match.start()] + "&#92;")
            pos = match.start() + 1
    out.append(text[pos:])
    return "".join(out)


def _neutralize_prose(text: str) -> str:
    """Neutralise Markdown text that holds no code."""
    text = _ENTITY_RE.sub(_escape_entity, text)
    out, pos = [], 0
    for start, end in _math_spans(text):
        out.append(_escape_outside_math(text[pos:start]))
        out.append(text[start:end].replace("<", "\\lt "))
        pos = end
    out.append(_escape_outside_math(text[pos:]))
    return _LINK_TARGET_RE.sub(_disarm_link_target, "".join(out))


def _disarm_link_target(match: re.Match[str]) -> str:
    """A ``#`` in front of a link or definition target that some renderer could read as a script
    scheme: after entity decoding (mistune decodes ``&amp;#x73;`` twice), percent decoding and
    dropping the whitespace, control characters and backslashes browsers and renderers skip."""
    lead, target = match.group(1), match.group(2)
    return lead + "#" + target if _is_bad_url(target) else match.group(0)


def _code_span(source: str, content: str) -> str:
    """A code span is kept as written unless it holds a character that would be live, or would
    pair with math, if a renderer did not see it as code (nbconvert reads math before code spans):
    then it becomes ``<code>`` with every punctuation character as a character reference, which
    every renderer shows as the same code and none can read as HTML, math, a link or emphasis."""
    if not _RISKY_IN_CODE_RE.search(content):
        return source
    return "<code>" + _PUNCTUATION_RE.sub(lambda m: f"&#{ord(m.group(0))};", content) + "</code>"


def _math_spans(text: str) -> list[tuple[int, int]]:
    """Where the math is in ``text``, in linear time: each opener's closer is found with one
    ``str.find``, and a kind whose closer no longer occurs is not looked for again."""
    spans: list[tuple[int, int]] = []
    unclosed: set[str] = set()
    pos = 0
    while (opener := _MATH_OPENER_RE.search(text, pos)) is not None:
        kind, start = opener.group(0), opener.start()
        pos = opener.end()
        if kind in unclosed or (kind[0] == "$" and start > 0 and text[start - 1] in "\\$"):
            continue
        if kind == "$":
            inline = _INLINE_MATH_RE.match(text, start)
            if inline is not None:
                spans.append((start, inline.end()))
                pos = inline.end()
            continue
        closer = _MATH_CLOSERS[kind]
        end = text.find(closer, start + len(kind) + (kind == "$$"))  # $$...$$ holds something
        if end == -1:
            unclosed.add(kind)
            continue
        spans.append((start, end + len(closer)))
        pos = end + len(closer)
    return spans


def _code_spans(src: str) -> list[tuple[int, int, str]]:
    env: dict[str, Any] = {"src": src, "code_spans": []}
    _LOCATOR.inline.parse(src, _LOCATOR, env, [])
    return env["code_spans"]


def _neutralize_inline(src: str, *, keep_code_spans: bool) -> str:
    spans = _code_spans(src) if keep_code_spans else []
    out, pos = [], 0
    for start, end, content in spans:
        out.append(_neutralize_prose(src[pos:start]))
        out.append(_code_span(src[start:end], content))
        pos = end
    out.append(_neutralize_prose(src[pos:]))
    return "".join(out)


def _neutralize_table_row(line: str, *, keep_code_spans: bool) -> str:
    # GFM splits a row at unescaped pipes before it looks for code spans.
    cells = _UNESCAPED_PIPE_RE.split(line)
    return "|".join(_neutralize_inline(cell, keep_code_spans=keep_code_spans) for cell in cells)


def _rewrite(text: str, *, keep_code_spans: bool) -> str:
    lines = text.split("\n")
    kind = ["prose"] * len(lines)  # "code" lines stay as they are
    inline_ranges: dict[tuple[int, int], None] = {}  # ordered and unique
    table_rows: set[int] = set()
    in_table = 0
    for token in _LOCATOR.parse(text):
        if token.type == "table_open":
            in_table += 1
        elif token.type == "table_close":
            in_table -= 1
        elif token.map is None:
            continue
        elif token.type in ("fence", "code_block"):
            for number in range(*token.map):
                kind[number] = "code"
            if token.type == "fence" and _MERMAID_RE.match(token.info) and re.search("[<&]", token.content):
                # nbconvert writes a mermaid block's source into its page as HTML, unescaped
                lines[token.map[0]] = lines[token.map[0]].replace(token.info, "text", 1)
        elif token.type == "inline":
            if in_table:
                table_rows.update(range(*token.map))
            else:
                inline_ranges[(token.map[0], token.map[1])] = None
    # One slot per source line: a neutralised block may have more or fewer lines than its source
    # (its slots after the first are emptied), so the other lines keep their places.
    out: list[str | None] = list(lines)
    covered: set[int] = set(table_rows)
    for first, last in inline_ranges:
        if any(kind[number] == "code" for number in range(first, last)):
            continue
        out[first] = _neutralize_inline("\n".join(lines[first:last]), keep_code_spans=keep_code_spans)
        out[first + 1 : last] = [None] * (last - first - 1)
        covered.update(range(first, last))
    for number, source in enumerate(lines):
        if number in table_rows:
            out[number] = _neutralize_table_row(source, keep_code_spans=keep_code_spans)
        elif number not in covered and kind[number] == "prose":
            out[number] = _neutralize_prose(source)
    return "\n".join(line for line in out if line is not None)


def _links(tokens: Iterable[Any]) -> Iterable[str]:
    for token in tokens:
        if token.type == "link_open":
            yield str(token.attrGet("href") or "")
        elif token.type == "image":
            yield str(token.attrGet("src") or "")
        if token.children:
            yield from _links(token.children)


def _is_safe(markdown: str) -> bool:
    tokens = _CHECKER.parse(markdown)
    stack = list(tokens)
    while stack:
        token = stack.pop()
        if token.type == "html_block" or (token.type == "html_inline" and token.content not in _OUR_HTML):
            return False  # raw HTML, other than the <code> tags _code_span writes
        stack.extend(token.children or ())
    return not any(_is_bad_url(url) for url in _links(tokens))


def _fence(content: str, info: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    marker = "`" * max(3, longest + 1)
    return f"{marker}{info}\n{content}\n{marker}"


def _close_open_blocks(markdown: str) -> str:
    """Close a code fence left open by a cut stream, so what follows is not swallowed by it."""
    for _ in range(3):
        tokens = _LOCATOR.parse(markdown + "\n\n" + _SENTINEL)
        last = tokens[-2] if len(tokens) >= 2 else None
        if last is not None and last.type == "inline" and last.content == _SENTINEL and last.level == 1:
            return markdown
        fences = [t for t in tokens if t.type == "fence"]
        if not fences:
            break
        markdown += "\n" + fences[-1].markup
    return markdown


def neutralize_markdown(text: str) -> str:
    """Make untrusted Markdown safe to render with raw HTML enabled, leaving code untouched."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    if len(text) > _MAX_PARSED:
        return _fence(text, "text")  # parsing would take many seconds: show it as plain text
    for keep_code_spans in (True, False):
        result = _close_open_blocks(_rewrite(text, keep_code_spans=keep_code_spans))
        if _is_safe(result):
            return result
    return _fence(text, "text")  # renderers disagree about this text: show it as plain text


def _escape_inline(text: str) -> str:
    """Escape text so Markdown shows it literally on one line (model names, error messages)."""
    text = " ".join(text.split())
    return re.sub(r"([\\`*_\[\]<>#!|~&$])", r"\\\1", text)


_SUMMARY_CHARS = 200  # a tool name is the model's: keep its summary line short
_TOOL_PREVIEW = 2000  # characters of a call's arguments and of its result kept in the saved copy


def _clip(text: str) -> str:
    return text if len(text) <= _TOOL_PREVIEW else text[:_TOOL_PREVIEW] + f"\n… ({len(text):,} characters)"


def _inert_summary(text: str) -> str:
    """One line of text for a ``<summary>``, shown as written in any context: HTML, Markdown or
    math (every punctuation character a character reference, whitespace runs a single space)."""
    text = " ".join(text.split())
    if len(text) > _SUMMARY_CHARS:
        text = text[: _SUMMARY_CHARS - 1] + "…"
    return _PUNCTUATION_RE.sub(lambda m: f"&#{ord(m.group(0))};", text)


def _tool_calls_block(result: ChatResult) -> str:
    """Each call as a collapsed ``<details>``: name, time or what went wrong in the summary (HTML-
    escaped: the name comes from the model), arguments and result as fenced code inside."""
    blocks = []
    for call in result.tool_calls:
        if call.error:
            outcome = "denied" if call.error == "denied by the user" else "failed"
        elif call.output is None:
            outcome = "not run"
        else:
            outcome = f"{call.duration_s:.2f} s" if call.duration_s is not None else "done"
        summary = _inert_summary(f"Tool call: {call.name or '?'} · {outcome}")
        body = [_fence(_clip(call.arguments or "{}"), "json")]
        if call.error:
            body.append(_fence(_clip(call.error), "text"))
        elif call.output is not None:
            body.append(_fence(_clip(call.output), "text"))
        blocks.append(f"<details><summary>{summary}</summary>\n\n" + "\n\n".join(body) + "\n\n</details>")
    return "\n\n".join(blocks)


def static_bundle(
    result: ChatResult | None, error: BaseException | None = None, offline: bool = False
) -> dict[str, str]:
    """The final output of one ``%%glm`` cell: ``{"text/markdown": ..., "text/plain": ...}``.

    Markdown: the answer, the reasoning in a collapsed ``<details>`` (only if there is any), tool
    calls (if any), an error line (if any) and the status line, small and in italics
    (``<sub>*...*</sub>``). Plain text: the answer,
    the error line and the status.
    """
    return _static_bundle(result, error, offline)


def _static_bundle(
    result: ChatResult | None, error: BaseException | None, offline: bool, answer: str | None = None
) -> dict[str, str]:
    """``static_bundle``, given the answer already neutralised (``answer``) or not."""
    result = result if result is not None else ChatResult()
    error = error if error is not None else result.error
    status = status_line(result, error, offline=offline)
    problem = error_line(error) if error is not None else ""

    blocks: list[str] = []
    if result.text.strip():
        blocks.append(answer if answer is not None else neutralize_markdown(result.text.strip("\n")))
    if result.reasoning.strip():
        thinking = neutralize_markdown(result.reasoning.strip("\n"))
        blocks.append(f"<details><summary>Thinking</summary>\n\n{thinking}\n\n</details>")
    if result.tool_calls:
        blocks.append(_tool_calls_block(result))
    if problem:
        blocks.append(f"**Error:** {_escape_inline(problem)}")
    if status:
        # Secondary text: smaller where HTML is allowed (JupyterLab, GitHub, nbconvert), italic anyway.
        blocks.append(f"<sub>*{_escape_inline(status)}*</sub>")

    plain = [part for part in (result.text.strip("\n"), problem and f"Error: {problem}", status) if part]
    return {"text/markdown": "\n\n".join(blocks) + "\n", "text/plain": "\n\n".join(plain)}


#: Characters of Markdown per output of a long saved copy (``static_bundles``). JupyterLab renders
#: each output in a task of its own, at roughly 2-3 ms per KB of Markdown in Chromium.
PIECE_CHARS = 16_000
#: Headings per output at most: JupyterLab's table of contents adds an item per heading in an output
#: (about 1.5 ms each on a loaded 2-core machine), all at once when the outputs change.
PIECE_HEADINGS = 30
#: Outputs at most: past that, pieces grow (a 300 KB answer is 16 outputs of ~19 KB).
MAX_PIECES = 16


def _split_points(markdown: str) -> tuple[list[int], list[str], list[int]]:
    """Lines where ``markdown`` may be cut into outputs that render as the whole does, and the
    reference definitions every piece needs, and the lines where top-level headings start.

    A cut goes only before a top-level block (never inside a list, quote, table, code or HTML
    block), and never inside math (``$$ ... $$`` and ``\\begin{...}`` may span blank lines, and
    JupyterLab takes math out of each output's whole text before it renders the Markdown). Link
    reference definitions belong to the whole document, so they are returned to be repeated (they
    render as nothing)."""
    lines = markdown.split("\n")
    starts: list[int] = []
    headings: list[int] = []
    covered = [False] * len(lines)
    for token in _LOCATOR.parse(markdown):
        if token.level == 0 and token.map is not None:  # a top-level block opens (or is) here
            starts.append(token.map[0])
            if token.type == "heading_open":
                headings.append(token.map[0])
            for number in range(*token.map):
                covered[number] = True
    definitions = [line for number, line in enumerate(lines) if not covered[number] and line.strip()]
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    # Linear in the answer's length (it is untrusted): sorted positions, looked up with bisect.
    math = _math_spans(markdown)
    math_starts = [start for start, _ in math]
    begins = [m.start() for m in re.finditer(r"\\begin\{", markdown)]
    ends = [m.start() for m in re.finditer(r"\\end\{", markdown)]
    points = []
    for number in sorted(set(starts)):
        if number == 0:
            continue
        at = offsets[number]
        k = bisect.bisect_right(math_starts, at) - 1
        if k >= 0 and math[k][0] < at < math[k][1]:
            continue
        if bisect.bisect_left(begins, at) != bisect.bisect_left(ends, at):
            continue
        points.append(number)
    return points, definitions, headings


def _pieces(markdown: str, plain: str, limit: int) -> list[tuple[str, str]]:
    """``markdown`` (and ``plain``, line for line the same text before neutralising) cut into pieces
    of about ``limit`` characters at ``_split_points``; one piece when no cut is safe."""
    md_lines, plain_lines = markdown.split("\n"), plain.split("\n")
    if len(markdown) <= limit or len(plain) > _MAX_PARSED:
        return [(markdown, plain)]  # short, or the text fell back to one fence: keep it whole
    # Neutralising can join or split lines (a code span across a line becomes one <code>): then
    # the plain text does not follow the cuts and goes whole with the first piece.
    aligned = len(md_lines) == len(plain_lines)
    points, definitions, headings = _split_points(markdown)
    refs = "\n\n" + "\n".join(definitions) if definitions else ""
    if len(refs) > limit // 4:
        return [(markdown, plain)]  # every piece would carry them all: keep it whole
    limit = max(limit, len(markdown) // MAX_PIECES + 1)
    most_headings = max(PIECE_HEADINGS, len(headings) // MAX_PIECES + 1)
    ends, pos = [], 0
    for line in md_lines:
        pos += len(line) + 1
        ends.append(pos)
    cuts = [0]
    for point in points:
        size = ends[point - 1] - (ends[cuts[-1] - 1] if cuts[-1] else 0)
        heads = bisect.bisect_left(headings, point) - bisect.bisect_left(headings, cuts[-1])
        if size >= limit or heads >= most_headings:
            cuts.append(point)
    cuts.append(len(md_lines))
    pieces: list[tuple[str, str]] = []
    for first, last in zip(cuts, cuts[1:], strict=False):
        md = "\n".join(md_lines[first:last]).strip("\n")
        if aligned:
            text = "\n".join(plain_lines[first:last]).strip("\n")
        else:
            text = plain if not pieces else ""
        if md:
            pieces.append((md + (refs if len(cuts) > 2 else ""), text))
    return pieces or [(markdown, plain)]


def static_bundles(
    result: ChatResult | None,
    error: BaseException | None = None,
    offline: bool = False,
    piece_chars: int = PIECE_CHARS,
) -> list[dict[str, str]]:
    """``static_bundle`` as one or more outputs: a long answer is cut at block boundaries into
    pieces of about ``piece_chars`` characters of Markdown, so a front end renders them one at a
    time (JupyterLab renders each output in its own task) instead of freezing on one long render.

    The pieces are the answer in order; the last one also carries the thinking, tool calls, error
    line and status line, exactly as ``static_bundle`` ends. Each is ``{"text/markdown", "text/plain"}``
    (the plain text of that part of the answer). An answer of ``piece_chars`` or less is one
    bundle, equal to ``static_bundle``. Rendered one after another (JupyterLab, nbconvert, GitHub)
    they read as the one answer: each cut is before a top-level block, never inside a list, table,
    code block or math, and link reference definitions are repeated in every piece.
    """
    result = result if result is not None else ChatResult()
    text = result.text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if len(text) <= piece_chars or not text.strip():
        return [_static_bundle(result, error, offline)]
    answer = neutralize_markdown(result.text.strip("\n"))
    whole = _static_bundle(result, error, offline, answer)
    pieces = _pieces(answer, text.replace("\x00", "\ufffd"), piece_chars)
    if len(pieces) == 1 or not whole["text/markdown"].startswith(answer):
        return [whole]
    if not all(_is_safe(md) for md, _ in pieces):  # each piece is rendered on its own
        return [whole]
    tail_md = whole["text/markdown"][len(answer) :]  # "\n\n<details>...<sub>status</sub>\n"
    plain_rest = whole["text/plain"][len(result.text.strip("\n")) :]
    bundles = [{"text/markdown": md + "\n", "text/plain": plain} for md, plain in pieces]
    last_md, last_plain = pieces[-1]
    bundles[-1] = {"text/markdown": last_md + tail_md, "text/plain": last_plain + plain_rest}
    return bundles


def streaming_bundle(text: str, reasoning: str, status: str) -> dict[str, str]:
    """The answer so far as Markdown, for front ends that show no live view (display updates):
    neutralised like the saved copy, with the reasoning collapsed and ``status`` under it."""
    blocks: list[str] = []
    if reasoning.strip():
        thinking = neutralize_markdown(reasoning.strip("\n"))
        blocks.append(f"<details><summary>Thinking</summary>\n\n{thinking}\n\n</details>")
    if text.strip():
        blocks.append(neutralize_markdown(text.strip("\n")))
    blocks.append(f"<sub>*{_escape_inline(status)}*</sub>")
    plain = [part for part in (text.strip("\n"), status) if part]
    return {"text/markdown": "\n\n".join(blocks) + "\n", "text/plain": "\n\n".join(plain)}
