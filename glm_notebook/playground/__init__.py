"""Parameter tuning and side-by-side compare: the Playground and compare().

``import glm_notebook`` reaches ``Playground`` and ``compare`` lazily, and so does this package:
``compare`` and the grid helpers load no widget library until a compare shows widgets (terminal
IPython prints), ``Playground`` and ``ParameterPanel`` import ipywidgets.

Modules: ``_panel`` (ParameterPanel: sliders, model, thinking, system), ``_playground`` (Playground:
background runs, cancel on change, history), ``_code`` ("copy as code"), ``_grid`` (compare specs
and grids, no widgets), ``_compare`` (compare: concurrent panels, static copy), ``_compare_output``
(what a compare leaves in the notebook). ``%%glm --tune`` / ``--compare`` are in ``magics/_bridge``;
every answer of either runs through ``answer/_run.AnswerRun``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._facade import lazy_names

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
    from ._grid import (
        GRID_SYNTAX,
        GridSetting,
        grid_settings,
        parse_grid_spec,
    )
    from ._panel import ParameterPanel
    from ._playground import HistoryEntry, Playground

__getattr__, __dir__, __all__ = lazy_names(__name__, globals(), _WHERE, eager=())
