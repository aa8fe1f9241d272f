"""Parameter tuning and side-by-side compare: the Playground and compare().

``import glm_notebook`` reaches ``Playground`` and ``compare`` lazily, and so does this package:
``compare`` and the grid helpers load no widget library until a compare shows widgets (terminal
IPython prints), ``Playground`` and ``ParameterPanel`` import ipywidgets.

Modules: ``_panel`` (ParameterPanel: sliders, model, thinking, system), ``_playground`` (Playground:
background runs, cancel on change, history), ``_code`` ("copy as code"), ``_grid`` (compare specs
and grids, no widgets), ``_compare`` (compare: concurrent panels, static copy), ``_compare_output``
(what a compare leaves in the notebook). ``%%glm --tune`` / ``--compare`` are in ``magics/_bridge``;
every answer of either runs through ``magics/_run.AnswerRun``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "GRID_SYNTAX",
    "GridSetting",
    "HistoryEntry",
    "ParameterPanel",
    "Playground",
    "compare",
    "grid_settings",
    "parse_grid_spec",
]

_WHERE = {
    "GRID_SYNTAX": "._grid",
    "GridSetting": "._grid",
    "HistoryEntry": "._playground",
    "ParameterPanel": "._panel",
    "Playground": "._playground",
    "compare": "._compare",
    "grid_settings": "._grid",
    "parse_grid_spec": "._grid",
}

if TYPE_CHECKING:
    from ._compare import compare
    from ._grid import GRID_SYNTAX, GridSetting, grid_settings, parse_grid_spec
    from ._panel import ParameterPanel
    from ._playground import HistoryEntry, Playground


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'glm_notebook.playground' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
