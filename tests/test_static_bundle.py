"""static_bundle: the final Markdown + plain-text copy of an answer, safe to save and re-render."""

from __future__ import annotations

import re

import pytest
from _inert import HOSTILE, assert_inert
from markdown_it import MarkdownIt

from glm_notebook import ChatResult, InsufficientBalance, Metrics, StreamInterrupted, ToolCall, Usage
from glm_notebook.answer._saved_copy import neutralize_markdown, static_bundle


def render(markdown: str) -> str:
    """The most permissive renderer: raw HTML on, GFM tables."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


def test_normal_answer() -> None:
    result = ChatResult(
        text="Hello **world**.\n\n```python\nprint('<div>')\n```\n",
        model="glm-4.7-flash",
        usage=Usage(prompt_tokens=10, completion_tokens=128, total_tokens=138),
        metrics=Metrics(ttft_s=0.42, tokens_per_s=35.1, chunks=130),
        finish_reason="stop",
        complete=True,
    )
    bundle = static_bundle(result)
    assert set(bundle) == {"text/markdown", "text/plain"}
    status = "glm-4.7-flash · 0.42 s to first token · 35.1 tok/s · 128 tokens · 0 USD · stop"
    assert bundle["text/markdown"] == (
        "Hello **world**.\n\n```python\nprint('<div>')\n```\n\n" + f"<sub>*{status}*</sub>\n"
    )
    assert bundle["text/plain"] == "Hello **world**.\n\n```python\nprint('<div>')\n```\n\n" + status
    html = render(bundle["text/markdown"])
    assert "<strong>world</strong>" in html
    assert "print('&lt;div&gt;')" in html  # the code block shows <div> literally
    assert f"<sub><em>{status}</em></sub>" in html  # secondary text: small and italic


def test_reasoning_goes_in_a_collapsed_details_after_the_answer() -> None:
    result = ChatResult(text="42", reasoning="First, *think*.\n\nThen answer.", finish_reason="stop")
    markdown = static_bundle(result)["text/markdown"]
    assert markdown.index("42") < markdown.index("<details>")
    assert "<details><summary>Thinking</summary>\n\nFirst, *think*.\n\nThen answer.\n\n</details>" in markdown
    assert markdown.count("<details>") == 1 and "<details open" not in markdown
    html = render(markdown)
    assert "<em>think</em>" in html  # Markdown inside <details> is still rendered
    assert "</details>" in html


def test_no_details_without_reasoning() -> None:
    assert "<details>" not in static_bundle(ChatResult(text="hi", finish_reason="stop"))["text/markdown"]


def test_error_with_partial_text() -> None:
    partial = ChatResult(text="The answer begins", model="glm-4.7-flash", metrics=Metrics(chunks=3))
    error = InsufficientBalance(
        "InsufficientBalance (HTTP 429, code 1113): Insufficient balance - top up the account; "
        "retrying will not help",
        status_code=429,
        code="1113",
        partial=partial,
    )
    bundle = static_bundle(partial, error)
    markdown = bundle["text/markdown"]
    assert markdown.startswith("The answer begins\n\n")
    assert (
        "**Error:** InsufficientBalance (HTTP 429, code 1113): Insufficient balance - top up the account; "
        "retrying will not help" in markdown
    )
    assert markdown.rstrip().endswith("<sub>*glm-4.7-flash · 3 chunks*</sub>")
    assert "Error: InsufficientBalance" in bundle["text/plain"]
    assert "The answer begins" in bundle["text/plain"]


def test_error_from_the_result_and_odd_characters_in_it() -> None:
    error = StreamInterrupted("the stream ended early <script>alert(1)</script> [x](javascript:alert(1))")
    result = ChatResult(text="", error=error)
    markdown = static_bundle(result)["text/markdown"]
    assert markdown.startswith("**Error:** the stream ended early")
    assert_inert(render(markdown))


def test_usage_none_shows_chunks_not_invented_tokens() -> None:
    result = ChatResult(text="hi", model="m", metrics=Metrics(ttft_s=0.1, chunks=57), finish_reason="stop")
    markdown = static_bundle(result)["text/markdown"]
    assert "57 chunks" in markdown
    assert not re.search(r"\d+ tokens?\b", markdown)
    assert "tok/s" not in markdown


def test_stopped_offline_and_tool_calls() -> None:
    result = ChatResult(
        text="partial",
        stopped=True,
        usage=Usage(1, 1, 2),
        tool_calls=[ToolCall(index=0, name="get_weather", arguments='{"city": "Paris"}')],
    )
    markdown = static_bundle(result, offline=True)["text/markdown"]
    assert "*offline model · 1 token · 1 tool call · stopped*" in markdown
    # a call that never ran (stopped first) is kept, collapsed, with its arguments
    assert (
        '<details><summary>Tool call&#58; get&#95;weather · not run</summary>\n\n```json\n{"city": "Paris"}\n```'
        in markdown
    )


def test_model_name_with_markdown_characters_is_escaped() -> None:
    markdown = static_bundle(ChatResult(text="x", model="evil*<img src=x onerror=alert(1)>_"))[
        "text/markdown"
    ]
    html = render(markdown)
    assert_inert(html)
    assert "evil*&lt;img src=x onerror=alert(1)&gt;_" in html


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_answer_is_inert(hostile: str) -> None:
    result = ChatResult(text=hostile, reasoning=hostile, finish_reason="stop")
    assert_inert(render(static_bundle(result)["text/markdown"]))


def test_all_hostile_content_together_and_code_kept() -> None:
    answer = (
        "\n\n".join(HOSTILE[:12])  # no unclosed fences: those make the whole text a plain block
        + "\n\n```html\n<div>kept</div>\n```\n\nInline `<span>` too.\n\n    <b>indented</b>\n"
    )
    markdown = static_bundle(ChatResult(text=answer, reasoning=answer))["text/markdown"]
    html = render(markdown)
    assert_inert(html)
    assert '<code class="language-html">&lt;div&gt;kept&lt;/div&gt;' in html
    assert "<code>&lt;span&gt;</code>" in html  # written as <code>&#60;span&#62;</code>
    assert "<pre><code>&lt;b&gt;indented&lt;/b&gt;" in html
    # The text that was HTML still reads as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<details>") == 1  # only the wrapper


def test_code_is_left_byte_for_byte() -> None:
    code = "```js\nif (a < b && c > d) { el.innerHTML = '<img src=x onerror=alert(1)>'; }\n```"
    assert neutralize_markdown(code) == code
    assert neutralize_markdown("Use `a[0] * b` here") == "Use `a[0] * b` here"
    # a code span that would be live or math outside code shows the same code, as <code>
    assert neutralize_markdown("Use `a<b>` here") == "Use <code>a&#60;b&#62;</code> here"
    assert "<code>a&lt;b&gt;</code>" in render("Use <code>a&#60;b&#62;</code> here")


def test_plain_prose_is_unchanged() -> None:
    prose = "# Title\n\n- one & two\n- 3 > 2, AT&T, &copy; 2024\n\n> quoted **bold**\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    assert neutralize_markdown(prose) == prose


def test_an_unclosed_fence_does_not_swallow_the_status() -> None:
    result = ChatResult(
        text="Here:\n\n```python\nprint('cut off", reasoning="```\nthinking cut", stopped=True
    )
    markdown = static_bundle(result)["text/markdown"]
    html = render(markdown)
    assert "<em>stopped</em>" in html
    assert html.count("</details>") == 1 and "&lt;/details&gt;" not in html


def test_entity_encoded_scheme_link_becomes_an_inert_anchor():
    from markdown_it import MarkdownIt

    from glm_notebook import ChatResult
    from glm_notebook.answer._saved_copy import static_bundle

    md = static_bundle(ChatResult(text="[ent](&#106;avascript:alert(1))", complete=True))["text/markdown"]
    hrefs = [
        t.attrGet("href")
        for tok in MarkdownIt("commonmark").parse(md)
        for t in (tok.children or [])
        if t.type == "link_open"
    ]
    assert hrefs and all(h.startswith("#") for h in hrefs)


@pytest.mark.parametrize(
    ("answer", "saved"),
    [
        ("If $a<b$ then $b > a$.", "If $a\\lt b$ then $b > a$."),
        ("$$\nx_1 < y_1\n$$", "$$\nx_1 \\lt  y_1\n$$"),
        ("Both \\(a<b\\) and \\[c<d\\] are math.", "Both \\(a\\lt b\\) and \\[c\\lt d\\] are math."),
        # prose around math and dollars that are not math keep the usual escaping
        ("It costs $5<$6, <b>x</b>", "It costs \\$5&lt;\\$6, &lt;b>x&lt;/b>"),
        ("$x$<script>alert(1)</script>", "$x$&lt;script>alert(1)&lt;/script>"),
        ("`$a<b$` is code", "<code>&#36;a&#60;b&#36;</code> is code"),
        # an opener that is never closed is prose, and so is everything after it
        ("\\[ a < b \\( c < d $$ e < f", "\\[ a &lt; b \\( c &lt; d \\$\\$ e &lt; f"),
        ("\\[x\\] then \\[ y < z", "\\[x\\] then \\[ y &lt; z"),
    ],
)
def test_less_than_inside_math_is_tex_not_an_html_entity(answer: str, saved: str) -> None:
    """JupyterLab hands math to MathJax as written: '&lt;' there would be typeset as '&lt;'."""
    assert neutralize_markdown(answer) == saved
    assert_inert(render(saved))


# -- a long answer's saved copy as several outputs (static_bundles) --------------------------------


def _long_answer(sections: int = 60) -> str:
    parts = ["# Notes\n\nSee [the guide][guide] first."]
    for i in range(sections):
        parts.append(
            f"## Part {i}\n\nProse of part {i} with [a link][guide] and $x_{i} < y$.\n\n"
            f"- item one of {i}\n- item two\n\n  still item two after a blank line\n\n"
            f"```python\nx = {i}\n\n# a blank line above, same block\n```\n\n"
            f"$$\na_{i} = b\n\n+ c\n$$\n\n"
            f"| a | b |\n|---|---|\n| {i} | <b>x</b> |"
        )
    parts.append("[guide]: https://example.org/guide")
    return "\n\n".join(parts)


def _result(text: str, **kw) -> ChatResult:
    result = ChatResult()
    result.text = text
    result.finish_reason = "stop"
    for key, value in kw.items():
        setattr(result, key, value)
    return result


def test_a_long_answer_is_cut_into_outputs_that_render_as_the_whole() -> None:
    from glm_notebook.answer._saved_copy import static_bundles

    text = _long_answer()
    result = _result(text, reasoning="Thinking it through.")
    whole = static_bundle(result)
    pieces = static_bundles(result, piece_chars=2_000)
    assert len(pieces) > 5
    # rendered one after another they are the whole, element for element
    assert "".join(render(p["text/markdown"]) for p in pieces) == render(whole["text/markdown"])
    # the plain text too, and the thinking and the status line come once, at the end
    assert "\n\n".join(p["text/plain"] for p in pieces) == whole["text/plain"]
    assert all("<details>" not in p["text/markdown"] for p in pieces[:-1])
    assert pieces[-1]["text/markdown"].endswith(
        whole["text/markdown"][whole["text/markdown"].index("\n\n<details>") :]
    )
    # no piece starts inside a list, a code block or math, and the link definition reaches every piece
    for piece in pieces:
        md = piece["text/markdown"]
        # ("\$\$": a $$ whose block a list item splits is escaped by the neutraliser: prose, not math)
        assert md.startswith(
            ("## Part", "# Notes", "Prose", "- item one", "```python", "$$\na_", "\\$\\$\na_", "| a | b |")
        ), md[:40]
        assert md.count("$$") % 2 == 0 and md.count("```") % 2 == 0
        assert 'href="https://example.org/guide"' in render(md)


def test_short_answers_and_text_without_safe_cuts_stay_one_output() -> None:
    from glm_notebook.answer._saved_copy import static_bundles

    short = _result("## A short answer\n\nJust this.")
    assert static_bundles(short) == [static_bundle(short)]
    one_list = _result("".join(f"- item {i}\n\n  more of item {i}\n" for i in range(500)))
    assert static_bundles(one_list, piece_chars=1_000) == [static_bundle(one_list)]
    # one display-math block (a $$ pair split by blank lines is no math to nbconvert: escaped, prose)
    one_math = _result("$$\n" + "\n".join(f"x_{{{i}}} = {i} \\\\" for i in range(800)) + "\n$$")
    assert static_bundles(one_math, piece_chars=1_000) == [static_bundle(one_math)]


@pytest.mark.parametrize("attack", HOSTILE)
def test_every_piece_of_a_long_hostile_answer_is_safe_on_its_own(attack: str) -> None:
    from glm_notebook.answer._saved_copy import static_bundles

    text = "\n\n".join(f"## Part {i}\n\n{attack}\n\n```html\n{attack}\n```" for i in range(80))
    pieces = static_bundles(_result(text), piece_chars=1_500)
    # Cut wherever the neutralised text has places to cut (an attack's own fences can leave the
    # rest of this text one code block); 80 link definitions would go into every piece: kept whole.
    from glm_notebook.answer._saved_copy import _split_points, neutralize_markdown

    cut_points = _split_points(neutralize_markdown(text))[0]
    assert len(pieces) > 3 or len(cut_points) < 8 or re.search(r"^\[[^\]]+\]:", attack, re.M)
    for piece in pieces:
        assert_inert(render(piece["text/markdown"]))
