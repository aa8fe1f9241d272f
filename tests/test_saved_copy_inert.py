"""The saved copy stays inert wherever it is shown: hostile model text, reasoning, tool names,
arguments and results run through the saved copy, then through markdown-it with raw HTML on and
through nbconvert's real HTML exporter (mistune) on a real notebook file."""

from __future__ import annotations

import random

import pytest
from _inert import HOSTILE, assert_inert, nbconvert_html
from markdown_it import MarkdownIt

from glm_notebook import ChatResult, ToolCall
from glm_notebook.answer._saved_copy import static_bundle

WHERE = ["answer", "reasoning", "tool name", "tool arguments", "tool result", "tool error"]


def hostile_result(text: str, where: str) -> ChatResult:
    if where == "answer":
        return ChatResult(text=text, finish_reason="stop")
    if where == "reasoning":
        return ChatResult(text="ok", reasoning=text, finish_reason="stop")
    call = ToolCall(index=0, id="c1", name="lookup", arguments='{"q": 1}', output="42", duration_s=0.01)
    field = {
        "tool name": "name",
        "tool arguments": "arguments",
        "tool result": "output",
        "tool error": "error",
    }
    setattr(call, field[where], text if where != "tool name" else "x\n\n" + text)
    return ChatResult(text="ok", tool_calls=[call], finish_reason="stop")


def markdown_it_html(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


@pytest.mark.parametrize("where", WHERE)
def test_hostile_text_is_inert_in_nbconvert_and_markdown_it(where: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundles = [static_bundle(hostile_result(text, where)) for text in HOSTILE]
    for text, bundle, html in zip(HOSTILE, bundles, nbconvert_html(bundles, tmp_path), strict=True):
        try:
            assert_inert(html)
            assert_inert(markdown_it_html(bundle["text/markdown"]))
        except AssertionError as error:
            raise AssertionError(f"live in the saved copy ({where}): {text!r}\n{html}") from error


def test_hostile_pieces_combined_across_answer_reasoning_and_tools(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Math and code that pair across the copy's blocks (answer, thinking, tool blocks, status)."""
    rng = random.Random(18)
    bundles = []
    for _ in range(40):

        def pick() -> str:
            return "\n\n".join(rng.sample(HOSTILE, 3))

        calls = [
            ToolCall(index=i, id=f"c{i}", name=pick(), arguments=pick(), output=pick()) for i in range(2)
        ]
        bundles.append(
            static_bundle(ChatResult(text=pick(), reasoning=pick(), tool_calls=calls, model=pick()))
        )
    for bundle, html in zip(bundles, nbconvert_html(bundles, tmp_path), strict=True):
        assert_inert(html)
        assert_inert(markdown_it_html(bundle["text/markdown"]))


def test_the_red_team_tool_name_is_text_in_a_closed_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    call = ToolCall(index=0, id="c1", name="x\n\n[click](javascript:alert(1))", arguments="{}", output="ok")
    bundle = static_bundle(ChatResult(text="done", tool_calls=[call], finish_reason="stop"))
    (html,) = nbconvert_html([bundle], tmp_path)
    assert "<summary>Tool call: x [click](javascript:alert(1)) · done</summary>" in html
    assert "<a " not in html


def test_ordinary_answers_still_read_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Escaping only what is dangerous: code spans with $ or <, math, prices and tool blocks look
    as they would without any of it, in nbconvert's HTML."""
    answer = (
        "Run `echo $HOME` and compare `a < b`; it costs $5 or $6.\n\n"
        "Euler: $e^{i\\pi} + 1 = 0$ and $$\\sum_i x_i < 1$$\n\n"
        "[docs](https://example.com/a?x=1&y=2)\n\n```html\n<div>kept</div>\n```"
    )
    call = ToolCall(index=0, id="c1", name="get_weather", arguments='{"city": "Paris"}', output='{"t": 21}')
    call.duration_s = 0.01
    bundle = static_bundle(ChatResult(text=answer, tool_calls=[call], finish_reason="stop"))
    (html,) = nbconvert_html([bundle], tmp_path)
    assert "<code>echo $HOME</code>" in html and "<code>a &lt; b</code>" in html
    assert "it costs $5 or $6." in html
    assert "$e^{i\\pi} + 1 = 0$" in html and "$$\\sum_i x_i \\lt  1$$" in html
    assert 'href="https://example.com/a?x=1&amp;y=2"' in html
    assert "kept" in html and "<div>kept" not in html  # highlighted by pygments, as code
    assert "<summary>Tool call: get_weather · 0.01 s</summary>" in html
    assert_inert(html)
