"""Providers, API key and base URL resolution, ``.env`` reading and key masking.

Resolution order for each field: the argument passed in, then the environment (``GLM_PROVIDER``,
``GLM_BASE_URL``, ``GLM_MODEL``, the key variables), then a ``.env`` file in the working directory
(it never overrides real environment variables). With no key anywhere the provider is ``local``:
the embedded offline model. Values read from the environment or ``.env`` lose surrounding
whitespace, so a pasted key with a trailing newline still works.

Which key goes where (a key goes only to the server it belongs to):

- ``api_key=...`` passed in goes to the base URL in use, whatever it is: the caller chose both.
- ``ZHIPUAI_API_KEY`` goes only to https://open.bigmodel.cn and ``ZAI_API_KEY`` only to
  https://api.z.ai (providers ``bigmodel``, ``zai``, ``zai-coding``; any path on that host, https
  only). One exception: when ``GLM_PROVIDER`` / ``provider=`` names the cloud provider and the base
  URL is on this machine (127.0.0.1, ::1, localhost: a local proxy or test server in front of
  it), the key goes there too, since it does not leave the machine.
- ``GLM_API_KEY`` is the key for a base URL of your own: an OpenAI-compatible server (vLLM,
  SGLang, Ollama, a proxy) or a cloud provider reached through a gateway.
- So ``GLM_BASE_URL=http://my-vllm:8000/v1`` with ``ZHIPUAI_API_KEY`` set sends ``GLM_API_KEY`` or
  no key at all; ``GLM_PROVIDER=bigmodel`` with ``GLM_BASE_URL=https://gateway.example/v4`` uses
  ``GLM_API_KEY`` and, without it, raises ConfigurationError instead of sending ZHIPUAI_API_KEY.

Requests to a URL read from stored state (a Batch API job recorded with its base URL) follow the
same rule, and the stored state never widens it (``key_for_url``): such a URL gets the client's
key only when it is the client's own host (scheme, host and port), a cloud provider's key variable
only on that provider's https host, and otherwise no key: a ConfigurationError when the client holds
one, saying which client to pass.

The key is never shown: ``Settings`` and the key itself (a ``str`` whose ``repr`` is masked, so
tracebacks printed with their locals do not show it either) print as ``sk-…abcd``;
``dataclasses.asdict(settings)`` (and JSON made from it) holds the masked form, since a deep copy
of a ``SecretKey`` is its masked text, and ``Settings`` has no ``__dict__`` for ``vars()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ._errors import ConfigurationError

# The key for a base URL of your own (an OpenAI-compatible server, or a gateway to a cloud provider).
OWN_SERVER_KEY_ENV = "GLM_API_KEY"


@dataclass(frozen=True)
class Provider:
    """A known endpoint family: its base URL, key variables and default model."""

    name: str
    base_url: str | None
    key_env: tuple[str, ...]
    default_model: str | None
    needs_key: bool = True

    @property
    def home_host(self) -> str | None:
        """The host the provider's own key variables may be sent to (None: no such host)."""
        return urlsplit(self.base_url).hostname if self.base_url else None


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in [
        Provider("bigmodel", "https://open.bigmodel.cn/api/paas/v4", ("ZHIPUAI_API_KEY",), "glm-4.7-flash"),
        Provider("zai", "https://api.z.ai/api/paas/v4", ("ZAI_API_KEY",), "glm-4.7-flash"),
        Provider("zai-coding", "https://api.z.ai/api/coding/paas/v4", ("ZAI_API_KEY",), "glm-4.7"),
        Provider("openai-compatible", None, (OWN_SERVER_KEY_ENV,), "glm-4.7-flash", needs_key=False),
        Provider("local", None, (), None, needs_key=False),
    ]
}


# Shorter than this, even the last four characters are too much of the secret (a password).
MASK_MIN_SHOWN = 16


def mask_key(key: str | None) -> str:
    """Show a key as ``sk-…abcd``: enough to tell keys apart, never enough to use one.
    A value shorter than 16 characters (a password, not a key) shows nothing: ``…****``."""
    if not key:
        return "(none)"
    if len(key) < MASK_MIN_SHOWN:
        return "…" + "*" * 4
    prefix = key[:3] if key[:3].isalnum() or "-" in key[:3] else ""
    return f"{prefix}…{key[-4:]}"


