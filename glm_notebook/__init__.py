"""glm_notebook: a Jupyter extension and a plain-Python client for Zhipu's GLM models.

Importing this package loads neither IPython nor ipywidgets; ``%load_ext glm_notebook`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._conversation import Conversation, ConversationStore
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ContentFilterError,
    GLMError,
    InsufficientBalance,
    InvalidOptionError,
    InvalidRequestError,
    LocalModelError,
    ModelNotFoundError,
    PromptTooLongError,
    QuotaExceededError,
    RateLimitError,
    SchemaValidationError,
    ServerError,
    StreamInterrupted,
    ToolLoopError,
)
from ._options import OPTIONS, Option, build_options
from ._settings import PROVIDERS, Settings, mask_key, resolve_settings
from ._types import ChatResult, Metrics, Notice, StreamEvent, ToolCall, Usage
from ._version import __version__

# The clients pull in httpx (~0.2 s cold); they load on first use so `%load_ext glm_notebook` stays cheap.
_LAZY = {
    "AsyncChatStream": "._async_client",
    "BatchResult": "._batch",
    "batch": "._batch_api",
    "map": "._map_run",
    "AsyncGLMClient": "._async_client",
    "ChatStream": "._client",
    "GLMClient": "._client",
    "Playground": ".playground",
    "compare": ".playground",
    "get_client": "._client",
    "reset_client": "._client",
    "set_client": "._client",
    "Tool": "._tools",
    "tool": "._tools",
    "web_search": "._tools",
    "describe": "._describe",
    "set_prices": "._prices",
}

if TYPE_CHECKING:
    from ._async_client import AsyncChatStream, AsyncGLMClient
    from ._batch import BatchResult
    from ._batch_api import batch
    from ._client import ChatStream, GLMClient, get_client, reset_client, set_client
    from ._describe import describe
    from ._map_run import map
    from ._prices import set_prices
    from ._tools import Tool, tool, web_search
    from .playground import Playground, compare


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glm_notebook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext glm_notebook``: register %%glm / %glm (imports IPython only now)."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)


__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncChatStream",
    "AsyncGLMClient",
    "AuthenticationError",
    "BatchResult",
    "ChatResult",
    "ChatStream",
    "ConfigurationError",
    "ContentFilterError",
    "Conversation",
    "ConversationStore",
    "GLMClient",
    "GLMError",
    "InsufficientBalance",
    "InvalidOptionError",
    "InvalidRequestError",
    "LocalModelError",
    "Metrics",
    "ModelNotFoundError",
    "Notice",
    "OPTIONS",
    "Option",
    "PROVIDERS",
    "Playground",
    "PromptTooLongError",
    "QuotaExceededError",
    "RateLimitError",
    "SchemaValidationError",
    "ServerError",
    "Settings",
    "StreamEvent",
    "StreamInterrupted",
    "Tool",
    "ToolCall",
    "ToolLoopError",
    "Usage",
    "__version__",
    "batch",
    "build_options",
    "compare",
    "describe",
    "get_client",
    "map",
    "mask_key",
    "reset_client",
    "resolve_settings",
    "set_client",
    "set_prices",
    "tool",
    "web_search",
]
