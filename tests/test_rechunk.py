"""The rechunker under h11: the same responses, fewer body pieces, errors unchanged.

Every test runs h11 (the HTTP/1.1 parser httpcore uses) twice on the same server
bytes cut into the same reads: once on the bytes as they are, once on what
:class:`streamkit._rechunk.Rechunker` makes of them, and compares what h11 reports.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamkit._rechunk import Rechunker

from conftest import manifest, read_real


@dataclass
class Seen:
    """What h11 made of one response (or how it failed)."""

    statuses: list[int] = field(default_factory=list)  # interim ones first
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    pieces: int = 0  # h11.Data events
    error: str | None = None


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def _parse(exchanges: list[tuple[bytes, list[bytes], bool]], rechunk: bool) -> list[Seen]:
    """Run a client connection: per exchange, send a request, feed the reads, collect.

    ``exchanges``: (method, the response's reads, whether EOF follows the reads).
    """
    conn = h11.Connection(h11.CLIENT)
    rechunker = Rechunker()
    out: list[Seen] = []
    for method, reads, eof in exchanges:
        seen = Seen()
        out.append(seen)
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        request = conn.send(h11.Request(method=method, target="/v1", headers=[("Host", "x")]))
        assert request is not None
        end = conn.send(h11.EndOfMessage())
        if rechunk:
            rechunker.sent(request)
            rechunker.sent(end or b"")
        feed = [*reads, b""] if eof else list(reads)
        try:
            for read in feed:
                data = rechunker.received(read) if rechunk else read
                if read and not data:
                    continue  # only framing, or held back (b"" is EOF to h11): read again
                if rechunk and not read and data:
                    # EOF hands over what was held back first; EOF itself comes next
                    conn.receive_data(data)
                    data = rechunker.received(b"")
                conn.receive_data(data)
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA or event is h11.PAUSED:
                        break
                    if isinstance(event, (h11.InformationalResponse, h11.Response)):
                        seen.statuses.append(event.status_code)
                        seen.headers = list(event.headers)
                    elif isinstance(event, h11.Data):
                        seen.body += bytes(event.data)
                        seen.pieces += 1
                    elif isinstance(event, h11.EndOfMessage):
                        seen.trailers = list(event.headers)
                    elif isinstance(event, h11.ConnectionClosed):
                        break
                state = conn.their_state
                if state in (h11.MUST_CLOSE, h11.CLOSED) or (state is h11.DONE and not eof):
                    break
        except h11.RemoteProtocolError as exc:
            seen.error = type(exc).__name__
            return out
        if conn.their_state not in (h11.DONE,):
            return out  # the connection cannot be reused
    return out


def _same(exchanges: list[tuple[bytes, list[bytes], bool]]) -> tuple[list[Seen], list[Seen]]:
    plain, rechunked = _parse(exchanges, False), _parse(exchanges, True)
    for a, b in zip(plain, rechunked, strict=True):
        assert (b.statuses, b.headers, b.body, b.trailers, b.error) == (
            a.statuses,
            a.headers,
            a.body,
            a.trailers,
            a.error,
        )
        assert b.pieces <= a.pieces
    return plain, rechunked


# ---- building responses -------------------------------------------------------------------


def chunked(
    chunks: list[bytes],
    *,
    status: int = 200,
    extensions: bool = False,
    trailers: bool = False,
    upper_hex: bool = False,
) -> bytes:
    head = (
        b"HTTP/1.1 %d X\r\ncontent-type: text/event-stream\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n" % status
    ).replace(b"gzip, ", b"")
    out = [head]
    for c in chunks:
        size = (b"%X" if upper_hex else b"%x") % len(c)
        out.append(size + (b";name=value" if extensions else b"") + b"\r\n" + c + b"\r\n")
    out.append(b"0\r\n" + (b"X-Trailer: yes\r\n" if trailers else b"") + b"\r\n")
    return b"".join(out)


def with_length(body: bytes, status: int = 200) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


# body bytes that look like framing, to confuse a careless parser
framing_bytes = st.binary(max_size=80) | st.lists(
    st.sampled_from([b"0", b"\r\n", b"\r", b"\n", b"a;", b"data: x", b"\r\n\r\n", b"ff"]),
    max_size=12,
).map(b"".join)


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    """(method, the bytes of one response, whether the connection must end after it)."""
    kind = draw(st.sampled_from(["chunked", "chunked", "length", "head", "no-body", "interim"]))
    if kind == "head":
        body = draw(framing_bytes)
        head = chunked([body]) if draw(st.booleans()) else with_length(body)
        return b"HEAD", head.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", False
    if kind == "no-body":
        status = draw(st.sampled_from([204, 304]))
        return b"GET", b"HTTP/1.1 %d X\r\n\r\n" % status, False
    if kind == "length":
        status = draw(st.sampled_from([200, 404, 429, 500]))
        return b"POST", with_length(draw(framing_bytes), status), False
    chunks = draw(st.lists(framing_bytes.filter(bool), max_size=8))
    response = chunked(
        chunks,
        status=draw(st.sampled_from([200, 200, 429, 503])),
        extensions=draw(st.booleans()),
        trailers=draw(st.booleans()),
        upper_hex=draw(st.booleans()),
    )
    if kind == "interim":
        response = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + response
    return b"POST", response, False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(responses(), min_size=1, max_size=4),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_keep_alive_sequences_parse_the_same(
    items: list[tuple[bytes, bytes, bool]], cuts: list[int]
) -> None:
    exchanges = [(method, _cut(raw, cuts), False) for method, raw, _ in items]
    _, rechunked = _same(exchanges)
    for (_, reads, _), seen in zip(exchanges, rechunked, strict=True):
        assert seen.pieces <= len(reads)  # at most one body piece per read: coalesced


@settings(max_examples=300, deadline=None)
@given(
    st.lists(framing_bytes.filter(bool), min_size=1, max_size=6),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    st.integers(min_value=1, max_value=10_000),
)
def test_cut_off_anywhere_fails_the_same(chunks: list[bytes], cuts: list[int], keep: int) -> None:
    """EOF in the middle of a chunked body: h11's own error, same bytes before it."""
    raw = chunked(chunks)
    truncated = raw[: keep % len(raw)]
    plain, _ = _same([(b"POST", _cut(truncated, cuts), True)])
    assert plain[0].error is not None or plain[0].statuses == []


@pytest.mark.parametrize(
    "bad",
    [
        b"zz\r\nabc\r\n",  # not hex
        b"3\r\nabcXY",  # no CRLF after the data
        b"3\r\nabc\n",  # LF only
        b"-3\r\nabc\r\n",  # a sign
        b"3" + b" " * 5000 + b"\r\nabc\r\n",  # an oversize size line
        b"fffffffffffffffffffff\r\n",  # more than 16 hex digits
        b"3 \r\nabc\r\n",  # whitespace after the size (h11 rejects it)
        b"3 ;a=b\r\nabc\r\n",  # whitespace before an extension (h11 rejects it too)
        b"\r\n3\r\nabc\r\n",  # an empty size line
    ],
)
@pytest.mark.parametrize("split", [None, 1, 7])
def test_malformed_framing_fails_the_same(bad: bytes, split: int | None) -> None:
    raw = chunked([b"data: one\n\n", b"data: two\n\n"]).removesuffix(b"0\r\n\r\n") + bad
    reads = [raw] if split is None else _cut(raw, list(range(0, len(raw), split)))
    plain, rechunked = _same([(b"POST", reads, True)])
    assert plain[0].error == "RemoteProtocolError"
    assert rechunked[0].body.startswith(b"data: one\n\ndata: two\n\n")


def test_chunks_in_one_read_become_one_piece() -> None:
    events = [b'data: {"n": %d}\n\n' % i for i in range(500)]
    raw = chunked(events, trailers=True)
    rechunker = Rechunker()
    plain, rechunked = _same([(b"POST", [raw], False)])
    assert plain[0].pieces == 500
    assert rechunked[0].pieces == 1
    rechunker.sent(b"POST /v1 HTTP/1.1\r\n\r\n")
    rechunker.received(raw)
    assert rechunker.coalesced == 499


def test_close_delimited_body_is_passed_through() -> None:
    raw = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n1\r\nabc\r\n"
    _same([(b"POST", _cut(raw, [5, 40, 52]), True)])
    rechunker = Rechunker()
    rechunker.sent(b"POST / HTTP/1.1\r\n\r\n")
    assert b"".join(rechunker.received(r) for r in _cut(raw, [5, 40, 52])) == raw


def test_a_split_size_line_is_held_back_and_never_lost() -> None:
    rechunker = Rechunker()
    rechunker.sent(b"POST / HTTP/1.1\r\n\r\n")
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert rechunker.received(head + b"1") == head
    assert rechunker.holding
    assert rechunker.received(b"0") == b""  # still inside the size line "10"
    assert rechunker.received(b"\r\n" + b"x" * 16 + b"\r\n") == b"10\r\n" + b"x" * 16 + b"\r\n"
    assert not rechunker.holding
    assert rechunker.received(b"0\r") == b""  # held back: "0" could be the start of "0a"
    assert rechunker.received(b"\n\r\n") == b"0\r\n\r\n"  # the last chunk, as it came
    rechunker.sent(b"POST / HTTP/1.1\r\n\r\n")  # keep-alive: the next response is read
    assert rechunker.received(head + b"3\r\nabc\r\n3\r\ndef\r\n") == head + b"6\r\nabcdef\r\n"


# ---- the real recordings, served the way a provider does (one chunk per event) ----------

_REAL = [e["file"] for e in manifest()] or ["<recordings missing>"]


@pytest.mark.parametrize("name", _REAL)
def test_real_recordings_one_chunk_per_event(name: str) -> None:
    body = read_real(name)
    # a provider flushes every event (up to its blank line) as its own chunk
    events = [e + b"\n\n" for e in body.replace(b"\r\n", b"\n").split(b"\n\n")]
    events[-1] = events[-1][:-2]
    normalized = b"".join(events)
    raw = chunked([e for e in events if e])
    rng = random.Random(name)
    for _ in range(5):
        cuts = [rng.randrange(len(raw)) for _ in range(rng.randrange(1, 40))]
        plain, rechunked = _same([(b"POST", _cut(raw, cuts), False)])
        assert rechunked[0].body == normalized
        assert rechunked[0].pieces <= len(cuts) + 1
    whole_plain, whole = _same([(b"POST", [raw], False)])
    assert whole[0].pieces == 1
    assert whole_plain[0].pieces == len([e for e in events if e])


def test_switching_protocols_is_left_alone() -> None:
    rechunker = Rechunker()
    rechunker.sent(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    frames = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n"
    assert rechunker.received(head) + rechunker.received(frames) == head + frames


@pytest.mark.parametrize("cut", [None, 1, 3])
def test_bare_lf_heads_and_trailers_as_h11_reads_them(cut: int | None) -> None:
    """h11 ends a head or trailer section at LF (CR)LF; so does the rechunker."""
    body = b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\n\n"
    lf = b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n" + body
    exchanges = [
        (b"POST", [raw] if cut is None else _cut(raw, list(range(0, len(raw), cut))), False)
        for raw in (lf, lf.replace(b"X-T: 1\n\n", b"\n"))  # trailers; none
    ]
    plain, rechunked = _same(exchanges)
    assert [p.body for p in plain] == [b"abcde", b"abcde"]
    assert plain[0].trailers == [(b"x-t", b"1")]
    if cut is None:
        assert [r.pieces for r in rechunked] == [1, 1]
