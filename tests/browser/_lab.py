"""Helpers for driving a real JupyterLab in headless Chromium (issue 6).

Two halves:

* :class:`LabServer` / :func:`start_lab` start ``python -m jupyter lab`` from the test venv
  (``sys.executable``) on a free port with a random token, a temporary root dir and isolated
  ``JUPYTER_CONFIG_DIR`` / ``JUPYTER_DATA_DIR`` / ``JUPYTER_RUNTIME_DIR`` / ``IPYTHONDIR`` /
  JupyterLab settings and workspaces dirs, so nothing of the user's set-up leaks in. Lab extensions
  installed in the venv (``<sys.prefix>/share/jupyter/labextensions``: ``@jupyter-widgets``,
  ``anywidget``) are still found, because that path is on ``jupyter_path()`` regardless of
  ``JUPYTER_DATA_DIR``. Kernels inherit the server's environment, so pass ``env={...}`` (e.g.
  ``GLM_PROVIDER``, ``GLM_BASE_URL``, ``ZAI_API_KEY`` of a test server) to :func:`start_lab`.
  The repository root is put first on ``PYTHONPATH`` so the kernel imports this checkout of
  ``glm_notebook`` even when it is not pip-installed.
  The ``python3`` kernelspec's ``argv[0]`` is the bare word ``python``, which jupyter_client
  replaces by ``sys.executable`` of the server, i.e. the venv's python (the smoke test checks).
  JupyterLab is started with ``--LabApp.expose_app_in_browser=True``, which makes
  ``window.jupyterapp`` available (in JupyterLab 4.6 it is *not* exposed by default), and the
  helpers use JupyterLab's own command registry and document models through it.

* :class:`LabPage` wraps a Playwright (sync API) ``Page``: open a notebook, wait for an idle
  kernel, set a cell's source, run it (Shift+Enter or the ``notebook:run-cell`` command), read an
  output area's text, interrupt the kernel (toolbar button), save (Ctrl+S), close and reopen, and
  collect console errors. :func:`install_longtask_observer` / :func:`longest_task_ms` measure the
  longest main-thread task with a ``PerformanceObserver('longtask')`` (tasks over 50 ms);
  :class:`MainThreadTrace` reads every task, however short, from a Chrome trace.
  For ``%%glm`` outputs: :meth:`LabPage.answer` reads what a cell shows (live StreamView or its
  static Markdown copy: answer text, status line, error line, Stop button), :meth:`LabPage.wait_answer`
  waits for a condition on it (and says what the cell showed if it never held), :meth:`LabPage.start_answer_sampler` / :meth:`LabPage.answer_samples`
  record in the page each change of the live answer's visible length, :meth:`LabPage.output_data`
  returns the outputs as the front end's model holds them. :func:`record_figures` merges measured
  figures into ``test-artifacts/browser_figures.json``; :func:`docs_screenshot` takes the README's
  pictures (``GLM_UPDATE_SCREENSHOTS=1`` refreshes ``docs/screenshots/``).

Waiting: for content, never for containers
-------------------------------------------
JupyterLab fills most elements after it has inserted them: a ``.jp-RenderedMarkdown`` node is in the
page before its (asynchronous) Markdown renderer has put anything in it, a widget's output node
before the widget manager has built the view, an output area before its outputs are rendered. A
cell whose execution is done (:meth:`LabPage.wait_cell_done`) has all its outputs in the *model*,
not necessarily on screen. So every wait here is a predicate on what the following assertion reads:
:meth:`LabPage.answer` calls a Markdown copy ``"static"`` only once it has been rendered (before
that its ``kind`` is ``"rendering"``), :meth:`LabPage.output_text` first waits until every output in
the model has a rendered, non-empty node, :meth:`LabPage.save` waits for a save newer than the
keypress. Timeouts are generous (a loaded machine is slow, and a wait returns as soon as its
predicate holds); a wait that times out says what the page showed instead.

Finding: are widget events delivered to the kernel WHILE a cell is busy?
------------------------------------------------------------------------
Measured by ``test_lab_smoke.py::test_button_click_while_cell_busy`` (JupyterLab 4.6.6,
ipykernel 7.4.0, ipywidgets 8.1 / jupyterlab_widgets 3.0.17, jupyter_server 2.21, Chromium 156):
a cell displays an ``ipywidgets.Button`` whose ``on_click`` sets a ``threading.Event`` and records
``threading.current_thread().name``, then loops ``time.sleep(0.1)`` polling the Event; the test
clicks the button while the cell shows ``[*]``.

* ``kernel_info_reply.supported_features == ['kernel subshells', 'debugger']``.
* JupyterLab's ``commsOverSubshells`` setting (``@jupyterlab/apputils-extension:kernels-settings``)
  is ``"perCommTarget"`` by default: on the first ``jupyter.widget`` comm_open it sends a
  ``create_subshell_request`` (control channel, answered at once even while the cell runs) and
  then sends every widget ``comm_msg`` with ``header.subshell_id`` = that subshell.
* BUT ipykernel 7.4 re-routes it: its shell-channel thread asks the comm
  (``ipykernel.comm.BaseComm._reply_subshell_for``) and sends a frontend ``comm_msg`` to the
  shell that last *published* on that comm. A widget created in a cell published from the main
  shell (``subshell_id`` None), so the click goes to the MAIN shell queue, behind the busy cell.
* Result, plain ipywidgets: NO. The loop never sees the click ("NO CLICK DURING CELL"); the
  ``on_click`` callback runs on ``MainThread`` only after the cell has finished.
* Result with ``widget.comm._reply_subshell_for = lambda data, default: default`` (honour the
  subshell_id JupyterLab chose; set it on the comm after the widget is created): YES. The loop
  sees the click 0.1-0.3 s after it, the callback runs on thread ``subshell-<subshell uuid>``
  (not ``MainThread``) while the cell still runs. ``_reply_subshell_for`` is private ipykernel
  (>=7.3) API: feature-detect it. Checked the same way for an anywidget whose JS button calls
  ``model.send({...})`` with ``on_msg`` in Python: main shell after the cell by default, the
  subshell thread during the cell with the override.
* With ``commsOverSubshells = "disabled"`` (a user setting), or a front end without subshell
  support (classic Notebook 6, VS Code, older Lab), messages carry no subshell_id and always
  queue behind the cell, whatever the kernel does.
* Side effect seen in the page: while the subshell handles the click, it publishes
  busy/idle, and JupyterLab's kernel indicator then shows "idle" although the cell is still
  ``[*]``. So helpers here track a run through the cell model's ``executionCount``
  (:meth:`LabPage.run_cell` / :meth:`LabPage.wait_cell_done`), not through the kernel status.

Consequence for the product: a Stop button works only if the stream view's comm is routed to the
frontend's subshell as above, and only in a front end that sends comm messages to subshells. The
kernel cannot know the latter in advance; a safe scheme is to show Stop only after a round trip
proved it (e.g. the view sends a "hello" custom message on render; if the kernel handles it while
the cell is still busy, it tells the view to show Stop), and to rely on kernel interrupt otherwise.
The callback runs on another thread: it should only set a ``threading.Event`` that the streaming
loop checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = os.environ.get("GLM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

# JupyterLab settings written into the isolated settings dir: no news/update toasts covering cells.
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# Environment variables that would make the server/kernel read the user's own set-up.
_LEAKY_ENV = (
    "JUPYTER_PATH",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_PREFER_ENV_PATH",
    "JUPYTER_PLATFORM_DIRS",
    "JUPYTER_TOKEN",
    "JUPYTER_TOKEN_FILE",
    "JUPYTER_ALLOW_INSECURE_WRITES",
    "PYTHONSTARTUP",
    "MPLBACKEND",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


@dataclass
class LabServer:
    """A running JupyterLab. ``url`` has no trailing slash; ``root_dir`` is the served folder."""

    url: str
    token: str
    root_dir: Path
    base_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path
    app: str = "lab"  # "lab" (JupyterLab) or "notebook" (Notebook 7: one document per page)
    _kernel_pids: set[int] = field(default_factory=set)

    # -- URLs and REST ----------------------------------------------------------------------
    def lab_url(self, notebook: str | None = None, workspace: str | None = None) -> str:
        """URL opening ``notebook`` (relative to root_dir) in a fresh workspace of its own
        (Notebook 7: its own page, ``/notebooks/NAME``)."""
        if self.app == "notebook":
            path = "/notebooks/" + urllib.parse.quote(notebook) if notebook else "/tree"
            return f"{self.url}{path}?token={self.token}"
        ws = workspace or f"t{uuid.uuid4().hex[:10]}"
        path = f"/lab/workspaces/{ws}"
        if notebook:
            path += "/tree/" + urllib.parse.quote(notebook)
        return f"{self.url}{path}?token={self.token}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def sessions(self) -> list[dict[str, Any]]:
        return self.api("GET", "/api/sessions")

    def kernelspecs(self) -> dict[str, Any]:
        return self.api("GET", "/api/kernelspecs")

    def read_notebook(self, name: str) -> nbformat.NotebookNode:
        """The notebook as saved on disk (what a reopen or GitHub would see)."""
        return nbformat.read(self.root_dir / name, as_version=4)

    def shutdown_kernels(self, path: str | None = None) -> None:
        """Delete sessions (and so their kernels); only those for ``path`` when given."""
        for s in self.sessions():
            if path is None or s.get("path") == path:
                self._remember_kernel_pids()
                with contextlib.suppress(urllib.error.HTTPError):
                    self.api("DELETE", f"/api/sessions/{s['id']}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- lifetime -----------------------------------------------------------------------------
    def _remember_kernel_pids(self) -> None:
        self._kernel_pids |= set(kernel_pids(self.base_dir / "runtime"))

    def stop(self, timeout: float = 15.0) -> None:
        """Shut kernels down, stop the server, and make sure nothing it started survives."""
        self._remember_kernel_pids()
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self.shutdown_kernels()
            with contextlib.suppress(Exception):
                self.api("POST", "/api/shutdown", timeout=5)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _kill_group(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
        # Kernels run in sessions of their own (jupyter_client start_new_session): check them.
        self._remember_kernel_pids()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in self._kernel_pids):
            time.sleep(0.1)
        for pid in self._kernel_pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def orphans(self) -> list[int]:
        """Kernel processes started by this server that are still alive."""
        return [p for p in self._kernel_pids | set(kernel_pids(self.base_dir / "runtime")) if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def kernel_pids(runtime_dir: Path) -> list[int]:
    """PIDs whose command line names a connection file in ``runtime_dir`` (i.e. our kernels)."""
    needle = str(runtime_dir)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if needle in cmd and "kernel" in cmd:
            pids.append(int(entry))
    return pids


def lab_environment(base: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's (and so the kernels') environment: isolated Jupyter dirs + ``env``."""
    e = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    dirs = {
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "IPYTHONDIR": base / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": base / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": base / "lab-workspaces",
    }
    for k, d in dirs.items():
        d.mkdir(parents=True, exist_ok=True)
        e[k] = str(d)
    e["HOME"] = str(base / "home")
    (base / "home").mkdir(exist_ok=True)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    e["PYTHONUNBUFFERED"] = "1"
    e.setdefault("NO_COLOR", "1")
    # the venv's bin first, so anything spawned by name comes from the test venv
    e["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    if env:
        e.update({k: str(v) for k, v in env.items()})
    return e


@contextlib.contextmanager
def start_lab(
    env: Mapping[str, str] | None = None,
    *,
    root_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    disabled_extensions: Sequence[str] = (),
    startup_timeout: float = 60.0,
    app: str = "lab",
) -> Iterator[LabServer]:
    """Start JupyterLab (``app="notebook"``: Notebook 7, the ``notebook`` package, same page
    object ``window.jupyterapp``); yield a :class:`LabServer`; stop it (and its kernels) on exit.

    ``disabled_extensions`` are disabled in the server's own (temporary) config dir, as
    ``jupyter labextension disable NAME`` would do there: e.g. ``@jupyter-widgets/jupyterlab-manager``
    for a JupyterLab that shows no widgets."""
    base = Path(tempfile.mkdtemp(prefix="glm-lab-"))
    root = Path(root_dir) if root_dir else base / "root"
    root.mkdir(parents=True, exist_ok=True)
    full_env = lab_environment(base, env)
    if disabled_extensions:
        labconfig = base / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        page_config = {"disabledExtensions": {name: True for name in disabled_extensions}}
        (labconfig / "page_config.json").write_text(json.dumps(page_config))
    for rel, value in {**_LAB_SETTINGS, **(settings or {})}.items():
        p = base / "lab-settings" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value))

    token = secrets.token_hex(24)
    port = free_port()
    app_args = {
        "lab": [
            "jupyter",
            "lab",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        "notebook": ["notebook", "--JupyterNotebookApp.expose_app_in_browser=True"],
    }[app]
    cmd = [
        sys.executable,
        "-m",
        *app_args,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        "--ServerApp.quit_button=False",
        "--ServerApp.shutdown_no_activity_timeout=0",
        "--MappingKernelManager.cull_idle_timeout=0",
        # terminals are not needed (jupyter_lsp stays: without it the page polls /lsp/status → 404)
        "--ServerApp.jpserver_extensions={'jupyter_server_terminals': False}",
        "--ServerApp.terminals_enabled=False",
        *(["--allow-root"] if os.geteuid() == 0 else []),
        *extra_args,
    ]
    log_path = base / "jupyter.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = LabServer(
        url=f"http://127.0.0.1:{port}",
        token=token,
        root_dir=root,
        base_dir=base,
        env=full_env,
        proc=proc,
        log_path=log_path,
        app=app,
    )
    try:
        _wait_until_up(server, startup_timeout)
        yield server
    finally:
        server.stop()
        log.close()
        orphans = server.orphans()
        if not os.environ.get("GLM_KEEP_LAB_DIR"):
            shutil.rmtree(base, ignore_errors=True)
        if orphans:  # pragma: no cover - would be a harness bug
            raise RuntimeError(f"JupyterLab left kernel processes behind: {orphans}")


