"""Offline model: tokens/s through the local HTTP server vs llama_cpp.Llama called in-process.

The same streamed chat generation (same prompt, temperature 0, seed, max_tokens) runs through each
path in alternating rounds. The in-process model is built by the server's own code
(``_http.load_model``) from the very command line ``ensure_server`` runs,
so n_ctx, threads, logits_all and the chat template are identical. Medians are reported and merged
into benchmarks/results.json under "local". The goal is a server/in-process ratio >= 0.95.
Tokens are counted as content chunks (one per token on every path; the server sends no usage in
streams), and every path must produce the same text.

Two figures per path: wall-clock tokens/s (what a user sees; noisy on a shared machine) and tokens
per CPU-second of this process plus the server process (the work each path costs; stable under
other load). Ratios are medians of per-round ratios to the in-process run of the same round.

    .venv/bin/python benchmarks/bench_local.py [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _results import merge  # benchmarks/_results.py: one key per script in results.json

import glm_notebook
from glm_notebook.local import LocalServerInfo, _model, _server, ensure_server, stop_server

# A prompt this base model answers at length at temperature 0 (most stop after a sentence).
MESSAGES = [{"role": "user", "content": "Count from 1 to 100, separated by commas."}]
SEED = 1234


def run_http(info: LocalServerInfo, max_tokens: int) -> tuple[float, float, int, str]:
    """(seconds, time to first token, tokens, text) for one streamed request over HTTP."""
    payload = {
        "model": info.model,
        "messages": MESSAGES,
        "temperature": 0.0,
        "seed": SEED,
        "max_tokens": max_tokens,
        "stream": True,
    }
    pieces: list[str] = []
    ttft = 0.0
    with httpx.Client(trust_env=False, timeout=300.0) as http:
        start = time.perf_counter()
        with http.stream("POST", f"{info.base_url}/chat/completions", json=payload) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:") or line.endswith("[DONE]"):
                    continue
                content = json.loads(line[5:])["choices"][0]["delta"].get("content")
                if content:
                    ttft = ttft or time.perf_counter() - start
                    pieces.append(content)
        elapsed = time.perf_counter() - start
    return elapsed, ttft, len(pieces), "".join(pieces)


def run_glm_client(client: object, max_tokens: int) -> tuple[float, float, int, str]:
    """The same request through the project's GLMClient (provider "local")."""
    pieces: list[str] = []
    ttft = 0.0
    start = time.perf_counter()
    with client.stream(MESSAGES, temperature=0.0, max_tokens=max_tokens, seed=SEED) as stream:  # type: ignore[attr-defined]
        for event in stream:
            if event.kind == "text":
                ttft = ttft or time.perf_counter() - start
                pieces.append(event.text)
    return time.perf_counter() - start, ttft, len(pieces), "".join(pieces)


def run_in_process(llm: object, max_tokens: int) -> tuple[float, float, int, str]:
    """The same generation with llama_cpp.Llama in this process, streamed the same way.

    The keyword arguments are built as the server builds them from a request body, so the
    server's defaults for unset options (repeat_penalty 1.1, top_k 40, min_p 0.05, ...) apply here
    too: repeat_penalty acts even at temperature 0.
    """
    from llama_cpp.server.types import CreateChatCompletionRequest

    body = CreateChatCompletionRequest(
        messages=MESSAGES, temperature=0.0, seed=SEED, max_tokens=max_tokens, stream=True
    )
    kwargs = body.model_dump(exclude={"n", "logit_bias_type", "user", "min_tokens"})
    pieces: list[str] = []
    ttft = 0.0
    start = time.perf_counter()
    for chunk in llm.create_chat_completion(**kwargs):  # type: ignore[attr-defined]
        content = chunk["choices"][0]["delta"].get("content")
        if content:
            ttft = ttft or time.perf_counter() - start
            pieces.append(content)
    return time.perf_counter() - start, ttft, len(pieces), "".join(pieces)


