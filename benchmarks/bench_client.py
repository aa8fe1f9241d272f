"""Streaming throughput: GLMClient vs the openai SDK vs a bare httpx + httpx-sse loop.

A GLMTestServer in a separate process (so it does not compete for this process's GIL) streams a
20,000-chunk answer at full speed (its frames are encoded once, up front). Two scenarios, each
with its own server process:

* ``per_frame``: one write and one HTTP chunk per SSE frame, as the test server always sends them
  (TCP_NODELAY): every consumer pays the HTTP/transport cost once per frame, which caps them all.
* ``coalesced``: the same bytes, but 64 frames per write / HTTP chunk (``--coalesce``), as the
  TCP stream of a busy real server often arrives: the transport cost is amortised and the
  consumers' own per-frame parsing decides.

Each round consumes the answer once with each consumer, in alternating order. Reported per
scenario: median wall time and median CPU time of this process per consumer, chunks/s, and
ratios as medians of per-round ratios (the runs of one round share the machine's load, so drift
from other processes cancels). Merged into benchmarks/results.json under "client" (the per-frame
figures at the top level, the coalesced ones under "coalesced"). On a shared machine the CPU
figures are the stable ones.

    .venv/bin/python benchmarks/bench_client.py [--chunks 20000] [--rounds 5] [--coalesce 64]
        [--scenario both|per_frame|coalesced] [--profile]

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
from typing import Any

import httpx
from _results import RESULTS, merge  # benchmarks/_results.py: one key per script in results.json

import glm_notebook
from glm_notebook import GLMClient

try:  # the peers are not dependencies of glm_notebook: the `bench` extra brings them
    import openai
    from httpx_sse import connect_sse
except ImportError as exc:
    hint = f"bench_client.py measures against {exc.name}: run make bench, or pip install -e '.[bench]'"
    raise SystemExit(hint) from None

KEY = "bench-key"
MODEL = "glm-4.7-flash"
PROMPT = "Count for me."

# Runs in the child process: a test server whose every reply is the big streamed answer, its
# frames written `group` at a time (1: one write and one HTTP chunk per frame).
_SERVER = """
import sys
from glm_notebook.testing import GLMTestServer, Reply, _handler
n, group = int(sys.argv[1]), int(sys.argv[3])
pieces = [f"tok{i} " for i in range(n)]
reply = Reply(chunks=pieces, usage=True)
# Encode the 20,000 frames once, not per request: we measure the consumers, not the JSON encoder.
plan = _handler.stream_plan(reply, {"model": "glm-4.7-flash"})
writes, finish = [step[1] for step in plan[:-1]], plan[-1]
assert finish[0] == "finish" and all(step[0] == "write" for step in plan[:-1]), plan[-1]
plan = [("write", b"".join(writes[i : i + group])) for i in range(0, len(writes), group)] + [finish]
_handler.stream_plan = lambda reply, request: plan
with GLMTestServer(api_key=sys.argv[2], responder=lambda request: reply) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""

SCENARIOS = {  # name -> description; frames per write is 1 or --coalesce
    "per_frame": "one HTTP chunk per SSE frame",
    "coalesced": "{group} SSE frames per write / HTTP chunk",
}


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


Samples = dict[str, list[float]]  # consumer -> one figure per round


