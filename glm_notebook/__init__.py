"""glm_notebook: a Jupyter extension and a plain-Python client for Zhipu's GLM models.

Importing this package loads neither IPython nor ipywidgets; ``%load_ext glm_notebook`` does.
"""

from __future__ import annotations

from typing import Any

from ._async_client import AsyncChatStream, AsyncGLMClient
from ._client import ChatStream, GLMClient, get_client, reset_client, set_client
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
    ServerError,
    StreamInterrupted,
)
from ._options import OPTIONS, Option, build_options
from ._settings import PROVIDERS, Settings, mask_key, resolve_settings
from ._types import ChatResult, Metrics, StreamEvent, ToolCall, Usage
from ._version import __version__


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
    "OPTIONS",
    "Option",
    "PROVIDERS",
    "PromptTooLongError",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
    "Settings",
    "StreamEvent",
    "StreamInterrupted",
    "ToolCall",
    "Usage",
    "__version__",
    "build_options",
    "get_client",
    "mask_key",
    "reset_client",
    "resolve_settings",
    "set_client",
]
