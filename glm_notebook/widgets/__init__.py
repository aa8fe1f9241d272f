"""Notebook widgets: the live streaming view of one answer and its static final copy.

Importing this package imports ipywidgets and anywidget; ``import glm_notebook`` does not import it.
"""

from __future__ import annotations

from ._static import neutralize_markdown, static_bundle, status_line
from ._stream_view import StreamView

__all__ = ["StreamView", "neutralize_markdown", "static_bundle", "status_line"]
