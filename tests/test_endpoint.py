"""Endpoint: where requests go, and the offline model behind them when it dies.

The offline-model tests start the real llama.cpp server (the ``[local]`` extra), kill it with
SIGKILL as the kernel's OOM killer would, and check that the next request still answers and that
the user is told "restarting".
"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

import glm_notebook as glm
from glm_notebook import resolve_settings
from glm_notebook.client._endpoint import RESTARTING_MESSAGE, STARTING_MESSAGE, Endpoint
from glm_notebook.local import current_server, stop_server

KEY = "sk-endpoint-test-key-8080"


def kill_server(pid: int) -> None:
    """SIGKILL the offline server, as the OOM killer would, and wait until it can be reaped.

    (Its /proc entry says "zombie" as soon as the main thread is gone, while llama.cpp's threads
    may still be exiting: only a reaped process counts here.)
    """
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (info := current_server()) is not None and info.pid == pid:
        assert time.monotonic() < deadline, f"server {pid} survived SIGKILL"
        time.sleep(0.01)


def answers(base_url: str) -> bool:
    payload = {"model": "any", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    with httpx.Client(trust_env=False, timeout=60) as http:
        return http.post(f"{base_url}/chat/completions", json=payload).status_code == 200


def local_endpoint() -> Endpoint:
    return Endpoint(resolve_settings(provider="local", environ={}))


# -- every provider but the offline model --------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        resolve_settings(
            provider="openai-compatible", base_url="http://127.0.0.1:9/v1", api_key=KEY, environ={}
        ),
        resolve_settings(provider="zai", api_key=KEY, environ={}),
        resolve_settings(provider="local", base_url="http://127.0.0.1:9/v1", environ={}),  # user's own server
    ],
    ids=["openai-compatible", "zai", "local-with-base-url"],
)
def test_a_configured_url_resolves_as_given_and_is_never_restarted(settings) -> None:
    endpoint = Endpoint(settings)
    notices: list = []
    assert endpoint.resolve(notices.append) is settings
    assert endpoint.needs_start is False
    assert endpoint.recover(httpx.ConnectError("refused"), notices.append) is False
    assert notices == []
    assert KEY not in repr(endpoint) and "Endpoint(Settings(" in repr(endpoint)


# -- the offline model ----------------------------------------------------------------------------


@pytest.mark.local
def test_the_first_resolve_says_starting_and_later_ones_say_nothing() -> None:
    stop_server()
    endpoint = local_endpoint()
    assert endpoint.needs_start
    notices: list = []

    settings = endpoint.resolve(notices.append)

    assert [(n.kind, n.message) for n in notices] == [("starting", STARTING_MESSAGE)]
    assert settings.base_url == current_server().base_url and settings.model
    assert not endpoint.needs_start
    assert endpoint.resolve(notices.append) is settings
    assert local_endpoint().resolve(notices.append).base_url == settings.base_url  # already up
    assert len(notices) == 1


@pytest.mark.local
def test_a_killed_server_is_restarted_by_recover_and_answers_again() -> None:
    endpoint = local_endpoint()
    before = endpoint.resolve()
    old = current_server()
    kill_server(old.pid)
    assert endpoint.needs_start
    notices: list = []

    assert endpoint.recover(glm.APIConnectionError("refused"), notices.append) is True

    assert [(n.kind, n.message) for n in notices] == [("restarting", RESTARTING_MESSAGE)]
    new = current_server()
    assert new is not None and new.pid != old.pid
    assert endpoint.settings.base_url == new.base_url != before.base_url
    assert endpoint.resolve() is endpoint.settings
    assert answers(endpoint.settings.base_url)
    # The same failure reported again (its URL is the dead server's) retries without a restart.
    failed = httpx.ConnectError(
        "refused", request=httpx.Request("POST", f"{before.base_url}/chat/completions")
    )
    assert endpoint.recover(failed, notices.append) is True
    assert current_server().pid == new.pid and len(notices) == 1


@pytest.mark.local
def test_a_running_server_is_not_restarted() -> None:
    endpoint = local_endpoint()
    settings = endpoint.resolve()
    pid = current_server().pid
    notices: list = []
    failed = httpx.ConnectError(
        "reset", request=httpx.Request("POST", f"{settings.base_url}/chat/completions")
    )
    assert endpoint.recover(failed, notices.append) is False
    assert endpoint.recover(glm.APITimeoutError("slow"), notices.append) is False
    assert current_server().pid == pid and notices == []


@pytest.mark.local
def test_streams_failing_together_share_one_restart() -> None:
    endpoint = local_endpoint()
    endpoint.resolve()
    old_pid = current_server().pid
    kill_server(old_pid)
    notices: list = []
    outcomes: list[bool] = []
    barrier = threading.Barrier(3)

    def fail_and_recover() -> None:
        barrier.wait()
        outcomes.append(endpoint.recover(glm.APIConnectionError("refused"), notices.append))

    threads = [threading.Thread(target=fail_and_recover) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes == [True, True, True]
    assert [n.kind for n in notices] == ["restarting"]
    assert current_server().pid != old_pid
    assert answers(endpoint.settings.base_url)


@pytest.mark.local
def test_a_glm_client_answers_after_its_offline_server_was_killed() -> None:
    # The hole: every later %%glm failed with "check the network and the base URL".
    client = glm.GLMClient(provider="local", max_retries=0)
    assert client.chat("Say hi", temperature=0.0, max_tokens=4).complete
    kill_server(current_server().pid)

    result = client.chat("Say hi", temperature=0.0, max_tokens=4)

    assert result.complete and current_server() is not None
    client.close()


@pytest.mark.local
def test_zz_stop_at_end() -> None:
    stop_server()
    assert current_server() is None
