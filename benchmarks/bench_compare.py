"""Side-by-side compare: four settings at once vs the same four runs one after another.

A GLMTestServer answers every request in about one second (five words, ``delay`` between chunks).
Each round times ``compare()`` over four temperatures (panels stream concurrently through the async
client) and four sequential ``GLMClient.chat`` calls with the same settings. The goal is a compare
that takes about as long as its slowest single run, not the sum. Medians are printed as ratios and
merged into benchmarks/results.json under "compare".

    .venv/bin/python benchmarks/bench_compare.py [--rounds 3] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import glm_notebook
from glm_notebook import GLMClient
from glm_notebook.playground import compare
from glm_notebook.testing import GLMTestServer, Reply

RESULTS = Path(__file__).with_name("results.json")
KEY = "bench-key"
TEMPERATURES = [0.0, 0.3, 0.6, 0.9]
WORDS = "one two three four five"


def save(key: str, value: dict) -> None:
    """Read-modify-write results.json: other benchmark scripts own the other keys."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def one_round(client: GLMClient) -> dict[str, float]:
    singles = []
    for t in TEMPERATURES:
        start = time.perf_counter()
        result = client.chat("Compare me.", temperature=t)
        singles.append(time.perf_counter() - start)
        assert result.text == WORDS, result.text
    start = time.perf_counter()
    results = compare("Compare me.", temperature=TEMPERATURES, client=client, display="none")
    together = time.perf_counter() - start
    assert [r.text for r in results] == [WORDS] * len(TEMPERATURES)
    return {"compare_s": together, "sequential_s": sum(singles), "slowest_single_s": max(singles)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="how long one answer takes")
    args = parser.parse_args()
    pieces = len(WORDS.split())
    reply = Reply(text=WORDS, delay=args.seconds / pieces)  # pieces-1 gaps + the closing chunk
    with GLMTestServer(api_key=KEY, responder=lambda request: reply) as server:
        with GLMClient(provider="zai", base_url=server.base_url, api_key=KEY) as client:
            one_round(client)  # warm-up: imports, pooled connections
            rounds = [one_round(client) for _ in range(args.rounds)]
    median = {k: round(statistics.median(r[k] for r in rounds), 3) for k in rounds[0]}
    summary = {
        **median,
        "settings": len(TEMPERATURES),
        "answer_s": args.seconds,
        "rounds": args.rounds,
        "compare_vs_sequential": round(median["compare_s"] / median["sequential_s"], 3),
        "compare_vs_slowest_single": round(median["compare_s"] / median["slowest_single_s"], 3),
        "versions": {"glm_notebook": glm_notebook.__version__, "python": platform.python_version()},
    }
    print(
        f"compare over {len(TEMPERATURES)} settings, each answer ~{args.seconds:.1f} s ({args.rounds} rounds)"
    )
    print(f"  {'compare (concurrent)':<26}{median['compare_s']:>8.2f} s")
    print(f"  {'4 single runs in a row':<26}{median['sequential_s']:>8.2f} s")
    print(f"  {'slowest single run':<26}{median['slowest_single_s']:>8.2f} s")
    print(
        f"  compare / sequential = {summary['compare_vs_sequential']:.2f}, "
        f"compare / slowest single = {summary['compare_vs_slowest_single']:.2f}"
    )
    save("compare", summary)


if __name__ == "__main__":
    main()
