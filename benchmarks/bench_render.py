"""Render time per frame of the live view's Markdown at 1 KB, 10 KB and 100 KB of answer (issue 13).

Runs ``js/bench/render_per_frame.mjs`` with node in jsdom, against the committed bundle
(``glm_notebook/static/stream_view.js``): each frame appends ~250 characters and renders. The view
renders block by block (finished blocks once), so its time per frame stays flat as the answer grows;
the peer in the same run re-renders the whole text per frame. Goal: flat (100 KB within ~2x of 1 KB),
and far below the 50 ms a frame may take. Needs ``npm ci`` in js/ (``make js-deps``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import merge  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "js" / "bench" / "render_per_frame.mjs"


def main() -> int:
    node = shutil.which("node")
    if node is None:
        print("node is missing: the live view's render benchmark needs Node.js (and `make js-deps`)")
        return 1
    run = subprocess.run([node, str(SCRIPT)], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        return run.returncode
    lines = run.stdout.strip().splitlines()
    print("\n".join(lines[:-1]))
    merge("view_render", json.loads(lines[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