_SEEN_KEYS: set[str] = set()


def seen_keys() -> frozenset[str]:
    """Every key this process has held as a ``SecretKey`` (so text sent to a model can mask them)."""
    return frozenset(_SEEN_KEYS)


class SecretKey(str):
    """An API key: a plain ``str`` for headers, masked in ``repr`` (and so in tracebacks' locals)."""

    __slots__ = ()

    def __new__(cls, value: str = "") -> SecretKey:
        self = super().__new__(cls, value)
        if len(self) >= 8:
            _SEEN_KEYS.add(str(self))  # masked in any text this process sends (context._text)
        return self

    def __repr__(self) -> str:
        return repr(mask_key(self))

    def __deepcopy__(self, memo: dict[int, object]) -> str:
        # dataclasses.asdict() deep-copies each field: the dict (and JSON made from it) is masked.
        return mask_key(self)


class _Environment(dict[str, str]):
    """The environment as read for one resolution; its ``repr`` lists names only, never values."""

    def __repr__(self) -> str:
        return f"<environment: {', '.join(sorted(self))}>"


@dataclass(frozen=True, slots=True)
class Settings:
    """Where and how to call: provider name, base URL (None for local until started), key, model."""

    provider: str
    base_url: str | None
    model: str | None
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.api_key is not None and not isinstance(self.api_key, SecretKey):
            object.__setattr__(self, "api_key", SecretKey(self.api_key))

    def __repr__(self) -> str:
        return (
            f"Settings(provider={self.provider!r}, base_url={self.base_url!r}, "
            f"model={self.model!r}, api_key={mask_key(self.api_key)!r})"
        )

    @property
    def masked_key(self) -> str:
        return mask_key(self.api_key)


def read_dotenv(path: Path | None = None) -> dict[str, str]:
    """Values from ``.env`` in the working directory (or ``path``); {} when absent."""
    target = path or Path.cwd() / ".env"
    if not target.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(target).items() if v is not None}


def _read_environment(environ: Mapping[str, str] | None) -> _Environment:
    """``environ`` (default: ``.env`` overlaid by the real environment), values stripped."""
    merged = dict(read_dotenv()) if environ is None else {}
    merged.update(os.environ if environ is None else environ)
    return _Environment({name: value.strip() for name, value in merged.items()})


def _clean_key(value: str | None, source: str) -> SecretKey | None:
    """The key without surrounding whitespace; None when empty; an error for a line break inside."""
    if value is None:
        return None
    key = SecretKey(value.strip())
    value = key  # the raw text must not stay in this frame's locals (tracebacks print them)
    if any(ch.isspace() or ord(ch) < 0x20 for ch in key):
        raise ConfigurationError(
            f"The API key in {source} contains a space or a line break: copy the key again "
            "(it is one line of letters, digits and punctuation)."
        )
    return SecretKey(key) if key else None


def _normalize_url(url: str | None) -> str | None:
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"Base URL must start with http:// or https://, got {url!r}.")
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigurationError(f"Base URL {url!r} is not a valid URL ({exc}).") from None
    return url


