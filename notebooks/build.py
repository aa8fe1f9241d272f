"""Write the teaching notebooks from their source below and run them, so they are committed with
real outputs. Usage: ``python notebooks/build.py [name ...]`` (default: all).

Cells are tagged for nbval: ``nbval-check-output`` where the output is deterministic (test server
answers, printed facts), ``nbval-ignore-output`` where timings or sampling make it vary.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent
CHECK, IGNORE = "nbval-check-output", "nbval-ignore-output"


def md(text: str) -> tuple[str, str, list[str]]:
    return ("markdown", text.strip("\n"), [])


def code(text: str, tag: str = IGNORE) -> tuple[str, str, list[str]]:
    return ("code", text.strip("\n"), [tag])


NOTEBOOKS: dict[str, list[tuple[str, str, list[str]]]] = {}

NOTEBOOKS["04_errors_and_limits"] = [
    md("""
# Errors and limits: what they look like

Real services fail in a few typical ways: too many requests, an empty balance, the content filter,
an answer cut by `max_tokens`, a connection that breaks mid-answer. This notebook shows each one
with `glm_notebook.testing`, a GLM-protocol server on your own machine that fails on purpose —
no key and no network needed. Each failure is **one clear line**, and any text that already
arrived **stays visible**.
"""),
    code("%load_ext glm_notebook", CHECK),
    code("""
import glm_notebook as glm
from glm_notebook.testing import GLMTestServer, Reply, Fault

server = GLMTestServer().start()
glm.set_client(glm.GLMClient(provider="zai", base_url=server.base_url, api_key="demo-key-0000"))
print("test server ready")
""", CHECK),
    md("""
## 1. Rate limit (HTTP 429, code 1302) — retried for you

The first request is refused with `Retry-After: 1`; the client waits that long (with backoff and
jitter) and tries again. Retries happen only before any answer text has been shown.
"""),
    code("""
server.enqueue(Fault.rate_limit(retry_after=1), Reply(text="This answer came after one retry."))
"""),
    code("""
%%glm
Explain what a rate limit is.
"""),
    code('print(_glm.text, "| retries:", _glm.metrics.retries)', CHECK),
    md("""
## 2. Empty balance (code 1113) — never retried

GLM sends 1113 with HTTP **429**, like a rate limit, but waiting cannot fix it. `glm_notebook`
fails at once with a message about the balance (the official SDKs retry it).
"""),
    code("server.reset()  # forget earlier requests\nserver.enqueue(Fault.balance())"),
    code("""
%%glm
Hello?
"""),
    code("print(type(_glm.error).__name__, '| requests sent:', len(server.requests))", CHECK),
    md("""
## 3. The content filter stops an answer (finish_reason "sensitive")

The text that arrived before the stop stays on screen, with the reason.
"""),
    code('server.enqueue(Reply(text="Here is the first part of an answer that", finish_reason="sensitive"))'),
    code("""
%%glm
Tell me something.
"""),
    code("print(type(_glm.error).__name__, '| kept:', repr(_glm.text))", CHECK),
    md("""
## 4. `max_tokens` cuts the answer (finish_reason "length")

Not an error: the status line says `length`. On GLM-5 thinking tokens count against `max_tokens`
too, so a small limit can end before the answer starts.
"""),
    code('server.enqueue(Reply(text="One two three four five", finish_reason="length"))'),
    code("""
%%glm --max-tokens 5
Count to one hundred.
"""),
    code("print(_glm.finish_reason, '| sent max_tokens =', server.requests[-1].json['max_tokens'])", CHECK),
    md("""
## 5. The connection breaks mid-answer

The stream ends without `[DONE]`: `StreamInterrupted`, and the partial text is kept in `_glm`.
"""),
    code('server.enqueue(Reply(text="alpha beta gamma delta epsilon", cut_after=3))'),
    code("""
%%glm
List five Greek letters.
"""),
    code("print(type(_glm.error).__name__, '| kept:', repr(_glm.text))", CHECK),
    md("""
## 6. A mistake in a flag is caught before anything is sent

GLM's cloud accepts temperature 0 to 1 (local servers up to 2). The message says what is allowed.
"""),
    code("""
try:
    get_ipython().run_cell_magic("glm", "--temperature 1.5", "Hi")
except Exception as exc:
    print(type(exc).__name__ + ":", exc)
""", CHECK),
    code("server.stop(); glm.reset_client()", CHECK),
]


def build(name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source, tags in NOTEBOOKS[name]:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    nbformat.write(nb, HERE / f"{name}.ipynb")
    print(f"wrote {name}.ipynb")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(NOTEBOOKS):
        build(name)
