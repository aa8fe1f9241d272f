"""What the test server is told to answer: the ``Reply`` and ``Fault`` scripts.

This module owns the two script types a test enqueues on a ``GLMTestServer`` and the text
splitting rule that turns a reply's text into stream chunks. It does no I/O: ``_frames`` turns a
``Reply`` into SSE frames and JSON bodies, ``_server`` puts them on the wire.

Vocabulary used by the chunk-index options of ``Reply`` (``error_after``, ``cut_after``,
``stall_after``, ``malformed_at``): a *piece chunk* is one ``chat.completion.chunk`` event that
carries a piece of the answer — a reasoning piece, a content piece or a tool-call argument piece, in
that order. They are numbered from 0. The closing chunk (the one with ``finish_reason``) comes after
them and has index ``len(pieces)``; any k at or above that number acts just before the closing chunk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ERROR_SHAPES", "IN_BAND_SHAPES", "TOOL_SHAPES", "Fault", "Reply", "split_words", "split_size"]

ERROR_SHAPES = ("glm", "openai", "flat", "text")  # Reply(error_shape=...): see Reply
TOOL_SHAPES = (
    "pieces",
    "whole",
    "name_first",
    "repeat_ids",
    "on_finish",
    "one_delta",
)  # Reply(tool_shape=...)

# CJK ideographs, kana, hangul and full-width forms carry no spaces, so each character is a "word".
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_WORD_RE = re.compile(rf"[{_CJK}]\s*|[^\s{_CJK}]+\s*|\s+")


def split_words(text: str) -> list[str]:
    """Split ``text`` into word-sized pieces that keep their trailing whitespace.

    ``"".join(split_words(t)) == t`` for every string (leading whitespace is its own piece; CJK
    characters are one piece each; U+2028/U+2029 count as whitespace and stay inside the pieces).
    """
    return _WORD_RE.findall(text)


def split_size(text: str, size: int) -> list[str]:
    """Split ``text`` into pieces of ``size`` characters (the last may be shorter)."""
    if size < 1:
        raise ValueError("chunk_size must be at least 1")
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Reply:
    """A scripted answer for one ``POST .../chat/completions``.

    Streaming requests (``"stream": true``) get SSE; others get one ``chat.completion`` object.

    Content: ``reasoning`` streams first as ``delta.reasoning_content``, then ``text`` as
    ``delta.content`` (split by words keeping whitespace, or by ``chunk_size`` characters, or exactly
    as the explicit ``chunks`` list which must join to the content; ``chunks`` given alone defines
    the text), then ``tool_calls`` (``[{"id", "name", "arguments"}]``, arguments a str or a dict sent
    as JSON) as ``delta.tool_calls`` with the arguments in pieces (``chunk_size`` or 8 characters).
    ``finish_reason`` None means "tool_calls" when there are tool calls, else "stop".

    ``tool_shape`` picks how the calls stream (the shapes GLM_PROTOCOL.md lists): ``"pieces"``
    (default: the first argument piece in the delta with the id and name, then argument pieces),
    ``"whole"`` (each call complete in one delta, as glm-4.7-flash sends without tool_stream),
    ``"name_first"`` (id and name with empty arguments, then the pieces), ``"repeat_ids"`` (the id
    and type repeated on every continuation), ``"on_finish"`` (the last piece on the closing
    chunk, with finish_reason), ``"one_delta"`` (every call, whole, in a single delta). Calls are
    keyed by ``index`` 0, 1, ... in every shape; ``"arguments": ""`` is a zero-argument call.

    Timing: ``first_delay`` seconds after the headers before the first chunk, ``delay`` seconds
    before every later chunk (the closing chunk included). A non-stream reply waits ``first_delay``
    before answering.

    Usage: ``usage=True`` puts a computed ``usage`` on the closing chunk (the one with
    ``finish_reason``): ``completion_tokens`` is the number of piece chunks, ``reasoning_tokens`` the
    number of reasoning chunks, ``prompt_tokens`` the number of words in the request's messages. A
    dict is sent as given; False/None sends no usage.

    Wire variants: ``crlf`` (CRLF line endings), ``comments`` (``: keep-alive`` before every chunk),
    ``split_utf8`` (every frame written in small pieces that cut multi-byte characters, one socket
    write and one HTTP chunk each), ``malformed_at`` (piece indexes before which ``data: {not json``
    is sent), ``unknown_events`` (``event: ping`` / ``data: {}`` before every chunk), ``no_done``
    (finish normally but omit ``data: [DONE]``).

    Faults (first match wins, checked before piece ``k``): ``error_after=k`` sends an error object
    and ends the HTTP body cleanly without ``[DONE]``. ``error_shape`` picks the object's shape:
    ``"glm"`` (default) ``{"error": {"code": error_code, "message": error_message}}`` as GLM and
    llama.cpp send it; ``"openai"`` ``{"object": "error", "message": ..., "type": ..., "param":
    null, "code": ...}`` as vLLM and SGLang send it; ``"flat"`` ``{"message": ..., "code": ...}``;
    ``"text"`` ``{"error": error_message}``. In the ``"openai"`` and ``"flat"`` shapes a numeric
    ``error_code`` is sent as a JSON number (vLLM sends the HTTP status there). ``error_event=True``
    names the frame ``event: error`` (as z.ai does). ``error_after=0`` puts the error before any
    text: the client treats it as its HTTP form (see ``Fault.in_band`` for GLM's exact shapes). ``cut_after=k``
    closes the socket mid-body; ``stall_after=k`` stops sending for ``stall_seconds`` then closes
    the socket. For a non-stream request ``error_after`` answers HTTP 400 with the error object,
    ``cut_after``/``stall_after`` close without an answer.

    Extras: ``extra`` (top-level fields put as given on the closing chunk and the non-stream
    body, e.g. GLM's ``web_search`` sources), ``require_reasoning_back`` (preserved thinking, as GLM
    enforces it: the request that takes this reply must send every earlier answer of this server
    back with its ``reasoning_content`` byte-identical, else it is answered HTTP 400, code 1214,
    naming the turn, instead of this reply; see ``_thinking``), ``model`` (default: the request's model), ``content_filter`` (list put on the closing
    chunk, top level, as GLM does with finish_reason "sensitive"), ``logprobs`` (True for generated
    OpenAI-style ``choices[0].logprobs`` on each content chunk, or a list whose i-th item is put as is
    on the i-th content chunk).
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    chunks: list[str] | None = None
    chunk_size: int | None = None
    delay: float = 0.0
    first_delay: float = 0.0
    usage: bool | dict[str, Any] | None = True
    finish_reason: str | None = None
    model: str | None = None
    crlf: bool = False
    comments: bool = False
    split_utf8: bool = False
    malformed_at: tuple[int, ...] | list[int] = ()
    unknown_events: bool = False
    error_after: int | None = None
    error_code: str = "1301"
    error_message: str = "The generated content contains unsafe or sensitive information (1301)."
    error_shape: str = "glm"
    error_event: bool = False
    cut_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 10.0
    no_done: bool = False
    content_filter: list[dict[str, Any]] | None = None
    logprobs: bool | list[dict[str, Any]] | None = None
    tool_shape: str = "pieces"
    extra: dict[str, Any] | None = None
    require_reasoning_back: bool = False

    def __post_init__(self) -> None:
        if self.chunks is not None:
            self.chunks = [str(c) for c in self.chunks]
            joined = "".join(self.chunks)
            if not self.text:
                self.text = joined
            elif joined != self.text:
                raise ValueError("Reply(chunks=...) must join to exactly Reply(text=...)")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if self.tool_shape not in TOOL_SHAPES:
            raise ValueError(f"tool_shape must be one of {', '.join(TOOL_SHAPES)}, not {self.tool_shape!r}")
        if self.error_shape not in ERROR_SHAPES:
            choices = ", ".join(ERROR_SHAPES)
            raise ValueError(f"error_shape must be one of {choices}, not {self.error_shape!r}")

    def error_object(self) -> dict[str, Any]:
        """The error object ``error_after`` sends, in ``error_shape``."""
        if self.error_shape == "text":
            return {"error": self.error_message}
        if self.error_shape == "glm":
            return {"error": {"code": self.error_code, "message": self.error_message}}
        text = str(self.error_code)
        code: str | int = int(text) if text.isdigit() else text
        if self.error_shape == "flat":
            return {"message": self.error_message, "code": code}
        kind = "BadRequestError" if isinstance(code, int) and code < 500 else "InternalServerError"
        return {"object": "error", "message": self.error_message, "type": kind, "param": None, "code": code}

    # -- the pieces, in stream order -------------------------------------------------------
    def _split(self, text: str) -> list[str]:
        return split_size(text, self.chunk_size) if self.chunk_size else split_words(text)

    def reasoning_pieces(self) -> list[str]:
        return self._split(self.reasoning) if self.reasoning else []

    def content_pieces(self) -> list[str]:
        if self.chunks is not None:
            return [c for c in self.chunks if c]
        return self._split(self.text) if self.text else []

    def normalized_tool_calls(self) -> list[dict[str, str]]:
        """Tool calls as ``{"id", "name", "arguments"}`` with ``arguments`` a JSON string."""
        calls = []
        for i, call in enumerate(self.tool_calls or []):
            args = call.get("arguments", "")
            if not isinstance(args, str):
                args = json.dumps(args, ensure_ascii=False)
            calls.append(
                {"id": str(call.get("id") or f"call_{i}"), "name": str(call["name"]), "arguments": args}
            )
        return calls

    def tool_argument_pieces(self, arguments: str) -> list[str]:
        return split_size(arguments, self.chunk_size or 8) if arguments else [""]

    def effective_finish_reason(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


# Business codes -> default messages (English renderings of what the service says).
_MESSAGES = {
    "1000": "Authentication failed.",
    "1001": "Authentication failed: the Authorization header is missing or the API key is invalid.",
    "1002": "Authentication failed: the API key is invalid.",
    "1003": "Authentication failed: the API key has expired.",
    "1113": "Your account is in arrears (insufficient balance); please recharge and try again.",
    "1211": "The model does not exist; check the model name.",
    "1214": "Invalid request parameter.",
    "1261": "The prompt is too long.",
    "1301": "The input or generated content contains unsafe or sensitive information.",
    "1302": "Too many concurrent requests for this API key; please slow down and retry later.",
    "1303": "Request frequency too high; please retry later.",
    "1304": "The daily call quota for this API has been used up.",
    "1305": "The service is overloaded; please retry later.",
}
_STATUS_CODES = {400: "1214", 401: "1001", 404: "1211", 429: "1302"}


IN_BAND_SHAPES = ("event", "data", "json")  # Fault.in_band(as_=...)


@dataclass
class Fault:
    """A scripted answer that is not a generated reply: an HTTP error, an error in a 200 body, or
    raw bytes.

    Build one with the classmethods. ``body`` overrides the JSON body entirely (a dict is sent as
    JSON, str/bytes as text, e.g. a proxy's HTML page). ``retry_after`` sets ``Retry-After``
    (seconds). ``delay`` waits before answering. ``Fault.drop()`` closes the connection without
    any answer (a connection error before the first byte).

    Errors in the body of an HTTP 200, as GLM sends them (``as_``):
    ``Fault.in_band("1302", as_="event")`` is a ``text/event-stream`` whose first event is
    ``event: error`` + ``data: {"error": {"code": "1302", "message": ...}, "request_id": ...}``,
    then ``data: [DONE]`` (z.ai's rate limit under load); ``as_="data"`` the same error object in a
    plain ``data:`` frame; ``as_="json"`` an ``application/json`` body holding it (reported for
    1305). ``code`` may be an int to send it as a JSON number. (An error *after* answer text:
    ``Reply(error_after=k)``, ``error_event=True`` for the ``event: error`` form;
    ``Reply(finish_reason="network_error")`` for GLM's network_error finish.)

    Raw bytes (captures, or anything the scripts do not make): ``Fault.raw(body, status=200,
    content_type="text/event-stream", splits=(10, 25), pause=0.05)`` sends ``body`` byte for byte;
    with ``splits`` (byte offsets) it goes out chunked, one HTTP chunk and one socket write per
    piece, ``pause`` seconds apart. A compressed body: compress it yourself and pass
    ``headers={"Content-Encoding": "gzip"}``.
    """

    status: int
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop_connection: bool = False
    splits: tuple[int, ...] = ()
    pause: float = 0.0

    @classmethod
    def http(
        cls,
        status: int,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Fault:
        code = str(code) if code is not None else _STATUS_CODES.get(status, str(status))
        if message is None:
            message = _MESSAGES.get(code, f"HTTP {status} error.")
        return cls(status, code, message, retry_after, body, dict(headers or {}), delay)

    @classmethod
    def rate_limit(
        cls, code: str = "1302", retry_after: float | None = None, message: str | None = None
    ) -> Fault:
        return cls.http(429, code, message, retry_after)

    @classmethod
    def balance(cls, message: str | None = None) -> Fault:
        return cls.http(429, "1113", message)

    @classmethod
    def auth(cls, code: str = "1001", message: str | None = None) -> Fault:
        return cls.http(401, code, message)

    @classmethod
    def server_error(
        cls, status: int = 500, message: str | None = None, retry_after: float | None = None
    ) -> Fault:
        return cls.http(
            status, str(status), message or f"Internal server error (HTTP {status}).", retry_after
        )

    @classmethod
    def model_not_found(cls, message: str | None = None) -> Fault:
        return cls.http(400, "1211", message)

    @classmethod
    def quota(cls, message: str | None = None) -> Fault:
        return cls.http(429, "1304", message)

    @classmethod
    def in_band(
        cls,
        code: str | int = "1302",
        message: str | None = None,
        *,
        as_: str = "event",
        request_id: str | None = "glmtest-in-band",
        status: int = 200,
    ) -> Fault:
        """An error in the body of an HTTP ``status`` (200) answer, in the shape ``as_`` (see above)."""
        if as_ not in IN_BAND_SHAPES:
            raise ValueError(f"as_ must be one of {', '.join(IN_BAND_SHAPES)}, not {as_!r}")
        text = message if message is not None else _MESSAGES.get(str(code), f"Error {code}.")
        obj: dict[str, Any] = {"error": {"code": code, "message": text}}
        if request_id is not None:
            obj["request_id"] = request_id
        data = json.dumps(obj, ensure_ascii=False)
        if as_ == "json":
            return cls.raw(data.encode(), status=status, content_type="application/json; charset=utf-8")
        head = "event: error\n" if as_ == "event" else ""
        body = f"{head}data: {data}\n\ndata: [DONE]\n\n".encode()
        return cls.raw(body, status=status, content_type="text/event-stream; charset=utf-8")

    @classmethod
    def raw(
        cls,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "text/event-stream",
        headers: dict[str, str] | None = None,
        splits: tuple[int, ...] | list[int] = (),
        pause: float = 0.0,
        delay: float = 0.0,
    ) -> Fault:
        """``body`` byte for byte with ``status`` and ``content_type`` (see above)."""
        if not isinstance(body, bytes):
            raise TypeError("Fault.raw(body) takes bytes")
        cuts = tuple(sorted({int(i) for i in splits if 0 < int(i) < len(body)}))
        all_headers = {"Content-Type": content_type, **(headers or {})}
        return cls(status, body=body, headers=all_headers, delay=delay, splits=cuts, pause=pause)

    def pieces(self, data: bytes) -> list[bytes]:
        """``data`` cut at ``splits``."""
        bounds = [0, *self.splits, len(data)]
        return [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]

    @classmethod
    def drop(cls, delay: float = 0.0) -> Fault:
        """Close the connection without sending a response."""
        return cls(0, delay=delay, drop_connection=True)

    def render(self) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body bytes to send."""
        headers = dict(self.headers)
        if self.retry_after is not None:
            ra = self.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        body = self.body
        if body is None:
            body = {"error": {"code": self.code, "message": self.message}}
        if isinstance(body, (dict, list)):
            data = json.dumps(body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        else:
            data = body if isinstance(body, bytes) else str(body).encode()
            ctype = "text/html" if data.lstrip().startswith(b"<") else "text/plain"
            headers.setdefault("Content-Type", f"{ctype}; charset=utf-8")
        return self.status, headers, data
