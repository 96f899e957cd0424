"""Complexity guards for the decode path (issues #6 and #13).

No clocks: every guard counts work, so it gives the same answer on a busy machine as
on an idle one, and each one is shown, in this file, to fail on a deliberately
quadratic stand-in.

- **Calls.** cProfile's call counts (Python functions and C builtins alike) for 10x
  the input must be about 10x (a loop over everything seen so far, once per event,
  makes it ~100x). Per-event and per-byte budgets of Python calls bound the constant.
  They are regression guards set above the counts measured when they were written
  (about 10 Python calls per event at 16 KiB pieces, about 2 per byte at 1-byte
  pieces); lower them as the fast path improves.
- **Bytes touched.** The SSE decoder's line buffer is a ``bytearray``; the guard swaps
  in a subclass that counts the bytes each method reads or copies (``find``,
  ``decode``, slicing, concatenation, ...; appends count only what they append). A
  line that grows in small pieces must cost O(1) bytes touched per byte fed: the
  classic quadratic trap re-scans or re-copies the whole buffered line on every feed,
  which is a single C call per feed and so invisible to call counts.
- **Parses.** Each JSON chunk is parsed at most once.
"""

from __future__ import annotations

import cProfile
import json
import pstats
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar

import pytest

import streamkit.sse
from streamkit.offline import decode_stream
from streamkit.sse import SSEDecoder

PY_CALLS_PER_EVENT_16K = 16  # measured ~10
PY_CALLS_PER_BYTE_1B = 4  # measured ~2
# Bytes of the line buffer read or copied per byte fed, for one long line in small
# pieces. Linear buffering appends each byte once and decodes the line once (~2).
TOUCHED_PER_BYTE = 6
# 10x the input must make between 9x and 11x the calls (quadratic work: ~100x).
LINEAR_RATIO = (9.0, 11.0)


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-COMPLEXITYq3ZrT8vLmN2pKx7Ya",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "gpt-4.1-2025-04-14",
        "system_fingerprint": "fp_b3f1157249",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def transcript(n: int) -> tuple[bytes, str]:
    """An OpenAI chat stream with ``n`` content chunks (``n + 4`` events) and its text."""
    words = [f" w{i % 97}é" for i in range(n)]  # non-ASCII: 1-byte pieces split characters
    usage = {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}
    usage_chunk = json.dumps(
        {"id": "chatcmpl-x", "object": "chat.completion.chunk", "choices": [], "usage": usage},
        ensure_ascii=False,
    )
    body = b"".join(
        [
            _chunk({"role": "assistant", "content": ""}),
            *(_chunk({"content": w}) for w in words),
            _chunk({}, "stop"),
            b"data: " + usage_chunk.encode() + b"\n\n",
            b"data: [DONE]\n\n",
        ]
    )
    return body, "".join(words)


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _feed_all(pieces: list[bytes]) -> int:
    decoder = SSEDecoder()
    n = 0
    for piece in pieces:
        n += len(decoder.feed(piece))
    decoder.close()
    return n


# ---- call counts ---------------------------------------------------------------------


def _profile(fn: Callable[[], object]) -> pstats.Stats:
    fn()  # warm: first-call imports and caches are not the decode path
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    return pstats.Stats(profiler)


def _total_calls(stats: pstats.Stats) -> int:
    return int(stats.total_calls)  # type: ignore[attr-defined]


def _python_calls(stats: pstats.Stats) -> int:
    """Calls of Python functions (cProfile lists C builtins under the file name "~")."""
    return sum(
        ncalls
        for (filename, _line, _name), (_cc, ncalls, *_rest) in stats.stats.items()  # type: ignore[attr-defined]
        if filename != "~"
    )


def call_ratio(make: Callable[[int], Callable[[], object]], small: int) -> float:
    """Calls made by ``make(10 * small)()`` over calls made by ``make(small)()``."""
    calls = [_total_calls(_profile(make(n))) for n in (small, 10 * small)]
    return calls[1] / calls[0]


