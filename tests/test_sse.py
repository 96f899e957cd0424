"""Tests for streamkit.sse: WHATWG "Parsing/Interpreting an event stream"."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamkit import sse
from streamkit.errors import SSEError, StreamkitError
from streamkit.sse import (
    DEFAULT_MAX_EVENT_SIZE,
    DEFAULT_MAX_LINE_SIZE,
    ServerSentEvent,
    SSEDecoder,
)

from conftest import real_dir

E = ServerSentEvent
Result = tuple[list[ServerSentEvent], str, int | None]


# --------------------------------------------------------------------------- helpers


def run(chunks: Iterable[bytes], **limits: int) -> Result:
    """Feed chunks, close, return (events, last_event_id, reconnection_time)."""
    decoder = SSEDecoder(**limits)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    assert decoder.close() == []
    return events, decoder.last_event_id, decoder.reconnection_time


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    chunks, prev = [], 0
    for p in [*points, len(data)]:
        chunks.append(data[prev:p])
        prev = p
    return chunks


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


_LINE_END = re.compile(r"\r\n|\r|\n")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def reference_parse(raw: bytes) -> tuple[Result, bool]:
    """An obviously-correct, whole-input transcription of the WHATWG algorithm.

    Returns the result (its ``last_event_id`` is the *last event ID string*, set at
    each dispatch from the buffer) and whether the stream ended in the middle of an
    event.
    """
    text = raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    *lines, remainder = _LINE_END.split(text)
    events: list[ServerSentEvent] = []
    data_buffer = ""
    event_type = ""
    last_event_id_buffer = ""
    last_event_id = ""  # the last event ID string
    reconnection_time: int | None = None
    block_retry: int | None = None
    in_block = False
    for line in lines:
        if line == "":
            last_event_id = last_event_id_buffer
            if data_buffer != "":
                if data_buffer.endswith("\n"):
                    data_buffer = data_buffer[:-1]
                events.append(
                    ServerSentEvent(
                        event=event_type if event_type != "" else "message",
                        data=data_buffer,
                        id=last_event_id,
                        retry=block_retry,
                    )
                )
            data_buffer = ""
            event_type = ""
            block_retry = None
            in_block = False
            continue
        if line.startswith(":"):
            continue
        in_block = True
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            event_type = value
        elif field == "data":
            data_buffer += value + "\n"
        elif field == "id":
            if "\x00" not in value:
                last_event_id_buffer = value
        elif field == "retry" and _ASCII_DIGITS.fullmatch(value):
            reconnection_time = block_retry = int(value)
    pending = in_block or remainder != "" or raw in (b"\xef", b"\xef\xbb")
    return (events, last_event_id, reconnection_time), pending


# --------------------------------------------------------------------------- byte table


class Case:
    def __init__(
        self,
        name: str,
        raw: bytes,
        events: Sequence[ServerSentEvent],
        last_event_id: str = "",
        reconnection_time: int | None = None,
        *,
        variants: bool = True,
    ) -> None:
        self.name = name
        self.raw = raw
        self.expected: Result = (list(events), last_event_id, reconnection_time)
        # Written with "\n" only: also test it with CR and CRLF line ends.
        self.variants = variants and b"\r" not in raw

    def inputs(self) -> list[tuple[str, bytes]]:
        out = [("as-written", self.raw)]
        if self.variants:
            out.append(("cr", self.raw.replace(b"\n", b"\r")))
            out.append(("crlf", self.raw.replace(b"\n", b"\r\n")))
        return out


BAD_RETRIES = [
    "-5",
    "1_000",
    "abc",
    "",
    " 1",
    "\uff11\uff12",
    "10.5",
    "+5",
    "1e3",
    "²",
    "5 ",
    "0x10",
]

CASES: list[Case] = [
    # line ends
    Case("lf", b"data: hello\n\n", [E(data="hello")]),
    Case("two-events", b"data: a\n\ndata: b\n\n", [E(data="a"), E(data="b")]),
    Case("cr-only", b"data: a\r\rdata: b\r\r", [E(data="a"), E(data="b")]),
    Case("crlf-only", b"data: a\r\n\r\ndata: b\r\n\r\n", [E(data="a"), E(data="b")]),
    Case("mixed-ends", b"data: a\r\ndata: b\rdata: c\n\r\n", [E(data="a\nb\nc")]),
    Case("cr-cr-lf-is-two-ends", b"data: a\r\r\ndata: b\r\n\r\n", [E(data="a"), E(data="b")]),
    Case("lf-cr-is-two-ends", b"data: a\n\rdata: b\n\r", [E(data="a"), E(data="b")]),
    Case("blank-lines-only", b"\n\n\n\n", []),
    # data
    Case("multi-line-data", b"data: line1\ndata: line2\n\n", [E(data="line1\nline2")]),
    Case("trailing-empty-data", b"data: a\ndata:\n\n", [E(data="a\n")]),
    Case("leading-empty-data", b"data:\ndata: a\n\n", [E(data="\na")]),
    Case("bare-data-twice", b"data\ndata\n\n", [E(data="\n")]),
    Case("bare-data-once", b"data\n\n", [E(data="")]),
    Case("empty-data-colon", b"data:\n\n", [E(data="")]),
    Case("one-space-stripped-only", b"data:  two\n\n", [E(data=" two")]),
    Case("no-space", b"data:x\n\n", [E(data="x")]),
    Case("tab-not-stripped", b"data:\tx\n\n", [E(data="\tx")]),
    Case("trailing-space-kept", b"data: x \n\n", [E(data="x ")]),
    Case("colon-in-value", b"data: a: b:c\n\n", [E(data="a: b:c")]),
    Case("null-in-data-kept", b"data: a\x00b\n\n", [E(data="a\x00b")]),
    Case("json-data", b'data: {"a": [1, 2]}\n\n', [E(data='{"a": [1, 2]}')]),
    # comments
    Case("comments", b": c\ndata: x\n:another\n\n", [E(data="x")]),
    Case("comment-only-block", b":\n\n: keep-alive\n\n", []),
    Case("comment-between-data", b"data: a\n: c\ndata: b\n\n", [E(data="a\nb")]),
    # event type
    Case("typed-event", b"event: add\ndata: 1\n\n", [E(event="add", data="1")]),
    Case(
        "type-resets-after-dispatch",
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [E("add", "1"), E(data="2")],
    ),
    Case("event-only-block", b"event: foo\n\n", []),
    Case("type-resets-after-empty-block", b"event: foo\n\ndata: x\n\n", [E(data="x")]),
    Case("empty-event-is-message", b"event: a\nevent:\ndata: x\n\n", [E(data="x")]),
    Case("bare-event-is-message", b"event: a\nevent\ndata: x\n\n", [E(data="x")]),
    Case("last-event-wins", b"event: a\nevent: b\ndata: x\n\n", [E("b", "x")]),
    Case("event-after-data", b"data: x\nevent: late\n\n", [E("late", "x")]),
    Case("event-value-with-colon", b"event: a:b\ndata: x\n\n", [E("a:b", "x")]),
    # id
    Case("id-only-block", b"id: 7\n\n", [], last_event_id="7"),
    Case(
        "id-persists",
        b"id: 1\ndata: a\n\ndata: b\n\n",
        [E(data="a", id="1"), E(data="b", id="1")],
        "1",
    ),
    Case("id-after-data", b"data: a\nid: 5\n\n", [E(data="a", id="5")], "5"),
    # the last event ID string is set at dispatch: an unfinished event leaves it
    Case("id-in-discarded-block", b"data: a\nid: 9\n", [], ""),
    Case(
        "id-of-unfinished-event-not-taken",
        b"id: 4\ndata: a\n\nid: 5\ndata: b",
        [E(data="a", id="4")],
        "4",
    ),
    Case("id-only-block-after-event", b"id: 1\ndata: a\n\nid: 2\n\n", [E(data="a", id="1")], "2"),
    Case("id-null-ignored", b"id: 1\n\nid: a\x00b\ndata: x\n\n", [E(data="x", id="1")], "1"),
    Case(
        "empty-id-resets",
        b"id: 1\ndata: a\n\nid\ndata: b\n\nid: 2\n\nid:\ndata: c\n\n",
        [E(data="a", id="1"), E(data="b"), E(data="c")],
        "",
    ),
    Case("id-space-stripped-once", b"id:  x\ndata: d\n\n", [E(data="d", id=" x")], " x"),
    # retry
    Case(
        "retry",
        b"retry: 1000\ndata: x\n\ndata: y\n\n",
        [E(data="x", retry=1000), E(data="y")],
        "",
        1000,
    ),
    Case("retry-only-block", b"retry: 5\n\ndata: y\n\n", [E(data="y")], "", 5),
    Case("retry-no-space", b"retry:7\ndata: x\n\n", [E(data="x", retry=7)], "", 7),
    Case("retry-leading-zeros", b"retry: 007\ndata: x\n\n", [E(data="x", retry=7)], "", 7),
    Case("retry-zero", b"retry: 0\ndata: x\n\n", [E(data="x", retry=0)], "", 0),
    Case(
        "retry-big",
        b"retry: 123456789012345678901234567890\n\n",
        [],
        "",
        123456789012345678901234567890,
    ),
    Case("retry-invalid-keeps-old", b"retry: 10\n\nretry: x\ndata: d\n\n", [E(data="d")], "", 10),
    Case("retry-last-wins", b"retry: 10\nretry: 20\ndata: d\n\n", [E(data="d", retry=20)], "", 20),
    *[
        Case(
            f"retry-invalid-{bad!r}", f"retry: {bad}\ndata: x\n\n".encode(), [E(data="x")], "", None
        )
        for bad in BAD_RETRIES
    ],
    Case("retry-bare", b"retry\ndata: x\n\n", [E(data="x")]),
    # byte order mark
    Case("bom-stripped", b"\xef\xbb\xbfdata: x\n\n", [E(data="x")]),
    Case("second-bom-kept", b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [E(data="y")]),
    Case("bom-not-at-start", b"data: x\n\n\xef\xbb\xbfdata: y\n\n", [E(data="x")]),
    Case("bom-only-at-stream-start", b"\n\xef\xbb\xbfdata: y\n\n", []),
    Case("bom-in-value", b"data: \xef\xbb\xbfx\n\n", [E(data="\ufeffx")]),
    Case("partial-bom-is-text", b"\xef\xbbdata: x\n\ndata: y\n\n", [E(data="y")]),
    Case("bom-only", b"\xef\xbb\xbf", []),
    # encoding
    Case("utf8", "data: café 😀 ü\n\n".encode(), [E(data="café 😀 ü")]),
    Case("invalid-byte", b"data: a\xffb\n\n", [E(data="a\ufffdb")]),
    Case("truncated-seq-at-line-end", b"data: \xc3\n\n", [E(data="\ufffd")]),
    Case("truncated-3-byte-seq", b"data: \xe2\x82\ndata: \xe2\x82\xac\n\n", [E(data="\ufffd\n€")]),
    # WHATWG "UTF-8 decode" = one U+FFFD per maximal invalid subpart.
    Case("surrogate-and-overlong", b"data: \xed\xa0\x80\xc0\xaf\n\n", [E(data="\ufffd" * 5)]),
    Case("lone-continuation", b"data: \xa9\xa9\n\n", [E(data="\ufffd\ufffd")]),
    Case("invalid-in-field-name", b"da\xffta: x\n\n", []),
    Case("utf8-event-and-id", "event: é\nid: 😀\ndata: x\n\n".encode(), [E("é", "x", "😀")], "😀"),
    Case(
        "unicode-line-separators-are-text",
        "data: a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei\n\n".encode(),
        [E(data="a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei")],
    ),
    Case("nel-not-line-end-in-field", "data\u0085: x\n\n".encode(), []),
    # end of stream
    Case("unterminated-after-line-end", b"data: a\n\ndata: b\n", [E(data="a")]),
    Case("unterminated-mid-line", b"data: a\n\ndata: b", [E(data="a")]),
    Case("unterminated-only", b"data: a", []),
    Case("empty-input", b"", []),
    # field names
    Case("unknown-fields-ignored", b"foo: bar\ndata: x\nbaz\n\n", [E(data="x")]),
    Case("unknown-only-block", b"foo: bar\n\n", []),
    Case("case-sensitive", b"Data: x\nDATA: y\nEvent: e\nID: 3\nRetry: 5\n\n", [], "", None),
    Case("leading-space-field", b" data: x\n\n", []),
    Case("trailing-space-field", b"data : x\n\n", []),
    Case("empty-field-name-is-comment", b": data: x\n\n", []),
]


def _case_inputs() -> list[Any]:
    return [
        pytest.param(case, raw, id=f"{case.name}-{variant}")
        for case in CASES
        for variant, raw in case.inputs()
    ]


def test_case_names_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("case", "raw"), _case_inputs())
def test_table_whole(case: Case, raw: bytes) -> None:
    assert run([raw]) == case.expected


@pytest.mark.parametrize(("case", "raw"), _case_inputs())
def test_table_matches_reference(case: Case, raw: bytes) -> None:
    # Guards the reference implementation used by the property tests.
    assert reference_parse(raw)[0] == case.expected


@pytest.mark.parametrize(("case", "raw"), _case_inputs())
def test_table_every_split_point(case: Case, raw: bytes) -> None:
    for i in range(len(raw) + 1):
        assert run([raw[:i], raw[i:]]) == case.expected, f"split at {i}"
    assert run(one_byte_at_a_time(raw)) == case.expected
    # Empty chunks anywhere are harmless.
    assert run([b"", *[c for b in one_byte_at_a_time(raw) for c in (b, b"")]]) == case.expected


@pytest.mark.parametrize(
    ("raw", "cut"),
    [
        (b"data: a\r\n\r\ndata: b\r\n\r\n", [8]),  # CR | LF
        (b"data: a\r\n\r\ndata: b\r\n\r\n", [8, 10]),  # CR | LF CR | LF
        (b"data: a\r\r\ndata: b\r\n\r\n", [8, 9]),  # CR | CR | LF
        (b"data: a\r\n\r\ndata: b\r\n\r\n", [7, 8, 9, 10]),
    ],
)
def test_crlf_split_across_chunks_is_one_line_end(raw: bytes, cut: list[int]) -> None:
    assert run(split_at(raw, cut)) == ([E(data="a"), E(data="b")], "", None)


def test_cr_then_lf_in_separate_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # The CR already ended the line; this LF only completes the CRLF pair and is
    # not a blank line, so nothing is dispatched yet.
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [E(data="a")]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == []  # a real blank line (no event pending)
    assert not decoder.has_pending


def test_cr_then_empty_feeds_then_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [E(data="a\nb")]


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_bom_split_across_feeds(cut: int) -> None:
    raw = b"\xef\xbb\xbfdata: x\n\n"
    assert run([raw[:cut], raw[cut:]]) == ([E(data="x")], "", None)
    assert run([raw[:1], raw[1:2], raw[2:3], raw[3:]]) == ([E(data="x")], "", None)


def test_partial_bom_then_other_bytes_is_text() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"\xbb") == []
    assert decoder.feed(b"x\n\ndata: y\n\n") == [E(data="y")]


@pytest.mark.parametrize("text", ["é", "😀", "€", "中"])
def test_multibyte_char_split_across_chunks(text: str) -> None:
    raw = f"data: <{text}>\n\n".encode()
    start = len(b"data: <")
    for i in range(start, start + len(text.encode()) + 1):
        assert run([raw[:i], raw[i:]]) == ([E(data=f"<{text}>")], "", None)


# --------------------------------------------------------------------------- property

FRAGMENTS = [
    b"data:",
    b"data: ",
    b"event: x",
    b"id: 1",
    b"retry: 10",
    b":c",
    b"\n",
    b"\r",
    b"\r\n",
    b"\xef\xbb\xbf",
    b"\xc3",
    b"\xa9",
    b"a",
    b" ",
    b"\x00",
    b"\xff",
]

streams = st.lists(st.sampled_from(FRAGMENTS), max_size=60).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(raw=streams, data=st.data())
def test_property_chunking_invariant_and_matches_reference(raw: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    whole = run([raw])
    expected, pending = reference_parse(raw)
    assert whole == expected
    assert run(split_at(raw, cuts)) == expected

    decoder = SSEDecoder()
    for chunk in split_at(raw, cuts):
        decoder.feed(chunk)
    assert decoder.has_pending == pending
    assert decoder.bytes_received == len(raw)


@settings(max_examples=100, deadline=None)
@given(raw=streams)
def test_property_one_byte_at_a_time(raw: bytes) -> None:
    assert run(one_byte_at_a_time(raw)) == reference_parse(raw)[0]


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=80), data=st.data())
def test_property_arbitrary_bytes(raw: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=8))
    assert run(split_at(raw, cuts)) == reference_parse(raw)[0]


# LF-only streams made of whole lines: the shapes SSEDecoder reads block by block
# (``data: …`` and ``event: …`` + ``data: …``) next to every shape that must not be.
LF_LINES = [
    b"data: x",
    b"data:y",
    b"data: ",
    b"data:",
    b"data",
    b"data:  two spaces",
    b"event: e",
    b"event:f",
    b"event: ",
    b"event:",
    b"event",
    b"id: 7",
    b"id",
    b"retry: 5",
    b":comment",
    b"",
    b"",
    b"dat\xc3\xa9: z",
    b"data: \xc3\xa9\xff",
]
lf_streams = st.lists(st.sampled_from(LF_LINES), max_size=40).map(
    lambda lines: b"".join(line + b"\n" for line in lines)
)


@settings(max_examples=400, deadline=None)
@given(raw=lf_streams, data=st.data())
def test_property_lf_blocks_match_reference(raw: bytes, data: st.DataObject) -> None:
    expected, pending = reference_parse(raw)
    assert run([raw]) == expected
    # cut anywhere, and only at line ends (every piece then takes the whole-lines path)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert run(split_at(raw, cuts)) == expected
    line_ends = [i + 1 for i, byte in enumerate(raw) if byte == 0x0A]
    at_ends = data.draw(st.lists(st.sampled_from(line_ends), max_size=12)) if line_ends else []
    decoder = SSEDecoder()
    events = []
    for chunk in split_at(raw, at_ends):
        events.extend(decoder.feed(chunk))
    assert events == expected[0]
    assert (decoder.last_event_id, decoder.reconnection_time) == expected[1:]
    assert decoder.has_pending == pending


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"event: e\ndata: x\n\n", [E(event="e", data="x")]),
        (b"event:\ndata:\n\n", [E(data="")]),
        (b"event: \ndata:x\n\n", [E(data="x")]),
        (b"event:  e\ndata:  x\n\n", [E(event=" e", data=" x")]),
        (b"event: e\ndata: x\ndata: y\n\n", [E(event="e", data="x\ny")]),
        (b"data: x\nevent: e\n\n", [E(event="e", data="x")]),
        (b"event: e\nid: 1\n\ndata: x\n\n", [E(data="x", id="1")]),
        (b"id: 1\n\ndata: x\n\nid\n\ndata: y\n\n", [E(data="x", id="1"), E(data="y")]),
        (b"retry: 5\ndata: x\n\ndata: y\n\n", [E(data="x", retry=5), E(data="y")]),
        (b"event: e\n\ndata: x\n\n", [E(data="x")]),
        (b"data: x\n\n\n\ndata: y\n\n", [E(data="x"), E(data="y")]),
    ],
)
def test_lf_blocks(raw: bytes, expected: list[ServerSentEvent]) -> None:
    assert run([raw])[0] == expected
    assert run(one_byte_at_a_time(raw))[0] == expected
    # an event half-built by the previous piece continues in the next one
    for head in (b"data: 0\n", b"event: h\n", b"id: 9\n", b":c\n"):
        assert run([head, raw]) == reference_parse(head + raw)[0]


def test_lf_block_event_limit_keeps_earlier_events() -> None:
    decoder = SSEDecoder(max_event_size=4)
    with pytest.raises(SSEError) as info:
        decoder.feed(b"data: abc\n\nevent: e\ndata: de\n\ndata: four\n\n")
    assert info.value.events == [E(data="abc"), E(event="e", data="de")]
    with pytest.raises(SSEError):
        decoder.feed(b"data: a\n\n")
    decoder = SSEDecoder(max_event_size=4)
    with pytest.raises(SSEError) as info:
        decoder.feed(b"event: e\ndata: four\n\n")
    assert info.value.events == []


# --------------------------------------------------------------------------- limits


def test_default_limits() -> None:
    assert DEFAULT_MAX_LINE_SIZE == 16 * 1024 * 1024
    assert DEFAULT_MAX_EVENT_SIZE == 16 * 1024 * 1024
    decoder = SSEDecoder()
    line = b"data: " + b"x" * (1024 * 1024) + b"\n\n"
    assert decoder.feed(line) == [E(data="x" * (1024 * 1024))]


@pytest.mark.parametrize("terminated", [False, True])
def test_line_over_limit_in_one_chunk(terminated: bool) -> None:
    decoder = SSEDecoder(max_line_size=100)
    line = b"data: " + b"x" * 95  # 101 bytes
    with pytest.raises(SSEError, match="max_line_size"):
        decoder.feed(line + (b"\n" if terminated else b""))


def test_line_over_limit_after_other_lines_in_one_chunk() -> None:
    decoder = SSEDecoder(max_line_size=100)
    with pytest.raises(SSEError, match=r"max_line_size \(100 bytes\)"):
        decoder.feed(b"data: a\n\n" + b"y" * 101 + b"\ndata: b\n\n")


def test_line_at_limit_is_accepted() -> None:
    line = b"data: " + b"x" * 94  # 100 bytes
    assert run([line + b"\n\n"], max_line_size=100)[0] == [E(data="x" * 94)]
    assert run([line + b"\r\n\r\n"], max_line_size=100)[0] == [E(data="x" * 94)]
    assert run(one_byte_at_a_time(line + b"\r\n\r\n"), max_line_size=100)[0] == [E(data="x" * 94)]


def test_line_over_limit_in_small_chunks_keeps_memory_bounded() -> None:
    decoder = SSEDecoder(max_line_size=1000)
    decoder.feed(b"data: ok\n\n")
    for _ in range(1000 // 7):
        decoder.feed(b"x" * 7)
        assert len(decoder._buffer) <= 1000
    with pytest.raises(SSEError, match="max_line_size"):
        for _ in range(10):
            decoder.feed(b"x" * 7)
            assert len(decoder._buffer) <= 1000
    assert len(decoder._buffer) <= 1000


def test_line_over_limit_one_byte_at_a_time_raises_exactly_at_limit() -> None:
    decoder = SSEDecoder(max_line_size=50)
    for _ in range(50):
        decoder.feed(b"z")
    with pytest.raises(SSEError):
        decoder.feed(b"z")


def test_long_line_buffered_then_terminated_in_big_chunk() -> None:
    decoder = SSEDecoder(max_line_size=100)
    decoder.feed(b"data: " + b"x" * 50)
    with pytest.raises(SSEError, match="max_line_size"):
        decoder.feed(b"x" * 60 + b"\n\n")


def test_oversize_tail_after_complete_lines() -> None:
    decoder = SSEDecoder(max_line_size=100)
    with pytest.raises(SSEError, match="max_line_size"):
        decoder.feed(b"data: a\n\n" + b"x" * 200)


def test_decoder_unusable_after_limit_error() -> None:
    decoder = SSEDecoder(max_line_size=10)
    with pytest.raises(SSEError):
        decoder.feed(b"x" * 11)
    with pytest.raises(SSEError, match="earlier error"):
        decoder.feed(b"\n\n")


def test_event_over_limit_across_many_lines_and_feeds() -> None:
    decoder = SSEDecoder(max_event_size=100)
    # Data buffer = value + "\n" per line: 10 lines of 9 chars = 100 characters.
    for _ in range(10):
        assert decoder.feed(b"data: 123456789\n") == []
    with pytest.raises(SSEError, match=r"max_event_size \(100 characters\)"):
        decoder.feed(b"data:\n")
    assert decoder._data == []


def test_state_before_the_error_is_kept_for_resuming() -> None:
    # A client reconnecting after the error needs the ID of the last event it got,
    # including one dispatched in the same chunk as the offending line; the id of
    # the event that failed is only in the buffer (resuming from it would skip it).
    decoder = SSEDecoder(max_event_size=100)
    with pytest.raises(SSEError, match="max_event_size") as info:
        decoder.feed(b"id: 4\ndata: a\n\nid: 5\nretry: 7\ndata: " + b"x" * 200 + b"\n\n")
    assert info.value.events == [E(data="a", id="4")]
    assert decoder.last_event_id == "4"
    assert decoder.last_event_id_buffer == "5"
    assert decoder.reconnection_time == 7


def test_event_at_limit_is_accepted_and_counter_resets() -> None:
    decoder = SSEDecoder(max_event_size=100)
    block = b"data: 123456789\n" * 10 + b"\n"
    for _ in range(3):
        [event] = decoder.feed(block)
        assert event.data == "\n".join(["123456789"] * 10)


def test_event_over_limit_bare_data_lines() -> None:
    decoder = SSEDecoder(max_event_size=3)
    decoder.feed(b"data\ndata\ndata\n")
    with pytest.raises(SSEError, match="max_event_size"):
        decoder.feed(b"data\n")


def test_event_over_limit_in_one_chunk() -> None:
    with pytest.raises(SSEError, match="max_event_size"):
        SSEDecoder(max_event_size=1000).feed(b"data: " + b"x" * 1000 + b"\n\n")


def test_comments_and_other_fields_do_not_count_towards_event_size() -> None:
    decoder = SSEDecoder(max_event_size=10)
    raw = b": " + b"c" * 100 + b"\nevent: " + b"e" * 100 + b"\nid: 1\ndata: 123456789\n\n"
    assert decoder.feed(raw) == [E("e" * 100, "123456789", "1")]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(max_line_size=0)
    with pytest.raises(ValueError):
        SSEDecoder(max_event_size=0)


def test_sse_error_is_streamkit_error() -> None:
    decoder = SSEDecoder(max_line_size=1)
    with pytest.raises(StreamkitError):
        decoder.feed(b"xx")


def test_buffers_stay_small_after_many_events() -> None:
    event = b'event: delta\ndata: {"choices": [{"delta": {"content": "hi"}}]}\n\n'
    raw = event * 5000
    decoder = SSEDecoder()
    count = 0
    for chunk in pieces(raw, 997):
        count += len(decoder.feed(chunk))
        assert len(decoder._buffer) < len(event)
        assert len(decoder._data) <= 1
    assert count == 5000
    assert not decoder.has_pending
    assert len(decoder._buffer) == 0


# --------------------------------------------------------------------------- linear time


class SpyBuffer(bytearray):
    """A bytearray that counts searches and decodes of itself."""

    scans = 0
    decodes = 0

    def find(self, *args: Any, **kwargs: Any) -> int:
        type(self).scans += 1
        return super().find(*args, **kwargs)

    def rfind(self, *args: Any, **kwargs: Any) -> int:
        type(self).scans += 1
        return super().rfind(*args, **kwargs)

    def index(self, *args: Any, **kwargs: Any) -> int:
        type(self).scans += 1
        return super().index(*args, **kwargs)

    def count(self, *args: Any, **kwargs: Any) -> int:
        type(self).scans += 1
        return super().count(*args, **kwargs)

    def splitlines(self, *args: Any, **kwargs: Any) -> list[bytearray]:
        type(self).scans += 1
        return super().splitlines(*args, **kwargs)

    def __contains__(self, item: Any) -> bool:
        type(self).scans += 1
        return super().__contains__(item)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        type(self).decodes += 1
        return super().decode(*args, **kwargs)


def test_incomplete_line_is_never_rescanned() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: start\n\n")
    decoder._buffer = SpyBuffer()
    SpyBuffer.scans = SpyBuffer.decodes = 0
    n = 100_000
    payload = b"data: " + b"x" * n
    for i in range(len(payload)):
        assert decoder.feed(payload[i : i + 1]) == []
    assert SpyBuffer.scans == 0
    assert SpyBuffer.decodes == 0
    assert decoder.feed(b"\n\n") == [E(data="x" * n)]
    assert SpyBuffer.scans == 0
    assert SpyBuffer.decodes == 1  # the completed line, decoded exactly once


def _calls_one_byte_feeding(n: int) -> int:
    """Python-level calls made while feeding ``n`` + 8 bytes one at a time (no clock)."""
    payload = b"data: " + b"x" * n + b"\n\n"
    chunks = one_byte_at_a_time(payload)
    decoder = SSEDecoder()
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
    finally:
        sys.setprofile(None)
    return calls


def test_one_byte_feeding_is_linear() -> None:
    # Linear: ~10x the calls for 10x the input. Quadratic rescanning would show in the
    # bytes scanned (test above); here, a per-byte call budget that cannot grow with n.
    small = _calls_one_byte_feeding(10_000)
    large = _calls_one_byte_feeding(100_000)
    assert 9 <= large / small <= 11


# --------------------------------------------------------------------------- state & API


def test_has_pending() -> None:
    decoder = SSEDecoder()
    assert not decoder.has_pending
    decoder.feed(b"\xef")  # maybe the start of a BOM
    assert decoder.has_pending
    decoder.feed(b"\xbb\xbf")
    assert not decoder.has_pending
    decoder.feed(b"data: x")
    assert decoder.has_pending  # incomplete line
    decoder.feed(b"\n")
    assert decoder.has_pending  # complete line, event not dispatched
    assert decoder.feed(b"\n") == [E(data="x")]
    assert not decoder.has_pending
    decoder.feed(b": comment\n")
    assert not decoder.has_pending
    decoder.feed(b"id: 1\n")
    assert decoder.has_pending
    decoder.feed(b"\n")
    assert not decoder.has_pending
    decoder.feed(b"event: e\r")
    assert decoder.has_pending
    decoder.feed(b"\r")
    assert not decoder.has_pending
    decoder.feed(b"\n")  # LF after a CR is not a new line
    assert not decoder.has_pending
    decoder.feed(b"unknown\n")
    assert decoder.has_pending


def test_close_discards_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 3\ndata: a\n\ndata: b\n") == [E(data="a", id="3")]
    assert decoder.has_pending
    assert decoder.close() == []
    assert decoder.has_pending  # still tells the stream ended mid-event
    assert decoder.close() == []  # second close is a no-op
    assert decoder.last_event_id == "3"
    assert decoder._buffer == b""
    assert decoder._data == []


def test_close_after_complete_stream() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n")
    assert decoder.close() == []
    assert not decoder.has_pending


def test_close_on_empty_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.close() == []
    assert not decoder.has_pending
    assert decoder.bytes_received == 0


@pytest.mark.parametrize("chunk", [b"data: x\n\n", b""])
def test_feed_after_close_raises(chunk: bytes) -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(SSEError, match="decoder is closed"):
        decoder.feed(chunk)


def test_bytes_received_counts_everything() -> None:
    decoder = SSEDecoder()
    chunks = [b"\xef\xbb", b"\xbf: comment\r", b"\n", b"", b"data: \xff\n\n", b"partial"]
    for chunk in chunks:
        decoder.feed(chunk)
    assert decoder.bytes_received == sum(map(len, chunks))


def test_reconnection_time_and_last_event_id_initial_values() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id == ""
    assert decoder.reconnection_time is None
    assert decoder.bytes_received == 0


def test_id_fills_the_buffer_at_once_and_the_last_event_id_at_dispatch() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\nid: 42\n")
    assert decoder.last_event_id_buffer == "42"  # read...
    assert decoder.last_event_id == ""  # ...but not dispatched yet
    decoder.feed(b"retry: 3000\n")
    assert decoder.reconnection_time == 3000
    assert decoder.feed(b"\n") == [E(data="x", id="42", retry=3000)]
    assert decoder.last_event_id == "42"


def test_last_event_id_is_the_value_to_reconnect_with() -> None:
    # WHATWG: the last event ID string is what a reconnect sends; after
    # "id: 4 / data: a / blank / id: 5 / data: b" only event 4 was dispatched.
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 4\ndata: a\n\nid: 5\ndata: b") == [E(data="a", id="4")]
    assert decoder.last_event_id == "4"
    assert decoder.last_event_id_buffer == "5"
    decoder.close()
    assert decoder.last_event_id == "4"  # the unfinished event 5 is discarded


def test_an_id_only_block_sets_the_last_event_id() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 7\n\n") == []  # dispatch attempted, no data: no event
    assert decoder.last_event_id == "7"
    assert decoder.feed(b"data: a\n\n") == [E(data="a", id="7")]
    assert decoder.feed(b"id\n\n") == []  # an empty id resets it
    assert decoder.last_event_id == ""


def test_huge_retry_is_ignored() -> None:
    # CPython refuses int() of > 4300 digits; such a value is ignored.
    events, _, reconnection_time = run([b"retry: 1\n\nretry: " + b"9" * 5000 + b"\ndata: x\n\n"])
    assert events == [E(data="x")]
    assert reconnection_time == 1
    events, _, reconnection_time = run([b"retry: " + b"0" * 5000 + b"12\n\n"])
    assert reconnection_time == 12


def test_server_sent_event_defaults_and_json() -> None:
    event = ServerSentEvent()
    assert (event.event, event.data, event.id, event.retry) == ("message", "", "", None)
    assert ServerSentEvent(data='{"a": [1, 2], "b": null}').json() == {"a": [1, 2], "b": None}
    with pytest.raises(json.JSONDecodeError):
        ServerSentEvent(data="[DONE]").json()


def test_server_sent_event_is_frozen_hashable_and_picklable() -> None:
    [event] = SSEDecoder().feed(b"event: e\nid: 1\nretry: 5\ndata: d\n\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "x"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    assert event == ServerSentEvent("e", "d", "1", 5)
    assert hash(event) == hash(ServerSentEvent("e", "d", "1", 5))
    assert pickle.loads(pickle.dumps(event)) == event
    assert dataclasses.replace(event, data="z") == ServerSentEvent("e", "z", "1", 5)
    assert repr(event) == "ServerSentEvent(event='e', data='d', id='1', retry=5)"


def test_decoded_events_are_plain_server_sent_events() -> None:
    # The decoder builds events without calling __init__; make sure the field
    # list it fills is still the dataclass's full field list.
    assert [f.name for f in dataclasses.fields(ServerSentEvent)] == ["event", "data", "id", "retry"]
    [event] = SSEDecoder().feed(b"data: a\ndata: b\n\n")
    assert type(event) is ServerSentEvent
    assert event == ServerSentEvent(data="a\nb")


def test_public_names() -> None:
    assert sse.__all__ == [
        "DEFAULT_MAX_EVENT_SIZE",
        "DEFAULT_MAX_LINE_SIZE",
        "SSEDecoder",
        "ServerSentEvent",
    ]


def test_feed_accepts_bytearray() -> None:
    raw = bytearray(b"data: x\n\n")
    assert SSEDecoder().feed(raw) == [E(data="x")]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real fixtures


def shared_fixtures_dir() -> Path:
    """The real recordings (skip, or fail under CI=true, when absent)."""
    return real_dir()


# Files that end without the blank line terminating their last event.
UNTERMINATED = {
    "anthropic-messages-max-tokens-mid-tool-json.sse",
    "anthropic-messages-tool-use.sse",
    "openai-compat-gateway-claude-tool-call-index1.sse",
}


def _fixture_files() -> list[Path]:
    return sorted(shared_fixtures_dir().glob("*.sse"))


def test_real_fixtures_any_chunking() -> None:
    files = _fixture_files()
    assert len(files) >= 50
    pending = set()
    for path in files:
        raw = path.read_bytes()
        whole = run([raw])
        events = whole[0]
        assert events, path.name
        assert run(one_byte_at_a_time(raw)) == whole, path.name
        assert run(pieces(raw, 7)) == whole, path.name
        assert whole == reference_parse(raw)[0], path.name
        for event in events:
            if event.data != "[DONE]":
                event.json()  # every payload survives framing intact
        decoder = SSEDecoder()
        decoder.feed(raw)
        if decoder.has_pending:
            pending.add(path.name)
        assert decoder.bytes_received == len(raw)
    assert pending == UNTERMINATED


def test_real_fixture_crlf_framing() -> None:
    path = shared_fixtures_dir() / "gemini-native-text-crlf.sse"
    raw = path.read_bytes()
    assert b"\r\n\r\n" in raw
    events = run([raw])[0]
    assert len(events) == raw.count(b"\r\n\r\n")
    assert all("\r" not in event.data for event in events)
    assert events[0].json()["candidates"][0]["content"]["parts"][0]["text"] == "The"


def test_real_fixture_leading_space_event_is_dropped() -> None:
    path = shared_fixtures_dir() / "openrouter-kimi-tool-call-leading-space.sse"
    raw = path.read_bytes()
    first_line, _, _ = raw.partition(b"\n")
    assert first_line.startswith(b" data: ")
    events = run([raw])[0]
    dropped = first_line[len(b" data: ") :].decode()
    assert dropped not in [event.data for event in events]
    # Every other "data:" block is kept.
    assert len(events) == raw.count(b"\n\ndata:") == raw.count(b"data:") - 1


def test_real_fixture_unterminated_final_event_is_discarded() -> None:
    path = shared_fixtures_dir() / "openai-compat-gateway-claude-tool-call-index1.sse"
    raw = path.read_bytes()
    assert raw.endswith(b"data: [DONE]\n")
    events = run([raw])[0]
    assert events[-1].data != "[DONE]"
    assert run([raw + b"\n"])[0] == [*events, E(data="[DONE]")]


def test_limit_errors_keep_the_events_completed_before_them() -> None:
    """SSEError.events: a piece with good events and then an oversize line loses none."""
    good = b"data: a\n\nid: 7\ndata: b\n\n"
    for tail in (b"x" * 101 + b"\n", b"x" * 101, b"data: " + b"y" * 95 + b"\n\n"):
        decoder = SSEDecoder(max_line_size=100, max_event_size=90)
        with pytest.raises(SSEError) as info:
            decoder.feed(good + tail)
        assert [(e.data, e.id) for e in info.value.events] == [("a", ""), ("b", "7")]
    decoder = SSEDecoder(max_line_size=100)
    with pytest.raises(SSEError) as info:
        decoder.feed(b"x" * 101)
    assert info.value.events == []