def in_process_model(info: LocalServerInfo) -> object:
    """llama_cpp.Llama built exactly as the server builds it, from the server's command line."""
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, Settings

    from glm_notebook.local._http import load_model

    _, chat_args = _server._chat_arguments(_model.choose_model())
    command = _server.server_command(info, chat_args)
    parser = argparse.ArgumentParser()
    add_args_from_model(parser, Settings)
    args = parser.parse_args([*command[command.index("--model") :], "--verbose", "false"])
    return load_model(parse_model_from_args(ModelSettings, args))


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _paired_ratio(values: list[float], baseline: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(values, baseline, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    import llama_cpp

    start = time.perf_counter()
    info = ensure_server()
    server_start_s = time.perf_counter() - start
    llm = in_process_model(info)
    paths: dict[str, Callable[[int], tuple[float, float, int, str]]] = {
        "in-process": lambda n: run_in_process(llm, n),
        "http-server": lambda n: run_http(info, n),
    }
    if hasattr(glm_notebook, "GLMClient"):
        client = glm_notebook.GLMClient(provider="local")
        paths["GLMClient"] = lambda n: run_glm_client(client, n)

    for run in paths.values():  # warm-up: page the model in, fill caches
        run(8)
    load_before = os.getloadavg()[0]
    samples: dict[str, list[tuple[float, float, int, str]]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else reversed(names):
            cpu_before = time.process_time() + process_cpu_s(info.pid)
            samples[name].append(paths[name](args.max_tokens))
            cpu[name].append(time.process_time() + process_cpu_s(info.pid) - cpu_before)
        speeds = "  ".join(f"{name} {samples[name][-1][2] / samples[name][-1][0]:.1f}" for name in names)
        print(f"round {r + 1}: tokens/s  {speeds}", flush=True)
    load_after = os.getloadavg()[0]

    same_text = len({run[3] for runs in samples.values() for run in runs}) == 1
    speed = {name: [tokens / seconds for seconds, _, tokens, _ in runs] for name, runs in samples.items()}
    per_cpu = {name: [run[2] / c for run, c in zip(samples[name], cpu[name], strict=True)] for name in names}
    rows = {}
    for name, runs in samples.items():
        rows[name] = {
            "tokens_per_s": statistics.median(speed[name]),
            "ttft_s": statistics.median(ttft for _, ttft, _, _ in runs),
            "tokens": runs[0][2],
            "ratio_vs_in_process": _paired_ratio(speed[name], speed["in-process"]),
            "tokens_per_cpu_s": statistics.median(per_cpu[name]),
            "cpu_ratio_vs_in_process": _paired_ratio(per_cpu[name], per_cpu["in-process"]),
        }

    print(f"offline model {info.model} | n_ctx {info.n_ctx} | threads {info.n_threads} | "
          f"max_tokens {args.max_tokens} | rounds {args.rounds} (medians of alternating rounds)")  # fmt: skip
    print(
        f"{'path':<12} {'tokens/s':>9} {'ratio':>6} {'tok/CPU-s':>10} {'ratio':>6} {'TTFT s':>7} {'tokens':>7}"
    )
    for name, row in rows.items():
        print(f"{name:<12} {row['tokens_per_s']:>9.1f} {row['ratio_vs_in_process']:>6.3f} "
              f"{row['tokens_per_cpu_s']:>10.1f} {row['cpu_ratio_vs_in_process']:>6.3f} "
              f"{row['ttft_s']:>7.3f} {row['tokens']:>7}")  # fmt: skip
    print(
        f"server start (model load + health check): {server_start_s:.2f} s; same text on all paths: {same_text}; "
        f"load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs"
    )

    figures = {
        "model": info.model,
        "n_ctx": info.n_ctx,
        "threads": info.n_threads,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "server_start_s": round(server_start_s, 3),
        "same_text_on_all_paths": same_text,
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "cpus": os.cpu_count(),
        "in_process_tokens_per_s": round(rows["in-process"]["tokens_per_s"], 2),
        "http_server_tokens_per_s": round(rows["http-server"]["tokens_per_s"], 2),
        "server_vs_in_process_ratio": round(rows["http-server"]["ratio_vs_in_process"], 4),
        "server_vs_in_process_cpu_ratio": round(rows["http-server"]["cpu_ratio_vs_in_process"], 4),
        "goal_ratio": 0.95,
        "paths": {
            name: {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
            for name, row in rows.items()
        },
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
    }
    if "GLMClient" in rows:
        figures["glm_client_tokens_per_s"] = round(rows["GLMClient"]["tokens_per_s"], 2)
        figures["glm_client_vs_in_process_ratio"] = round(rows["GLMClient"]["ratio_vs_in_process"], 4)
        figures["glm_client_vs_in_process_cpu_ratio"] = round(rows["GLMClient"]["cpu_ratio_vs_in_process"], 4)
    merge("local", figures)
    stop_server()
    return 0


if __name__ == "__main__":
    sys.exit(main())
