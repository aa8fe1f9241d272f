"""What one response may cost: decompressed bytes, bytes per SSE line, and time, over a real socket.

Compressed bodies are real gzip streams served by the test server with ``Content-Encoding: gzip``.
The memory a bomb costs is measured in a child process (its peak RSS while the client reads a
400 KB body that expands to 400 MB), not timed. Time limits are shown by what the user gets
(``APITimeoutError`` with the partial answer), not by wall-clock assertions.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import glm_notebook as glm
from glm_notebook.client._limits import MAX_LINE_BYTES
from glm_notebook.testing import Fault, Reply

KEY = "sk-limits-key-4410"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(glm_server):
    glm_server.api_key = KEY
    return glm_server


def client_for(server, **kw):
    kw.setdefault("max_retries", 0)
    return glm.GLMClient(api_key=KEY, base_url=server.base_url, model="glm-4.7-flash", **kw)


def frame(text: str) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'

# -- memory: a gzip bomb, measured in a child process ---------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, resource, sys, zlib
    import glm_notebook as glm
    from glm_notebook.testing import Fault, GLMTestServer

    kind = sys.argv[1]
    head, block, status, ctype = {
        "one-line": (b"data: ", b"a" * 2**20, 200, "text/event-stream"),
        "keep-alives": (b"", b": ping\\n\\n" * (2**20 // 8), 200, "text/event-stream"),
        "json": (b'{"choices": [', b" " * 2**20, 200, "application/json"),
        "error-page": (b"<html>", b"x" * 2**20, 429, "text/html"),
    }[kind]
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip, built a block at a time: 400 MB never exists
    parts = [z.compress(head)] + [z.compress(block) for _ in range(400)] + [z.flush()]
    bomb = b"".join(parts)
    del parts, block
    with GLMTestServer(api_key="k") as server:
        server.enqueue(Fault.raw(bomb, status=status, content_type=ctype, headers={"Content-Encoding": "gzip"}))
        client = glm.GLMClient(api_key="k", base_url=server.base_url, model="m", max_retries=0)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            client.chat("hi")
            outcome = "answer"
        except glm.GLMError as exc:
            outcome = type(exc).__name__
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "bomb_kb": len(bomb) // 1024, "peak_growth_mb": (after - before) / 1024}))
    """
)


@pytest.mark.parametrize(
    "kind, outcome",
    [
        ("one-line", "ResponseTooLargeError"),  # one SSE line without end: the line cap
        ("keep-alives", "ResponseTooLargeError"),  # 400 MB of valid comments: the body cap
        ("json", "ResponseTooLargeError"),  # a JSON answer read whole: the whole-body cap
        ("error-page", "RateLimitError"),  # an error page: only its start is read, the 429 decides
    ],
)
def test_a_gzip_bomb_costs_bounded_memory_and_ends_in_a_clear_error(kind, outcome):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_PROXY", "_proxy"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcome"] == outcome
    assert report["bomb_kb"] < 1024  # a body of well under 1 MB on the wire ...
    assert report["peak_growth_mb"] < 200, report  # ... never costs more than the caps allow


def test_the_too_large_error_says_what_and_what_to_do(server):
    server.enqueue(
        Fault.raw(
            gzip.compress(b"data: " + b"a" * (MAX_LINE_BYTES + 10)), headers={"Content-Encoding": "gzip"}
        )
    )
    with client_for(server) as client, pytest.raises(glm.ResponseTooLargeError) as info:
        client.chat("hi")
    assert "one line of the event stream" in str(info.value) and "8 MB" in str(info.value)
    assert not info.value.retryable


def test_an_overlong_line_is_refused_without_compression_too(server):
    long_line = b"data: " + b"b" * (MAX_LINE_BYTES + 1)
    server.enqueue(Fault.raw(frame("kept ") + long_line, splits=list(range(0, len(long_line), 2**20))))
    with client_for(server) as client, pytest.raises(glm.ResponseTooLargeError) as info:
        client.chat("hi")
    assert info.value.partial is None or info.value.partial.text in ("", "kept ")


def test_gzip_and_deflate_answers_are_read(server):
    import zlib

    body = frame("squeezed ") + frame("answer") + FINISH
    server.enqueue(
        Fault.raw(gzip.compress(body), headers={"Content-Encoding": "gzip"}, splits=[3, 10, 11]),
        Fault.raw(zlib.compress(body), headers={"Content-Encoding": "deflate"}),
        Fault.raw(zlib.compress(body)[2:-4], headers={"Content-Encoding": "deflate"}),  # raw deflate
    )
    with client_for(server) as client:
        assert [client.chat("hi").text for _ in range(3)] == ["squeezed answer"] * 3
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_an_encoding_the_client_did_not_ask_for_is_a_clear_error(server):
    server.enqueue(Fault.raw(b"\x0b\x02\x80data", headers={"Content-Encoding": "br"}))
    with client_for(server) as client, pytest.raises(glm.APIError, match="Content-Encoding 'br'"):
        client.chat("hi")


def test_a_corrupt_gzip_body_is_a_broken_stream_not_a_crash(server):
    server.enqueue(Fault.raw(b"\x1f\x8b\x08\x00garbage-not-deflate", headers={"Content-Encoding": "gzip"}))
    with client_for(server) as client, pytest.raises(glm.StreamInterrupted):
        client.chat("hi")


# -- time ---------------------------------------------------------------------------------------


def test_keep_alive_comments_do_not_keep_a_silent_answer_alive(server):
    pings = b": ping\n\n" * 30
    body = pings + frame("too late") + FINISH
    server.enqueue(Fault.raw(body, splits=list(range(8, len(pings) + 1, 8)), pause=0.1))
    with client_for(server, timeout=0.5) as client, pytest.raises(glm.APITimeoutError) as info:
        client.chat("hi")
    assert "keep-alive" in str(info.value) and "timeout=0.5" in str(info.value)
    assert info.value.partial.text == ""


def test_total_timeout_bounds_an_answer_that_keeps_sending(server):
    pieces = [frame(f"w{i} ") for i in range(30)]
    body = b"".join(pieces) + FINISH
    cuts, at = [], 0
    for piece in pieces:
        at += len(piece)
        cuts.append(at)
    server.enqueue(Fault.raw(body, splits=cuts, pause=0.1))
    with (
        client_for(server, timeout=5, total_timeout=0.6) as client,
        pytest.raises(glm.APITimeoutError) as info,
    ):
        client.chat("hi")
    assert "total_timeout=0.6" in str(info.value)
    assert info.value.partial.text.startswith("w0 w1 ") and not info.value.partial.complete


def test_a_retry_that_would_pass_the_total_deadline_is_not_waited_for(server):
    server.enqueue(Fault.rate_limit(retry_after=3), Reply(text="never asked"))
    with client_for(server, max_retries=3, total_timeout=1.0) as client, pytest.raises(glm.RateLimitError):
        client.chat("hi")
    assert len(server.requests) == 1


def test_total_timeout_none_and_the_default_are_there():
    with glm.GLMClient(api_key=KEY, base_url="http://127.0.0.1:9/v1", total_timeout=None) as client:
        assert client.total_timeout is None
    with glm.GLMClient(api_key=KEY, base_url="http://127.0.0.1:9/v1") as client:
        assert client.total_timeout == 1800.0 and client.timeout == 60.0
