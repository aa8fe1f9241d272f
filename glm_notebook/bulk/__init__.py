"""Many prompts at once: ``glm.map`` over a table and the provider's Batch API (``glm.batch``).

* ``_rows``: rows from lists, dicts, DataFrames; templates; ``BatchResult``;
* ``_map``: ``glm.map``, the run (requests in flight, retries, progress, interrupt and resume);
* ``_limiter``: ``AdaptiveLimit``, the I/O-free concurrency policy (find the server's limit);
* ``_cache``: ``AnswerCache``, the SQLite file of answers already paid for;
* ``_api``: ``glm.batch``, the Batch API (upload, submit, poll, results), jobs recorded on disk.

(The folder is ``bulk``, not ``batch``: ``glm.batch`` is the Batch API object and must stay so.)
"""
