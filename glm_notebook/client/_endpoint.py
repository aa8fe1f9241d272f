"""Where requests go: the resolved Settings of a client, and the offline model behind them.

For provider ``local`` (no base URL given) the base URL is that of the embedded server, which
``glm_notebook.local`` starts on first use. The server can die (killed for memory, crashed), so
the endpoint is not cached forever:

* ``resolve()`` checks that the server it points at still runs (one ``waitpid``) and starts a new
  one when it does not, saying so first through ``notify`` ("starting" the first time,
  "restarting" after a server it used has stopped). No notice when the server is up.
* ``recover(error)`` is what the engine calls after a connection failure: if the server died, it
  is restarted once (thread-safe: concurrent failures share one restart) and the request can be
  sent again to the new port.

Other providers resolve to their settings unchanged and never recover. ``glm_notebook.local`` is
imported only for provider ``local``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from .._errors import APITimeoutError
from .._settings import Settings
from .._types import Notice

if TYPE_CHECKING:
    from ..local import LocalServerInfo

NotifyFn = Callable[[Notice], None]

#: The system message the packaged chat model (SmolLM2-135M-Instruct) gets when a request has none.
#: Without one its template's default ("You are a helpful AI assistant named SmolLM...") applies and
#: it rambles: 19/36 vs 28/36 right on benchmarks/offline_questions.json (bench_offline_chat.py).
#: It is part of the request, so ``result.request["messages"]`` shows it.
OFFLINE_DEFAULT_SYSTEM = "You are a helpful assistant. Answer in one short sentence."

STARTING_MESSAGE = "starting the offline model…"
RESTARTING_MESSAGE = "the offline model had stopped; restarting it…"
# A refused connection can be seen a moment before the dying server can be reaped (its sockets
# close first): how long recover() waits for a server that looks alive to show it has exited.
_EXIT_GRACE_S = 1.0


class Endpoint:
    """A client's settings with a base URL, resolved lazily (the offline model starts here)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._requested = settings
        # Only an offline model we start ourselves can be (re)started; a GLM_BASE_URL is left alone.
        self._managed = settings.provider == "local" and settings.base_url is None
        self._server: LocalServerInfo | None = None
        self._restarts = 0  # servers started after the first: lets concurrent failures share one
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Endpoint({self.settings!r})"  # Settings masks the key

    @property
    def needs_start(self) -> bool:
        """True while this is the offline model and no server runs (the next request starts one)."""
        if not self._managed:
            return False
        from ..local import current_server

        return current_server() is None

    @property
    def default_system(self) -> str | None:
        """The system message to add to requests without one: only for the packaged chat model."""
        server = self._server
        if not self._managed or server is None or not server.bundled or server.role != "chat":
            return None
        from .._status import BUNDLED_CHAT_MODEL

        return OFFLINE_DEFAULT_SYSTEM if server.model == BUNDLED_CHAT_MODEL else None

    def resolve(self, notify: NotifyFn | None = None) -> Settings:
        """Settings with a base URL, starting the offline model first for provider 'local'."""
        if not self._managed:
            return self.settings
        from ..local import current_server

        if self._server is not None and current_server() is self._server:
            return self.settings
        with self._lock:
            info = current_server()
            if info is None:
                _send(notify, "restarting" if self._server is not None else "starting")
                info = self._start()
            if info is not self._server:
                self._adopt(info)
            return self.settings

    def recover(self, error: Exception, notify: NotifyFn | None = None, *, url: str | None = None) -> bool:
        """After a connection failure: restart a dead offline server; True if a retry may succeed.

        True when the server was restarted here, or was replaced since the failed request was
        sent: by a concurrent recover() (streams failing together when the server dies wait for
        one restart) or, when the request's URL is known (``url``, or an httpx error's request in
        ``error``), whenever that URL is not the running server's. False for other providers and
        when the server the request used still runs. Raises LocalModelError if the restart fails.
        """
        if not self._managed:
            return False
        from ..local import current_server

        failed_url = url or _url_of(error)
        restarts_seen = self._restarts
        with self._lock:
            if self._restarts != restarts_seen:
                return True  # restarted while we waited for the lock: this request may retry too
            info = current_server()
            if info is not None and info is self._server and not _went_to(failed_url, info):
                return True  # the request went to a server that has been replaced since
            # A timeout means a live but slow server; a refused connection may precede its reaping.
            deadline = time.monotonic() + (0.0 if _is_timeout(error) else _EXIT_GRACE_S)
            while info is not None and info is self._server and time.monotonic() < deadline:
                time.sleep(0.02)
                info = current_server()
            if info is not None:
                if info is self._server:
                    return False  # it runs: the failure was something else
                self._adopt(info)  # another client restarted it; our settings were stale
                return True
            _send(notify, "restarting")
            self._adopt(self._start())
            return True

    def _start(self) -> LocalServerInfo:
        from ..local import ensure_server

        return ensure_server()

    def _adopt(self, info: LocalServerInfo) -> None:
        requested = self._requested
        if self._server is not None and info is not self._server:
            self._restarts += 1
        self._server = info
        self.settings = Settings(
            provider=requested.provider,
            base_url=info.base_url,
            model=requested.model or info.model,
            api_key=requested.api_key,
        )


def _send(notify: NotifyFn | None, kind: Literal["starting", "restarting"]) -> None:
    if notify is None:
        return
    message = STARTING_MESSAGE if kind == "starting" else RESTARTING_MESSAGE
    notify(Notice(kind, message))


def _url_of(error: BaseException) -> str | None:
    """The URL a failed request went to: an httpx error's request, through causes and contexts."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            request: Any = getattr(current, "request", None)  # httpx raises if it has none
        except RuntimeError:
            request = None
        url = getattr(request, "url", None) or getattr(current, "url", None)
        if url is not None:
            return str(url)
        current = current.__cause__ or current.__context__
    return None


def _is_timeout(error: BaseException) -> bool:
    """APITimeoutError, TimeoutError or an httpx ...Timeout (ReadTimeout, ConnectTimeout, ...)."""
    return isinstance(error, (APITimeoutError, TimeoutError)) or type(error).__name__.endswith("Timeout")


def _went_to(url: str | None, info: LocalServerInfo) -> bool:
    """Whether ``url`` went to ``info``'s server; an unknown URL counts as yes (no retry)."""
    return url is None or url.startswith(info.base_url)
