"""Requests beside the chat stream (the Batch API's, ``models()``) read their answers within bounds:
a compressed bomb as a job's status, a results file or a model list is a clear
``ResponseTooLargeError``, measured in a child process (peak memory), never read whole."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from _constants import TEST_KEY

CHILD = textwrap.dedent(
    """
    import gzip, http.server, json, resource, sys, threading
    import glm_notebook as glm
    from glm_notebook.bulk._api import BatchJob

    which = sys.argv[1]
    bomb = gzip.compress(b"x" * (700 * 2**20), compresslevel=9)  # ~700 KB on the wire
    status = json.dumps({"id": "b1", "status": "completed", "output_file_id": "f1"}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            gzipped = (which == "status" and self.path.startswith("/batches")) or (
                which == "file" and self.path.startswith("/files")) or (
                which == "models" and self.path.startswith("/models"))
            body = bomb if gzipped else status
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    client = glm.GLMClient(base_url=base, api_key=KEY, provider="openai-compatible", model="m")
    job = BatchJob({"id": "b1", "base_url": base, "rows": 1, "parts": [{"batch_id": "b1", "first_row": 0, "rows": 1}]},
                   client=client)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        client.models() if which == "models" else job.results()
        outcome = "no error"
    except glm.GLMError as exc:
        outcome = type(exc).__name__ + ": " + str(exc)[:80]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"outcome": outcome, "grown_mb": grown_mb}))
    """
).replace("KEY", repr(TEST_KEY))


def _run(which: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, which], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_gzip_bomb_as_a_results_file_is_refused_within_bounds():
    seen = _run("file")
    assert seen["outcome"].startswith("ResponseTooLargeError"), seen
    assert seen["grown_mb"] < 200, seen  # 700 MB decoded if it were read whole


def test_a_gzip_bomb_as_a_job_status_is_refused_within_bounds():
    seen = _run("status")
    assert seen["outcome"].startswith("ResponseTooLargeError"), seen
    assert seen["grown_mb"] < 200, seen


def test_a_gzip_bomb_as_a_model_list_is_refused_within_bounds():
    seen = _run("models")
    assert seen["outcome"].startswith("ResponseTooLargeError"), seen
    assert seen["grown_mb"] < 200, seen
