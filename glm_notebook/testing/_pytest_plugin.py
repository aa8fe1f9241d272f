"""pytest fixtures for the GLM test server (registered through the ``pytest11`` entry point).

Installing glm-notebook makes these fixtures available in every pytest run, so your own notebook
CI can answer ``%%glm`` cells without a key or a network:

``glm_server``
    A started ``GLMTestServer`` for one test. One server is shared by the session and ``reset()``
    before and after every test, so a test never sees another test's queue, requests, responder,
    models or api key (connections still open from the previous test are closed too)::

        from glm_notebook.testing import Reply, Fault

        def test_answer(glm_server):
            glm_server.enqueue(Reply(text="42"), Fault.rate_limit(retry_after=0))
            client = glm_notebook.GLMClient(base_url=glm_server.base_url, api_key="any")
            assert client.chat("question").text == "42"
            assert glm_server.requests[0].json["messages"][-1]["content"] == "question"

``glm_server_session``
    The shared session server itself (no reset: use it for session-scoped fixtures of your own).

``glm_env``
    ``glm_server`` plus environment variables pointing glm_notebook at it (``GLM_PROVIDER=
    openai-compatible``, ``GLM_BASE_URL``, ``GLM_API_KEY``; ``ZHIPUAI_API_KEY``, ``ZAI_API_KEY``,
    ``GLM_MODEL`` removed), restored after the test. Kernels started during the test (nbval,
    nbclient) inherit them, so executed notebooks talk to the test server. Yields the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import GLMTestServer

__all__ = ["glm_env", "glm_server", "glm_server_session"]


@pytest.fixture(scope="session")
def glm_server_session() -> Iterator[GLMTestServer]:
    server = GLMTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def glm_server(glm_server_session: GLMTestServer) -> Iterator[GLMTestServer]:
    server = glm_server_session
    server.close_connections()
    server.reset()
    try:
        yield server
    finally:
        server.close_connections()
        server.reset()


@pytest.fixture
def glm_env(glm_server: GLMTestServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[GLMTestServer]:
    for name in ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLM_PROVIDER", "openai-compatible")
    monkeypatch.setenv("GLM_BASE_URL", glm_server.base_url)
    monkeypatch.setenv("GLM_API_KEY", glm_server.api_key or "glm-test-key")
    yield glm_server
