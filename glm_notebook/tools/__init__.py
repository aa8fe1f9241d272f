"""Tools and structured output: Python functions the model may call, the tool loop, schemas.

* ``_functions``: ``Tool``, ``@glm.tool``, ``glm.web_search()``; a function's signature and
  docstring as a JSON schema, arguments checked, approval;
* ``_loop``: ``ToolLoop``, the I/O-free turn decisions of a tool conversation and of ``schema=``
  (ask, run these calls, repair once, done); the client's drivers run it;
* ``_schema``: ``OutputSchema``: what ``schema=`` sends per provider, validation, the repair turn.

Nothing here does I/O or imports the client; pydantic and jsonschema load only when a tool or a
schema is used.
"""

#: How many turns of tool calls a loop may take before ``ToolLoopError`` (``max_tool_turns``).
DEFAULT_TOOL_TURNS = 10
