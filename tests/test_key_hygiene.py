"""The API key never shows in a repr, a str or a traceback printed with its frames' locals.

pytest ``--showlocals``, rich and Sentry print every local of every frame of a traceback. A 401
(wrong key) is exactly when a user pastes such a traceback into an issue, so each test renders
one with ``capture_locals=True`` and looks for the key in it.
"""

from __future__ import annotations

import traceback

import pytest

import glm_notebook as glm
from glm_notebook.client._endpoint import Endpoint
from glm_notebook.client._request import PreparedRequest, build_headers
from glm_notebook.testing import Fault, Reply

# Module constants, not locals: a local holding the key would put it in the test's own frame.
KEY = "sk-hygiene-SECRET-0123456789-wxyz"
SECRET_PART = "SECRET-0123456789"


def rendered(exc: BaseException) -> str:
    return "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())


def assert_no_key(text: str) -> None:
    assert SECRET_PART not in text and KEY not in text


def make_client(server, cls=glm.GLMClient, **kw):
    return cls(provider="openai-compatible", base_url=server.base_url, api_key=KEY, max_retries=0, **kw)


def test_a_401_on_chat_renders_without_the_key(glm_server) -> None:
    glm_server.enqueue(Fault.auth())
    client = make_client(glm_server)
    with pytest.raises(glm.AuthenticationError) as caught:
        client.chat("hi")
    text = rendered(caught.value)
    assert "client = GLMClient(" in text  # the locals were rendered
    assert_no_key(text)


def test_a_401_while_streaming_renders_without_the_key(glm_server) -> None:
    glm_server.enqueue(Fault.auth())
    client = make_client(glm_server)
    with pytest.raises(glm.AuthenticationError) as caught:
        with client.stream("hi") as stream:
            for _event in stream:
                pass
    text = rendered(caught.value)
    assert "stream = " in text
    assert_no_key(text)
    assert_no_key(repr(stream) + str(stream) + repr(stream.result))


def test_a_wrong_key_on_models_renders_without_the_key(glm_server) -> None:
    glm_server.api_key = "sk-the-right-key-9999"  # ours is wrong: 401 on GET /models
    client = make_client(glm_server)
    with pytest.raises(glm.AuthenticationError) as caught:
        client.models()
    assert_no_key(rendered(caught.value))


def test_a_connection_error_renders_without_the_key(glm_server) -> None:
    glm_server.enqueue(Fault.drop())
    client = make_client(glm_server)
    with pytest.raises(glm.GLMError) as caught:
        client.chat("hi")
    assert_no_key(rendered(caught.value))


async def test_a_401_on_the_async_client_renders_without_the_key(glm_server) -> None:
    glm_server.enqueue(Fault.auth(), Fault.auth())
    async with make_client(glm_server, glm.AsyncGLMClient) as client:
        with pytest.raises(glm.AuthenticationError) as caught:
            await client.chat("hi")
        assert_no_key(rendered(caught.value))
        with pytest.raises(glm.AuthenticationError) as caught:
            async with client.stream("hi") as stream:
                async for _event in stream:
                    pass
        assert_no_key(rendered(caught.value))
        assert_no_key(repr(stream) + repr(client))


def held_by(root: object, depth: int = 5) -> list[object]:
    """Every object reachable from ``root`` through our own objects' attributes and containers."""
    found: dict[int, object] = {}

    def walk(obj: object, level: int) -> None:
        if id(obj) in found or isinstance(obj, (str, bytes, int, float, type(None))) or level > depth:
            return
        found[id(obj)] = obj
        if isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            children = list(obj)
        elif type(obj).__module__.startswith("glm_notebook"):
            children = list(getattr(obj, "__dict__", {}).values())
            children += [
                getattr(obj, name) for name in getattr(type(obj), "__slots__", ()) if hasattr(obj, name)
            ]
        else:
            return  # httpx, threads, ...: not ours, and they never hold the key in a repr
        for child in children:
            walk(child, level + 1)

    walk(root, 0)
    return list(found.values())


def test_no_object_that_holds_the_key_shows_it(glm_server) -> None:
    glm_server.enqueue(Reply(text="ok"))
    client = make_client(glm_server)
    stream = client.stream("hi")
    holders = held_by(stream) + held_by(client)
    requests = [h for h in holders if isinstance(h, PreparedRequest)]
    assert requests and requests[0].headers["Authorization"] == f"Bearer {KEY}"  # there, for httpx
    holders += [
        Endpoint(client.settings),
        PreparedRequest(url="u", payload={}, headers={"Authorization": f"Bearer {KEY}"}),
        build_headers(KEY),
    ]
    for holder in holders:
        assert_no_key(repr(holder))
        assert_no_key(str(holder))
    assert "sk-…wxyz" in repr(requests[0]) and "sk-…wxyz" in repr(client)  # masked, still recognisable
    stream.until_done()
    assert_no_key(repr(stream.result))


@pytest.mark.parametrize("client_type", [glm.GLMClient, glm.AsyncGLMClient])
@pytest.mark.parametrize("mistake", [{"base_url": "my-host:8000/v1"}, {"provider": "bogus"}])
def test_a_configuration_error_renders_without_the_key(client_type, mistake) -> None:
    # The client's own __init__ frame is in this traceback, with the key it was given.
    with pytest.raises(glm.ConfigurationError) as caught:
        client_type(api_key=KEY, **mistake)
    assert_no_key(rendered(caught.value))


NON_ASCII_KEY = "sk-hygiene-SECRET-0123456789\u2019wxyz"  # a key pasted with a typographic quote


@pytest.mark.parametrize("cls", [glm.GLMClient, glm.AsyncGLMClient])
async def test_a_non_ascii_key_on_models_is_a_glm_error_without_the_key(glm_server, cls) -> None:
    client = cls(provider="openai-compatible", base_url=glm_server.base_url, api_key=NON_ASCII_KEY)
    with pytest.raises(glm.GLMError) as caught:
        if cls is glm.AsyncGLMClient:
            await client.models()
        else:
            client.models()
    assert "API key" in str(caught.value)
    assert SECRET_PART not in rendered(caught.value) + repr(caught.value)
