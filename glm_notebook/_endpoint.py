"""Where requests go: the resolved Settings of a client, starting the offline model on first use.

For provider ``local`` the base URL is unknown until ``glm_notebook.local`` has started the
embedded server; ``resolve()`` does that once (thread-safe) and caches the result.
"""

from __future__ import annotations

import threading

from ._settings import Settings


class Endpoint:
    """A client's settings with a base URL, resolved lazily (the offline model starts here)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    def resolve(self) -> Settings:
        """Settings with a base URL, starting the offline model first for provider 'local'."""
        if self.settings.base_url is not None:
            return self.settings
        with self._lock:
            if self.settings.base_url is None:
                from .local import ensure_server

                info = ensure_server()
                self.settings = Settings(
                    provider=self.settings.provider,
                    base_url=info.base_url,
                    model=self.settings.model or info.model,
                    api_key=self.settings.api_key,
                )
        return self.settings
