"""The public surface stays exactly as DESIGN.md fixes it, and each lazy facade says every name once.

``glm_notebook`` and ``glm_notebook.playground`` load their heavy names on first use from a table
(``_facade.lazy_names``); their ``if TYPE_CHECKING:`` imports repeat the table for type checkers.
These tests hold the table, the TYPE_CHECKING imports and ``__all__`` equal, and check that every
public name resolves, in a fresh process, to the object its module defines.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import glm_notebook as glm

PACKAGE = Path(glm.__file__).parent

# The names checks outside the repository call (DESIGN.md's public surface, rounds one to three).
PUBLIC = {
    "APIConnectionError", "APIError", "APITimeoutError", "AsyncChatStream", "AsyncGLMClient",
    "AuthenticationError", "BatchResult", "ChatResult", "ChatStream", "ConfigurationError",
    "ContentFilterError", "Conversation", "ConversationStore", "GLMClient", "GLMError",
    "InsufficientBalance", "InvalidOptionError", "InvalidRequestError", "LocalModelError", "Metrics",
    "ModelNotFoundError", "Notice", "OPTIONS", "Option", "PROVIDERS", "Playground",
    "PromptTooLongError", "QuotaExceededError", "RateLimitError", "SchemaValidationError",
    "ServerError", "Settings", "StreamEvent", "StreamInterrupted", "Tool", "ToolCall",
    "ToolLoopError", "Usage", "__version__", "batch", "build_options", "compare", "describe",
    "get_client", "map", "mask_key", "reset_client", "resolve_settings", "set_client",
    "set_prices", "tool", "web_search",
    "replay", "ReplayMissError",  # round three: record and replay
    "ResponseTooLargeError", "ServerNetworkError",  # hardening: bounded bodies, network_error
}  # fmt: skip
TESTING = {"Fault", "GLMTestServer", "RecordedRequest", "Reply", "TOOL_SHAPES", "echo_reply"}


def _facade(path: Path, table_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """(the lazy table, {name: module} of the TYPE_CHECKING imports) of a facade's source."""
    tree = ast.parse(path.read_text())
    table: dict[str, str] = {}
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == table_name for t in node.targets):
            table = ast.literal_eval(node.value)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                for alias in imp.names:
                    typed[alias.asname or alias.name] = "." * imp.level + (imp.module or "")
    return table, typed


def test_the_public_names_are_exactly_the_designed_ones():
    assert set(glm.__all__) == PUBLIC
    assert glm.__all__ == sorted(glm.__all__)
    import glm_notebook.testing as testing

    assert set(testing.__all__) == TESTING


@pytest.mark.parametrize(
    ("path", "table"),
    [(PACKAGE / "__init__.py", "_LAZY"), (PACKAGE / "playground" / "__init__.py", "_WHERE")],
    ids=["glm_notebook", "playground"],
)
def test_a_facade_says_each_lazy_name_once(path, table):
    lazy, typed = _facade(path, table)
    assert typed == lazy  # the TYPE_CHECKING imports are the table: same names, same modules


def test_every_public_name_resolves_in_a_fresh_process_to_its_modules_object():
    code = """
import importlib, json, sys
import glm_notebook as glm
heavy_at_import = sorted(m for m in ("httpx", "IPython", "ipywidgets") if m in sys.modules)
missing = [n for n in glm.__all__ if not hasattr(glm, n)]
wrong = []
for name, module in glm._LAZY.items():
    if getattr(importlib.import_module(module, "glm_notebook"), name) is not getattr(glm, name):
        wrong.append(name)
print(json.dumps([heavy_at_import, missing, wrong, sorted(dir(glm)) == sorted(set(dir(glm)))]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    heavy, missing, wrong, dir_ok = json.loads(out)
    assert heavy == [] and missing == [] and wrong == [] and dir_ok


def test_playground_names_resolve_lazily():
    playground = importlib.import_module("glm_notebook.playground")
    lazy, _ = _facade(PACKAGE / "playground" / "__init__.py", "_WHERE")
    assert playground.__all__ == sorted(lazy)
    for name in lazy:
        assert hasattr(playground, name)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        playground.nope  # noqa: B018
