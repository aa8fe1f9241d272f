"""StreamView's traffic to the browser: what a full-speed stream costs, and that nothing is lost."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from glm_notebook import ChatResult, InsufficientBalance, Metrics, StreamEvent, Usage
from glm_notebook.answer._stream_view import StreamView

BUNDLE = pathlib.Path(__file__).resolve().parent.parent / "glm_notebook" / "static" / "stream_view.js"
LOADER = BUNDLE.with_name("stream_view_loader.js")
PIECES = ["Hello", " world", ", 你好", " 😀", " café", "\n\n", "```py\nx = '<b>'\n```\n", "naïve", " \u2028 "]


class Wire:
    """Records what a view sends over its comm: custom messages and state updates, with sizes."""

    def __init__(self, view: StreamView) -> None:
        self.messages: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        original = view.comm.send

        def send(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
            with self.lock:
                self.messages.append(data)
                self.times.append(time.monotonic())
            original(data=data, metadata=metadata, buffers=buffers)

        view.comm.send = send

    @property
    def custom(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m.get("method") == "custom"]

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.messages if m.get("method") == "update"]

    def bytes(self) -> int:
        # jupyter_client packs messages as UTF-8 JSON without ASCII escaping.
        return sum(len(json.dumps(m, ensure_ascii=False).encode()) for m in self.messages)

    def text(self) -> str:
        return _replay(self.custom)[0]


def _replay(messages: list[dict[str, Any]]) -> tuple[str, str]:
    """What the browser ends up with, applying messages as stream_view.js does."""
    text = reasoning = ""
    for message in messages:
        if message["type"] == "full":
            text, reasoning = message["text"], message["reasoning"]
        else:
            text += message.get("text", "")
            reasoning += message.get("reasoning", "")
    return text, reasoning


def _stream(count: int) -> list[str]:
    return [PIECES[i % len(PIECES)] + str(i % 10) for i in range(count)]


@pytest.fixture
def views():
    made: list[StreamView] = []

    def make(**kwargs: Any) -> tuple[StreamView, Wire]:
        view = StreamView(model_name="glm-4.7-flash", **kwargs)
        made.append(view)
        return view, Wire(view)

    yield make
    for view in made:
        view.close()


def test_full_speed_stream_is_coalesced_and_loses_nothing(views) -> None:
    view, wire = views()
    chunks = _stream(20_000)
    answer = "".join(chunks)

    started = time.monotonic()
    for chunk in chunks:
        view.feed(StreamEvent("text", text=chunk))
    view.finish(ChatResult(text=answer, model="glm-4.7-flash", complete=True, finish_reason="stop"))
    elapsed = time.monotonic() - started

    deltas = wire.custom
    assert all(m["type"] == "delta" for m in deltas)
    assert "".join(m.get("text", "") for m in deltas) == answer
    assert [m["seq"] for m in deltas] == list(range(1, len(deltas) + 1))
    assert len(deltas) <= 20 * elapsed + 3
    assert len(wire.updates) == 1  # finish(): status, error and done in one update
    answer_bytes = len(answer.encode())
    assert wire.bytes() <= 2 * answer_bytes + 300 * len(wire.messages)
    print(
        f"\n20,000 chunks, {answer_bytes} B of answer, {elapsed:.3f} s: {len(deltas)} custom messages, "
        f"{len(wire.updates)} state update, {wire.bytes()} B sent"
    )


def test_fake_clock_bounds_the_message_count(views) -> None:
    now = [0.0]
    view, wire = views(clock=lambda: now[0])
    chunks = _stream(20_000)
    for chunk in chunks:
        now[0] += 0.001  # 1 ms per chunk: 20 s of streaming
        view.feed(StreamEvent("text", text=chunk))
    view.finish(ChatResult(text="".join(chunks), complete=True, finish_reason="stop"))

    deltas = wire.custom
    assert "".join(m.get("text", "") for m in deltas) == "".join(chunks)
    # At most one message per 50 ms of (fake) time, plus the final flush.
    assert 0.9 * 20 / 0.05 <= len(deltas) <= 20 / 0.05 + 2
    assert wire.bytes() <= 2 * len("".join(chunks).encode()) + 300 * len(wire.messages)


def test_text_and_reasoning_share_one_message(views) -> None:
    now = [0.0]
    view, wire = views(clock=lambda: now[0], background_flush=False)
    view.feed(StreamEvent("reasoning", text="Let me think. "))
    view.feed(StreamEvent("text", text="Answer"))
    view.feed(StreamEvent("usage", usage=Usage(3, 2, 5)))
    view.feed(StreamEvent("finish", finish_reason="stop"))
    assert wire.custom == []
    view.flush()
    assert wire.custom == [{"type": "delta", "seq": 1, "text": "Answer", "reasoning": "Let me think. "}]
    view.flush()  # nothing pending: nothing sent
    assert len(wire.custom) == 1


def test_text_after_a_flush_then_a_pause_still_shows(views) -> None:
    view, wire = views()
    view.append_text("first")
    view.flush()
    view.append_text(" late")  # right after a flush: too early to send it inline
    sent_at = time.monotonic()
    deadline = sent_at + 2.0
    while wire.text() != "first late" and time.monotonic() < deadline:
        time.sleep(0.005)
    assert wire.text() == "first late"
    assert wire.times[-1] - sent_at < 0.3  # ~50-100 ms; generous for a loaded CI machine


def test_finish_sends_the_final_flush_and_stops_the_timer(views) -> None:
    view, wire = views()
    view.append_text("a")
    view.flush()
    view.append_text("b€😀")
    view.append_reasoning("r")
    result = ChatResult(
        text="ab€😀",
        reasoning="r",
        model="glm-4.7-flash",
        usage=Usage(prompt_tokens=5, completion_tokens=128, total_tokens=133),
        metrics=Metrics(ttft_s=0.42, tokens_per_s=35.12),
        finish_reason="stop",
        complete=True,
    )
    view.finish(result)

    last = wire.custom[-1]
    assert last["type"] == "delta"
    assert last["text"] == "b€😀"
    assert last["reasoning"] == "r"
    assert last["end"] == {"text": 5, "reasoning": 1}  # UTF-16 units: 😀 counts 2, as in JavaScript
    assert _replay(wire.custom) == ("ab€😀", "r")
    assert view.done
    assert view.status == "glm-4.7-flash · 0.42 s to first token · 35.1 tok/s · 128 tokens · 0 USD · stop"
    assert view.error == ""
    assert view._timer is None or not view._timer.is_alive()
    count = len(wire.messages)
    view.append_text("after the end")
    view.finish(result)
    assert len(wire.messages) == count


def test_finish_with_nothing_pending_still_sends_the_totals(views) -> None:
    view, wire = views()
    view.append_text("abc")
    view.flush()
    view.finish(ChatResult(text="abc", complete=True))
    assert wire.custom[-1] == {"type": "delta", "seq": 2, "end": {"text": 3, "reasoning": 0}}


def test_finish_sends_text_the_magic_did_not_feed(views) -> None:
    view, wire = views()
    view.append_text("Hel")
    view.finish(ChatResult(text="Hello", complete=True))
    assert _replay(wire.custom) == ("Hello", "")
    assert all(m["type"] == "delta" for m in wire.custom)

    other, other_wire = views()
    other.append_text("something else")
    other.finish(ChatResult(text="Hello", complete=True))
    assert [m["type"] for m in other_wire.custom] == ["full", "delta"]
    assert _replay(other_wire.custom) == ("Hello", "")


def test_error_is_one_line_and_partial_text_stays(views) -> None:
    view, wire = views()
    view.append_text("partial answer")
    error = InsufficientBalance(
        "InsufficientBalance (HTTP 429, code 1113): balance empty\n - top up the account",
        status_code=429,
        code="1113",
    )
    view.finish(ChatResult(text="partial answer", model="glm-4.7-flash"), error)
    assert view.error == "InsufficientBalance (HTTP 429, code 1113): balance empty - top up the account"
    assert "\n" not in view.error
    assert _replay(wire.custom)[0] == "partial answer"


def test_stopped_and_offline_show_in_the_status(views) -> None:
    view, _ = views(offline=True)
    view.append_text("so far")
    view.finish(ChatResult(text="so far", stopped=True, metrics=Metrics(chunks=2)))
    assert view.status == "offline model glm-4.7-flash · 2 chunks · stopped"


def test_the_bundled_offline_model_is_called_a_small_base_model_once_per_session() -> None:
    from glm_notebook._status import _forget_base_model_note
    from glm_notebook.answer._saved_copy import static_bundle, status_line

    def answer() -> ChatResult:
        return ChatResult(
            text="x",
            model="gemma-3-270m-q4_k_m",
            finish_reason="stop",
            metrics=Metrics(chunks=11, ttft_s=0.5, duration_s=1.5),
        )

    _forget_base_model_note()
    first, second = answer(), answer()
    line = status_line(first, offline=True)
    assert line.startswith("offline model gemma-3-270m-q4_k_m · small base model")
    assert "10.0 chunks/s · 11 chunks · stop" in line and "tok/s" not in line and "tokens ·" not in line
    # the live view and the saved copy of the first answer both say it; later answers do not
    assert "small base model" in static_bundle(first, offline=True)["text/markdown"]
    later = status_line(second, offline=True)
    assert (
        later
        == "offline model gemma-3-270m-q4_k_m · 0.50 s to first token · 10.0 chunks/s · 11 chunks · stop"
    )
    assert "small base model" not in static_bundle(second, offline=True)["text/plain"]


def test_the_saved_status_line_is_small_italic_text() -> None:
    from glm_notebook.answer._saved_copy import static_bundle

    md = static_bundle(ChatResult(text="Hi", model="glm-4.7-flash", finish_reason="stop"))["text/markdown"]
    assert md == "Hi\n\n<sub>*glm-4.7-flash · stop*</sub>\n"


def test_terminal_status_is_one_line_right_under_the_answer() -> None:
    import io

    from glm_notebook._types import StreamEvent
    from glm_notebook.answer._run import TerminalView

    for text in ("Paris.", "Paris.\n"):
        out = io.StringIO()
        view = TerminalView(out)
        view.feed(StreamEvent(kind="text", text=text))
        view.finish(ChatResult(text=text, model="glm-4.7-flash", finish_reason="stop"), None)
        assert out.getvalue() == "Paris.\n[glm-4.7-flash · stop]\n", repr(out.getvalue())


def test_stop_message_from_the_browser_calls_on_stop(views) -> None:
    view, _ = views(show_stop_button=True)
    called = threading.Event()
    threads: list[str] = []

    def on_stop() -> None:
        threads.append(threading.current_thread().name)
        called.set()

    view.on_stop(on_stop)
    view.on_stop(lambda: 1 / 0)  # a failing callback is logged, not raised into the comm
    # The path a real comm message takes: Widget._handle_msg -> _handle_custom_msg -> on_msg callbacks.
    view._handle_msg({"content": {"data": {"method": "custom", "content": {"type": "stop"}}}, "buffers": []})
    assert called.is_set()

    called.clear()
    worker = threading.Thread(target=view._handle_custom_msg, args=({"type": "stop"}, []), name="subshell")
    worker.start()
    worker.join()
    assert called.is_set() and threads[-1] == "subshell"


def test_resync_request_is_answered_with_the_full_text(views) -> None:
    view, wire = views()
    view.append_text("one ")
    view.flush()
    view.append_text("two")
    view._handle_custom_msg({"type": "resync"}, [])
    last = wire.custom[-1]
    assert last["type"] == "full" and last["text"] == "one two"
    assert [m["seq"] for m in wire.custom] == list(range(1, len(wire.custom) + 1))
    for _ in range(5):
        view._handle_custom_msg({"type": "resync"}, [])
    assert sum(m["type"] == "full" for m in wire.custom) == 3  # bounded


def test_the_view_code_comes_first_in_a_message_not_in_the_widget_state() -> None:
    sent: list[Any] = []

    class Recorded(StreamView):
        def send(self, content: Any, buffers: Any = None) -> None:
            sent.append(content)
            super().send(content, buffers)

    view = Recorded(model_name="glm-4.7-flash")
    try:
        view.append_text("hello")
        view.finish(None)
        state = view.get_state()
        # what a notebook saves of the view: its state, ~1 KB loader included, no code
        assert len(json.dumps(state).encode()) < 2_500, {k: len(str(v)) for k, v in state.items()}
        assert state["_esm"] == LOADER.read_text(encoding="utf-8")
        code = sent[0]
        assert code["type"] == "code" and code["source"] == BUNDLE.read_text(encoding="utf-8")
        assert code["version"] == state["_code_version"] and "seq" not in code
        assert [m["type"] for m in sent[1:]] == ["delta"] and sent[1]["seq"] == 1
    finally:
        view.close()


def test_set_status_is_one_small_state_update(views) -> None:
    view, wire = views()
    view.set_status("retrying in 2 s…")
    assert wire.updates == [{"status": "retrying in 2 s…"}]


def test_the_bundle_is_an_es_module_with_render_and_no_network_imports() -> None:
    source = BUNDLE.read_text(encoding="utf-8")
    loader = LOADER.read_text(encoding="utf-8")
    # the saved _esm is the small loader; the code goes in the first custom message of each view
    assert StreamView._esm == loader and len(loader.encode()) < 2_000
    assert not hasattr(StreamView, "_css")  # the CSS is inside the code, not widget state
    for module in (source, loader):
        assert re.search(r"export\s*\{[^}]*\bas default\b[^}]*\}", module)
        assert "render(" in module or "render:" in module
        assert not re.search(r"""(?:\bimport\b|\bfrom\b)\s*\(?\s*["'](?:https?:)?//""", module)
    assert "DOMPurify" in source and "glm-stream" in source
    node = shutil.which("node")
    assert node is not None, (
        "node is needed to import the bundle (make test installs and uses it for js-test)"
    )
    script = (
        f"const m = await import({json.dumps(BUNDLE.as_uri())});"
        "console.log(typeof m.default.render, typeof m.default.initialize);"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["function", "function"]


def test_importing_the_package_does_not_import_widgets() -> None:
    code = "import sys, glm_notebook; print(sorted(m for m in ('ipywidgets', 'anywidget', 'IPython') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_greeting_while_streaming_turns_the_stop_button_on(views) -> None:
    view, wire = views()
    view._handle_custom_msg({"type": "hello"}, [])
    assert not view.show_stop_button  # no on_stop callback: a Stop button would do nothing

    view.on_stop(lambda: None)
    view._handle_custom_msg({"type": "hello"}, [])
    assert view.show_stop_button
    assert wire.updates[-1] == {"show_stop_button": True}

    late, _ = views()
    late.on_stop(lambda: None)
    late.finish(ChatResult(text=""))
    late._handle_custom_msg({"type": "hello"}, [])  # the cell is over: too late to stop anything
    assert not late.show_stop_button

    manual, _ = views(auto_stop_button=False)
    manual.on_stop(lambda: None)
    manual._handle_custom_msg({"type": "hello"}, [])
    assert not manual.show_stop_button


def test_front_end_messages_stay_on_the_subshell_they_were_sent_to() -> None:
    from glm_notebook.answer._stream_view import _handle_front_end_msgs_on_their_subshell

    class KernelComm:  # ipykernel 7.4 routes to the shell that last published on the comm
        def _reply_subshell_for(self, data: Any, default: str | None) -> str | None:
            return None

    comm = KernelComm()
    _handle_front_end_msgs_on_their_subshell(comm)
    assert comm._reply_subshell_for({"method": "custom"}, "subshell-1") == "subshell-1"


def test_tool_call_traffic_per_call_does_not_grow_with_the_calls_before_it(views) -> None:
    """A turn of many calls: each call's changes are sent alone, not every block again (issue 18:
    1,000 calls in one turn took 14 s when each change re-sent all the blocks)."""
    from glm_notebook._types import ToolCall
    from glm_notebook.answer._live import LiveView
    from glm_notebook.answer._run import StopButton

    def one_turn(count: int) -> tuple[int, int, list[dict[str, Any]]]:
        view, wire = views()
        live = LiveView(view, stop=StopButton(False, False))
        calls = [ToolCall(index=i, id=f"c{i}", name="lookup", arguments='{"q": 1}') for i in range(count)]
        for call in calls:
            live.feed(StreamEvent("tool_call", text=call.arguments, tool_call=call))
        live.feed(StreamEvent("finish", finish_reason="tool_calls"))
        for call in calls:
            call.output, call.duration_s = "ok", 0.01
            live.feed(StreamEvent("tool_result", tool_call=call))
        shown: dict[str, dict[str, Any]] = {}  # what the browser holds, applying the messages
        for message in wire.custom:
            if message["type"] == "tools":
                shown.update((block["id"], block) for block in message["calls"])
        assert list(shown.values()) == view.tool_calls
        return len(wire.custom), wire.bytes(), view.tool_calls

    few_messages, few_bytes, _ = one_turn(20)
    many_messages, many_bytes, blocks = one_turn(200)
    assert [b["state"] for b in blocks] == ["done"] * 200
    assert many_messages == 2 * 200 + 1 and few_messages == 2 * 20 + 1  # per call, and one at the turn end
    assert many_bytes / 200 < 1.2 * few_bytes / 20  # bytes per call stay the same