def _wait_until_up(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.proc.returncode}:\n{server.log()[-4000:]}")
        try:
            server.api("GET", "/api/status", timeout=2)
            # the lab page itself, not only the REST API
            page = "/lab" if server.app == "lab" else "/tree"
            with urllib.request.urlopen(f"{server.url}{page}?token={server.token}", timeout=5) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"jupyter lab did not answer within {timeout}s ({last}):\n{server.log()[-4000:]}")


# --------------------------------------------------------------------------------------------
# Notebooks on disk
# --------------------------------------------------------------------------------------------


def make_notebook(
    root_dir: Path,
    name: str | None = None,
    cells: Sequence[str | nbformat.NotebookNode] = ("",),
    *,
    tags: Mapping[int, Sequence[str]] | None = None,
) -> str:
    """Write a notebook with code ``cells`` (sources) into ``root_dir``; return its name."""
    name = name or f"t_{uuid.uuid4().hex[:8]}.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(cells):
        cell = c if isinstance(c, nbformat.NotebookNode) else nbformat.v4.new_code_cell(c)
        if tags and i in tags:
            cell.metadata["tags"] = list(tags[i])
        nb.cells.append(cell)
    path = Path(root_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return name


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

_LONGTASK_JS = """
(() => {
  window.__glmLongTasks = [];
  try {
    const po = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        window.__glmLongTasks.push({start: e.startTime, duration: e.duration, name: e.name});
      }
    });
    po.observe({type: 'longtask', buffered: true});
    window.__glmLongTaskObserver = po;
  } catch (err) {
    window.__glmLongTasksError = String(err);
  }
})();
"""


def install_longtask_observer(page: Any) -> None:
    """Record 'longtask' entries from page start on (call before ``page.goto``)."""
    page.add_init_script(_LONGTASK_JS)


def long_tasks(page: Any, since_ms: float = 0.0) -> list[dict[str, Any]]:
    """The recorded long tasks (>50 ms), optionally only those starting after ``since_ms``."""
    tasks = page.evaluate("() => window.__glmLongTasks || []")
    return [t for t in tasks if t["start"] >= since_ms]


def longest_task_ms(page: Any, since_ms: float = 0.0) -> float:
    """Duration of the longest main-thread task seen (0.0 if none exceeded 50 ms)."""
    return max((t["duration"] for t in long_tasks(page, since_ms)), default=0.0)


class MainThreadTrace:
    """The page's main-thread tasks of every length, from a Chrome trace (Chromium only).

    The longtask observer sees only tasks over 50 ms; this sees each task (``RunTask`` on the
    renderer's main thread) and the page's ``performance.mark`` times, so a test can say how long
    the longest task between two marks was. Use as ``with MainThreadTrace(browser, page) as trace:``
    then :meth:`longest_between`. Tracing costs a little CPU; the figures are for reports, not for
    timed assertions.
    """

    def __init__(self, browser: Any, page: Any) -> None:
        self.browser, self.page = browser, page
        self.tasks: list[tuple[float, float]] = []  # (start, duration) in ms, the trace's clock
        self.marks: dict[str, float] = {}  # performance.mark name -> time on the same clock

    def __enter__(self) -> MainThreadTrace:
        self.browser.start_tracing(
            page=self.page,
            categories=["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing"],
        )
        return self

    def __exit__(self, *exc: object) -> None:
        raw = self.browser.stop_tracing()
        data = json.loads(raw)
        events = data["traceEvents"] if isinstance(data, dict) else data
        marks = [
            e
            for e in events
            if "blink.user_timing" in e.get("cat", "") and e.get("name", "").startswith("glm-")
        ]
        thread = (marks[0]["pid"], marks[0]["tid"]) if marks else None
        for e in marks:
            self.marks.setdefault(e["name"], e["ts"] / 1000)
        for e in events:
            if (e.get("pid"), e.get("tid")) == thread and e.get("ph") == "X" and e.get("name") == "RunTask":
                self.tasks.append((e["ts"] / 1000, e.get("dur", 0) / 1000))

    def between(self, first: str, last: str | None) -> list[float]:
        """The durations (ms) of the tasks that ended between the marks ``first`` and ``last``
        (``None``: the end of the trace)."""
        start = self.marks[first]
        end = self.marks[last] if last is not None else float("inf")
        return [d for t, d in self.tasks if start <= t + d <= end + 0.001]

    def longest_between(self, first: str, last: str | None) -> float:
        """The longest task that ended between the marks ``first`` and ``last`` (ms; 0 if none)."""
        return max(self.between(first, last), default=0.0)


def page_now_ms(page: Any) -> float:
    """``performance.now()`` in the page: use as ``since_ms`` for :func:`longest_task_ms`."""
    return page.evaluate("() => performance.now()")


_PROMPT_RE = re.compile(r"\[\s*(\d+|\*)?\s*\]")


class LabPage:
    """A Playwright page showing JupyterLab of ``server``.

    ``console_errors`` collects console ``error`` messages and uncaught page errors.
    Cell indices are 0-based positions in the current notebook.
    """

    def __init__(self, page: Any, server: LabServer, default_timeout: float = 60.0):
        self.page = page
        self.server = server
        self.timeout_ms = default_timeout * 1000
        self.console_errors: list[str] = []
        self.console_messages: list[str] = []
        self.notebook: str | None = None
        self.opened: list[str] = []
        self.http_errors: list[str] = []
        page.set_default_timeout(self.timeout_ms)
        page.on("response", lambda r: r.status >= 400 and self.http_errors.append(f"{r.status} {r.url}"))
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))

    def _on_console(self, msg: Any) -> None:
        text = f"{msg.type}: {msg.text}"
        self.console_messages.append(text)
        if msg.type == "error":
            self.console_errors.append(text)

    # -- opening ------------------------------------------------------------------------------
    def new_notebook(self, cells: Sequence[str] = ("",), name: str | None = None) -> str:
        """Create a notebook file in the root dir and open it; return its name."""
        nb = make_notebook(self.server.root_dir, name, cells)
        self.open(nb)
        return nb

    def open(self, name: str, wait_kernel: bool = True) -> None:
        """Open ``name`` in a fresh workspace and wait until the notebook (and kernel) is ready."""
        self.notebook = name
        if name not in self.opened:
            self.opened.append(name)
        self.page.goto(self.server.lab_url(name))
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell", timeout=self.timeout_ms
        )
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", state="visible")
        self.page.wait_for_function(
            """(name) => {
                 const w = window.jupyterapp.shell.currentWidget;
                 return w && w.context && w.context.path === name && w.context.isReady
                        && w.content && w.content.widgets.length > 0;
               }""",
            arg=name,
        )
        if wait_kernel:
            self.wait_kernel_idle()

    def reload(self, wait_kernel: bool = True) -> None:
        """Reload the browser page (the kernel keeps running) and reopen the notebook."""
        assert self.notebook
        self.page.reload()
        self.open(self.notebook, wait_kernel=wait_kernel)

    def close_and_reopen(self, shutdown_kernel: bool = True, wait_kernel: bool = True) -> None:
        """Close the notebook tab (nothing saved), optionally shut its kernel down, reopen it.

        With ``shutdown_kernel`` the reopened notebook gets a brand-new kernel that knows no
        widget models: what shows is only what was saved in the .ipynb.
        """
        assert self.notebook
        name = self.notebook
        # "application:close" closes the current tab (asks about unsaved changes, as in the UI)
        self.page.evaluate(
            """async () => { const app = window.jupyterapp;
                             if (app.commands.hasCommand('application:close')) {
                               await app.commands.execute('application:close');
                             } else { app.shell.currentWidget.close(); } }"""
        )
        self.page.wait_for_function(
            "(name) => !window.jupyterapp.shell.currentWidget"
            " || !window.jupyterapp.shell.currentWidget.context"
            " || window.jupyterapp.shell.currentWidget.context.path !== name",
            arg=name,
        )
        if shutdown_kernel:
            self.server.shutdown_kernels(name)
        self.open(name, wait_kernel=wait_kernel)

    # -- JupyterLab access ----------------------------------------------------------------------
    def command(self, command_id: str, args: Mapping[str, Any] | None = None) -> Any:
        """Run a JupyterLab command (``window.jupyterapp.commands.execute``)."""
        return self.page.evaluate(
            "async ([id, args]) => { const r = await window.jupyterapp.commands.execute(id, args);"
            " return (r === undefined || typeof r !== 'object') ? (r ?? null) : null; }",
            [command_id, dict(args or {})],
        )

    def kernel_status(self) -> str | None:
        return self.page.evaluate(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                       const k = w && w.sessionContext && w.sessionContext.session
                                 && w.sessionContext.session.kernel;
                       return k ? k.status : null; }"""
        )

    def wait_kernel_idle(self, timeout: float | None = None) -> None:
        """Wait until the notebook's kernel is connected and idle."""
        self.page.wait_for_function(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                       const sc = w && w.sessionContext;
                       const k = sc && sc.session && sc.session.kernel;
                       return !!k && k.status === 'idle' && k.connectionStatus === 'connected'
                              && !sc.pendingInput; }""",
            timeout=(timeout * 1000) if timeout else self.timeout_ms,
        )

    def kernel_info(self) -> dict[str, Any]:
        """The kernel's ``kernel_info_reply`` content as the front end received it."""
        return self.page.evaluate(
            """async () => { const w = window.jupyterapp.shell.currentWidget;
                             const k = w.sessionContext.session.kernel;
                             const info = await k.info; return JSON.parse(JSON.stringify(info)); }"""
        )

    # -- cells ----------------------------------------------------------------------------------
    def cell(self, index: int) -> Any:
        """Locator of the ``index``-th cell of the current notebook."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int) -> Any:
        """Locator of the output area of cell ``index``."""
        return self.cell(index).locator(".jp-OutputArea")

    def cell_count(self) -> int:
        return self.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")

    def ensure_cells(self, n: int) -> None:
        """Append empty code cells until the notebook has at least ``n``."""
        self.page.evaluate(
            """(n) => { const nb = window.jupyterapp.shell.currentWidget.content;
                        while (nb.model.sharedModel.cells.length < n) {
                          nb.model.sharedModel.insertCell(nb.model.sharedModel.cells.length,
                                                          {cell_type: 'code', source: ''});
                        } }""",
            n,
        )

    def set_source(self, index: int, source: str) -> None:
        """Replace the source of cell ``index`` (creating cells up to it) through the model."""
        self.ensure_cells(index + 1)
        self.page.evaluate(
            """([i, src]) => { const nb = window.jupyterapp.shell.currentWidget.content;
                               nb.widgets[i].model.sharedModel.setSource(src); }""",
            [index, source],
        )

    def source(self, index: int) -> str:
        return self.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.getSource()",
            index,
        )

    def select(self, index: int) -> None:
        """Make cell ``index`` the active cell (command mode)."""
        self.page.evaluate(
            """(i) => { const nb = window.jupyterapp.shell.currentWidget.content;
                        nb.mode = 'command'; nb.activeCellIndex = i;
                        nb.deselectAll(); nb.node.focus(); }""",
            index,
        )

    def prompt(self, index: int) -> str:
        """Text of the input prompt, e.g. ``'[3]:'``, ``'[*]:'`` or ``'[ ]:'``."""
        return self.cell(index).locator(".jp-InputPrompt").first.inner_text().strip()

    def execution_count(self, index: int) -> int | None:
        return self.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.executionCount",
            index,
        )

    def run_cell(
        self,
        index: int,
        source: str | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
        via: str = "keyboard",
    ) -> None:
        """Set (optionally) and run cell ``index``.

        ``via="keyboard"`` presses Shift+Enter with the cell selected, like a user;
        ``via="command"`` runs ``notebook:run-cell``. Shift+Enter on the last cell appends a new
        empty cell, as in JupyterLab. With ``wait`` the call returns once the cell has finished
        (its execution count is set again and the kernel is idle).
        """
        if source is not None:
            self.set_source(index, source)
        self._mark_running(index)
        self.select(index)
        if via == "keyboard":
            self.page.keyboard.press("Shift+Enter")
        elif via == "command":
            self.command("notebook:run-cell")
        else:
            raise ValueError(via)
        self.page.wait_for_function(
            "(i) => window.__glmRun && window.__glmRun[i] && window.__glmRun[i].started",
            arg=index,
            timeout=self.timeout_ms,
        )
        if wait:
            self.wait_cell_done(index, timeout=timeout)

    def _mark_running(self, index: int) -> None:
        # Track the execution through the model: executionCount goes null when the cell is sent
        # and gets a number when the reply arrives.
        self.page.evaluate(
            """(i) => { window.__glmRun = window.__glmRun || {};
                        const m = window.jupyterapp.shell.currentWidget.content.widgets[i].model;
                        const st = {started: false, done: false};
                        window.__glmRun[i] = st;
                        const onChange = () => {
                          if (m.executionCount === null) { st.started = true; }
                          else if (st.started) { st.done = true; m.stateChanged.disconnect(onChange); }
                        };
                        m.stateChanged.connect(onChange); }""",
            index,
        )

    def is_cell_running(self, index: int) -> bool:
        return self.page.evaluate(
            "(i) => !!(window.__glmRun && window.__glmRun[i] && window.__glmRun[i].started"
            " && !window.__glmRun[i].done)",
            index,
        )

    def wait_cell_done(self, index: int, timeout: float | None = None) -> None:
        """Wait until the last run of cell ``index`` finished and the kernel is idle again."""
        t = (timeout * 1000) if timeout else self.timeout_ms
        self.page.wait_for_function(
            "(i) => window.__glmRun && window.__glmRun[i] && window.__glmRun[i].done", arg=index, timeout=t
        )
        self.wait_kernel_idle(timeout=t / 1000)

    def wait_outputs_rendered(self, index: int, timeout: float | None = None) -> None:
        """Wait until each output of cell ``index`` in the front end's model is rendered on screen.

        JupyterLab adds an output's node first and renders into it later (Markdown and widgets
        asynchronously), so "the cell is done" does not mean "its outputs show". Rendered here: the
        output area has one child per output in the model and every output node has content.
        """
        try:
            self.page.wait_for_function(
                _OUTPUTS_RENDERED_JS, arg=index, timeout=(timeout * 1000) if timeout else self.timeout_ms
            )
        except Exception as exc:  # noqa: BLE001 - playwright TimeoutError: say what is on screen
            state = self.page.evaluate(_OUTPUTS_STATE_JS, index)
            raise AssertionError(f"cell {index}: outputs not rendered: {state}") from exc

    def output_text(self, index: int) -> str:
        """Visible text of the output area of cell ``index`` ('' when there is none), once rendered."""
        self.wait_outputs_rendered(index)
        out = self.output(index)
        if out.count() == 0:
            return ""
        return out.first.inner_text()

    def wait_output_contains(self, index: int, text: str, timeout: float | None = None) -> str:
        """Wait until the output of cell ``index`` contains ``text``; return the whole text."""
        self.page.wait_for_function(
            """([i, text]) => { const cells = document.querySelectorAll(
                                  '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
                                const c = cells[i]; if (!c) return false;
                                const o = c.querySelector('.jp-OutputArea');
                                if (o && o.checkVisibility && !o.checkVisibility({contentVisibilityAuto: true})) {
                                  c.scrollIntoView({block: 'nearest'}); return false;  // see _ANSWER_JS
                                }
                                return !!o && o.innerText.includes(text); }""",
            arg=[index, text],
            timeout=(timeout * 1000) if timeout else self.timeout_ms,
        )
        return self.output_text(index)

    # -- kernel / document actions -------------------------------------------------------------
    def interrupt(self, via: str = "toolbar") -> None:
        """Interrupt the kernel: the notebook toolbar's ■ button, or ``kernelmenu:interrupt``."""
        if via == "toolbar":
            btn = self.page.locator(
                ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar "
                "[data-command='notebook:interrupt-kernel']"
            ).first
            btn.click()
        else:
            self.command("kernelmenu:interrupt")

    def is_dirty(self) -> bool:
        return self.page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")

    def save(self) -> None:
        """Ctrl+S, then wait until this save is done: the document clean, the file on disk rewritten.

        "Not dirty" alone can hold before the save started (a document nothing changed since the
        last save); the context's ``saveState`` says when *a* save completed, so count completions.
        """
        self.page.evaluate(
            """() => { const ctx = window.jupyterapp.shell.currentWidget.context;
                       const s = window.__glmSaves = {done: 0};
                       ctx.saveState.connect((_, state) => { if (state === 'completed') s.done++; }); }"""
        )
        before = (self.server.root_dir / self.notebook).stat().st_mtime_ns if self.notebook else 0
        self.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.node.focus()")
        self.page.keyboard.press("Control+s")
        self.page.wait_for_function(
            "() => window.__glmSaves.done > 0 && !window.jupyterapp.shell.currentWidget.context.model.dirty"
        )
        if self.notebook:
            path = self.server.root_dir / self.notebook
            deadline = time.monotonic() + self.timeout_ms / 1000
            while path.stat().st_mtime_ns == before:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{path} was not rewritten by the save")
                time.sleep(0.05)

    def screenshot(self, name: str, full_page: bool = False, locator: Any = None) -> Path:
        """Save a PNG into ``test-artifacts/`` and return its path."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / (name if name.endswith(".png") else name + ".png")
        if locator is not None:
            locator.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def relevant_console_errors(self, ignore: Sequence[str] = ()) -> list[str]:
        """Console errors and uncaught page errors, minus known harmless noise and ``ignore``.

        "Failed to load resource" lines are left out: :attr:`http_errors` has them with URLs
        (see :meth:`relevant_http_errors`).
        """
        noise = ("Failed to load resource", *ignore)
        return [e for e in self.console_errors if not any(n in e for n in noise)]

    def relevant_http_errors(self, ignore: Sequence[str] = ()) -> list[str]:
        """HTTP responses >= 400 the page got, minus ``favicon`` and ``ignore`` substrings."""
        noise = ("favicon", *ignore)
        return [e for e in self.http_errors if not any(n in e for n in noise)]

    # -- %%glm outputs (the stream view and its static copy) ------------------------------------
    def answer(self, index: int) -> dict[str, Any]:
        """What cell ``index`` shows of a ``%%glm`` answer, read from the page.

        ``{"kind": "live" | "static" | None, "text", "status", "error", "stop", "hint", "all"}``:
        ``kind`` "live" while the StreamView shows (``text`` = its answer's innerText, ``stop`` =
        the Stop button is visible, ``hint`` = the "interrupt the kernel" hint is visible),
        "static" once the ``text/markdown`` copy replaced it AND JupyterLab has rendered it (a long
        answer's copy is several Markdown outputs: all of them, read in order as one)
        (``text`` = the innerText of its blocks joined by a blank line, without the trailing status
        paragraph (``<p><sub><em>...</em></sub></p>``), the ``**Error:**`` paragraph and the reasoning ``<details>``),
        "rendering" while the copy's node is there but still empty (JupyterLab renders Markdown
        asynchronously, so right after the cell ends its node can be empty for a while), None when
        neither shows. A cell scrolled out of view is scrolled into view first (see _ANSWER_JS:
        JupyterLab skips rendering off-screen cells, so their text cannot be read). ``all`` is the whole output area's innerText.
        """
        return self.wait_answer(index, "a.kind !== 'offscreen'", timeout=10)

    def wait_answer(self, index: int, predicate_js: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until ``predicate_js`` (a JS expression over ``a``, the :meth:`answer` dict) holds.

        Returns the answer that satisfied it (read in the same evaluation, so nothing can change
        between the check and the return). On timeout raises ``AssertionError`` with what the cell
        showed instead.
        """
        try:
            handle = self.page.wait_for_function(
                f"(i) => {{ const a = ({_ANSWER_JS})(i); return ({predicate_js}) ? a : false; }}",
                arg=index,
                timeout=(timeout * 1000) if timeout else self.timeout_ms,
            )
        except Exception as exc:  # noqa: BLE001 - playwright TimeoutError: say what the cell shows
            raise AssertionError(
                f"cell {index}: waited for {predicate_js!r}; the cell shows {self.answer(index)}"
            ) from exc
        return handle.json_value()

    def start_answer_sampler(self, index: int, every_ms: int = 20) -> None:
        """Record, in the page, each change of the live answer's visible length in cell ``index``.

        Samples ``[performance.now(), length or null]`` every ``every_ms`` ms (null: no live
        view); read them with :meth:`answer_samples`. Reading innerText forces a layout: do not
        run it while measuring long tasks.
        """
        self.page.evaluate(
            """([i, ms]) => {
                 if (window.__glmSampler) clearInterval(window.__glmSampler.id);
                 const s = {samples: [], id: 0};
                 let last;
                 const read = () => {
                   const w = window.jupyterapp.shell.currentWidget.content.widgets[i];
                   const a = w && w.node.querySelector('.jp-OutputArea .glm-answer');
                   return a ? a.innerText.length : null;
                 };
                 s.id = setInterval(() => {
                   const n = read();
                   if (n !== last) { s.samples.push([performance.now(), n]); last = n; }
                 }, ms);
                 window.__glmSampler = s;
               }""",
            [index, every_ms],
        )

    def answer_samples(self, stop: bool = True) -> list[tuple[float, int | None]]:
        """The samples of :meth:`start_answer_sampler` (stopping it unless ``stop`` is False)."""
        return [
            (t, n)
            for t, n in self.page.evaluate(
                """(stop) => { const s = window.__glmSampler; if (!s) return [];
                               if (stop) clearInterval(s.id); return s.samples; }""",
                stop,
            )
        ]

    def output_data(self, index: int) -> list[dict[str, Any]]:
        """The outputs of cell ``index`` in the front end's model (``output_type``, ``data``...)."""
        return self.page.evaluate(
            """(i) => { const outs = window.jupyterapp.shell.currentWidget.content.widgets[i].model.outputs;
                        const r = [];
                        for (let k = 0; k < outs.length; k++) r.push(outs.get(k).toJSON());
                        return JSON.parse(JSON.stringify(r)); }""",
            index,
        )

    def page_text(self) -> str:
        """innerText of the whole page (what a user could read anywhere on screen)."""
        return self.page.evaluate("() => document.body.innerText")

    def slow_down_fetches(self, latency_ms: float = 400) -> None:
        """From now on every HTTP fetch of this page waits ``latency_ms`` and bypasses the cache.

        JupyterLab loads parts of itself (its Markdown parser, for one) on first use: with this,
        an output's node stays empty for a while after the cell is done, as on a loaded machine or
        a cold browser cache. Tests of the waits above use it.
        """
        cdp = self.page.context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": latency_ms, "downloadThroughput": -1, "uploadThroughput": -1},
        )


