"""The test server's concurrency limit, latency and counts, over real sockets."""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx

from glm_notebook.testing import GLMTestServer, Reply


def _post(url: str, stream: bool = False) -> httpx.Response:
    body = {"model": "glm-4.7-flash", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(url + "/chat/completions", json=body, timeout=5)


def test_over_the_limit_is_429_code_1302_without_retry_after_by_default():
    with GLMTestServer(concurrency_limit=2, latency=0.3) as server:
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda _: _post(server.base_url), range(5)))
        ok = [a for a in answers if a.status_code == 200]
        refused = [a for a in answers if a.status_code == 429]
        assert len(ok) == 2 and len(refused) == 3
        assert all(a.json()["error"]["code"] == "1302" for a in refused)
        assert all("retry-after" not in a.headers for a in refused)
        server.wait_until_finished()  # a client can have its answer before the handler records it
        stats = server.stats()
        assert stats == {
            "chat_requests": 5,
            "rejected": 3,
            "answered": 2,
            "peak_in_flight": 2,
            "in_flight": 0,
        }
        assert sorted(r.outcome for r in server.requests) == ["complete"] * 2 + ["over_limit"] * 3


def test_limit_retry_after_sets_the_header_and_refusals_use_no_script():
    with GLMTestServer(concurrency_limit=1, limit_retry_after=2, latency=0.3) as server:
        server.enqueue(Reply(text="first"), Reply(text="second"))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(_post, server.base_url, True)
            time.sleep(0.1)
            second = pool.submit(_post, server.base_url)
            refused, answered = second.result(), first.result()
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
        assert "first" in answered.text
        assert server.pending() == 1  # "second" is still queued for the next admitted request
        assert _post(server.base_url).json()["choices"][0]["message"]["content"] == "second"


def test_latency_delays_every_answer_and_the_next_request_fits_once_one_ends():
    with GLMTestServer(concurrency_limit=1, latency=0.1) as server:
        started = time.monotonic()
        for stream in (True, False, True):  # back to back: a slot is free again when an answer ends
            assert _post(server.base_url, stream).status_code == 200
        assert time.monotonic() - started >= 0.3
        assert server.stats()["rejected"] == 0 and server.stats()["answered"] == 3


def test_reset_restores_the_limits_and_clears_the_counts():
    with GLMTestServer(concurrency_limit=3) as server:
        server.concurrency_limit, server.latency = 1, 0.5
        _post(server.base_url)
        server.reset()
        assert (server.concurrency_limit, server.latency) == (3, 0.0)
        assert server.stats()["chat_requests"] == 0
        assert json.loads(_post(server.base_url).text)["choices"][0]["message"]["content"] == "You said: hi"
