"""The notebook layer's entry point: ``%load_ext glm_notebook`` registers %%glm and %glm.

Nothing here is imported by ``import glm_notebook``; IPython and ipywidgets load only now, and the
widget and client modules only when the first prompt runs.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    from ._magics import GLMMagics, track_cell_ids

    magics = GLMMagics(shell=ipython)
    ipython.register_magics(magics)
    track_cell_ids(ipython, magics)


def unload_ipython_extension(ipython: Any) -> None:
    from ._magics import untrack_cell_ids

    untrack_cell_ids(ipython)
