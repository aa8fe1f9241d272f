"""The llama.cpp server process: start once per process, health-check, reuse, and never leak it.

``python -m llama_cpp.server`` runs as a child on 127.0.0.1 with a free port, health-checked with
``GET /v1/models`` before anyone uses it. It cannot outlive us: ``atexit`` stops it on a normal
exit, and ``_process`` ties it to this process for every other way of dying (PDEATHSIG on Linux).
A Ctrl-C during the start (the first ``%%glm`` can wait a minute) stops the half-started child
before the KeyboardInterrupt goes on; the next call starts afresh.

Its log (``info.log_path``, ``glm_notebook-local-<pid>.log`` in the temp directory) is removed when
the server is stopped: ``stop_server()``, interpreter exit, an interrupted start. It is kept when
the start failed, since the error names it, and while a server that died unexpectedly has not
been replaced yet. A process killed outright (SIGKILL, a crashed kernel) cannot remove its log:
each start removes the logs of such processes, which no longer exist.

pydantic-settings makes the server read *every* setting from the environment too (``API_KEY``,
``HOST``, ``PORT``, ``MODEL``, ``CONFIG_FILE``, ``N_CTX``, ...: case-insensitive), so the child gets
an environment without those names: a stray ``API_KEY`` would otherwise demand auth and ``HOST``
would move the listen address.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import importlib.util
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from .._errors import LocalModelError
from ._chat_template import write_tokenizer_config
from ._model import INSTALL_HINT, MODEL_ENV, ModelChoice, Role, cache_dir, choose_model
from ._process import free_port, module_command, spawn_child, terminate

CTX_ENV = "GLM_LOCAL_CTX"
THREADS_ENV = "GLM_LOCAL_THREADS"
START_TIMEOUT_ENV = "GLM_LOCAL_START_TIMEOUT"
CHAT_FORMAT_ENV = "GLM_LOCAL_CHAT_FORMAT"
DEFAULT_CTX = 2048
DEFAULT_START_TIMEOUT = 60.0

# Fields of llama_cpp.server.settings.Settings (0.3.x) plus the names __main__ reads directly.
# tests/test_local.py checks this list against the installed server.
SERVER_SETTING_NAMES = frozenset(
    """model model_alias n_gpu_layers split_mode main_gpu tensor_split vocab_only use_mmap use_mlock
    kv_overrides rpc_servers seed n_ctx n_batch n_ubatch n_threads n_threads_batch rope_scaling_type
    rope_freq_base rope_freq_scale yarn_ext_factor yarn_attn_factor yarn_beta_fast yarn_beta_slow
    yarn_orig_ctx mul_mat_q logits_all embedding offload_kqv flash_attn last_n_tokens_size lora_base
    lora_path numa chat_format chat_template_kwargs clip_model_path cache cache_type cache_size
    hf_tokenizer_config_path hf_pretrained_model_name_or_path hf_model_repo_id draft_model
    draft_model_num_pred_tokens type_k type_v verbose host port ssl_keyfile ssl_certfile api_key
    interrupt_requests disable_ping_events root_path config_file""".split()
)
_SERVER_MODULES = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)


@dataclass(frozen=True)
class LocalServerInfo:
    """A running offline server: where to call it and what it serves."""

    base_url: str  # "http://127.0.0.1:<port>/v1"
    model: str  # the alias to send as "model"
    model_path: Path
    log_path: Path
    bundled: bool  # True for a packaged model (SmolLM2 for chat, gemma-3-270m base)
    pid: int
    port: int
    n_ctx: int
    n_threads: int
    chat_format: str  # "transcript" (our template for the base model), "gguf" or a llama_cpp name
    role: str = "chat"  # "chat" (GLMClient with no key) or "base" (next_token_distribution)


@dataclass
class _Running:
    info: LocalServerInfo
    proc: subprocess.Popen[bytes]
    owner_pid: int  # a forked child must not stop its parent's server


_LOG_PREFIX = "glm_notebook-local-"  # + "<pid>.log" in the temp directory
_lock = threading.RLock()
_running: dict[str, _Running] = {}  # by role; both roles share one server when they load one file
_atexit_registered = False


def _alive(running: _Running | None) -> bool:
    return running is not None and running.owner_pid == os.getpid() and running.proc.poll() is None


def ensure_server(role: Role = "chat") -> LocalServerInfo:
    """Start the ``role``'s offline server once per process (thread-safe) and return how to reach it.

    ``"chat"`` serves what GLMClient talks to with no key; ``"base"`` the base model whose
    next-token distributions the sampling lesson shows (``_model`` says which files). Two roles
    that load the same file share one server. Later calls return the same server while it runs;
    if it died, a new one is started. Raises LocalModelError (saying what to do) when it cannot
    start. A KeyboardInterrupt during the start stops the half-started server first.
    """
    global _atexit_registered
    if role not in ("chat", "base"):
        raise ValueError(f"role must be 'chat' or 'base', not {role!r}")
    with _lock:
        running = _running.get(role)
        if _alive(running):
            assert running is not None
            return running.info
        _running.pop(role, None)
        check_installed()
        choice = choose_model(role)
        for other in list(_running.values()):
            if _alive(other) and other.info.model_path == choice.path:
                _running[role] = other  # the same file is already served: share it
                return other.info
        n_ctx = _int_env(CTX_ENV, DEFAULT_CTX)
        n_threads = _int_env(THREADS_ENV, default_threads())
        chat_format, chat_args = _chat_arguments(choice)
        timeout = _float_env(START_TIMEOUT_ENV, DEFAULT_START_TIMEOUT)
        suffix = "" if role == "chat" else f"-{role}"
        log_path = Path(tempfile.gettempdir()) / f"{_LOG_PREFIX}{os.getpid()}{suffix}.log"
        _remove_stale_logs(log_path.parent)
        if not _atexit_registered:
            atexit.register(stop_server)
            _atexit_registered = True
        for _attempt in range(3):
            port = free_port()
            info = LocalServerInfo(
                base_url=f"http://127.0.0.1:{port}/v1",
                model=choice.alias,
                model_path=choice.path,
                log_path=log_path,
                bundled=choice.bundled,
                pid=0,
                port=port,
                n_ctx=n_ctx,
                n_threads=n_threads,
                chat_format=chat_format,
                role=role,
            )
            try:
                with _sigint_deferred():  # a Ctrl-C here would orphan a child nobody has recorded
                    proc = _spawn(info, chat_args)
                    info = dataclasses.replace(info, pid=proc.pid)
                    _running[role] = _Running(info=info, proc=proc, owner_pid=os.getpid())
                healthy = _wait_healthy(info, proc, timeout)
            except LocalModelError:
                _stop(remove_log=False, role=role)  # the error names the log: keep it
                raise
            except BaseException:
                _stop(remove_log=True, role=role)  # KeyboardInterrupt: stop the child; nothing to report
                raise
            if healthy:
                return info
            _running.pop(role, None)  # lost a race for the port: try another one (same log path)
        raise LocalModelError(
            f"the offline model server could not bind a free port on 127.0.0.1 three times; see {log_path}"
        )


def stop_server() -> None:
    """Stop the offline servers started by this process and remove their logs (no-op when none runs)."""
    _stop(remove_log=True)


def _stop(*, remove_log: bool, role: str | None = None) -> None:
    with _sigint_deferred():  # a second Ctrl-C must not leave the child running
        with _lock:
            roles = list(_running) if role is None else [role]
            stopping = [r for r in (_running.pop(name, None) for name in roles) if r is not None]
            # A server shared with a role that is not being stopped keeps running.
            shared = {id(r) for r in _running.values()}
        done: set[int] = set()
        for running in stopping:
            if running.owner_pid != os.getpid() or id(running) in shared or id(running) in done:
                continue
            done.add(id(running))
            terminate(running.proc)
            if remove_log:
                with contextlib.suppress(OSError):
                    running.info.log_path.unlink()


def _remove_stale_logs(directory: Path) -> None:
    """Remove our logs left by processes that no longer exist (a SIGKILLed kernel cannot)."""
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return
    uid = os.getuid()
    for path in directory.glob(f"{_LOG_PREFIX}*.log"):
        pid = path.name[len(_LOG_PREFIX) : -len(".log")].split("-")[0]  # "<pid>" or "<pid>-base"
        if not pid.isdigit() or int(pid) == os.getpid() or _process_exists(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if path.stat().st_uid == uid:  # never another user's file
                path.unlink()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process (or we cannot tell): keep its log
    return True


def current_server(role: Role = "chat") -> LocalServerInfo | None:
    """The ``role``'s running server info, or None; never starts one, never waits for a start under way."""
    running = _running.get(role)  # one atomic read: no lock, so this does not block during a start
    if _alive(running):
        assert running is not None
        return running.info
    return None


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold back a SIGINT (Ctrl-C, kernel interrupt) until the block ends, then deliver it.

    Only the main thread receives Python signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # installed from C: it could not be put back
        yield
        return
    received: list[int] = []
    try:
        signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)  # now handled as usual (KeyboardInterrupt)


