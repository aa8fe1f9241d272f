"""glm.map against a server with an unpublished concurrency limit, side by side with the peers.

A GLMTestServer in a separate process (so it does not compete for this process's GIL) refuses
more than ``--limit`` requests in flight (429, code 1302, no Retry-After: as GLM's v4 API) and
answers each admitted request after ``--latency`` seconds, so the ideal is limit / latency rows/s
(160 for 8 and 50 ms). Contenders, one after another on the same server, ``--rows`` rows each:

* ``glm_map``: ``glm.map`` not told the limit (``concurrency="auto"``, cache off);
* ``told_limit``: a plain asyncio loop with exactly ``limit`` workers on AsyncGLMClient (the
  practical ceiling: it never sees a 429);
* ``pause_10s``: the curator / OpenAI-cookbook policy: 16 workers, and any 429 pauses every
  worker for 10 s before the row is tried again. It is given ``--peer-seconds`` (60 s); its
  rows/s is what it finished in that time;
* ``litellm``: litellm's ``batch_completion`` (100 threads, no retry of a refused row), run in its
  own virtualenv (``.venv-litellm``, made by ``make bench``) when that exists; skipped otherwise;
* ``cached``: the same rows through ``glm.map`` again, served from a fresh SQLite cache that a
  first (timed, live) run filled: the re-run speedup.

``told_limit`` and ``glm_map`` run ``--rounds`` times (3), alternating which goes first, so each
round's pair shares the machine's load; reported are their median rows/s, the median of the
per-round ratios, the most failed rows and 429s of any round. Reported for all: rows/s, failed
rows, 429s the server sent, ratio to ``told_limit``. Merged into benchmarks/results.json under
"map".

    .venv/bin/python benchmarks/bench_map.py [--rows 2000] [--limit 8] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import merge

import glm_notebook as glm

KEY = "bench-key"
MODEL = "glm-4.7-flash"
ROOT = Path(__file__).resolve().parent.parent

_SERVER = r"""
import json, sys
from glm_notebook.testing import GLMTestServer
server = GLMTestServer(api_key=sys.argv[1], concurrency_limit=int(sys.argv[2]), latency=float(sys.argv[3]))
server.start()
print(server.base_url, flush=True)
for line in sys.stdin:
    if line.strip() == "stats":
        print(json.dumps(server.stats()), flush=True)
    elif line.strip() == "reset":
        server.reset()
        print("{}", flush=True)
