"""Streaming throughput: GLMClient vs the openai SDK vs a bare httpx + httpx-sse loop.

A GLMTestServer in a separate process (so it does not compete for this process's GIL) streams a
20,000-chunk answer at full speed (its frames are encoded once, up front). Each round consumes it
once with each consumer, in alternating order. Reported: median wall time and median CPU time of
this process per consumer, and ratios as medians of per-round ratios (the runs of one round share
the machine's load, so drift from other processes cancels). Merged into benchmarks/results.json
under "client". On a shared machine the CPU figures are the stable ones.

    .venv/bin/python benchmarks/bench_client.py [--chunks 20000] [--rounds 5] [--profile]

Every consumer must return the same text (checked), so a fast but wrong parser cannot win.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import openai
from _results import RESULTS, merge  # benchmarks/_results.py: one key per script in results.json
from httpx_sse import connect_sse

import glm_notebook
from glm_notebook import GLMClient

KEY = "bench-key"
MODEL = "glm-4.7-flash"
PROMPT = "Count for me."

# Runs in the child process: a test server whose every reply is the big streamed answer.
_SERVER = """
import sys
from glm_notebook.testing import GLMTestServer, Reply, _handler
n = int(sys.argv[1])
pieces = [f"tok{i} " for i in range(n)]
reply = Reply(chunks=pieces, usage=True)
# Encode the 20,000 frames once, not per request: we measure the consumers, not the JSON encoder.
plan = _handler.stream_plan(reply, {"model": "glm-4.7-flash"})
_handler.stream_plan = lambda reply, request: plan
with GLMTestServer(api_key=sys.argv[2], responder=lambda request: reply) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def expected_text(n: int) -> str:
    return "".join(f"tok{i} " for i in range(n))


def run_glm(client: GLMClient) -> str:
    with client.stream(PROMPT) as stream:
        for _event in stream:
            pass
    return stream.result.text


def run_openai(client: openai.OpenAI) -> str:
    pieces = []
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    return "".join(pieces)


def run_bare(http: httpx.Client, base_url: str) -> str:
    """The reference: httpx-sse events, json.loads, pick the content. No error handling at all."""
    pieces = []
    payload = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    with connect_sse(http, "POST", f"{base_url}/chat/completions", json=payload, headers=headers) as source:
        for sse in source.iter_sse():
            if sse.data == "[DONE]":
                break
            content = json.loads(sse.data)["choices"][0]["delta"].get("content")
            if content:
                pieces.append(content)
    return "".join(pieces)


def measure(fn: Callable[[], str], expected: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to consume one answer."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    text = fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if text != expected:
        raise AssertionError(f"wrong text: {len(text)} characters instead of {len(expected)}")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one GLMClient run and exit")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(args.chunks), KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        expected = expected_text(args.chunks)
        glm = GLMClient(base_url=base_url, api_key=KEY, model=MODEL, timeout=120.0)
        oai = openai.OpenAI(base_url=base_url, api_key=KEY, timeout=120.0, max_retries=0)
        bare = httpx.Client(timeout=120.0)
        consumers: dict[str, Callable[[], str]] = {
            "glm_notebook": lambda: run_glm(glm),
            "openai": lambda: run_openai(oai),
            "httpx_sse": lambda: run_bare(bare, base_url),
        }
        if args.profile:
            import cProfile
            import pstats

            run_glm(glm)
            profiler = cProfile.Profile()
            profiler.runcall(run_glm, glm)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        for fn in consumers.values():  # warm up: connections, imports, caches
            measure(fn, expected)
        walls: dict[str, list[float]] = {name: [] for name in consumers}
        cpus: dict[str, list[float]] = {name: [] for name in consumers}
        names = list(consumers)
        for r in range(args.rounds):  # alternate the order so no consumer always runs first
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                wall, cpu = measure(consumers[name], expected)
                walls[name].append(wall)
                cpus[name].append(cpu)
        glm.close()
        oai.close()
        bare.close()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)

    report(args.chunks, args.rounds, walls, cpus)


def ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[i] / b[i]: both ran in the same round, so load drift cancels."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def report(chunks: int, rounds: int, walls: dict[str, list[float]], cpus: dict[str, list[float]]) -> None:
    names = list(walls)
    wall = {name: statistics.median(v) for name, v in walls.items()}
    cpu = {name: statistics.median(v) for name, v in cpus.items()}
    speed = {name: ratio(walls["openai"], walls[name]) for name in names}
    cpu_speed = {name: ratio(cpus["openai"], cpus[name]) for name in names}
    print(f"\n{chunks} chunks, {rounds} alternating rounds, medians (server in its own process)\n")
    print(
        "| consumer | wall s | CPU s | chunks/s (wall) | faster than openai (wall) | less CPU than openai |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        print(
            f"| {name} | {wall[name]:.3f} | {cpu[name]:.3f} | {chunks / wall[name]:,.0f} | "
            f"{speed[name]:.1f}x | {cpu_speed[name]:.1f}x |"
        )
    vs_bare_wall = ratio(walls["glm_notebook"], walls["httpx_sse"])
    vs_bare_cpu = ratio(cpus["glm_notebook"], cpus["httpx_sse"])
    load = os.getloadavg()[0]
    print(f"\nglm_notebook / bare httpx-sse loop: wall {vs_bare_wall:.2f}, CPU {vs_bare_cpu:.2f}")
    print(f"load average {load:.1f}: on a busy machine the CPU figures are the stable ones")
    merge(
        "client",
        {
            "chunks": chunks,
            "rounds": rounds,
            "glm_speedup_vs_openai_wall": round(speed["glm_notebook"], 2),
            "glm_speedup_vs_openai_cpu": round(cpu_speed["glm_notebook"], 2),
            "glm_vs_bare_wall": round(vs_bare_wall, 3),
            "glm_vs_bare_cpu": round(vs_bare_cpu, 3),
            "load_average": round(load, 2),
            "wall_s": {k: round(v, 4) for k, v in wall.items()},
            "cpu_s": {k: round(v, 4) for k, v in cpu.items()},
            "chunks_per_s": {k: round(chunks / v) for k, v in wall.items()},
            "versions": {
                "glm_notebook": glm_notebook.__version__,
                "openai": openai.__version__,
                "httpx": httpx.__version__,
                "python": platform.python_version(),
            },
        },
    )
    print(f"merged into {RESULTS} under 'client'")


if __name__ == "__main__":
    main()