def check_installed() -> None:
    """Raise LocalModelError with the pip command when llama-cpp-python[server] is missing."""
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalModelError(
            f"the offline model needs llama-cpp-python with its server extra ({', '.join(missing)} "
            f"missing): {INSTALL_HINT}"
        )


def default_threads() -> int:
    """Half the CPUs this process may use (llama-cpp-python's own default), at least one.

    llama.cpp's OpenMP threads spin at each step: when another busy process (JupyterLab, the
    browser, the kernel) shares their cores, token speed collapses (measured 9 -> 1.7 tokens/s on
    2 busy cores), so leaving half the CPUs free is faster in a notebook, not just politer.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    return max(1, usable // 2)


def _chat_arguments(choice: ModelChoice) -> tuple[str, list[str]]:
    """(label, server flags) for how chat messages become a prompt; see _chat_template."""
    configured = os.environ.get(CHAT_FORMAT_ENV, "").strip()
    if configured:
        return configured, ["--chat_format", configured]
    if choice.bundled and choice.base:
        config = write_tokenizer_config(cache_dir())
        return "transcript", [
            "--chat_format",
            "hf-tokenizer-config",
            "--hf_tokenizer_config_path",
            str(config),
        ]
    return "gguf", []  # the GGUF's own template (llama-cpp-python falls back to llama-2 without one)


def server_command(info: LocalServerInfo, extra_args: Sequence[str] = ()) -> list[str]:
    """The command line that serves ``info`` (no sampling defaults: requests carry their own)."""
    args = [
        "--model", str(info.model_path),
        "--model_alias", info.model,
        "--host", "127.0.0.1",
        "--port", str(info.port),
        "--n_ctx", str(info.n_ctx),
        "--n_threads", str(info.n_threads),
        "--n_threads_batch", str(info.n_threads),
        # For llama_cpp.server, whose command line _http shares (and which the benchmark's
        # in-process model is built from): queue requests instead of cutting a running stream.
        "--interrupt_requests", "false",
        *extra_args,
    ]  # fmt: skip
    return module_command("glm_notebook.local._http", args)


def server_env() -> dict[str, str]:
    """Our environment minus the names llama_cpp.server would read as its own settings."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in SERVER_SETTING_NAMES}
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the file before a crash
    return env


