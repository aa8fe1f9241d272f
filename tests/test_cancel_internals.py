"""The httpx/httpcore internals behind a prompt cancel(): checked, and loud when they change.

``glm_notebook.client._cancel`` wraps the network backend of the transports httpx builds, reached through
private attributes. If an httpx release renames one, these tests fail naming it, and a client
warns (naming it) instead of silently losing cancel() before the first byte.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import httpx
import pytest

import glm_notebook as glm
from glm_notebook.client._cancel import (
    InternalsChanged,
    _AsyncTrackedBackend,
    _TrackedBackend,
    check_internals,
)


@pytest.fixture
def proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables, so httpx also builds proxy transports (mounted, and checked too)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")


@pytest.mark.parametrize("make", [httpx.Client, httpx.AsyncClient])
def test_the_installed_httpx_has_every_internal_the_tracker_uses(proxies, make) -> None:
    http = make()
    assert any(t is not None for t in http._mounts.values())  # proxy transports are checked too
    check_internals(http)


@pytest.mark.parametrize("client_type", [glm.GLMClient, glm.AsyncGLMClient])
def test_a_glm_client_tracks_every_transport_without_a_warning(proxies, client_type) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = client_type(base_url="https://api.example.com/v1", api_key="sk-internals-0000")
    http = client.http
    tracked = _AsyncTrackedBackend if client_type is glm.AsyncGLMClient else _TrackedBackend
    transports = [http._transport, *(t for t in http._mounts.values() if t is not None)]
    assert len(transports) >= 3  # direct + the two proxies
    assert all(isinstance(t._pool._network_backend, tracked) for t in transports)


def _fake(missing: str) -> SimpleNamespace:
    """An httpx client look-alike with the whole internal path, minus one link."""
    backend = SimpleNamespace(connect_tcp=lambda *a, **k: None)
    pool = SimpleNamespace(_network_backend=backend)
    transport = SimpleNamespace(_pool=pool)
    http = SimpleNamespace(
        _transport=transport, _mounts={"all://": None, "https://": SimpleNamespace(_pool=pool)}
    )
    target = {"_transport": http, "_mounts": http, "_pool": transport, "_network_backend": pool}
    if missing == "connect_tcp":
        del backend.connect_tcp
    else:
        delattr(target[missing], missing)
    return http


@pytest.mark.parametrize("missing", ["_transport", "_mounts", "_pool", "_network_backend", "connect_tcp"])
def test_a_missing_internal_fails_naming_it(missing) -> None:
    with pytest.raises(InternalsChanged, match=f"no attribute '{missing}'") as caught:
        check_internals(_fake(missing))
    assert f"httpx {httpx.__version__}" in str(caught.value)  # says which release broke it


def test_mounts_that_are_not_a_mapping_fail_naming_them() -> None:
    http = _fake("connect_tcp")
    http._mounts = [("all://", None)]
    with pytest.raises(InternalsChanged, match="_mounts is a list"):
        check_internals(http)


def test_a_client_on_changed_internals_warns_naming_the_attribute(monkeypatch) -> None:
    # What a user would see after an httpx upgrade that renamed HTTPTransport._pool.
    real_init = httpx.HTTPTransport.__init__
    built = []

    def init_with_renamed_pool(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self._connection_pool = self.__dict__.pop("_pool")
        built.append(self)

    monkeypatch.setattr(httpx.HTTPTransport, "__init__", init_with_renamed_pool)
    monkeypatch.setattr("glm_notebook.client._cancel._warned", False)
    with pytest.warns(RuntimeWarning, match="HTTPTransport .* has no attribute '_pool'"):
        client = glm.GLMClient(base_url="http://127.0.0.1:9/v1", api_key="sk-internals-0000")
    for transport in built:  # put it back so the client can close
        transport._pool = transport._connection_pool
    client.close()