def run_scenario(chunks: int, rounds: int, group: int, profile: bool) -> tuple[Samples, Samples]:
    """(wall seconds, CPU seconds) per consumer and round, against a server writing ``group``
    frames per write."""
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(chunks), KEY, str(group)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        expected = expected_text(chunks)
        glm = GLMClient(base_url=base_url, api_key=KEY, model=MODEL, timeout=120.0)
        oai = openai.OpenAI(base_url=base_url, api_key=KEY, timeout=120.0, max_retries=0)
        bare = httpx.Client(timeout=120.0)
        consumers: dict[str, Callable[[], str]] = {
            "glm_notebook": lambda: run_glm(glm),
            "openai": lambda: run_openai(oai),
            "httpx_sse": lambda: run_bare(bare, base_url),
        }
        walls: Samples = {name: [] for name in consumers}
        cpus: Samples = {name: [] for name in consumers}
        try:
            if profile:
                import cProfile
                import pstats

                run_glm(glm)
                profiler = cProfile.Profile()
                profiler.runcall(run_glm, glm)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
                return walls, cpus
            for fn in consumers.values():  # warm up: connections, imports, caches
                measure(fn, expected)
            names = list(consumers)
            for r in range(rounds):  # alternate the order so no consumer always runs first
                order = names if r % 2 == 0 else names[::-1]
                for name in order:
                    wall, cpu = measure(consumers[name], expected)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
        finally:
            glm.close()
            oai.close()
            bare.close()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--coalesce", type=int, default=64, help="SSE frames per write, coalesced scenario")
    parser.add_argument("--scenario", choices=["both", *SCENARIOS], default="both")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one GLMClient run per scenario and exit"
    )
    args = parser.parse_args()
    names = list(SCENARIOS) if args.scenario == "both" else [args.scenario]
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        group = 1 if name == "per_frame" else args.coalesce
        title = f"{name}: " + SCENARIOS[name].format(group=group)
        if args.profile:
            print(f"\n== {title}")
        walls, cpus = run_scenario(args.chunks, args.rounds, group, args.profile)
        if not args.profile:
            results[name] = report(title, args.chunks, args.rounds, walls, cpus)
            results[name]["frames_per_write"] = group
    if args.profile:
        return
    load = os.getloadavg()[0]
    print(f"\nload average {load:.1f}: on a busy machine the CPU figures are the stable ones")
    if set(results) != set(SCENARIOS):
        print("one scenario only: results.json not updated")
        return
    merge(
        "client",
        {
            **results["per_frame"],
            "coalesced": results["coalesced"],
            "load_average": round(load, 2),
            "versions": {
                "glm_notebook": glm_notebook.__version__,
                "openai": openai.__version__,
                "httpx": httpx.__version__,
                "python": platform.python_version(),
            },
        },
    )
    print(f"merged into {RESULTS} under 'client' (per_frame at the top level, and 'coalesced')")


def ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[i] / b[i]: both ran in the same round, so load drift cancels."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def report(
    title: str, chunks: int, rounds: int, walls: dict[str, list[float]], cpus: dict[str, list[float]]
) -> dict[str, Any]:
    """Print the scenario's table; its figures for results.json."""
    names = list(walls)
    wall = {name: statistics.median(v) for name, v in walls.items()}
    cpu = {name: statistics.median(v) for name, v in cpus.items()}
    speed = {name: ratio(walls["openai"], walls[name]) for name in names}
    cpu_speed = {name: ratio(cpus["openai"], cpus[name]) for name in names}
    bare_wall = {name: ratio(walls[name], walls["httpx_sse"]) for name in names}
    bare_cpu = {name: ratio(cpus[name], cpus["httpx_sse"]) for name in names}
    print(f"\n{title}: {chunks} chunks, {rounds} alternating rounds, medians (server in its own process)\n")
    print(
        "| consumer | wall s | CPU s | chunks/s (wall) | faster than openai (wall) | less CPU than openai "
        "| time / bare loop (wall) | CPU / bare loop |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        print(
            f"| {name} | {wall[name]:.3f} | {cpu[name]:.3f} | {chunks / wall[name]:,.0f} | "
            f"{speed[name]:.1f}x | {cpu_speed[name]:.1f}x | {bare_wall[name]:.2f} | {bare_cpu[name]:.2f} |"
        )
    print(
        f"\nglm_notebook / bare httpx-sse loop: wall {bare_wall['glm_notebook']:.2f}, "
        f"CPU {bare_cpu['glm_notebook']:.2f} (goal <= 1.5); vs openai: {speed['glm_notebook']:.1f}x wall, "
        f"{cpu_speed['glm_notebook']:.1f}x CPU (goal >= 10x)"
    )
    return {
        "chunks": chunks,
        "rounds": rounds,
        "glm_speedup_vs_openai_wall": round(speed["glm_notebook"], 2),
        "glm_speedup_vs_openai_cpu": round(cpu_speed["glm_notebook"], 2),
        "glm_vs_bare_wall": round(bare_wall["glm_notebook"], 3),
        "glm_vs_bare_cpu": round(bare_cpu["glm_notebook"], 3),
        "wall_s": {k: round(v, 4) for k, v in wall.items()},
        "cpu_s": {k: round(v, 4) for k, v in cpu.items()},
        "chunks_per_s": {k: round(chunks / v) for k, v in wall.items()},
        "chunks_per_cpu_s": {k: round(chunks / v) for k, v in cpu.items()},
    }


if __name__ == "__main__":
    main()