# Reads one cell's %%glm output (see LabPage.answer). A function expression: used as is by
# page.evaluate and called inside wait_for_function predicates.
_ANSWER_JS = """(i) => {
  const w = window.jupyterapp.shell.currentWidget.content.widgets[i];
  const o = w && w.node.querySelector('.jp-OutputArea');
  const r = {kind: null, text: '', status: '', error: '', stop: false, hint: false,
             all: o ? o.innerText : ''};
  if (!o) return r;
  // JupyterLab's default windowing mode puts `content-visibility: auto` on cells: the content of
  // a cell scrolled out of view is skipped, and its innerText reads as empty lines. Bring it
  // into view (as a user would scroll to it) and report 'offscreen' until the browser renders it.
  if (o.checkVisibility && !o.checkVisibility({contentVisibilityAuto: true})) {
    w.node.scrollIntoView({block: 'nearest'});
    r.kind = 'offscreen';
    return r;
  }
  const visible = (el) => !!el && !el.hidden && el.getClientRects().length > 0;
  const live = o.querySelector('.glm-stream');
  if (live) {
    r.kind = 'live';
    r.text = live.querySelector('.glm-answer').innerText;
    r.status = live.querySelector('.glm-status').innerText;
    const e = live.querySelector('.glm-error');
    r.error = visible(e) ? e.innerText : '';
    r.stop = visible(live.querySelector('.glm-stop'));
    r.hint = visible(live.querySelector('.glm-hint'));
    return r;
  }
  // A long answer's saved copy is several Markdown outputs, read here as one (in order).
  const mds = [...o.querySelectorAll('.jp-RenderedMarkdown')];
  if (!mds.length) return r;
  // JupyterLab inserts the node first and sets its innerHTML (all at once) when the asynchronous
  // Markdown renderer is done; the bundle always has at least its status paragraph.
  if (mds.some((md) => md.childElementCount === 0)) { r.kind = 'rendering'; return r; }
  r.kind = 'static';
  const parts = [];
  const last = mds[mds.length - 1].lastElementChild;
  for (const ch of mds.flatMap((md) => [...md.children])) {
    const first = ch.firstElementChild;
    // the status line: a last paragraph holding only <sub><em>...</em></sub> (small, italic)
    const em = first && first.tagName === 'SUB' ? first.firstElementChild : null;
    if (ch === last && ch.tagName === 'P' && em && em.tagName === 'EM'
        && ch.innerText.trim() === em.innerText.trim()) { r.status = ch.innerText.trim(); continue; }
    if (ch.tagName === 'P' && first && first.tagName === 'STRONG' && ch.innerText.startsWith('Error:')) {
      r.error = ch.innerText.trim(); continue;
    }
    if (ch.tagName === 'DETAILS') continue;
    parts.push(ch.innerText);
  }
  r.text = parts.join('\\n\\n');
  return r;
}"""


