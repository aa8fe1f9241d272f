"""Tool-loop overhead: ``GLMClient.chat(tools=[...])`` vs a hand-written loop on the openai SDK.

A GLMTestServer in a separate process (so it does not compete for this process's GIL) answers
every request by looking at it: while the conversation has fewer than ``--turns`` tool results it
asks for one more ``get_weather`` call (streamed in pieces, as the test server does), then it
answers in text. Both consumers run the same conversation: ``--turns`` tool turns plus the final
answer, the same tool (a trivial function whose own time is measured and subtracted).

The figure is the loop's own overhead per tool turn: this process's CPU time (the server runs in
another process; the tool's time is taken out) divided by the number of tool turns. That is our
time beyond the server and the tool: streaming the turn, assembling the call, validating the
arguments (pydantic, ours only), running the tool, building the follow-up request. The wall time
per turn is reported too (it includes the server's time, the same for both). Ratios are medians
of per-round ratios (the runs of one round share the machine's load). Merged into
benchmarks/results.json under "tools".

    .venv/bin/python benchmarks/bench_tools.py [--turns 10] [--rounds 7]

Both loops must end with the same answer after the same number of tool calls (checked).
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

from _results import RESULTS, merge  # benchmarks/_results.py: one key per script in results.json

import glm_notebook
from glm_notebook import GLMClient

try:  # the peer is not a dependency of glm_notebook: the `bench` extra brings it
    import openai
except ImportError as exc:
    hint = f"bench_tools.py measures against {exc.name}: run make bench, or pip install -e '.[bench]'"
    raise SystemExit(hint) from None

KEY = "bench-key"
MODEL = "glm-4.7-flash"
PROMPT = "What is the weather in Paris, again and again?"
FINAL = "It stays 21 degrees in Paris."

# Runs in the child process: one more tool call until the request carries `turns` tool results.
_SERVER = """
import sys
from glm_notebook.testing import GLMTestServer, Reply
turns = int(sys.argv[1])
FINAL = sys.argv[3]

def respond(request):
    done = sum(1 for m in request.get("messages", []) if m.get("role") == "tool")
    if done >= turns:
        return Reply(text=FINAL)
    call = {"id": f"call_{done}", "name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
    return Reply(tool_calls=[call])

with GLMTestServer(api_key=sys.argv[2], responder=respond) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


class ToolClock:
    """Counts the tool's calls and the time spent inside it (taken out of both figures)."""

    def __init__(self) -> None:
        self.calls = 0
        self.wall = 0.0
        self.cpu = 0.0

    def get_weather(self, city: str, unit: str = "C") -> dict[str, Any]:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        self.calls += 1
        result = {"city": city, "temp": 21, "unit": unit}
        self.wall += time.perf_counter() - wall0
        self.cpu += time.process_time() - cpu0
        return result


def ours(client: GLMClient, clock: ToolClock, turns: int) -> str:
    def get_weather(city: str, unit: str = "C") -> dict[str, Any]:
        """Current weather for a city.

        Args:
            city: the city's name.
            unit: C or F.
        """
        return clock.get_weather(city, unit)

    return client.chat(PROMPT, tools=[get_weather], max_tool_turns=turns).text


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "the city's name."},
                    "unit": {"type": "string", "description": "C or F.", "default": "C"},
                },
                "required": ["city"],
            },
        },
    }
]


def theirs(client: openai.OpenAI, clock: ToolClock, turns: int) -> str:
    """The loop people write by hand on the openai SDK: stream, assemble by index, run, repeat."""
    functions: dict[str, Callable[..., Any]] = {"get_weather": clock.get_weather}
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    for _turn in range(turns + 1):
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        stream = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True)
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                text.append(delta.content)
            for tc in delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = tc.id or entry["id"]
                if tc.function is not None:
                    entry["name"] = tc.function.name or entry["name"]
                    entry["arguments"] += tc.function.arguments or ""
        if not calls:
            return "".join(text)
        ordered = [calls[i] for i in sorted(calls)]
        messages.append(
            {
                "role": "assistant",
                "content": "".join(text) or None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in ordered
                ],
            }
        )
        for c in ordered:
            output = functions[c["name"]](**json.loads(c["arguments"] or "{}"))
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": json.dumps(output)})
    raise RuntimeError("too many tool turns")


def measure(fn: Callable[[ToolClock], str], turns: int) -> tuple[float, float]:
    """(wall, CPU) seconds per tool turn of one conversation, the tool's own time taken out."""
    clock = ToolClock()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    text = fn(clock)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if text != FINAL or clock.calls != turns:
        raise AssertionError(f"wrong loop: {text!r} after {clock.calls} calls (expected {turns})")
    return (wall - clock.wall) / turns, (cpu - clock.cpu) / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10, help="tool turns per conversation")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(args.turns), KEY, FINAL],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    walls: dict[str, list[float]] = {"glm_notebook": [], "openai": []}
    cpus: dict[str, list[float]] = {"glm_notebook": [], "openai": []}
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        glm = GLMClient(
            base_url=base_url, api_key=KEY, model=MODEL, provider="openai-compatible", timeout=60.0
        )
        oai = openai.OpenAI(base_url=base_url, api_key=KEY, timeout=60.0, max_retries=0)
        consumers: dict[str, Callable[[ToolClock], str]] = {
            "glm_notebook": lambda clock: ours(glm, clock, args.turns),
            "openai": lambda clock: theirs(oai, clock, args.turns),
        }
        try:
            for fn in consumers.values():  # warm up: connections, imports, pydantic's schema build
                measure(fn, args.turns)
            names = list(consumers)
            for r in range(args.rounds):  # alternate the order so neither always runs first
                for name in names if r % 2 == 0 else names[::-1]:
                    wall, cpu = measure(consumers[name], args.turns)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
        finally:
            glm.close()
            oai.close()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)

    def ratio(samples: dict[str, list[float]]) -> float:
        return statistics.median(
            a / b for a, b in zip(samples["glm_notebook"], samples["openai"], strict=True)
        )

    figures: dict[str, Any] = {
        "turns": args.turns,
        "rounds": args.rounds,
        "cpu_ms_per_turn_glm_notebook": statistics.median(cpus["glm_notebook"]) * 1000,
        "cpu_ms_per_turn_openai": statistics.median(cpus["openai"]) * 1000,
        "cpu_ratio_glm_notebook_to_openai": ratio(cpus),
        "wall_ms_per_turn_glm_notebook": statistics.median(walls["glm_notebook"]) * 1000,
        "wall_ms_per_turn_openai": statistics.median(walls["openai"]) * 1000,
        "wall_ratio_glm_notebook_to_openai": ratio(walls),
        "versions": {
            "glm_notebook": glm_notebook.__version__,
            "openai": openai.__version__,
            "python": platform.python_version(),
        },
    }
    merge("tools", figures)
    print(
        f"tool loop, {args.turns} tool turns per conversation, {args.rounds} rounds (medians, per tool turn)"
    )
    print(f"{'':14}{'CPU ms (overhead)':>20}{'wall ms':>12}")
    for name in consumers:
        print(
            f"{name:14}{statistics.median(cpus[name]) * 1000:>20.2f}{statistics.median(walls[name]) * 1000:>12.2f}"
        )
    print(
        f"glm_notebook / openai: CPU {figures['cpu_ratio_glm_notebook_to_openai']:.2f}x, "
        f"wall {figures['wall_ratio_glm_notebook_to_openai']:.2f}x  (below 1: ours is faster)"
    )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
