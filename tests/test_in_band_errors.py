"""Errors in the body of an HTTP 200, over a real socket, sync and async.

z.ai sends a rate limit (1302) as HTTP 200 + ``event: error`` before any text, and 1305 has been
seen as a JSON 200 body holding ``error``. Before any answer text such an error is its HTTP form:
the same class and the same retry decision (1302/1303/1305 retried with a "retrying" notice; 1113,
quotas, 1211 never). After text it ends the answer as a mid-stream error keeping the partial text.
``finish_reason: "network_error"`` is a ``ServerNetworkError``: retried before any text, else raised
with the partial answer.
"""

from __future__ import annotations

import asyncio

import pytest

import glm_notebook as glm
from glm_notebook.testing import Fault, Reply

KEY = "sk-in-band-key-7311"
SHAPES = ["event", "data", "json"]


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


def make_client(server, cls=glm.GLMClient, **kw):
    return cls(api_key=KEY, base_url=server.base_url, model="glm-4.7-flash", **kw)


def chat_with_notices(client, prompt="hi"):
    notices = []
    with client.stream(prompt) as stream:
        stream.on_notice(notices.append)
        result = stream.until_done()
    return result, notices


async def achat_with_notices(client, prompt="hi"):
    notices = []
    async with client.stream(prompt) as stream:
        stream.on_notice(notices.append)
        result = await stream.until_done()
    return result, notices


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("code", ["1302", "1305", 1302])
def test_a_rate_limit_in_a_200_body_is_retried_like_its_429(server, shape, code):
    server.enqueue(Fault.in_band(code, as_=shape), Reply(text="second try"))
    with make_client(server) as client:
        result, notices = chat_with_notices(client)
    assert result.text == "second try" and result.error is None and result.finish_reason == "stop"
    assert [n.kind for n in notices] == ["retrying"]
    assert notices[0].message.startswith(f"rate limited ({code})")
    assert isinstance(notices[0].error, glm.RateLimitError)
    assert len(server.requests) == 2


@pytest.mark.parametrize("shape", SHAPES)
def test_async_retries_an_in_band_rate_limit_too(server, shape):
    server.enqueue(
        Fault.in_band("1302", "您的账户已达到速率限制，请您控制请求频率", as_=shape), Reply(text="ok")
    )

    async def main():
        async with make_client(server, glm.AsyncGLMClient) as client:
            return await achat_with_notices(client)

    result, notices = asyncio.run(main())
    assert result.text == "ok" and [n.kind for n in notices] == ["retrying"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "code, cls",
    [
        ("1113", glm.InsufficientBalance),
        ("1304", glm.QuotaExceededError),
        ("1308", glm.QuotaExceededError),
        ("1211", glm.ModelNotFoundError),
        ("1001", glm.AuthenticationError),
        ("1301", glm.ContentFilterError),
    ],
)
def test_errors_that_retrying_cannot_fix_are_raised_at_once_with_their_class(server, shape, code, cls):
    server.enqueue(Fault.in_band(code, "the server's own words", as_=shape), Reply(text="never asked"))
    with make_client(server) as client, pytest.raises(cls) as info:
        chat_with_notices(client)
    error = info.value
    assert type(error) is cls and error.code == code and not error.retryable
    assert "the server's own words" in str(error) and "in the body of an HTTP 200" in str(error)
    assert error.partial is not None and error.partial.text == "" and error.partial.error is error
    assert len(server.requests) == 1 and server.pending() == 1


def test_a_json_200_error_body_is_never_an_empty_answer(server):
    server.enqueue(Fault.in_band("1214", "messages illegal", as_="json"))
    with make_client(server) as client, pytest.raises(glm.InvalidRequestError, match="messages illegal"):
        client.chat("hi")


def test_an_in_band_rate_limit_that_persists_ends_as_a_rate_limit_after_the_retries(server):
    server.enqueue(*[Fault.in_band("1302") for _ in range(3)])
    with make_client(server, max_retries=2) as client, pytest.raises(glm.RateLimitError) as info:
        client.chat("hi")
    assert info.value.code == "1302" and len(server.requests) == 3


@pytest.mark.parametrize("event", [False, True])
def test_an_error_after_text_keeps_the_partial_and_is_not_retried(server, event):
    server.enqueue(
        Reply(
            text="one two three",
            error_after=2,
            error_code="1302",
            error_message="slow down",
            error_event=event,
        ),
        Reply(text="never asked"),
    )
    seen = []
    with make_client(server) as client, pytest.raises(glm.RateLimitError) as info:
        with client.stream("hi") as stream:
            for event in stream:
                if event.kind == "text":
                    seen.append(event.text)
    assert seen == ["one ", "two "] and info.value.partial.text == "one two "
    assert "mid-stream" in str(info.value) and len(server.requests) == 1


def test_an_error_event_whose_data_is_not_json_is_still_an_error(server):
    body = b"event: error\ndata: [1302][Rate limit reached for requests]\n\ndata: [DONE]\n\n"
    server.enqueue(Fault.raw(body), Reply(text="after"))
    with make_client(server) as client:
        result, notices = chat_with_notices(client)
    assert result.text == "after" and notices[0].message.startswith("rate limited (1302)")


def test_network_error_after_text_is_a_typed_error_keeping_the_partial(server):
    server.enqueue(Reply(text="half of an answer", finish_reason="network_error"), Reply(text="never"))
    texts = []
    with make_client(server) as client, pytest.raises(glm.ServerNetworkError) as info:
        with client.stream("hi") as stream:
            for event in stream:
                if event.kind == "text":
                    texts.append(event.text)
    error = info.value
    assert isinstance(error, glm.ServerError)
    assert "".join(texts) == "half of an answer" == error.partial.text
    assert error.partial.finish_reason == "network_error" and error.partial.usage is not None
    assert len(server.requests) == 1


def test_network_error_before_any_text_is_retried(server):
    server.enqueue(Reply(text="", finish_reason="network_error"), Reply(text="fine"))
    with make_client(server) as client:
        result, notices = chat_with_notices(client)
    assert result.text == "fine" and result.finish_reason == "stop"
    assert [n.kind for n in notices] == ["retrying"] and "network" in notices[0].message


def test_network_error_async(server):
    server.enqueue(Reply(text="some text", finish_reason="network_error"))

    async def main():
        async with make_client(server, glm.AsyncGLMClient) as client:
            return await client.chat("hi")

    with pytest.raises(glm.ServerNetworkError) as info:
        asyncio.run(main())
    assert info.value.partial.text == "some text"


def test_fault_in_band_rejects_an_unknown_shape():
    with pytest.raises(ValueError, match="event, data, json"):
        Fault.in_band("1302", as_="xml")
