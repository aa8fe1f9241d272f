"""What one response may cost the client: decompressed bytes, bytes per SSE line, and time.

The drivers hand the engine the body's *raw* reads (``iter_raw``: after chunked transfer
decoding, before content decoding) and ``BodyDecoder`` undoes gzip/deflate here, at most
``PIECE`` bytes at a time (zlib's ``max_length``): a 400 KB body that expands to 400 MB never
exists whole in memory, and the decoded total is counted as it goes. httpx's own decoder
inflates each 64 KB read in one call (up to ~64 MB at once), which is why it is not used.

Caps (decompressed bytes, per response):

- ``MAX_STREAM_BYTES`` for a streamed answer (the SSE body is consumed as it arrives; the largest
  real answers are a few tens of MB of SSE with logprobs);
- ``MAX_WHOLE_BYTES`` for a body read whole (a non-streamed JSON answer);
- ``MAX_ERROR_BYTES`` kept of an error body (the rest is not read; the status still decides);
- ``MAX_LINE_BYTES`` per SSE line and per event's data (checked in ``_sse.SSEDecoder``).

Past a cap: ``ResponseTooLargeError`` (not retried). A Content-Encoding other than gzip, deflate
or identity is an ``APIError`` (not retried): the client asks only for gzip and deflate.

Time (``TimeLimits``): ``idle_s`` (the client's ``timeout=``) is how long the server may go
without sending answer data: keep-alive comments (``: ping``) and blank lines do not count, so a
server that only pings times out; ``total_s`` (``total_timeout=``) bounds a whole answer, from its
first request to its last byte, retries and keep-alives included. Both are checked by the engine
each time bytes arrive; a silent socket is ended by httpx's read timeout (also ``timeout=``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from .._errors import APIError, ResponseTooLargeError

PIECE = 64 * 1024
MAX_STREAM_BYTES = 128 * 2**20
MAX_WHOLE_BYTES = 32 * 2**20
MAX_ERROR_BYTES = 64 * 1024
MAX_LINE_BYTES = 8 * 2**20
ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_TOTAL_TIMEOUT = 1800.0


def megabytes(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n // 1024} KB"


def too_large(what: str, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"ResponseTooLargeError: {what} is larger than the client accepts ({megabytes(limit)}); "
        "the server is broken or hostile - check the base URL (GLM_BASE_URL / base_url=...).",
    )


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """``idle_s``: the longest wait for answer data (keep-alives do not count); ``total_s``: the
    whole answer's budget, retries included (None: no limit)."""

    idle_s: float = 60.0
    total_s: float | None = DEFAULT_TOTAL_TIMEOUT


class _Inflate:
    """One content coding undone in bounded pieces."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        # deflate is "zlib" (RFC 1950) by the spec, raw deflate by many servers: decided at the first bytes.
        wbits = zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)
        self._first = coding == "deflate"

    def pieces(self, data: bytes) -> Iterator[bytes]:
        z = self._z
        try:
            if self._first and data:
                self._first = False
                try:
                    out = z.decompress(data, PIECE)
                except zlib.error:  # raw deflate without the zlib header
                    z = self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = z.decompress(data, PIECE)
            else:
                out = z.decompress(data, PIECE)
            if out:
                yield out
            while z.unconsumed_tail:
                out = z.decompress(z.unconsumed_tail, PIECE)
                if out:
                    yield out
        except zlib.error as exc:
            raise _corrupt(self.coding, exc) from None

    def flush(self) -> bytes:
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise _corrupt(self.coding, exc) from None


def _corrupt(coding: str, exc: zlib.error) -> Exception:
    import httpx  # a read error like a broken connection: the engine's usual path for it

    return httpx.DecodingError(f"the body does not decompress as {coding}: {exc}")


class BodyDecoder:
    """Raw body reads in, decoded pieces (each at most ``PIECE`` bytes when compressed) out;
    raises ``ResponseTooLargeError`` once more than ``limit`` decoded bytes came."""

    def __init__(self, content_encoding: str, limit: int, what: str = "the response") -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        self._stages: list[_Inflate] = []
        for coding in reversed(codings):  # listed in the order they were applied
            if coding == "identity":
                continue
            if coding in ("gzip", "x-gzip", "deflate"):
                self._stages.append(_Inflate("deflate" if coding == "deflate" else "gzip"))
            else:
                raise APIError(
                    f"APIError: the server sent Content-Encoding {coding!r}, which the "
                    f"client did not ask for (it accepts {ACCEPT_ENCODING}) and does not decode; "
                    "check the base URL (GLM_BASE_URL / base_url=...)."
                )
        self.limit = limit
        self.what = what
        self.total = 0

    def feed(self, raw: bytes) -> Iterator[bytes] | tuple[bytes]:
        if not self._stages:
            self._count(raw)
            return (raw,)
        return self._decoded(raw, 0)

    def flush(self) -> Iterator[bytes]:
        """What the decompressors still hold at the end of the body."""
        for i, stage in enumerate(self._stages):
            rest = stage.flush()
            if rest:
                yield from self._decoded(rest, i + 1)

    def _decoded(self, data: bytes, stage: int) -> Iterator[bytes]:
        if stage == len(self._stages):
            self._count(data)
            yield data
            return
        for piece in self._stages[stage].pieces(data):
            yield from self._decoded(piece, stage + 1)

    def _count(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limit:
            raise too_large(self.what, self.limit)


class BodyBuffer:
    """A body read whole, through a ``BodyDecoder``: ``take(raw)`` returns False once enough came
    (``truncate``: the rest is not needed, e.g. of an error page), ``value()`` the bytes."""

    def __init__(self, content_encoding: str, limit: int, *, truncate: bool = False) -> None:
        self._decoder = BodyDecoder(content_encoding, 2**62 if truncate else limit, "the response body")
        self._parts: list[bytes] = []
        self._size = 0
        self._limit = limit
        self._truncate = truncate

    def take(self, raw: bytes) -> bool:
        for piece in self._decoder.feed(raw):
            if not self._keep(piece):
                return False
        return True

    def value(self) -> bytes:
        if self._size < self._limit:
            for piece in self._decoder.flush():
                if not self._keep(piece):
                    break
        return b"".join(self._parts)

    def _keep(self, piece: bytes) -> bool:
        room = self._limit - self._size
        if len(piece) >= room and self._truncate:
            self._parts.append(piece[:room])
            self._size = self._limit
            return False
        self._parts.append(piece)
        self._size += len(piece)
        return True
