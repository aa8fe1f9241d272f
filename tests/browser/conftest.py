"""Fixtures for the browser tests: JupyterLab + headless Debian Chromium via Playwright (sync).

Fixtures
--------
``glm_lab_server`` (session) a started ``glm_notebook.testing.GLMTestServer`` (requires the key
                           ``GLM_TEST_KEY``) that every kernel of ``lab_server`` talks to.
``glm`` (function)         that server, ``reset()`` before and after the test: enqueue the test's
                           replies (``glm.enqueue(Reply(...))``) and read ``glm.requests``.
``lab_env`` (session)      dict of extra environment variables for the JupyterLab server and so for
                           every kernel it starts: ``GLM_PROVIDER=zai``, ``GLM_BASE_URL`` of
                           ``glm_lab_server``, ``ZAI_API_KEY``, ``GLM_MODEL``. Override it (session
                           scope) in a conftest to point kernels elsewhere.
``lab_server`` (session)   a running :class:`_lab.LabServer` (url, token, root_dir, api(), ...).
``lab_browser`` (session)  a Playwright ``Browser`` (Chromium from ``/usr/bin/chromium``).
``lab_context`` (session)  the Playwright ``BrowserContext`` (1280x900) every page is opened in.
``lab_page`` (function)    a :class:`_lab.LabPage` on a new page (own workspace per notebook), with
                           a long-task observer installed; screenshot + console errors + server
                           log tail on failure; the kernels of its notebooks are shut down after.

For a server with another environment inside one test, use ``_lab.start_lab(env={...})`` directly.
A missing Chromium or Playwright fails the run (never a silent skip); to leave the browser tests out
on purpose, run ``pytest tests --ignore=tests/browser``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LabPage, LabServer, install_longtask_observer, start_lab  # noqa: E402

from glm_notebook.testing import GLMTestServer  # noqa: E402

GLM_TEST_KEY = "browser-test-key"
GLM_TEST_MODEL = "glm-4.7-flash"


def _unavailable(reason: str) -> None:
    pytest.fail(f"{reason}; to leave the browser tests out on purpose: pytest tests --ignore=tests/browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def glm_lab_server() -> Iterator[GLMTestServer]:
    """The GLM-protocol test server the lab's kernels talk to (one for the session)."""
    server = GLMTestServer(api_key=GLM_TEST_KEY)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def glm(glm_lab_server: GLMTestServer) -> Iterator[GLMTestServer]:
    """``glm_lab_server`` with an empty queue and no recorded requests, reset again after the test."""
    glm_lab_server.close_connections()
    glm_lab_server.reset()
    try:
        yield glm_lab_server
    finally:
        glm_lab_server.close_connections()
        glm_lab_server.reset()


@pytest.fixture(scope="session")
def lab_env(glm_lab_server: GLMTestServer) -> dict[str, str]:
    """Extra environment for the JupyterLab server and its kernels: the GLM test server as provider."""
    return {
        "GLM_PROVIDER": "zai",
        "GLM_BASE_URL": glm_lab_server.base_url,
        "ZAI_API_KEY": GLM_TEST_KEY,
        "GLM_MODEL": GLM_TEST_MODEL,
        # keys of the user's own set-up must not win
        "ZHIPUAI_API_KEY": "",
        "GLM_API_KEY": "",
    }


@pytest.fixture(scope="session")
def lab_server(lab_env: dict[str, str]) -> Iterator[LabServer]:
    with start_lab(env=lab_env) as server:
        yield server


@pytest.fixture(scope="session")
def lab_browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} not found (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright (Python) is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def lab_context(lab_browser) -> Iterator[object]:
    """One browser context for the session: its HTTP cache makes every later Lab load faster."""
    context = lab_browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def lab_page(lab_context, lab_server: LabServer, request: pytest.FixtureRequest) -> Iterator[LabPage]:
    page = lab_context.new_page()
    install_longtask_observer(page)
    lab = LabPage(page, lab_server)
    try:
        yield lab
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            name = request.node.nodeid.split("::")[-1].replace("/", "_")
            try:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{name}.png"), full_page=True)
            except Exception:  # noqa: BLE001 - best effort
                pass
            if lab.console_errors:
                print("console errors:\n  " + "\n  ".join(lab.console_errors))
            print("jupyter log tail:\n" + lab_server.log()[-3000:])
        page.close()
        # stop the kernels of the notebooks this test opened (fewer processes competing for CPU)
        for name in lab.opened:
            try:
                lab_server.shutdown_kernels(name)
            except Exception:  # noqa: BLE001 - best effort; the server stops them at the end anyway
                pass
