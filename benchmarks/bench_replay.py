"""A 30-cell notebook run by nbclient live against the GLM test server (recording its answers),
then replayed strict in a fresh kernel with no key and no network: requests and wall time each.

The test server answers each request after ``LATENCY`` seconds and streams ~40 words, which is
quicker than a cloud model (a short GLM answer takes 1-3 s), so the live time here is a lower
bound and the ratio understates what replay saves. Both runs include the kernel start.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from glm_notebook.testing import GLMTestServer, Reply

sys.path.insert(0, str(Path(__file__).parent))
from _results import merge  # noqa: E402

CELLS = 30
LATENCY = 0.3
KEY_VARS = ("ZHIPUAI_API_KEY", "ZAI_API_KEY", "GLM_API_KEY", "GLM_PROVIDER", "GLM_BASE_URL", "GLM_MODEL")


def run(folder: Path, env_changes: dict[str, str]) -> float:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext glm_notebook")]
    nb.cells += [
        nbformat.v4.new_code_cell(f"%%glm --temperature 0 --max-tokens 80\nQuestion {i}: what is a token?")
        for i in range(CELLS)
    ]
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env.update(env_changes)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        started = time.perf_counter()
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        ).execute()
        return time.perf_counter() - started
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    words = " ".join(["word"] * 40)
    with tempfile.TemporaryDirectory() as tmp, GLMTestServer(latency=LATENCY) as server:
        server.responder = lambda request: Reply(text=words)
        folder = Path(tmp)
        answers = folder / "bench.answers.jsonl"
        live_s = run(
            folder,
            {
                "GLM_PROVIDER": "zai",
                "GLM_BASE_URL": server.base_url,
                "ZAI_API_KEY": "bench-key-0000",
                "GLM_NOTEBOOK_REPLAY": str(answers),
            },
        )
        live_requests = len(server.requests)
        replay_s = run(
            folder,
            {
                "GLM_NOTEBOOK_REPLAY": str(answers),
                "GLM_NOTEBOOK_REPLAY_STRICT": "1",
                "GLM_LOCAL_MODEL": str(folder / "absent.gguf"),
            },
        )
        replay_requests = len(server.requests) - live_requests
    figures = {
        "cells": CELLS,
        "server_latency_s": LATENCY,
        "live_s": live_s,
        "live_requests": live_requests,
        "replay_s": replay_s,
        "replay_requests": replay_requests,
        "speedup": live_s / replay_s,
    }
    print(f"live (recording) {live_s:6.2f} s  {live_requests} requests")
    print(f"replay (strict)  {replay_s:6.2f} s  {replay_requests} requests   ({figures['speedup']:.1f}x)")
    merge("replay", figures)


if __name__ == "__main__":
    main()
