"""`make bench`: run every benchmark script in turn, then print the summary of results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = [
    "bench_client.py",
    "bench_import.py",
    "bench_view.py",
    "bench_render.py",
    "bench_load_ext.py",
    "bench_compare.py",
    "bench_tools.py",
    "bench_map.py",
    "bench_replay.py",
    "bench_local.py",
    "bench_offline_chat.py",
]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n== {name}", flush=True)
        if subprocess.run([sys.executable, str(path)]).returncode != 0:
            failed.append(name)
    results = json.loads((HERE / "results.json").read_text()) if (HERE / "results.json").exists() else {}
    print("\n== summary (benchmarks/results.json)")
    for key, figures in results.items():
        shown = {
            k: round(v, 3) if isinstance(v, float) else v
            for k, v in figures.items()
            if not isinstance(v, (dict, list))
        }
        print(f"{key}: {shown}")
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
