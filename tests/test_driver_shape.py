"""The sync and async drivers are one design: the async source, turned into sync code the way
httpcore's unasync does (``async def`` -> ``def``, ``await`` dropped, ``aiter_bytes`` ->
``iter_bytes``, ``AsyncChatStream`` -> ``ChatStream``, ...), reads like the sync source, method by
method. The few methods that must differ are listed here with the reason; any other difference,
or a method on one side only, is drift and fails."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parent.parent / "glm_notebook" / "client"

# Applied in order to the async source (word-bounded names, then the async keywords).
UNASYNC = [
    (r"\bAsyncGenerator\[(\w+), None\]", r"Generator[\1, None, None]"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncChatStream\b", "ChatStream"),
    (r"\bAsyncGLMClient\b", "GLMClient"),
    (r"\bAsyncToolChatStream\b", "ToolChatStream"),
    (r"\bhttpx\.AsyncClient\b", "httpx.Client"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baread\b", "read"),
    (r"\baclose\b", "close"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\brun_calls_async\b", "run_calls_sync"),
    (r"\basync (def|for|with)\b", r"\1"),
    (r"\bawait ", ""),
    (r"Awaitable\[ChatResult\]", "ChatResult"),
]

# (class, method): why the two sides differ. Everything else must read the same.
ALLOWED = {
    ("ChatStream", "_perform"): "a wait is Event.wait vs a polling sleep; the offline start runs in a thread",
    ("GLMClient", "from_client"): "async only: compare and glm.map run on a sync client's endpoint",
}


def _methods(source: str) -> dict[tuple[str, str], str]:
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    body = ast.Module(body=item.body, type_ignores=[])
                    args = ast.unparse(item.args)
                    # docstrings and comments may word things differently; the code may not
                    if (
                        item.body
                        and isinstance(item.body[0], ast.Expr)
                        and isinstance(item.body[0].value, ast.Constant)
                    ):
                        body = ast.Module(body=item.body[1:], type_ignores=[])
                    found[(node.name, item.name)] = (
                        f"({args}) -> {ast.unparse(item.returns) if item.returns else ''}\n{ast.unparse(body)}"
                    )
    return found


def _unasync(source: str) -> str:
    for pattern, replacement in UNASYNC:
        source = re.sub(pattern, replacement, source)
    return source


@pytest.mark.parametrize(
    ("sync_file", "async_file", "classes"),
    [
        ("_sync.py", "_async.py", {"ChatStream", "GLMClient"}),
        ("_tool_stream.py", "_tool_stream.py", {"ToolChatStream"}),
    ],
    ids=["client", "tool_stream"],
)
def test_the_async_driver_is_the_sync_driver_written_async(sync_file, async_file, classes):
    sync = {k: v for k, v in _methods((CLIENT / sync_file).read_text()).items() if k[0] in classes}
    unasynced = {
        k: v for k, v in _methods(_unasync((CLIENT / async_file).read_text())).items() if k[0] in classes
    }
    drift = []
    for key in sorted(set(sync) | set(unasynced)):
        if key in ALLOWED:
            continue
        if key not in sync or key not in unasynced:
            drift.append(f"{key[0]}.{key[1]} is on one side only")
        elif sync[key] != unasynced[key]:
            drift.append(
                f"{key[0]}.{key[1]} differs:\n--- sync\n{sync[key]}\n--- async, unasynced\n{unasynced[key]}"
            )
    assert not drift, "\n\n".join(drift)


def test_every_allowed_difference_is_still_a_difference():
    # An entry that no longer differs is stale: remove it, so the list stays the real exceptions.
    stale = []
    for sync_file, async_file in (("_sync.py", "_async.py"), ("_tool_stream.py", "_tool_stream.py")):
        sync = _methods((CLIENT / sync_file).read_text())
        unasynced = _methods(_unasync((CLIENT / async_file).read_text()))
        for key in ALLOWED:
            if key in sync and key in unasynced and sync[key] == unasynced[key]:
                stale.append(key)
    assert not stale
