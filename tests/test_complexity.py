"""Complexity guards for the decode path (issue #6).

No wall-clock thresholds: every timing assertion is a ratio measured inside one test
(time for 10x the input ≈ 10x the time; quadratic work would be ~100x), with small and
large runs interleaved and the best of several taken, so a busy machine slows both
alike. The operation-count checks use cProfile's call counts, which do not depend on
the machine at all.

The call budgets count calls of Python functions (C builtins such as ``dict.get`` or
``len`` are left out: they are cheap and the fast path is free to use them). They are
regression guards set above the counts measured when they were written (about 10 Python
calls per event at 16 KiB pieces, about 2 per byte at 1-byte pieces); lower them as the
fast path improves.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import time
from collections.abc import Callable
from functools import partial

from streamkit.offline import decode_stream
from streamkit.sse import SSEDecoder

# An upper bound for "linear": 10x the input must cost less than 20x the time.
MAX_RATIO = 20.0
PY_CALLS_PER_EVENT_16K = 16  # measured ~10
PY_CALLS_PER_BYTE_1B = 4  # measured ~2


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


def best_times(small: Callable[[], object], big: Callable[[], object], rounds: int) -> float:
    """min(big) / min(small) over ``rounds`` interleaved runs of each."""
    t_small: list[float] = []
    t_big: list[float] = []
    for _ in range(rounds):
        for fn, times in ((small, t_small), (big, t_big)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return min(t_big) / min(t_small)


def _feed_all(pieces: list[bytes]) -> int:
    decoder = SSEDecoder()
    n = 0
    for piece in pieces:
        n += len(decoder.feed(piece))
    decoder.close()
    return n


# ---- time ratios ---------------------------------------------------------------------


def test_decode_stream_time_is_linear_in_chunks() -> None:
    small, small_text = transcript(500)
    big, big_text = transcript(5000)
    assert decode_stream(small, chunk_size=16384)[1].text == small_text
    assert decode_stream(big, chunk_size=16384)[1].text == big_text
    ratio = best_times(
        lambda: decode_stream(small, chunk_size=16384),
        lambda: decode_stream(big, chunk_size=16384),
        rounds=5,
    )
    assert ratio < MAX_RATIO, f"10x the chunks took {ratio:.1f}x the time (linear: ~10x)"


def test_sse_decoder_one_byte_pieces_is_linear_in_events() -> None:
    small_body, _ = transcript(40)
    big_body, _ = transcript(400)
    small, big = _pieces(small_body, 1), _pieces(big_body, 1)
    assert _feed_all(small) == 44
    assert _feed_all(big) == 404
    ratio = best_times(lambda: _feed_all(small), lambda: _feed_all(big), rounds=5)
    assert ratio < MAX_RATIO, f"10x the events took {ratio:.1f}x the time (linear: ~10x)"


def test_sse_decoder_long_line_in_small_pieces_is_linear() -> None:
    # One event whose data line grows in small pieces: the classic quadratic trap
    # (re-copying or re-scanning the whole buffered line on every feed).
    def line_event(size: int, piece: int) -> list[bytes]:
        body = b"data: " + b"x" * size + b"\n\n"
        return _pieces(body, piece)

    for piece, size in ((1, 16_000), (64, 64 * 1024)):
        small, big = line_event(size, piece), line_event(10 * size, piece)
        assert _feed_all(small) == 1
        assert _feed_all(big) == 1
        ratio = best_times(lambda: _feed_all(small), lambda: _feed_all(big), rounds=5)  # noqa: B023
        assert ratio < MAX_RATIO, (
            f"a 10x longer line in {piece}-byte pieces took {ratio:.1f}x the time (linear: ~10x)"
        )


# ---- operation counts (deterministic) ----------------------------------------------------

_PARSERS = ("validate_json", "from_json", "loads")


def _profile(fn: Callable[[], object]) -> pstats.Stats:
    fn()  # warm: first-call imports and caches are not the decode path
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    return pstats.Stats(profiler)


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


def _python_calls(stats: pstats.Stats) -> int:
    """Calls of Python functions (cProfile lists C builtins under the file name "~")."""
    return sum(
        ncalls
        for (filename, _line, _name), (_cc, ncalls, *_rest) in stats.stats.items()  # type: ignore[attr-defined]
        if filename != "~"
    )


def test_each_chunk_is_parsed_at_most_once() -> None:
    body, _ = transcript(1000)
    json_chunks = 1000 + 3  # role, content..., finish, usage ([DONE] is not JSON)
    stats = _profile(lambda: decode_stream(body, chunk_size=16384))
    parses = _json_parses(stats)
    assert 0 < parses <= json_chunks, f"{parses} JSON parses for {json_chunks} JSON chunks"


def test_operation_count_per_event_is_constant_and_bounded() -> None:
    stats: dict[int, pstats.Stats] = {}
    for n in (300, 3000):
        body, _ = transcript(n)
        stats[n] = _profile(partial(decode_stream, body, chunk_size=16384))
    ratio = stats[3000].total_calls / stats[300].total_calls  # type: ignore[attr-defined]
    assert 9.0 <= ratio <= 11.0, f"10x the chunks made {ratio:.2f}x the function calls"
    per_event = _python_calls(stats[3000]) / 3004
    assert per_event <= PY_CALLS_PER_EVENT_16K, (
        f"{per_event:.1f} Python calls per event at 16 KiB pieces (budget {PY_CALLS_PER_EVENT_16K})"
    )


def test_operation_count_per_byte_at_one_byte_pieces() -> None:
    body, _ = transcript(100)
    stats = _profile(lambda: decode_stream(body, chunk_size=1))
    per_byte = _python_calls(stats) / len(body)
    assert per_byte <= PY_CALLS_PER_BYTE_1B, (
        f"{per_byte:.2f} Python calls per byte at 1-byte pieces (budget {PY_CALLS_PER_BYTE_1B})"
    )
