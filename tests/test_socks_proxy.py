"""A SOCKS proxy in the environment without the socks extra installed.

httpx builds a SOCKS transport for ``ALL_PROXY=socks5://...`` when the client is made, and that
needs ``socksio``. A client of a loopback server never uses a proxy, so it must work; a client of a
remote host gets a ``ConfigurationError`` that says what to install. ``socksio`` is made
unimportable here (as on a machine without ``httpx[socks]``), whatever this environment holds.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

import glm_notebook as glm
from glm_notebook.testing import Reply

KEY = "sk-socks-test-key-8080"


@pytest.fixture(params=["ALL_PROXY", "all_proxy", "HTTPS_PROXY"])
def socks_env(request, monkeypatch):
    for var in (
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(request.param, "socks5://127.0.0.1:1080")
    monkeypatch.setitem(sys.modules, "socksio", None)  # import socksio -> ImportError
    return request.param


def test_a_loopback_server_is_reached_despite_a_socks_proxy(glm_server, socks_env):
    glm_server.api_key = KEY
    glm_server.enqueue(Reply(text="direct"), Reply(text="async direct"))
    with glm.GLMClient(api_key=KEY, base_url=glm_server.base_url, model="m") as client:
        assert client.chat("hi").text == "direct"

    async def main():
        async with glm.AsyncGLMClient(api_key=KEY, base_url=glm_server.base_url, model="m") as client:
            return (await client.chat("hi")).text

    assert asyncio.run(main()) == "async direct"


@pytest.mark.parametrize("cls", [glm.GLMClient, glm.AsyncGLMClient])
def test_a_remote_host_gets_a_clear_install_hint(socks_env, cls):
    with pytest.raises(glm.ConfigurationError) as info:
        cls(api_key=KEY, base_url="https://api.z.ai/api/paas/v4", model="glm-4.7-flash")
    message = str(info.value)
    assert "pip install 'httpx[socks]'" in message and "SOCKS" in message and KEY not in message


def test_without_a_socks_proxy_nothing_changes(glm_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "socksio", None)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    with glm.GLMClient(api_key=KEY, base_url="https://api.z.ai/api/paas/v4", model="m") as client:
        assert client.http._mounts  # the environment's HTTP proxy is still used for remote hosts
