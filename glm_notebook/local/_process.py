"""Keeping a child process from outliving us: spawn it so it dies with us, and stop it for sure.

* The child runs in its own session (a Ctrl-C in a terminal IPython does not reach it), and
  stopping kills its whole process group: SIGTERM, then SIGKILL after a grace period.
* On Linux the child asks the kernel for ``SIGKILL`` when its parent dies (``PR_SET_PDEATHSIG``),
  which covers a SIGKILLed or crashed kernel, where ``atexit`` never runs. SIGKILL rather than
  SIGTERM because uvicorn's graceful SIGTERM shutdown waits for in-flight generations that nobody
  is left to read. The death signal follows the *thread* that forked, not the process, so
  children are forked from the main thread or from one daemon thread that lives as long as the
  process, never from a short-lived worker thread (a widget callback, a thread pool).
* Elsewhere (macOS) a small bootstrap in the child polls ``getppid()`` and exits when it changes.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

STOP_GRACE_S = 3.0
_PR_SET_PDEATHSIG = 1
_HAS_PDEATHSIG = sys.platform.startswith("linux")

_WATCHDOG_BOOTSTRAP = """\
import os, runpy, sys, threading, time
parent = int(sys.argv[1])
module = sys.argv[2]
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def module_command(module: str, args: Sequence[str]) -> list[str]:
    """``python -m module args``, wrapped in the parent watchdog where there is no PDEATHSIG."""
    if _HAS_PDEATHSIG or os.name != "posix":
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-c", _WATCHDOG_BOOTSTRAP, str(os.getpid()), module, *args]


def spawn_child(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout and stderr to ``log_path`` (overwritten), tied to our life."""
    preexec = _die_with_parent(os.getpid()) if _HAS_PDEATHSIG else None

    def popen() -> subprocess.Popen[bytes]:
        with open(log_path, "wb") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                close_fds=True,
                start_new_session=os.name == "posix",
                preexec_fn=preexec,
            )

    result: subprocess.Popen[bytes] = _in_long_lived_thread(popen)
    return result


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec_fn: SIGKILL this child when the forking thread's process dies (Linux)."""
    try:
        prctl: Any = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, not in the child
    except (OSError, AttributeError):
        prctl = None

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


_Request = tuple[Callable[[], Any], "concurrent.futures.Future[Any]"]
_spawn_lock = threading.Lock()
_spawn_queue: queue.SimpleQueue[_Request] | None = None


def _in_long_lived_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in the main thread or in one daemon thread that lives as long as the process."""
    global _spawn_queue
    if threading.current_thread() is threading.main_thread():
        return fn()
    with _spawn_lock:
        if _spawn_queue is None:
            _spawn_queue = queue.SimpleQueue()
            threading.Thread(
                target=_spawn_loop, args=(_spawn_queue,), name="glm-local-spawner", daemon=True
            ).start()
        spawn_queue = _spawn_queue
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    spawn_queue.put((fn, future))
    return future.result()


def _spawn_loop(requests: queue.SimpleQueue[_Request]) -> None:
    while True:
        fn, future = requests.get()
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller
            future.set_exception(exc)


def _forget_spawner_after_fork() -> None:
    global _spawn_queue
    _spawn_queue = None  # the spawner thread does not exist in a forked child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_spawner_after_fork)


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers; reap the child."""
    for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (getattr(signal, "SIGKILL", None), 5.0)):
        if proc.poll() is not None:
            break
        try:
            if os.name == "posix" and sig is not None:
                os.killpg(proc.pid, sig)  # its own session: pgid == pid
            elif sig == signal.SIGTERM:
                proc.terminate()
            else:
                proc.kill()
        except ProcessLookupError:
            break
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
