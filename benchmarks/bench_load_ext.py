"""`%load_ext` cost: glm_notebook vs jupyter-ai-magics 2.31.x, each in a fresh IPython process.

The shell is created before the clock starts, so only the extension's own import and registration
are timed (as a user feels it in a running kernel). The peer lives in its own virtualenv
(.venv-peers, made by `make bench`), rounds alternate, medians are reported.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import merge  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PEER_PY = ROOT / ".venv-peers" / "bin" / "python"
ROUNDS = 7
SNIPPET = """
import time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t = time.perf_counter()
ip.run_line_magic("load_ext", {ext!r})
elapsed = time.perf_counter() - t
assert {check}, "extension did not register its magic"
print(elapsed)
"""


def time_once(python: Path | str, ext: str, magic: str) -> float:
    check = f"'{magic}' in ip.magics_manager.magics['cell']"
    code = SNIPPET.format(ext=ext, check=check)
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ours: list[float] = []
    peer: list[float] = []
    for _ in range(ROUNDS):
        ours.append(time_once(sys.executable, "glm_notebook", "glm"))
        if PEER_PY.exists():
            peer.append(time_once(PEER_PY, "jupyter_ai_magics", "ai"))
    figures = {"glm_notebook_s": statistics.median(ours), "rounds": ROUNDS}
    print(f"%load_ext glm_notebook        median {figures['glm_notebook_s'] * 1000:7.1f} ms")
    if peer:
        figures["jupyter_ai_magics_s"] = statistics.median(peer)
        figures["speedup"] = figures["jupyter_ai_magics_s"] / figures["glm_notebook_s"]
        print(f"%load_ext jupyter_ai_magics   median {figures['jupyter_ai_magics_s'] * 1000:7.1f} ms")
        print(f"speed-up                      {figures['speedup']:7.1f}x (goal >= 10x)")
    else:
        print("peer not installed: run `make bench` to create .venv-peers")
    merge("load_ext", figures)


if __name__ == "__main__":
    main()