def _spawn(info: LocalServerInfo, extra_args: list[str]) -> subprocess.Popen[bytes]:
    try:
        return spawn_child(server_command(info, extra_args), server_env(), info.log_path)
    except OSError as exc:
        raise LocalModelError(
            f"could not start the offline model server ({exc}); log: {info.log_path}"
        ) from exc


def _forget_after_fork() -> None:
    _running.clear()  # in a forked child the servers are the parent's, not ours


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _wait_healthy(info: LocalServerInfo, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """True once GET /v1/models lists the alias; False if the port was taken; raise on failure."""
    deadline = time.monotonic() + timeout
    url = f"{info.base_url}/models"
    with httpx.Client(trust_env=False, timeout=2.0) as http:
        while True:
            code = proc.poll()
            if code is not None:
                tail = log_tail(info.log_path)
                if "address already in use" in tail.lower():
                    return False
                raise LocalModelError(
                    f"the offline model server exited during start (exit code {code}). "
                    f"Last log lines:\n{tail}\nFull log: {info.log_path}. " + _exit_advice(code)
                )
            try:
                response = http.get(url)
                if response.status_code == 200:
                    ids = [m.get("id") for m in response.json().get("data", [])]
                    if info.model in ids:
                        return True
            except (httpx.HTTPError, ValueError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise LocalModelError(
                    f"the offline model server did not answer GET /v1/models within {timeout:g} s "
                    f"(set {START_TIMEOUT_ENV} to wait longer). Last log lines:\n"
                    f"{log_tail(info.log_path)}\nFull log: {info.log_path}"
                )
            time.sleep(0.1)


def _exit_advice(code: int) -> str:
    if code in (-signal.SIGKILL, 137):
        return f"It was killed, probably for lack of memory: try a smaller {CTX_ENV} or model."
    return (
        f"Check that {MODEL_ENV} (if set) is a GGUF file this llama.cpp can load, or reinstall with "
        f"{INSTALL_HINT}."
    )


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of the server log ('' if unreadable)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise LocalModelError(f"{name}={raw!r} is not a positive whole number: fix or unset it")
    return value


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise LocalModelError(f"{name}={raw!r} is not a positive number of seconds: fix or unset it")
    return value
