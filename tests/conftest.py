"""Shared fixtures: a real IPython shell with the extension loaded, pointed at the test server."""

from __future__ import annotations

import pytest
from _constants import TEST_KEY


@pytest.fixture(autouse=True)
def _fresh_shared_client():
    """Each test gets a shared client built from its own environment."""
    from glm_notebook import reset_client

    reset_client()
    yield
    reset_client()


@pytest.fixture(autouse=True)
def cache_file(tmp_path_factory, monkeypatch):
    """The answer cache and the --chat conversations of each test live in a file of its own (never
    the user's ~/.cache, never another test's turns)."""
    path = tmp_path_factory.mktemp("cache") / "answers.sqlite3"
    monkeypatch.setenv("GLM_NOTEBOOK_CACHE", str(path))
    return path


@pytest.fixture
def zai_env(glm_server, monkeypatch):
    """GLM cloud semantics (provider zai: temperature 0-1) served by the local test server."""
    for var in ("ZHIPUAI_API_KEY", "GLM_MODEL", "GLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GLM_PROVIDER", "zai")
    monkeypatch.setenv("GLM_BASE_URL", glm_server.base_url)
    monkeypatch.setenv("ZAI_API_KEY", TEST_KEY)
    return glm_server


@pytest.fixture
def ip(zai_env):
    """A real InteractiveShell with %load_ext glm_notebook, text display (no widget front end)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "glm_notebook")
    magics = shell.magics_manager.registry["GLMMagics"]
    magics.display_mode = "auto"
    magics.raise_errors = False
    magics.conversations.reset()
    yield shell
    shell.run_line_magic("unload_ext", "glm_notebook")
    shell.user_ns.pop("_glm", None)


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread for
    the rest of the session, which would break the asyncio tests that come after it."""
    items.sort(key=lambda item: "browser" in item.path.parts)
