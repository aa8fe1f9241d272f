"""Mid-stream error objects in every shape servers send, over a real socket through GLMClient.

vLLM and SGLang end a failing stream with ``data: {"object": "error", "message": ..., "code": 400}``
(no choices), some proxies with ``{"message": ..., "code": ...}`` or ``{"error": "text"}``; GLM and
llama.cpp with ``{"error": {"code": ..., "message": ...}}``. Whatever the shape, the user sees the
server's message as a typed error, and the text that arrived before it is kept.
"""

from __future__ import annotations

import json

import httpx
import pytest

import glm_notebook as glm
from glm_notebook.testing import Reply

KEY = "sk-wire-errors-key-0000"
MESSAGE = "This model's maximum context length is 2048 tokens. However, you requested 4096 tokens."


@pytest.fixture
def client(glm_server):
    glm_server.api_key = KEY
    with glm.GLMClient(api_key=KEY, base_url=glm_server.base_url, max_retries=0) as client:
        yield client


@pytest.mark.parametrize("shape", ["openai", "flat", "text", "glm"])
def test_the_server_message_reaches_the_user_and_the_partial_text_is_kept(glm_server, client, shape):
    glm_server.enqueue(
        Reply(
            text="one two three four",
            error_after=2,
            error_shape=shape,
            error_code="400",
            error_message=MESSAGE,
        )
    )
    seen = []
    with pytest.raises(glm.APIError) as info:
        with client.stream("hi") as stream:
            for event in stream:
                seen.append(event.text)
    error = info.value
    assert MESSAGE in str(error)
    assert "no [DONE]" not in str(error) and not isinstance(error, glm.StreamInterrupted)
    assert seen == ["one ", "two "]
    assert error.partial is stream.result and error.partial.text == "one two "
    assert not stream.result.complete
    assert glm_server.wait_until_finished()[0].outcome == "error_frame"


def test_vllm_error_codes_choose_the_error_class(glm_server, client):
    glm_server.enqueue(
        Reply(
            text="one two three", error_after=1, error_shape="openai", error_code="400", error_message=MESSAGE
        )
    )
    with pytest.raises(glm.InvalidRequestError) as info:
        client.chat("hi")
    assert info.value.code == "400" and info.value.status_code is None
    assert info.value.partial.text == "one "
    glm_server.enqueue(
        Reply(text="one two", error_after=1, error_shape="openai", error_code="500", error_message="CUDA OOM")
    )
    with pytest.raises(glm.ServerError, match="CUDA OOM") as info:
        client.chat("hi")
    assert info.value.partial.text == "one "


async def test_the_async_client_shows_the_server_message_too(glm_server):
    glm_server.enqueue(Reply(text="one two three", error_after=2, error_shape="flat", error_message=MESSAGE))
    async with glm.AsyncGLMClient(api_key="k", base_url=glm_server.base_url, max_retries=0) as aclient:
        with pytest.raises(glm.APIError, match="maximum context length") as info:
            await aclient.chat("hi")
    assert info.value.partial.text == "one two "


def test_the_frames_are_what_vllm_sends(glm_server):
    """The test server's error_shape="openai" frame, read off the wire."""
    glm_server.enqueue(
        Reply(text="a b", error_after=1, error_shape="openai", error_code="400", error_message="bad")
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    raw = httpx.post(f"{glm_server.base_url}/chat/completions", json=body).text
    datas = [line[len("data: ") :] for line in raw.splitlines() if line.startswith("data: ")]
    assert json.loads(datas[-1]) == {
        "object": "error",
        "message": "bad",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    assert "[DONE]" not in datas