def _provider_from_url(url: str) -> str:
    for p in PROVIDERS.values():
        if p.base_url and url == p.base_url:
            return p.name
    return "openai-compatible"


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` is this machine: localhost, ``*.localhost`` or a loopback address."""
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _at_home(url: str, spec: Provider) -> bool:
    """Whether ``url`` is the provider's own host over https (where its key variables may go)."""
    parts = urlsplit(url)
    return parts.scheme == "https" and parts.hostname == spec.home_host and parts.port in (None, 443)


def _key_for(
    spec: Provider,
    url: str | None,
    explicit: SecretKey | None,
    explicit_provider: bool,
    env: Mapping[str, str],
) -> SecretKey | None:
    """The key that may go to ``url`` (see the module docstring for the rule)."""
    if explicit is not None:
        return explicit
    if spec.name == "local":
        return None
    if spec.home_host and url is not None:
        host = urlsplit(url).hostname
        if _at_home(url, spec) or (explicit_provider and is_loopback_host(host)):
            for name in spec.key_env:
                key = _clean_key(env.get(name), name)
                if key:
                    return key
            return None
    return _clean_key(env.get(OWN_SERVER_KEY_ENV), OWN_SERVER_KEY_ENV)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # a bad port matches nothing
    return scheme, (parts.hostname or "").lower(), port or {"https": 443, "http": 80}.get(scheme)


def key_for_url(url: str, settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """The key a request to ``url`` may carry when the URL comes from stored state (a recorded
    Batch API job), for a client with ``settings``; ConfigurationError when none may go there.

    - ``url`` on the client's own host (same scheme, host and port): the client's key, which was
      chosen for that host (passed by the user, or by the rule in this module's docstring).
    - ``url`` on a cloud provider's own https host: that provider's key variable.
    - anywhere else no key: the stored URL (a gateway, another port on this machine) never draws a
      key from the environment or from a client made for another host.
    """
    if settings.base_url and _origin(url) == _origin(settings.base_url):
        return settings.api_key
    env = _read_environment(environ)
    for spec in PROVIDERS.values():
        if spec.base_url and _at_home(url, spec):
            for name in spec.key_env:
                key = _clean_key(env.get(name), name)
                if key:
                    return key
            raise ConfigurationError(
                f"No API key for {url}: set {' or '.join(spec.key_env)} or pass "
                f"client=glm.GLMClient(base_url={url!r}, api_key=...)."
            )
    if settings.api_key:
        raise ConfigurationError(
            f"This was sent to {url}, and this client's key is only for {settings.base_url}: "
            f"pass client=glm.GLMClient(base_url={url!r}, api_key=...) with the key for {url} "
            "(no key is sent anywhere else)."
        )
    return None


def _missing_key_error(spec: Provider, url: str, env: Mapping[str, str]) -> ConfigurationError:
    if _at_home(url, spec) or not spec.base_url:
        return ConfigurationError(
            f"No API key for provider {spec.name!r}: set {' or '.join(spec.key_env)} "
            "(in the environment or a .env file) or pass api_key=..."
        )
    held = [name for name in spec.key_env if (env.get(name) or "").strip()]
    home = f"https://{spec.home_host}"
    if held:
        return ConfigurationError(
            f"{held[0]} is sent only to {home}, not to {url}: for that server set "
            f"{OWN_SERVER_KEY_ENV} or pass api_key=..., or unset GLM_BASE_URL to use {home}."
        )
    return ConfigurationError(
        f"No API key for provider {spec.name!r} at {url}: set {OWN_SERVER_KEY_ENV} "
        "(in the environment or a .env file) or pass api_key=..."
    )


def resolve_settings(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Work out provider, base URL, key and model from arguments, environment and ``.env``."""
    # Masked from here on, even in this frame's locals (a traceback printed with locals shows them).
    explicit_key = api_key = _clean_key(api_key, "api_key=")
    env = _read_environment(environ)

    named = provider or env.get("GLM_PROVIDER") or None
    url = _normalize_url(base_url or env.get("GLM_BASE_URL") or None)
    name = named
    if name is None:
        if url:
            name = _provider_from_url(url)
        elif env.get("ZHIPUAI_API_KEY") or (explicit_key and not env.get("ZAI_API_KEY")):
            name = "bigmodel"
        elif env.get("ZAI_API_KEY"):
            name = "zai"
        else:
            name = "local"
    if name not in PROVIDERS:
        raise ConfigurationError(
            f"Unknown provider {name!r}: choose one of {', '.join(PROVIDERS)} "
            "(set provider=... or GLM_PROVIDER)."
        )
    spec = PROVIDERS[name]
    if name == "openai-compatible" and not url:
        raise ConfigurationError(
            "Provider 'openai-compatible' needs a base URL: set GLM_BASE_URL or pass "
            "base_url='http://127.0.0.1:8000/v1'."
        )
    final_url = url or spec.base_url
    key = _key_for(spec, final_url, explicit_key, named is not None, env)
    if spec.needs_key and not key:
        raise _missing_key_error(spec, final_url or "", env)
    return Settings(
        provider=name,
        base_url=final_url,
        model=model or env.get("GLM_MODEL") or spec.default_model,
        api_key=key,
    )
