"""Widget traffic for a 20,000-chunk answer streamed at full speed through %%glm's path.

The answer comes from the GLM test server over a real socket, through GLMClient, into a
StreamView whose comm sends are counted (custom messages and state updates, JSON bytes).
Goals (issue 3): <= 20 updates per second; bytes <= 2x the answer + 300 B per update.
The peer in the same run is the naive view that re-sends the whole text on every token (what an
``HTML.value = text`` loop does): its message count and bytes are computed from the same chunks.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import merge  # noqa: E402

import glm_notebook as glm  # noqa: E402
from glm_notebook import ChatResult  # noqa: E402
from glm_notebook.answer._stream_view import StreamView  # noqa: E402
from glm_notebook.testing import GLMTestServer, Reply  # noqa: E402

CHUNKS = 20_000
PIECES = ["word ", "数据 ", "🙂 ", "naïve ", "\n\n", "`x` "]


def one_run(server: GLMTestServer) -> dict[str, float]:
    chunks = [PIECES[i % len(PIECES)] for i in range(CHUNKS)]
    answer = "".join(chunks)
    server.enqueue(Reply(chunks=chunks))
    client = glm.GLMClient(provider="zai", base_url=server.base_url, api_key="bench-key")
    view = StreamView(model_name="bench")
    sent: list[int] = []
    original = view.comm.send

    def counting_send(data=None, metadata=None, buffers=None):  # type: ignore[no-untyped-def]
        sent.append(len(json.dumps(data, ensure_ascii=False).encode()))
        return original(data=data, metadata=metadata, buffers=buffers)

    view.comm.send = counting_send
    start = time.perf_counter()
    with client.stream("go") as stream:
        for event in stream:
            view.feed(event)
    view.finish(stream.result)
    elapsed = time.perf_counter() - start
    view.close()
    client.close()
    assert stream.result.text == answer
    answer_bytes = len(answer.encode())
    naive_bytes, prefix = 0, 0
    for c in chunks:
        prefix += len(c.encode())
        naive_bytes += prefix
    return {
        "seconds": elapsed,
        "messages": len(sent),
        "updates_per_s": len(sent) / elapsed,
        "bytes": sum(sent),
        "answer_bytes": answer_bytes,
        "bytes_per_answer_byte": sum(sent) / answer_bytes,
        "bytes_budget": 2 * answer_bytes + 300 * len(sent),
        "naive_messages": CHUNKS,
        "naive_bytes": naive_bytes,
    }


def tool_calls_in_one_turn(calls: int, resend_all: bool = False) -> dict[str, float]:
    """One turn of ``calls`` tool calls through LiveView (what ``%%glm --tools`` shows): each call
    streams its arguments in three pieces, then the turn ends and every call runs. Counts the
    widget's comm traffic and the kernel-side time. ``resend_all``: the peer, every change sends
    every block (what the view did before issue 18)."""
    from glm_notebook._types import StreamEvent, ToolCall
    from glm_notebook.answer._live import LiveView
    from glm_notebook.answer._run import StopButton

    view = StreamView(model_name="bench", background_flush=False)
    sent: list[int] = []
    original = view.comm.send

    def counting_send(data=None, metadata=None, buffers=None):  # type: ignore[no-untyped-def]
        sent.append(len(json.dumps(data, ensure_ascii=False).encode()))
        return original(data=data, metadata=metadata, buffers=buffers)

    view.comm.send = counting_send
    live = LiveView(view, stop=StopButton(False, False))
    if resend_all:

        def send_all(*, force: bool, changed: int | None = None) -> None:
            now = time.monotonic()
            if force or now - live._tools_sent >= 0.2:
                live._tools_sent = now
                view.set_tool_calls([live._block(c) for c in live._calls.values()])

        live._send_tools = send_all  # type: ignore[method-assign]
    start = time.perf_counter()
    made = []
    for i in range(calls):
        call = ToolCall(index=i, id=f"call_{i}", name="lookup")
        made.append(call)
        for piece in ('{"q": ', f'"item {i}"', "}"):
            call.arguments += piece
            live.feed(StreamEvent(kind="tool_call", text=piece, tool_call=call))
    live.feed(StreamEvent(kind="finish", finish_reason="tool_calls"))
    for call in made:
        call.output, call.duration_s = '{"found": true}', 0.001
        live.feed(StreamEvent(kind="tool_result", tool_call=call))
    live.finish(ChatResult(tool_calls=made), None)
    elapsed = time.perf_counter() - start
    view.close()
    return {"calls": calls, "seconds": elapsed, "messages": len(sent), "bytes": sum(sent)}


def main() -> None:
    figures = {}
    for label, resend_all in (("changed blocks only", False), ("peer: all blocks per change", True)):
        rows = []
        for n in (100, 1000):
            runs = [
                tool_calls_in_one_turn(n, resend_all) for _ in range(1 if resend_all and n == 1000 else 3)
            ]
            rows.append(min(runs, key=lambda r: r["seconds"]))
        for row in rows:
            print(
                f"{label:>28}: {row['calls']:>5.0f} tool calls in one turn: {row['seconds']:.3f} s, "
                f"{row['messages']:.0f} messages, {row['bytes'] / 1e6:.2f} MB"
            )
        figures["peer" if resend_all else "ours"] = {f"calls_{int(r['calls'])}": r for r in rows}
    ours, peer = figures["ours"], figures["peer"]
    print(
        f"  ours for 1,000 calls: {ours['calls_1000']['seconds'] / peer['calls_100']['seconds']:.2f}x the peer's time "
        f"for 100; the peer takes {peer['calls_1000']['seconds'] / ours['calls_1000']['seconds']:.0f}x ours for 1,000"
    )
    merge("view_tool_calls", figures)
    with GLMTestServer() as server:
        runs = [one_run(server) for _ in range(5)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"20,000 chunks ({med['answer_bytes'] / 1000:.0f} kB answer) streamed in {med['seconds']:.2f} s")
    print(f"  messages {med['messages']:.0f}  -> {med['updates_per_s']:.1f} updates/s (goal <= 20)")
    print(
        f"  bytes    {med['bytes'] / 1000:.0f} kB = {med['bytes_per_answer_byte']:.2f}x the answer "
        f"(budget {med['bytes_budget'] / 1000:.0f} kB)"
    )
    print(
        f"  naive full-text resend per token: {CHUNKS} messages, {med['naive_bytes'] / 1e9:.2f} GB "
        f"({med['naive_bytes'] / med['bytes']:.0f}x more bytes)"
    )
    merge("view_traffic", med)


if __name__ == "__main__":
    main()