server.stop()
"""

_LITELLM = r"""
import json, sys, time
import litellm
base_url, key, model, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
messages = [[{"role": "user", "content": f"Summarise row {i}"}] for i in range(rows)]
started = time.perf_counter()
answers = litellm.batch_completion(model="openai/" + model, messages=messages, api_base=base_url, api_key=key)
seconds = time.perf_counter() - started
failed = sum(1 for a in answers if isinstance(a, Exception) or not getattr(a, "choices", None))
print(json.dumps({"seconds": seconds, "failed": failed}))
"""


class Server:
    def __init__(self, limit: int, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, KEY, str(limit), str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()

    def ask(self, command: str) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def prompts(rows: int) -> list[str]:
    return [f"row {i}" for i in range(rows)]


def run_map(client: glm.GLMClient, rows: int, cache: bool) -> tuple[float, int]:
    started = time.perf_counter()
    result = glm.map("Summarise {text}", prompts(rows), client=client, cache=cache)
    return time.perf_counter() - started, len(result.errors) + len(result.missing)


async def _told_limit(base_url: str, rows: int, workers: int) -> tuple[float, int]:
    async with glm.AsyncGLMClient(base_url=base_url, api_key=KEY, model=MODEL) as client:
        todo = list(reversed(prompts(rows)))
        failed = 0

        async def worker() -> None:
            nonlocal failed
            while todo:
                text = todo.pop()
                try:
                    await client.chat(f"Summarise {text}")
                except glm.GLMError:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return time.perf_counter() - started, failed


async def _pause_on_429(base_url: str, rows: int, workers: int, budget: float) -> tuple[float, int, int]:
    """16 workers; any 429 pauses everyone 10 s. Returns (seconds, rows done, rows failed)."""
    async with glm.AsyncGLMClient(base_url=base_url, api_key=KEY, model=MODEL, max_retries=0) as client:
        todo = list(reversed(prompts(rows)))
        done = failed = 0
        resume_at = 0.0
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal done, failed, resume_at
            while todo and time.perf_counter() - started < budget:
                wait = resume_at - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(min(wait, budget - (time.perf_counter() - started)))
                    continue
                text = todo.pop()
                try:
                    await client.chat(f"Summarise {text}")
                    done += 1
                except glm.RateLimitError:
                    resume_at = time.perf_counter() + 10.0
                    todo.append(text)
                except glm.APIConnectionError:  # a pooled connection that idled through a pause
                    todo.append(text)
                except glm.GLMError:
                    failed += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
        return time.perf_counter() - started, done, failed


def run_litellm(base_url: str, rows: int) -> dict[str, Any] | None:
    python = ROOT / ".venv-litellm" / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", _LITELLM, base_url, KEY, MODEL, str(rows)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        print("litellm failed:", out.stderr[-500:], file=sys.stderr)
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--peer-seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows, ideal = args.rows, args.limit / args.latency
    server = Server(args.limit, args.latency)
    figures: dict[str, Any] = {
        "rows": rows,
        "limit": args.limit,
        "latency_s": args.latency,
        "ideal_rows_per_s": ideal,
    }
    table: list[tuple[str, float, int, int]] = []
    try:
        client = glm.GLMClient(
            base_url=server.base_url, api_key=KEY, model=MODEL, provider="openai-compatible"
        )
        glm.map("warm up {text}", prompts(20), client=client, cache=False)  # connections, imports

        def record(name: str, seconds: float, done: int, failed: int) -> None:
            rejected = server.ask("stats")["rejected"]
            server.ask("reset")
            table.append((name, done / seconds, failed, rejected))
            figures[name] = {"rows_per_s": done / seconds, "failed": failed, "rejected_429": rejected}

        server.ask("reset")
        told: list[tuple[float, int, int]] = []
        mapped: list[tuple[float, int, int]] = []
        for r in range(args.rounds):  # alternate the order: a round's two runs share the machine's load
            for name in ("told", "map") if r % 2 == 0 else ("map", "told"):
                if name == "told":
                    seconds, failed = asyncio.run(_told_limit(server.base_url, rows, args.limit))
                    told.append((rows / seconds, failed, server.ask("stats")["rejected"]))
                else:
                    seconds, failed = run_map(client, rows, cache=False)
                    mapped.append((rows / seconds, failed, server.ask("stats")["rejected"]))
                server.ask("reset")
        for name, runs in (("told_limit", told), ("glm_map", mapped)):
            rate = statistics.median(run[0] for run in runs)
            failed, rejected = max(run[1] for run in runs), max(run[2] for run in runs)
            table.append((name, rate, failed, rejected))
            figures[name] = {
                "rows_per_s": rate,
                "failed": failed,
                "rejected_429": rejected,
                "rounds": len(runs),
            }
        figures["glm_map"]["median_round_ratio"] = statistics.median(
            m[0] / t[0] for m, t in zip(mapped, told, strict=True)
        )
        seconds, done, failed = asyncio.run(_pause_on_429(server.base_url, rows, 16, args.peer_seconds))
        record("pause_10s", seconds, done, failed)
        lite = run_litellm(server.base_url, rows)
        if lite is not None:
            record("litellm", lite["seconds"], rows - lite["failed"], lite["failed"])
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["GLM_NOTEBOOK_CACHE"] = str(Path(tmp) / "answers.sqlite3")
            live, failed = run_map(client, rows, cache=True)
            server.ask("reset")
            cached, _ = run_map(client, rows, cache=True)
            sent = server.ask("stats")["chat_requests"]
            figures["cached"] = {
                "live_s": live,
                "cached_s": cached,
                "speedup": live / cached,
                "rows_per_s": rows / cached,
                "requests_sent": sent,
            }
        client.close()
    finally:
        server.close()
    base = figures["told_limit"]["rows_per_s"]
    for name in ("glm_map", "pause_10s", "litellm"):  # ratio of medians (glm_map also per round)
        if name in figures:
            figures[name]["ratio_to_told_limit"] = figures[name]["rows_per_s"] / base
    merge("map", figures)
    print(
        f"{rows} rows, server limit {args.limit} in flight, {args.latency * 1000:.0f} ms answers (ideal {ideal:.0f} rows/s)"
    )
    print(f"{'contender':<12} {'rows/s':>8} {'vs told':>8} {'failed':>7} {'429s':>6}")
    for name, rate, failed, rejected in table:
        print(f"{name:<12} {rate:8.1f} {rate / base:8.2f} {failed:7d} {rejected:6d}")
    print(
        f"glm_map / told_limit, median of {args.rounds} rounds: {figures['glm_map']['median_round_ratio']:.2f}"
    )
    c = figures["cached"]
    print(
        f"cached re-run: {c['cached_s']:.3f} s vs {c['live_s']:.2f} s live ({c['speedup']:.0f}x), "
        f"{c['requests_sent']} requests sent"
    )
    if "litellm" not in figures:
        print("litellm: skipped (no .venv-litellm; `make bench` makes it)")


if __name__ == "__main__":
    main()
