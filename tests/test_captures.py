"""Real GLM traffic, replayed byte for byte over a loopback socket, sync and async.

``tests/captures/`` holds response bodies people captured from GLM endpoints and published (its
SOURCES.md says where each came from and which were reconstructed). Each is served with
``Fault.raw`` as the service sent it (status, content type), whole, cut at seeded random byte
offsets (one HTTP chunk and one socket write per piece, so UTF-8 characters and lines are cut),
and gzip-compressed with the compressed bytes cut the same way. The assertions are what a user
gets: text, reasoning, tool calls, usage, finish_reason, or the error class and code.

Error bodies are replayed at their HTTP status and again inside an HTTP 200 (as a JSON body and
as an ``event: error`` frame): the class is the same each time.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from pathlib import Path

import pytest

import glm_notebook as glm
from glm_notebook.testing import Fault

CAPTURES = Path(__file__).parent / "captures"
KEY = "sk-captures-key-2207"
SSE = "text/event-stream;charset=UTF-8"
JSON = "application/json; charset=UTF-8"


def body(prefix: str) -> bytes:
    (path,) = [p for p in CAPTURES.iterdir() if p.name.startswith(prefix) and p.suffix in (".sse", ".json")]
    return path.read_bytes()


# -- what a user must get from each successful capture ------------------------------------------

ANSWERS = {
    # prefix: (text starts, reasoning starts, finish_reason, [(name, arguments)], usage fields)
    "001": ("\n\n", "The user is asking for the weather in Florence", "tool_calls",
            [("weather", {"location": "Florence,Italy"})], dict(prompt_tokens=179, completion_tokens=70, cached_tokens=43)),
    "002": ("\n\nI'll add and multiply the numbers 2 and 3 for you.", "The user wants me to add and multiply", "tool_calls",
            [("add", {"a": 2, "b": 3}), ("multiply", {"a": 2, "b": 3})], dict(prompt_tokens=282, total_tokens=460, cached_tokens=43)),
    "003": ("I'll get the current weather information for Florence, Italy", "The user is asking for the weather", "tool_calls",
            [("weather", {"location": "Florence,Italy"})], dict(completion_tokens=93, reasoning_tokens=65, cached_tokens=172)),
    "004": ('Hi in Portuguese is "Olá" or "Oi".', "\nThe person is asking me to say \"hi\"", "stop",
            [], dict(prompt_tokens=16, completion_tokens=145, cached_tokens=6)),
    "005": ("Olá! (Oh-lah)", "1.  **Analyze the Request:**", "stop",
            [], dict(completion_tokens=249, reasoning_tokens=239, cached_tokens=3)),
    "006": ("I'll check the weather in Florence, Italy for you.", "The user is asking for the weather", "tool_calls",
            [("weather", {"location": "Florence,Italy"})], dict(reasoning_tokens=62, cached_tokens=43)),
    "021": ("", "", "tool_calls",
            [("kubectl", {"command": "kubectl get deployments --all-namespaces", "modifies_resource": "no"})], None),
    "022": ("", "", "tool_calls", [("search", {"name": "cb8fe9ed-0c16-427e-a1be-a3541de80243"})], None),
}  # fmt: skip

# prefix: (HTTP status the capture came with, error class, code)
ERRORS = {
    "007": (200, glm.RateLimitError, "1302"),
    "008": (200, glm.RateLimitError, "1302"),
    "009": (429, glm.RateLimitError, "1302"),
    "010": (429, glm.RateLimitError, "1305"),
    "011": (429, glm.RateLimitError, "1302"),
    "012": (429, glm.InsufficientBalance, "1113"),
    "013": (429, glm.InsufficientBalance, "1113"),
    "014": (429, glm.InsufficientBalance, "1113"),  # the code only in error.type
    "015": (400, glm.ModelNotFoundError, "1211"),
    "016": (400, glm.InvalidRequestError, "1214"),
    "017": (401, glm.AuthenticationError, "1003"),
    "018": (401, glm.AuthenticationError, "401"),
    "019": (400, glm.ContentFilterError, "1301"),
    "020": (429, glm.QuotaExceededError, "1308"),
    "024": (200, glm.RateLimitError, "1305"),
    "025": (400, glm.PromptTooLongError, "1210"),
}


def reference(raw: bytes) -> tuple[str, str]:
    """The text and reasoning in a capture, read the plain way (the oracle for the client)."""
    if raw.lstrip().startswith(b"{"):
        message = json.loads(raw)["choices"][0]["message"]
        return message.get("content") or "", message.get("reasoning_content") or ""
    text, reasoning = [], []
    for line in raw.decode().split("\n"):
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                delta = choice.get("delta") or {}
                text.append(delta.get("content") or "")
                reasoning.append(delta.get("reasoning_content") or "")
    return "".join(text), "".join(reasoning)


def splits(raw: bytes, seed: int) -> list[int]:
    rng = random.Random(seed)
    return sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(5, 80))))


def variants(raw: bytes, content_type: str, status: int = 200) -> list[tuple[str, Fault]]:
    packed = gzip.compress(raw)
    gz = {"Content-Encoding": "gzip"}
    return [
        ("whole", Fault.raw(raw, status=status, content_type=content_type)),
        *[(f"split-{s}", Fault.raw(raw, status=status, content_type=content_type, splits=splits(raw, s))) for s in (1, 2)],
        ("gzip-split", Fault.raw(packed, status=status, content_type=content_type, headers=gz, splits=splits(packed, 3))),
    ]  # fmt: skip


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


def client_for(server, cls=glm.GLMClient):
    return cls(api_key=KEY, base_url=server.base_url, model="glm-4.5", max_retries=0)


def check_answer(prefix: str, result: glm.ChatResult, raw: bytes) -> None:
    text, reasoning, finish, calls, usage = ANSWERS[prefix]
    assert (result.text, result.reasoning) == reference(raw)
    assert result.text.startswith(text) and result.reasoning.startswith(reasoning)
    assert result.finish_reason == finish and result.complete and result.error is None
    assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == calls
    assert len({c.id for c in result.tool_calls}) == len(calls)
    if usage is None:
        assert result.usage is None
    else:
        assert {k: getattr(result.usage, k) for k in usage} == usage


@pytest.mark.parametrize("prefix", sorted(ANSWERS))
def test_answers_replay_sync(server, prefix):
    raw = body(prefix)
    kind = JSON if raw.startswith(b"{") else SSE
    with client_for(server) as client:
        for _name, fault in variants(raw, kind):
            server.enqueue(fault)
            check_answer(prefix, client.chat("hi"), raw)


@pytest.mark.parametrize("prefix", sorted(ANSWERS))
def test_answers_replay_async(server, prefix):
    raw = body(prefix)
    kind = JSON if raw.startswith(b"{") else SSE

    async def main():
        async with client_for(server, glm.AsyncGLMClient) as client:
            for _name, fault in variants(raw, kind):
                server.enqueue(fault)
                check_answer(prefix, await client.chat("hi"), raw)

    asyncio.run(main())


def test_tool_calls_stream_as_events_once_each(server):
    raw = body("002")
    server.enqueue(Fault.raw(raw, content_type=SSE, splits=splits(raw, 9)))
    with client_for(server) as client, client.stream("hi") as stream:
        events = list(stream)
    finishes = [e.finish_reason for e in events if e.kind == "finish"]
    assert finishes == ["tool_calls"] * 3  # repeated on each call's chunk and the last: all shown
    assert [e.tool_call.name for e in events if e.kind == "tool_call"] == ["add", "multiply"]


@pytest.mark.parametrize("prefix", sorted(ERRORS))
def test_errors_replay_with_their_class_sync(server, prefix):
    status, cls, code = ERRORS[prefix]
    raw = body(prefix)
    kind = SSE if raw.startswith(b"event") else JSON
    with client_for(server) as client:
        for _name, fault in variants(raw, kind, status):
            server.enqueue(fault)
            with pytest.raises(cls) as info:
                client.chat("hi")
            assert type(info.value) is cls and info.value.code == code
            assert info.value.partial is not None and info.value.partial.text == ""


@pytest.mark.parametrize("prefix", sorted(ERRORS))
def test_errors_replay_with_their_class_async(server, prefix):
    status, cls, code = ERRORS[prefix]
    raw = body(prefix)
    kind = SSE if raw.startswith(b"event") else JSON

    async def main():
        async with client_for(server, glm.AsyncGLMClient) as client:
            for _name, fault in variants(raw, kind, status):
                server.enqueue(fault)
                with pytest.raises(cls) as info:
                    await client.chat("hi")
                assert info.value.code == code

    asyncio.run(main())


@pytest.mark.parametrize("prefix", sorted(p for p, (status, _, _) in ERRORS.items() if status != 200))
@pytest.mark.parametrize("as_", ["json", "event"])
def test_an_error_body_inside_a_200_is_the_same_class(server, prefix, as_):
    _status, cls, code = ERRORS[prefix]
    raw = body(prefix)
    wrapped = raw if as_ == "json" else b"event: error\ndata: " + raw + b"\n\ndata: [DONE]\n\n"
    server.enqueue(Fault.raw(wrapped, content_type=JSON if as_ == "json" else SSE))
    with client_for(server) as client, pytest.raises(cls) as info:
        client.chat("hi")
    assert info.value.code == code and info.value.status_code is None


@pytest.mark.parametrize("status", [200, 429])
def test_in_band_rate_limit_captures_are_retried_like_the_429(server, status):
    raw = body("007") if status == 200 else body("009")
    server.enqueue(Fault.raw(raw, status=status, content_type=SSE if status == 200 else JSON))
    server.enqueue(Fault.raw(body("004"), content_type=SSE))
    with glm.GLMClient(api_key=KEY, base_url=server.base_url, model="glm-4.5") as client:
        notices = []
        with client.stream("hi") as stream:
            stream.on_notice(notices.append)
            result = stream.until_done()
    assert result.text.startswith('Hi in Portuguese is "Olá"')
    assert [n.message.split(",")[0] for n in notices] == ["rate limited (1302)"]


def test_a_truncated_chunk_run_into_the_next_is_skipped_and_the_cut_stream_is_reported(server):
    raw = body("023")
    server.enqueue(Fault.raw(raw, content_type=SSE))
    with client_for(server) as client, pytest.raises(glm.StreamInterrupted) as info:
        client.chat("hi")
    assert info.value.partial.metrics.malformed_frames == 1 and info.value.partial.text == ""
