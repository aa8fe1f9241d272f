"""A GLM-protocol test server: real loopback HTTP with scripted replies and fault injection.

Standard library only (no IPython, no ipywidgets), so it runs in any test process::

    from glm_notebook.testing import GLMTestServer, Reply, Fault

    with GLMTestServer(api_key="test-key") as server:
        server.enqueue(Reply(text="Hello!", reasoning="Think first.", delay=0.05))
        server.enqueue(Fault.rate_limit(retry_after=1))
        client = glm_notebook.GLMClient(base_url=server.base_url, api_key="test-key")
        ...
        assert server.requests[0].json["temperature"] == 0.2

With pytest the ``glm_server`` fixture (see ``glm_notebook.testing._pytest_plugin``) gives each
test a started, reset server. ``Reply`` documents the streaming options; ``Fault`` the error answers;
``GLMTestServer`` the endpoints and ``RecordedRequest`` what is recorded. ``TOOL_SHAPES`` names
the ways ``Reply(tool_calls=..., tool_shape=...)`` can stream calls, for testing a tool loop in each.
``_thinking`` has the preserved-thinking and reasoning-effort checks
(``Reply(require_reasoning_back=True)``, ``server.check_preserved_thinking()``).
"""

from __future__ import annotations

from ._frames import echo_reply
from ._handler import RecordedRequest
from ._script import TOOL_SHAPES, Fault, Reply
from ._server import GLMTestServer

__all__ = ["Fault", "GLMTestServer", "RecordedRequest", "Reply", "TOOL_SHAPES", "echo_reply"]