def _decode_16k(n: int) -> Callable[[], object]:
    body, text = transcript(n)
    assert decode_stream(body, chunk_size=16384)[1].text == text
    return partial(decode_stream, body, chunk_size=16384)


def _feed_one_byte_pieces(n: int) -> Callable[[], object]:
    body, _ = transcript(n)
    pieces = _pieces(body, 1)
    assert _feed_all(pieces) == n + 4
    return partial(_feed_all, pieces)


def _visit(_event: object) -> None:
    pass


def _quadratic_decode_16k(n: int) -> Callable[[], object]:
    """The real decode, plus a Python call per event already seen, once per event."""
    body, _ = transcript(n)

    def run() -> None:
        events, _ = decode_stream(body, chunk_size=16384)
        for i in range(len(events)):
            for earlier in events[:i]:
                _visit(earlier)

    return run


def test_calls_grow_linearly_with_the_number_of_chunks() -> None:
    ratio = call_ratio(_decode_16k, 300)
    low, high = LINEAR_RATIO
    assert low <= ratio <= high, f"10x the chunks made {ratio:.2f}x the calls (linear: ~10x)"


def test_calls_grow_linearly_at_one_byte_pieces() -> None:
    ratio = call_ratio(_feed_one_byte_pieces, 40)
    low, high = LINEAR_RATIO
    assert low <= ratio <= high, f"10x the events made {ratio:.2f}x the calls (linear: ~10x)"


def test_the_call_ratio_guard_catches_quadratic_work() -> None:
    ratio = call_ratio(_quadratic_decode_16k, 60)
    assert ratio > LINEAR_RATIO[1], f"a quadratic stand-in made only {ratio:.2f}x the calls"


def test_python_calls_per_event_at_16k_pieces() -> None:
    body, _ = transcript(3000)
    stats = _profile(partial(decode_stream, body, chunk_size=16384))
    per_event = _python_calls(stats) / 3004
    assert per_event <= PY_CALLS_PER_EVENT_16K, (
        f"{per_event:.1f} Python calls per event at 16 KiB pieces (budget {PY_CALLS_PER_EVENT_16K})"
    )


def test_python_calls_per_byte_at_one_byte_pieces() -> None:
    body, _ = transcript(100)
    stats = _profile(lambda: decode_stream(body, chunk_size=1))
    per_byte = _python_calls(stats) / len(body)
    assert per_byte <= PY_CALLS_PER_BYTE_1B, (
        f"{per_byte:.2f} Python calls per byte at 1-byte pieces (budget {PY_CALLS_PER_BYTE_1B})"
    )


# ---- bytes touched in the line buffer -----------------------------------------------------

#: bytearray methods that only add their argument to the end (cost: the argument).
_APPENDS = frozenset({"__iadd__", "append", "extend"})
#: bytearray methods that touch no byte contents.
_FREE = frozenset({"__len__", "clear", "__init__", "__new__", "__getattribute__", "__repr__"})
#: Operators that read or copy the contents (other dunders are left alone).
_SCANNING_DUNDERS = frozenset(
    {"__iadd__", "__add__", "__getitem__", "__contains__", "__eq__", "__mul__", "__bytes__"}
)


def _bytes_len(value: Any) -> int:
    return len(value) if isinstance(value, bytes | bytearray | memoryview) else 0


def _counting(name: str) -> Callable[..., Any]:
    method = getattr(bytearray, name)
    appends = name in _APPENDS

    def counted(self: bytearray, *args: Any, **kwargs: Any) -> Any:
        own = 0 if appends else len(self)
        CountingBytearray.touched += own + sum(_bytes_len(a) for a in args)
        result = method(self, *args, **kwargs)
        if type(result) is bytearray:  # a copy (``+``, slices, ``copy()``) counts on
            result = CountingBytearray(result)
        return result

    counted.__name__ = name
    return counted


