"""The client layer: one request's way to the server and back, in plain Python (no IPython).

* ``_engine``: ``Exchange``, the I/O-free decisions of one request (send, read, retry, back off,
  what a stream yields); the drivers below only do what it says;
* ``_sync`` / ``_async``: ``GLMClient`` / ``AsyncGLMClient`` and their streams, thin drivers of the
  engine with the same shape (``tests/test_driver_shape.py`` keeps them so);
* ``_base``: what both clients share (settings, options checked before sending, ``chat``,
  ``stream``, ``tool_loop``);
* ``_tool_stream``: ``stream(..., tools=)``, the tool loop's turns as one stream of events;
* ``_request``: messages, payload, headers (the key only in ``Authorization``);
* ``_endpoint``: where a request goes (a provider's host, or the offline model, started lazily);
* ``_sse``: server-sent events decoded into typed events and a ``ChatResult``;
* ``_failures`` / ``_retry``: a failed attempt read into the typed error, and how long to wait;
* ``_transport`` / ``_cancel``: httpx options (loopback never proxied) and closing a socket from
  another thread (Stop).

Importing this package imports nothing; ``_sync`` and ``_async`` import httpx.
"""
