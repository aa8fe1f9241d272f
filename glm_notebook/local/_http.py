"""A lean HTTP front for the offline model: ``python -m glm_notebook.local._http <server args>``.

It takes llama-cpp-python's own server command line, settings, request types (so validation and
the defaults of unset options are the same: temperature 0.8, top_k 40, min_p 0.05,
repeat_penalty 1.1, ...), model loading and request preparation, and replaces only the HTTP layer
(FastAPI, uvicorn, anyio channels, sse-starlette) with the standard library's threaded server.
That layer cost about 9% of the tokens per second on this machine (``benchmarks/bench_local.py``);
here each token is one ``json.dumps`` and one socket write.

Wire behaviour, for the client: ``GET /v1/models``; ``POST /v1/chat/completions`` and
``/v1/completions``, streamed (``data: {chunk}`` frames, then ``data: [DONE]``, chunked transfer
encoding, keep-alive) or not. One generation at a time; other requests wait their turn. A client
that disconnects stops its generation at the next token. Errors before the first token are real
HTTP errors in GLM's shape: a prompt longer than the context is 400 with code ``1261``, an invalid
field 400 with code ``1214``; an error after the first token is an ``{"error": ...}`` frame.

The model is loaded without llama.cpp's extra weight buffer types (``load_model``): on CPUs with
AMX their repacked weights crash the first ``llama_decode``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_GENERATION = threading.Lock()  # llama.cpp's context serves one request at a time


def _plain(value: Any) -> Any:
    """JSON for what llama-cpp-python returns: logprobs are numpy scalars."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=_plain).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "glm-notebook-local"
    llm: Any = None
    alias = "local"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # -- responses ----------------------------------------------------------------------------

    def _json(self, status: int, body: Any) -> None:
        data = _dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": {"code": code, "message": message}})

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    # -- routes -------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/").endswith("/models"):
            model = {"id": self.alias, "object": "model", "owned_by": "me", "permissions": []}
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._error(404, "404", f"no such endpoint: GET {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        from llama_cpp.server.types import CreateChatCompletionRequest, CreateCompletionRequest

        path = self.path.rstrip("/")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            self._error(400, "1214", "the request body is not valid JSON")
            return
        if path.endswith("/chat/completions"):
            self._generate(body, CreateChatCompletionRequest, "create_chat_completion", {"n"})
        elif path.endswith("/completions"):
            if isinstance(body.get("prompt"), list):
                body["prompt"] = body["prompt"][0] if body["prompt"] else ""
            self._generate(body, CreateCompletionRequest, "create_completion", {"n", "best_of"})
        else:
            self._error(404, "404", f"no such endpoint: POST {self.path}")

    def _generate(self, body: dict[str, Any], request_type: Any, method: str, exclude: set[str]) -> None:
        from llama_cpp.server.app import prepare_request_resources
        from pydantic import ValidationError

        try:
            request = request_type(**body)
        except ValidationError as exc:
            self._error(400, "1214", " ".join(str(exc).split()))
            return
        kwargs = request.model_dump(exclude=exclude | {"logit_bias_type", "user", "min_tokens"})
        with _GENERATION:
            # It only calls its proxy with the model name: a function returning our one model will do.
            llama = prepare_request_resources(request, lambda _model: self.llm, request.model, kwargs)  # type: ignore[arg-type]
            call = getattr(llama, method)
            try:
                if not kwargs.get("stream"):
                    self._json(200, call(**kwargs))
                    return
                chunks = call(**kwargs)
                first = next(chunks, None)  # prompt checks happen here: still time for a 400
            except ValueError as exc:
                code = "1261" if "context" in str(exc).lower() or "exceed" in str(exc).lower() else "1214"
                self._error(400, code, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - the client gets a 500 with the reason
                self._error(500, "500", f"{type(exc).__name__}: {exc}")
                return
            self._stream(first, chunks)

    def _stream(self, first: Any, chunks: Any) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            try:
                if first is not None:
                    self._chunk(b"data: " + _dumps(first) + b"\n\n")
                for chunk in chunks:
                    self._chunk(b"data: " + _dumps(chunk) + b"\n\n")
                self._chunk(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the client as an error frame
                error = {"error": {"code": "500", "message": f"{type(exc).__name__}: {exc}"}}
                self._chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left: stop generating
        finally:
            chunks.close()


def load_model(model_settings: Any) -> Any:
    """llama_cpp.Llama as llama-cpp-python's server loads it, but with ``use_extra_bufts`` off.

    Extra buffer types are where llama.cpp repacks weights for a faster kernel. On a CPU with AMX
    (Sapphire Rapids and later; a source build of llama-cpp-python compiles AMX in with
    -march=native) the weights go into the AMX buffer and the first ``llama_decode`` segfaults in
    ``ggml_backend_amx_mul_mat`` (llama.cpp issue 20824, closed unfixed). Forcing the other repack
    buffer (CPU_REPACK) crashed on such a machine as well, so all of them are off: it is
    llama.cpp's own ``--no-repack``. ``Llama()`` takes no argument for it, so the default model
    parameters it starts from are changed while it loads (once, before the server serves).
    """
    from llama_cpp.server.model import LlamaProxy

    with _no_extra_buffer_types():
        return LlamaProxy.load_llama_from_model_settings(model_settings)


@contextlib.contextmanager
def _no_extra_buffer_types() -> Iterator[None]:
    import llama_cpp.llama_cpp as bindings

    defaults = bindings.llama_model_default_params
    if "use_extra_bufts" not in {name for name, *_ in bindings.llama_model_params._fields_}:
        yield  # an older llama.cpp: no such buffers to turn off
        return

    def without_extra_bufts() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = without_extra_bufts
    try:
        yield
    finally:
        bindings.llama_model_default_params = defaults


def main(argv: list[str] | None = None) -> None:
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    parser = argparse.ArgumentParser(description="glm_notebook's offline model server")
    add_args_from_model(parser, Settings)
    args = parser.parse_args(argv)
    # parse_model_from_args takes the class and returns an instance (typed Any: its annotation is off).
    server_settings: Any = parse_model_from_args(ServerSettings, args)
    model_settings: Any = parse_model_from_args(ModelSettings, args)
    _Handler.llm = load_model(model_settings)
    _Handler.alias = model_settings.model_alias or model_settings.model
    httpd = ThreadingHTTPServer((server_settings.host, server_settings.port), _Handler)
    httpd.daemon_threads = True
    print(
        f"glm_notebook offline model {_Handler.alias} on http://{server_settings.host}:{server_settings.port}/v1",
        file=sys.stderr,
        flush=True,
    )
    httpd.serve_forever()


if __name__ == "__main__":
    main()