class _Counter(bytearray):
    touched: ClassVar[int] = 0


#: A bytearray that adds to ``CountingBytearray.touched`` the bytes each call reads or copies.
CountingBytearray: type[_Counter] = type(
    "CountingBytearray",
    (_Counter,),
    {
        name: _counting(name)
        for name in dir(bytearray)
        if callable(getattr(bytearray, name))
        and name not in _FREE
        and (not name.startswith("__") or name in _SCANNING_DUNDERS)
    },
)


@contextmanager
def counting_buffers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make ``streamkit.sse`` build its buffers as :data:`CountingBytearray`."""
    with monkeypatch.context() as patch:
        patch.setattr(streamkit.sse, "bytearray", CountingBytearray, raising=False)
        CountingBytearray.touched = 0
        yield


def line_pieces(size: int, piece: int) -> list[bytes]:
    """One event whose ``size``-byte data line arrives ``piece`` bytes at a time."""
    return _pieces(b"data: " + b"x" * size + b"\n\n", piece)


def touched_per_byte(feed_all: Callable[[list[bytes]], int], pieces: list[bytes]) -> float:
    """Buffer bytes read or copied per byte fed (call inside :func:`counting_buffers`)."""
    CountingBytearray.touched = 0
    assert feed_all(pieces) == 1
    return CountingBytearray.touched / sum(map(len, pieces))


def _rescanning_feed_all(pieces: list[bytes]) -> int:
    """A quadratic stand-in: look for the line end from the buffer's start on every feed."""
    buffer = CountingBytearray()
    events = 0
    for piece in pieces:
        buffer += piece
        while (end := buffer.find(b"\n\n")) >= 0:
            events += 1
            del buffer[: end + 2]
    return events


@pytest.mark.parametrize(("piece", "size"), [(1, 16_000), (64, 64 * 1024)])
def test_long_line_in_small_pieces_touches_each_byte_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch, piece: int, size: int
) -> None:
    with counting_buffers(monkeypatch):
        for n in (size, 10 * size):
            per_byte = touched_per_byte(_feed_all, line_pieces(n, piece))
            # at least 1: every byte goes through the buffer, so the guard is live
            assert 1 <= per_byte <= TOUCHED_PER_BYTE, (
                f"a {n}-byte line in {piece}-byte pieces touched the buffer {per_byte:.1f} "
                f"times per byte (budget {TOUCHED_PER_BYTE}; below 1: SSEDecoder no longer "
                "buffers through bytearray(), update this guard)"
            )


def test_the_bytes_touched_guard_catches_a_rescanning_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with counting_buffers(monkeypatch):
        per_byte = touched_per_byte(_rescanning_feed_all, line_pieces(16_000, 64))
    assert per_byte > 10 * TOUCHED_PER_BYTE


# ---- parses ----------------------------------------------------------------------------

_PARSERS = ("validate_json", "from_json", "loads")


def _json_parses(stats: pstats.Stats) -> int:
    """Calls to the C-level JSON parsers (pydantic-core, json's scanner, orjson, jiter)."""
    total = 0
    for (filename, _line, name), (_cc, ncalls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~" and any(p in name for p in _PARSERS):
            # "<method 'validate_json' of ...SchemaValidator' objects>",
            # "<built-in method orjson.loads>", "<built-in function from_json>", ...
            total += ncalls
        elif filename.endswith(("json/__init__.py", "json\\__init__.py")) and name == "loads":
            total += ncalls
    return total


def test_each_chunk_is_parsed_at_most_once() -> None:
    body, _ = transcript(1000)
    json_chunks = 1000 + 3  # role, content..., finish, usage ([DONE] is not JSON)
    stats = _profile(lambda: decode_stream(body, chunk_size=16384))
    parses = _json_parses(stats)
    assert 0 < parses <= json_chunks, f"{parses} JSON parses for {json_chunks} JSON chunks"
