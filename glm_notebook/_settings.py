"""Providers, API key and base URL resolution, ``.env`` reading and key masking.

Resolution order for each field: the argument passed in, then the environment (``GLM_PROVIDER``,
``GLM_BASE_URL``, ``GLM_MODEL``, the provider's key variables), then a ``.env`` file in the working
directory (it never overrides real environment variables). With no key anywhere the provider is
``local``: the embedded offline model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import ConfigurationError


@dataclass(frozen=True)
class Provider:
    """A known endpoint family: its base URL, key variables and default model."""

    name: str
    base_url: str | None
    key_env: tuple[str, ...]
    default_model: str | None
    needs_key: bool = True


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in [
        Provider("bigmodel", "https://open.bigmodel.cn/api/paas/v4", ("ZHIPUAI_API_KEY",), "glm-4.7-flash"),
        Provider("zai", "https://api.z.ai/api/paas/v4", ("ZAI_API_KEY",), "glm-4.7-flash"),
        Provider("zai-coding", "https://api.z.ai/api/coding/paas/v4", ("ZAI_API_KEY",), "glm-4.7"),
        Provider("openai-compatible", None, ("GLM_API_KEY",), "glm-4.7-flash", needs_key=False),
        Provider("local", None, (), None, needs_key=False),
    ]
}


def mask_key(key: str | None) -> str:
    """Show a key as ``sk-…abcd``: enough to tell keys apart, never enough to use one."""
    if not key:
        return "(none)"
    if len(key) <= 8:
        return "…" + "*" * 4
    prefix = key[:3] if key[:3].isalnum() or "-" in key[:3] else ""
    return f"{prefix}…{key[-4:]}"


@dataclass(frozen=True)
class Settings:
    """Where and how to call: provider name, base URL (None for local until started), key, model."""

    provider: str
    base_url: str | None
    model: str | None
    api_key: str | None = field(default=None, repr=False)

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


def _provider_from_url(url: str) -> str:
    for p in PROVIDERS.values():
        if p.base_url and url.rstrip("/") == p.base_url:
            return p.name
    return "openai-compatible"


def resolve_settings(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Work out provider, base URL, key and model from arguments, environment and ``.env``."""
    env: dict[str, str] = dict(read_dotenv()) if environ is None else {}
    env.update(os.environ if environ is None else environ)

    name = provider or env.get("GLM_PROVIDER") or None
    url = base_url or env.get("GLM_BASE_URL") or None
    if name is None:
        if url:
            name = _provider_from_url(url)
        elif env.get("ZHIPUAI_API_KEY") or (api_key and not env.get("ZAI_API_KEY")):
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
    key = api_key or next((env[k] for k in spec.key_env if env.get(k)), None)
    if name == "bigmodel" and not key:
        key = env.get("ZHIPUAI_API_KEY")
    if name == "openai-compatible" and not key:
        key = env.get("ZHIPUAI_API_KEY") or env.get("ZAI_API_KEY") or None
    if name == "openai-compatible" and not url:
        raise ConfigurationError(
            "Provider 'openai-compatible' needs a base URL: set GLM_BASE_URL or pass "
            "base_url='http://127.0.0.1:8000/v1'."
        )
    if spec.needs_key and not key:
        raise ConfigurationError(
            f"No API key for provider {name!r}: set {' or '.join(spec.key_env)} "
            "(in the environment or a .env file) or pass api_key=..."
        )
    if url and not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"Base URL must start with http:// or https://, got {url!r}.")
    final_url = (url or spec.base_url or "").rstrip("/") or None
    if final_url and final_url.endswith("/chat/completions"):
        final_url = final_url[: -len("/chat/completions")]
    return Settings(
        provider=name,
        base_url=final_url,
        model=model or env.get("GLM_MODEL") or spec.default_model,
        api_key=key,
    )
