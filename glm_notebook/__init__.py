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
    ReplayMissError,
    ResponseTooLargeError,
    SchemaValidationError,
    ServerError,
    ServerNetworkError,
    StreamInterrupted,
    ToolLoopError,
)
from ._facade import lazy_names
from ._options import OPTIONS, Option, build_options
from ._settings import PROVIDERS, Settings, mask_key, resolve_settings
from ._types import ChatResult, Metrics, Notice, StreamEvent, ToolCall, Usage
from ._version import __version__

# The clients pull in httpx (~0.2 s cold); they load on first use so `%load_ext glm_notebook` stays cheap.
_LAZY = {
    "AsyncChatStream": ".client._async",
    "AsyncGLMClient": ".client._async",
    "ChatStream": ".client._sync",
    "GLMClient": ".client._sync",
    "get_client": ".client._sync",
    "reset_client": ".client._sync",
    "set_client": ".client._sync",
    "Tool": ".tools._functions",
    "tool": ".tools._functions",
    "web_search": ".tools._functions",
    "describe": ".context._describe",
    "BatchResult": ".bulk._rows",
    "map": ".bulk._map",
    "batch": ".bulk._api",
    "set_prices": "._prices",
    "replay": ".client._replay",
    "Playground": ".playground",
    "compare": ".playground",
}

if TYPE_CHECKING:
    from ._prices import set_prices
    from .bulk._api import batch
    from .bulk._map import map
    from .bulk._rows import BatchResult
    from .client._async import AsyncChatStream, AsyncGLMClient
    from .client._replay import replay
    from .client._sync import (
        ChatStream,
        GLMClient,
        get_client,
        reset_client,
        set_client,
    )
    from .context._describe import describe
    from .playground import Playground, compare
    from .tools._functions import Tool, tool, web_search

_EAGER = [
    *("Conversation", "ConversationStore"),
    *("APIConnectionError", "APIError", "APITimeoutError", "AuthenticationError", "ConfigurationError"),
    *("ContentFilterError", "GLMError", "InsufficientBalance", "InvalidOptionError"),
    *("InvalidRequestError", "LocalModelError", "ModelNotFoundError", "PromptTooLongError"),
    *("QuotaExceededError", "RateLimitError", "ReplayMissError", "ResponseTooLargeError"),
    *("SchemaValidationError", "ServerError", "ServerNetworkError"),
    *("StreamInterrupted", "ToolLoopError"),
    *("OPTIONS", "Option", "build_options", "PROVIDERS", "Settings", "mask_key", "resolve_settings"),
    *("ChatResult", "Metrics", "Notice", "StreamEvent", "ToolCall", "Usage", "__version__"),
]
__getattr__, __dir__, __all__ = lazy_names(__name__, globals(), _LAZY, _EAGER)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext glm_notebook``: register %%glm / %glm (imports IPython only now)."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
