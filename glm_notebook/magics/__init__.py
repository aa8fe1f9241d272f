"""The notebook layer's entry point: ``%load_ext glm_notebook`` registers %%glm and %glm.

Nothing here is imported by ``import glm_notebook``; IPython and ipywidgets load only now, and the
widget and client modules only when the first prompt runs.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    from ..context._sources import add_secret_source, remove_secret_source
    from ._context_flags import secret_values
    from ._magics import GLMMagics, track_cell_ids
    from ._map_view import install
    from ._replay_command import replay_from_environment

    replay_from_environment()  # GLM_NOTEBOOK_REPLAY: before any cell asks
    magics = GLMMagics(shell=ipython)
    ipython.register_magics(magics)
    track_cell_ids(ipython, magics)
    install(ipython)  # glm.map's progress view
    # Whatever the notebook sends a model masks the secrets its variables hold (context._text).
    remove_secret_source(getattr(ipython, "_glm_secret_source", None))
    ipython._glm_secret_source = secret_values(ipython.user_ns)
    add_secret_source(ipython._glm_secret_source)


def unload_ipython_extension(ipython: Any) -> None:
    from ..context._sources import remove_secret_source
    from ._magics import untrack_cell_ids
    from ._map_view import uninstall

    untrack_cell_ids(ipython)
    uninstall()
    remove_secret_source(getattr(ipython, "_glm_secret_source", None))
    ipython._glm_secret_source = None
