"""Property tests (hypothesis) for the byte-level SSE decoder in glm_notebook/client/_sse.py.

For any list of events - data payloads of arbitrary Unicode (U+2028/U+2029, CJK, emoji, JSON with
escaped CR/LF, multi-line data), mixed with comments, ``event:``/``id:``/``retry:`` lines, unknown
fields and heartbeat blocks - encoded with LF, CRLF or CR line endings (or a mix), and for ANY
split of the encoded bytes into reads (inside multi-byte UTF-8 characters, between CR and LF, byte
by byte, at line boundaries), ``SSEDecoder`` yields the original payloads, the same as decoding
the whole byte string at once. End to end, GLMClient fed the same reads through
httpx.MockTransport returns the whole text.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glm_notebook import ChatResult, GLMClient
from glm_notebook.client._sse import SSEDecoder, StreamState

KEY = "sk-sse-property-key-4242"
ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}
STYLES = st.sampled_from(["LF", "CRLF", "CR", "mixed"])  # mixed: each line its own ending

# function_scoped_fixture: conftest's autouse fixture only resets the shared client, harmless here.
# (Hypothesis keeps its example database in .hypothesis/, which gitignores itself.)
FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------------------------
# Strategies

_SPECIAL = list('\u2028\u2029\u0085\u000b\u000c\u00a0\ufeff\u200b\r\n\t"\\/ :')
_CJK = list("你好世界中文字符測試日本語한국어")
# Four-byte characters and multi-code-point sequences (skin tone, ZWJ family, flag).
_EMOJI = ["😀", "🎉", "🧪", "\U0001f9e0", "👍🏽", "👨\u200d👩\u200d👧", "🇨🇳"]

# Arbitrary Unicode (no lone surrogates: they cannot be encoded as UTF-8), weighted towards what
# breaks naive decoders: line separators, multi-byte sequences, CR/LF. Built from pieces, because
# st.text() would merge an alphabet of st.one_of(characters...) into one flat character set and
# lose the weighting (the special characters then almost never appear).
_piece = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=4),
    st.sampled_from(_SPECIAL),
    st.sampled_from(["\n", "\r", "\r\n"]),  # escaped in JSON; a data line break in plain data
    st.sampled_from(_CJK),
    st.sampled_from(_EMOJI),
)
unicode_text = st.lists(_piece, max_size=8).map("".join)


def _no_line_breaks(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")


# A value on one line (comment text, field values): anything but CR and LF.
line_value = unicode_text.map(_no_line_breaks)


def chunk_json(content: str, *, ascii_only: bool) -> str:
    """A chat.completion.chunk as GLM sends it; json.dumps escapes CR, LF and control chars."""
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "glm-4.7-flash",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return json.dumps(chunk, ensure_ascii=ascii_only)


json_payload = st.builds(
    lambda text, ascii_only: chunk_json(text, ascii_only=ascii_only), unicode_text, st.booleans()
)
# Plain (non-JSON) data: anything without CR (a CR would end the line); LF makes it multi-line.
plain_payload = unicode_text.map(lambda text: text.replace("\r", ""))
payload = st.one_of(json_payload, plain_payload)

field_name = st.one_of(
    st.sampled_from(["event", "id", "retry", "x-glm", "datum", "Data", "DATA", "dataX", "ping"]),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"), min_size=1, max_size=6
    ),
).filter(lambda name: name != "data")  # a bare "data" line would add an empty data line (spec)


# Lines the decoder must skip: comments, event/id/retry, unknown fields (with or without ':').
# Strategies are built once here, not inside the composites: building them per draw costs more
# than drawing from them.
_space = st.sampled_from(["", " "])
noise_line = st.one_of(
    line_value.map(lambda value: ":" + value),
    st.builds(lambda name, space, value: f"{name}:{space}{value}", field_name, _space, line_value),
    field_name,
)
_noise_lines = st.lists(noise_line, max_size=2)
_after_event = st.sampled_from(["", "", "", "blank", "heartbeat"])
_index = st.integers(0, 1 << 16)


def event_lines(draw: st.DrawFn, data: str, clean: bool) -> list[str]:
    """The lines of one event carrying ``data`` (split on LF into data lines), noise around it
    unless ``clean`` (then every line is "data: ...", as GLM's own frames are)."""
    lines = [] if clean else draw(_noise_lines)
    for value in data.split("\n"):
        # "data:value" is as valid as "data: value", but then a leading space would be stripped.
        space = " " if clean or value.startswith(" ") else draw(_space)
        lines.append(f"data:{space}{value}")
    if not clean and draw(st.booleans()):  # noise between or after the data lines too
        lines.insert(1 + draw(_index) % len(lines), draw(noise_line))
    return lines


def stream_lines(draw: st.DrawFn, datas: list[str], clean: bool = False) -> list[str]:
    """The lines of a whole stream carrying ``datas``, each event followed by its blank line."""
    lines: list[str] = []
    for data in datas:
        lines.extend(event_lines(draw, data, clean))
        lines.append("")
        extra = draw(_after_event)
        if extra == "blank":  # extra blank lines dispatch nothing
            lines.append("")
        elif extra == "heartbeat" and not clean:  # a block without data: no event
            lines.extend([draw(noise_line), ""])
    return lines


@st.composite
def sse_stream(draw: st.DrawFn, min_events: int = 0, clean: bool = False) -> tuple[list[str], list[str]]:
    """(payloads, lines of the stream)."""
    datas = draw(_payload_lists[min_events])
    return datas, stream_lines(draw, datas, clean)


_payload_lists = [st.lists(payload, min_size=n, max_size=6) for n in range(2)]


_any_ending = st.sampled_from(list(ENDINGS.values()))
_cr_or_crlf = st.sampled_from(["\r", "\r\n"])


def encode(draw: st.DrawFn, lines: list[str], style: str) -> tuple[bytes, list[int]]:
    """(the body, the offsets where its lines end) for ``lines`` ended in ``style``."""
    body, ends, ending = bytearray(), [], ""
    for line in lines:
        if style != "mixed":
            ending = ENDINGS[style]
        else:  # CR, then an empty line ended by LF, would be one CRLF: another stream
            ending = draw(_cr_or_crlf if ending == "\r" and not line else _any_ending)
        body += (line + ending).encode("utf-8")
        ends.append(len(body))
    return bytes(body), ends


_split_mode = st.sampled_from(["offsets", "tricky", "fixed"])
_read_size = st.integers(1, 9)


@st.composite
def splits(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """``body`` cut into non-empty reads, favouring the dangerous offsets: inside a multi-byte
    UTF-8 character and between CR and LF. Modes: arbitrary offsets (some of them tricky), every
    tricky offset at once (plus arbitrary ones), or fixed-size reads of 1-9 bytes."""
    if len(body) < 2:
        return [body] if body else []
    tricky = [i for i in range(1, len(body)) if 0x80 <= body[i] <= 0xBF or body[i - 1] == 0x0D]
    offset = st.integers(1, len(body) - 1)
    mode = draw(_split_mode)
    if mode == "fixed":
        size = draw(_read_size)
        cuts = list(range(size, len(body), size))
    else:
        if tricky and mode == "offsets":
            offset = st.one_of(offset, st.sampled_from(tricky))
        cuts = draw(st.lists(offset, max_size=min(len(body) - 1, 30)))
        if mode == "tricky":
            cuts += tricky
        cuts = sorted(set(cuts))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


def decode(reads: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out: list[str] = []
    for read in reads:
        out.extend(decoder.feed(read))
    out.extend(decoder.flush())
    return out


# ---------------------------------------------------------------------------------------------
# The decoder


@FAST
@given(stream=sse_stream(), style=STYLES, data=st.data())
def test_any_split_yields_the_same_payloads_as_the_whole(stream, style, data):
    payloads, lines = stream
    body, _ = encode(data.draw, lines, style)
    whole = decode([body])
    assert whole == payloads
    reads = data.draw(splits(body), label="reads")
    assert b"".join(reads) == body
    assert decode(reads) == whole


@FAST
@given(stream=sse_stream(), style=STYLES, data=st.data())
def test_byte_by_byte_yields_the_same_payloads(stream, style, data):
    payloads, lines = stream
    body, _ = encode(data.draw, lines, style)
    assert decode([body[i : i + 1] for i in range(len(body))]) == payloads


_boundary_mode = st.sampled_from(["some lines", "every line", "lines with their blank line"])


@FAST
@given(stream=st.one_of(sse_stream(), sse_stream(clean=True)), style=STYLES, data=st.data())
def test_reads_at_line_boundaries_yield_the_same_payloads(stream, style, data):
    """Reads that end at line ends: whole "data: ...\\n\\n" frames (the decoder's fast path),
    several frames coalesced, or an event cut between its data lines."""
    payloads, lines = stream
    body, ends = encode(data.draw, lines, style)
    mode = data.draw(_boundary_mode, label="cut at")
    if mode == "every line":
        cuts = ends[:-1]
    elif mode == "lines with their blank line":  # "data: a\\n", "data: b\\n\\n": fast-path bait
        cuts = [end for end, following in zip(ends[:-1], lines[1:], strict=True) if following]
    else:
        keep = data.draw(st.lists(st.booleans(), min_size=len(ends), max_size=len(ends)), label="cuts")
        cuts = [end for end, kept in zip(ends[:-1], keep, strict=False) if kept]
    reads = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert decode([read for read in reads if read]) == payloads


@FAST
@given(stream=sse_stream(min_events=1), style=st.sampled_from(["LF", "CRLF"]), data=st.data())
def test_last_event_without_its_blank_line_is_still_delivered(stream, style, data):
    """A body that ends after the last data line's line ending (no blank line) loses nothing."""
    payloads, lines = stream
    while lines and not lines[-1].startswith("data:"):
        lines.pop()  # end right after the last data line
    body, _ = encode(data.draw, lines, style)
    assert decode([body]) == payloads
    assert decode(data.draw(splits(body), label="reads")) == payloads


def test_last_event_ended_by_a_lone_cr_is_delivered():
    assert decode([b"data: a\r\rdata: b\r"]) == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# End to end: GLMClient over httpx.MockTransport, the body streamed in the chosen reads


class _Body:
    """The reads the mock server sends for the next request."""

    reads: list[bytes] = []


def _handler(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(list(_Body.reads)))


@pytest.fixture(scope="module")
def glm_client():
    with GLMClient(
        api_key=KEY, provider="zai", transport=httpx.MockTransport(_handler), max_retries=0
    ) as client:
        yield client


_contents = st.lists(st.tuples(unicode_text, st.booleans()), max_size=8)


@st.composite
def answer_stream(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(the whole answer, stream lines): content chunks, a finish chunk, then [DONE]."""
    contents = draw(_contents)
    datas = [chunk_json(text, ascii_only=ascii_only) for text, ascii_only in contents]
    finish = json.loads(chunk_json("", ascii_only=False))
    finish["choices"][0]["finish_reason"] = "stop"
    datas += [json.dumps(finish), "[DONE]"]
    return "".join(text for text, _ in contents), stream_lines(draw, datas)


@FAST
@given(answer=answer_stream(), style=STYLES, data=st.data())
def test_client_text_is_the_whole_answer_for_any_split(glm_client, answer, style, data):
    text, lines = answer
    body, _ = encode(data.draw, lines, style)
    _Body.reads = data.draw(splits(body), label="reads")
    result = glm_client.chat("hi")
    assert result.text == text
    assert result.complete
    assert result.finish_reason == "stop"
    assert result.metrics.malformed_frames == 0


# ---------------------------------------------------------------------------------------------
# The spec's own examples (WHATWG HTML, "Server-sent events: interpreting an event stream"), and
# httpx-sse, the peer, on the same input. Per the spec, a stream that ends inside an event drops
# it; so does SSEDecoder, except that flush() (at the end of the body) delivers an event whose data
# lines are complete but lack the blank line (see test_flush_delivers_...).

SPEC_EXAMPLES = {
    "multi-line data": ("data: YHOO\ndata: +2\ndata: 10\n\n", ["YHOO\n+2\n10"]),
    "comment, ids, one leading space stripped": (
        ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
        ["first event", "second event", " third event"],
    ),
    # "The first block fires events with the data set to the empty string, as would the last block
    # if it was followed by a blank line. The middle block fires an event with the data set to a
    # single newline character. The last block is discarded because it is not followed by a blank
    # line."
    "bare data lines": ("data\n\ndata\ndata\n\ndata:", ["", "\n"]),
    "space after the colon is optional": ("data:test\n\ndata: test\n\n", ["test", "test"]),
    "event types are not data": (
        "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
        ["73857293", "2153", "113411"],
    ),
    "a bare data line inside a multi-line event": ("data: a\ndata\ndata: b\ndata\n\n", ["a\n\nb\n"]),
}
_LINE_END = re.compile(r"\r\n|\r|\n")


def httpx_sse_datas(text: str) -> list[str]:
    """What httpx-sse's field decoder makes of the complete lines of ``text``."""
    from httpx_sse._decoders import SSEDecoder as PeerDecoder

    peer = PeerDecoder()
    lines = _LINE_END.split(text)[:-1]  # the text after the last line ending is no line yet
    return [event.data for line in lines if (event := peer.decode(line)) is not None]


@pytest.mark.parametrize("name", SPEC_EXAMPLES)
@pytest.mark.parametrize("ending", ENDINGS)
def test_the_spec_examples(name, ending):
    text, expected = SPEC_EXAMPLES[name]
    text = text.replace("\n", ENDINGS[ending])
    body = text.encode()
    assert decode([body]) == expected
    assert decode([body[i : i + 1] for i in range(len(body))]) == expected
    assert httpx_sse_datas(text) == expected  # the peer agrees on every example


def test_flush_delivers_a_last_event_without_its_blank_line():
    """Lenient where the spec drops: the body's last event, cut before its blank line, is kept."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data\n\ndata\ndata\n\ndata:") == ["", "\n"]
    assert decoder.flush() == []  # "data:" has no line ending: cut in the middle, dropped
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\ndata\n") == []
    assert decoder.flush() == ["a\n"]


def test_an_empty_event_is_not_counted_as_a_malformed_frame():
    state = StreamState(ChatResult(), 0.0)
    for data in SSEDecoder().feed(b"data\n\ndata:\n\ndata: \n\ndata: {not json\n\n"):
        assert state.feed(data) == []
    assert state.result.metrics.malformed_frames == 1


_bare = st.booleans()


def with_bare_data_lines(draw: st.DrawFn, lines: list[str]) -> list[str]:
    """``lines`` with some empty-valued data lines ("data:", "data: ") written as a bare "data"."""
    return ["data" if line in ("data:", "data: ") and draw(_bare) else line for line in lines]


@FAST
@given(stream=sse_stream(), style=STYLES, data=st.data())
def test_a_bare_data_line_is_an_empty_data_line(stream, style, data):
    payloads, lines = stream
    body, _ = encode(data.draw, with_bare_data_lines(data.draw, lines), style)
    assert decode([body]) == payloads
    assert decode(data.draw(splits(body), label="reads")) == payloads


@FAST
@given(stream=sse_stream(clean=True), style=STYLES, data=st.data())
def test_same_data_as_httpx_sse(stream, style, data):
    """On streams of data-only events (httpx-sse also dispatches blocks without data, which the
    spec says not to), both decoders give the same payloads, bare data lines included."""
    payloads, lines = stream
    body, _ = encode(data.draw, with_bare_data_lines(data.draw, lines), style)
    assert httpx_sse_datas(body.decode()) == payloads
    assert decode(data.draw(splits(body), label="reads")) == payloads


def test_httpx_sse_is_not_a_runtime_dependency():
    """Only the benchmarks and these tests use it: it lives in the `bench` and `test` extras."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pyproject = (root / "pyproject.toml").read_text()
    runtime = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)
    assert runtime and "httpx" in runtime.group(1) and "httpx-sse" not in runtime.group(1)
    bench = re.search(r"^bench = \[(.*?)^\]", pyproject, re.S | re.M)
    assert bench and "httpx-sse" in bench.group(1)
    users = [p for p in (root / "glm_notebook").rglob("*.py") if "httpx_sse" in p.read_text()]
    assert users == []
