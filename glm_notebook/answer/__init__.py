"""One answer in the notebook: its lifecycle, its live view and the copy saved with the notebook.

Both ``magics/`` (``%%glm``) and ``playground/`` (``--tune``, ``--compare``) show answers through
these modules; nothing here imports ``magics/`` or ``playground/``.

* ``_run``: ``AnswerRun``, the one answer lifecycle (stream, view, Stop / interrupt, storing the
  result), ``StopButton`` and ``TerminalView``;
* ``_live``: ``LiveView``, an AnswerRun's view in a notebook (the StreamView widget, then the saved
  copy in its place);
* ``_stream_view``: ``StreamView``, the anywidget that streams one answer (its browser half is
  ``js/src``, built into ``glm_notebook/static``);
* ``_saved_copy``: the static bundle (Markdown + plain text) that replaces the live view, and the
  neutralising of untrusted model text in it;
* ``_usage``: ``SessionUsage``, tokens and cost summed over a kernel session (``%glm usage``).

Importing this package imports nothing; ``_live`` and ``_stream_view`` import ipywidgets.
"""
