"""The notebook as context: what the model sees of a Python object, within a budget.

* ``_describe`` (with ``_describe_frames`` for DataFrames and arrays and ``_describe_code`` for
  functions, classes, modules): ``glm.describe(obj)``;
* ``_images``: images (paths, bytes, PIL, matplotlib figures) as checked, bounded message parts;
* ``_attach``: ``context=`` / ``images=`` put onto the last user message;
* ``_text``: cutting to a budget, stripping terminal codes, masking secrets.

No I/O beyond reading the images the user names; pandas, numpy and PIL are never imported here
unless the object handed over is one of theirs.
"""
