"""The offline model through the client: started and restarted with a notice on the stream.

End to end over the real llama.cpp server: ``stream.on_notice`` (the engine, ``_engine``) tells
the status line "starting the offline model…" before the first load, and "the offline model had
stopped; restarting it…" when the server was killed (as the OOM killer would) - between two
requests, or after the request was made, when the first attempt finds nobody listening
(``Endpoint.recover``).
"""

from __future__ import annotations

import pytest
from test_endpoint import kill_server

import glm_notebook as glm
from glm_notebook.client._endpoint import RESTARTING_MESSAGE, STARTING_MESSAGE
from glm_notebook.local import current_server, stop_server

pytestmark = pytest.mark.local


def stream_with_notices(client: glm.GLMClient) -> tuple[glm.ChatStream, list]:
    notices: list = []
    stream = client.stream("Say hi", temperature=0.0, max_tokens=4)
    stream.on_notice(notices.append)
    return stream, notices


def test_the_first_answer_says_starting_before_the_model_loads() -> None:
    stop_server()
    with glm.GLMClient(provider="local") as client:
        stream, notices = stream_with_notices(client)
        with stream:
            result = stream.until_done()
        assert result.complete and result.text
        assert [(n.kind, n.message) for n in notices] == [("starting", STARTING_MESSAGE)]

        stream, notices = stream_with_notices(client)
        with stream:
            assert stream.until_done().complete
        assert notices == []  # already up: nothing to say


def test_a_server_killed_between_two_answers_is_restarted_with_a_notice() -> None:
    with glm.GLMClient(provider="local", max_retries=0) as client:
        assert client.chat("Say hi", max_tokens=2).complete
        kill_server(current_server().pid)

        stream, notices = stream_with_notices(client)
        with stream:
            result = stream.until_done()

        assert result.complete and result.text
        assert [(n.kind, n.message) for n in notices] == [("restarting", RESTARTING_MESSAGE)]


def test_a_server_killed_after_the_request_was_made_is_restarted_and_the_request_sent_again() -> None:
    with glm.GLMClient(provider="local", max_retries=0) as client:
        assert client.chat("Say hi", max_tokens=2).complete  # a pooled connection to it, too
        stream, notices = stream_with_notices(client)  # the request is for the running server
        kill_server(current_server().pid)

        with stream:
            result = stream.until_done()

        assert result.complete and result.text
        assert result.metrics.retries == 0  # a restart is not a retry: max_retries=0 still answers
        assert [n.kind for n in notices] == ["restarting"]


def test_zz_stop_at_end() -> None:
    stop_server()
    assert current_server() is None
