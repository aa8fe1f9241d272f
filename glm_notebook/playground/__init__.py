"""Parameter tuning and side-by-side compare: the Playground, compare() and the magic's bridge.

Importing this package imports ipywidgets (the notebook layer); ``import glm_notebook`` does not,
and reaches ``Playground`` and ``compare`` lazily.

Modules: ``_panel`` (ParameterPanel: sliders, model, thinking, system), ``_playground`` (Playground:
background runs, cancel on change, history), ``_code`` ("copy as code"), ``_grid`` (compare specs
and grids, no widgets), ``_compare`` (compare: concurrent panels, static copy), ``_magic_bridge``
(``%%glm --tune`` / ``--compare``).
"""

from __future__ import annotations

from ._compare import compare
from ._grid import GRID_SYNTAX, GridSetting, grid_settings, parse_grid_spec
from ._magic_bridge import run_from_magic
from ._panel import ParameterPanel
from ._playground import HistoryEntry, Playground

__all__ = [
    "GRID_SYNTAX",
    "GridSetting",
    "HistoryEntry",
    "ParameterPanel",
    "Playground",
    "compare",
    "grid_settings",
    "parse_grid_spec",
    "run_from_magic",
]