# Whether every output of cell i (in the front end's model) has a rendered node with content.
_OUTPUTS_RENDERED_JS = """(i) => {
  const w = window.jupyterapp.shell.currentWidget.content.widgets[i];
  if (!w || !w.model || !w.model.outputs || !w.outputArea) return false;
  const kids = w.outputArea.node.querySelectorAll(':scope > .jp-OutputArea-child');
  if (kids.length !== w.model.outputs.length) return false;
  for (const k of kids) {
    const out = k.querySelector('.jp-OutputArea-output');
    if (!out || out.childNodes.length === 0) return false;
  }
  const o = w.outputArea.node;  // off-screen content is skipped by the browser: see _ANSWER_JS
  if (kids.length && o.checkVisibility && !o.checkVisibility({contentVisibilityAuto: true})) {
    w.node.scrollIntoView({block: 'nearest'});
    return false;
  }
  return true;
}"""

_OUTPUTS_STATE_JS = """(i) => {
  const w = window.jupyterapp.shell.currentWidget.content.widgets[i];
  if (!w || !w.outputArea) return {cell: !!w, outputArea: false};
  const kids = [...w.outputArea.node.querySelectorAll(':scope > .jp-OutputArea-child')];
  return {model_outputs: w.model.outputs.length, shown: kids.length,
          empty: kids.filter((k) => { const o = k.querySelector('.jp-OutputArea-output');
                                      return !o || o.childNodes.length === 0; }).length,
          text: w.outputArea.node.innerText.slice(0, 500)};
}"""


def record_figures(figures: Mapping[str, Any], path: Path | None = None) -> Path:
    """Merge ``figures`` into ``test-artifacts/browser_figures.json`` (one key per measurement)."""
    path = path or ARTIFACTS / "browser_figures.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data.update(figures)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


def docs_screenshot(lab: LabPage, index: int, name: str) -> Path:
    """Screenshot of cell ``index`` (input and output) for the README; return where it went.

    Always written to ``test-artifacts/screenshots/<name>``. The committed copies in
    ``docs/screenshots/`` are replaced only with ``GLM_UPDATE_SCREENSHOTS=1`` in the environment,
    so an ordinary ``make test`` leaves the work tree clean (status lines carry timings).
    """
    lab.page.mouse.move(0, 0)  # no hover highlight in the picture
    target = ARTIFACTS / "screenshots" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    lab.cell(index).screenshot(path=str(target))
    if os.environ.get("GLM_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS_SCREENSHOTS / name)
        return DOCS_SCREENSHOTS / name
    return target
