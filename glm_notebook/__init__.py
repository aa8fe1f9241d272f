"""glm_notebook: a Jupyter extension and a plain-Python client for Zhipu's GLM models.

Importing this package loads neither IPython nor ipywidgets; ``%load_ext glm_notebook`` does.
"""

from __future__ import annotations

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
from ._types import ChatResult, Metrics, StreamEvent, ToolCall, Usage

__version__ = "0.1.0"
