"""Import cost: `import glm_notebook` vs `import openai`, each in a fresh interpreter.

Every sample is a new `python -c` process that times only the import statement with
time.perf_counter (interpreter start-up is excluded, .pyc caches are warm after one untimed
warm-up import of each). Rounds alternate the order; medians and the median of per-round ratios
are reported, with the number of modules each import loads and whether IPython / ipywidgets came
along. `import glm_notebook` loads the client layer lazily, so `from glm_notebook import
GLMClient` (which brings httpx in) is measured as well: that is what a script using the client
pays, while `import openai` already includes its client. Merged into benchmarks/results.json
under "import".

    .venv/bin/python benchmarks/bench_import.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import RESULTS, merge  # noqa: E402

IMPORTS = {  # name -> statement
    "glm_notebook": "import glm_notebook",
    "glm_notebook_client": "from glm_notebook import GLMClient",
    "openai": "import openai",
}
SNIPPET = """
import json, sys, time
before = set(sys.modules)
t = time.perf_counter()
{statement}
elapsed = time.perf_counter() - t
loaded = set(sys.modules) - before
print(json.dumps({{
    "seconds": elapsed,
    "modules": len(loaded),
    "ipython": "IPython" in loaded,
    "ipywidgets": "ipywidgets" in loaded,
    "httpx": "httpx" in loaded,
}}))
"""


def time_once(statement: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    names = list(IMPORTS)
    for name in names:  # warm-up: compile .pyc files, fill the OS file cache
        time_once(IMPORTS[name])
    seconds: dict[str, list[float]] = {name: [] for name in names}
    info: dict[str, dict] = {}
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            sample = time_once(IMPORTS[name])
            seconds[name].append(sample["seconds"])
            info[name] = sample

    median = {name: statistics.median(v) for name, v in seconds.items()}
    speedup = {
        name: statistics.median(o / g for o, g in zip(seconds["openai"], seconds[name], strict=True))
        for name in names
    }
    print(f"\nimport time, fresh interpreter per sample, {args.rounds} alternating rounds, medians\n")
    print(
        "| statement | median ms | min ms | max ms | faster than openai | modules loaded | loads httpx | loads IPython / ipywidgets |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for name in names:
        i = info[name]
        print(
            f"| `{IMPORTS[name]}` | {median[name] * 1000:.1f} | {min(seconds[name]) * 1000:.1f} | "
            f"{max(seconds[name]) * 1000:.1f} | {speedup[name]:.1f}x | {i['modules']} | "
            f"{'yes' if i['httpx'] else 'no'} | {'yes' if i['ipython'] or i['ipywidgets'] else 'no'} |"
        )
    print("\n(faster than openai: median of per-round ratios)")
    merge(
        "import",
        {
            "rounds": args.rounds,
            "glm_notebook_s": round(median["glm_notebook"], 4),
            "glm_notebook_client_s": round(median["glm_notebook_client"], 4),
            "openai_s": round(median["openai"], 4),
            "speedup_vs_openai": round(speedup["glm_notebook"], 2),
            "client_speedup_vs_openai": round(speedup["glm_notebook_client"], 2),
            "modules_loaded": {name: info[name]["modules"] for name in names},
            "glm_notebook_imports_httpx": info["glm_notebook"]["httpx"],
            "glm_notebook_imports_ipython": info["glm_notebook"]["ipython"],
            "glm_notebook_imports_ipywidgets": info["glm_notebook"]["ipywidgets"],
            "client_imports_ipython": info["glm_notebook_client"]["ipython"]
            or info["glm_notebook_client"]["ipywidgets"],
            "load_average": round(os.getloadavg()[0], 2),
            "python": sys.version.split()[0],
        },
    )
    print(f"merged into {RESULTS} under 'import'")


if __name__ == "__main__":
    main()
