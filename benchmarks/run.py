#!/usr/bin/env python
# ruff: noqa: E501, RUF001 - a report generator: long Markdown lines, multiplication signs
"""streamkit benchmarks: the parse/decode pipeline against its floors and peer libraries.

Usage (from the repository root)::

    python benchmarks/run.py                 # full run, writes benchmarks/RESULTS.md (~6-10 min)
    python benchmarks/run.py --quick         # < 1 min, prints the Markdown report only
    python benchmarks/run.py --only loopback # sections/cases whose name contains "loopback"
    python benchmarks/run.py --profile       # cProfile + stage breakdown of streamkit's pipeline

Every number is a median of several repeats; the columns of one table are measured in
the same run, interleaved (repeat 1 of every column, then repeat 2, ...; the order is
reversed on every other repeat), so the ratios between them hold even on a busy machine
whose absolute speed drifts. See ``benchmarks/README.md`` for what each column means.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import shlex
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))  # always measure this checkout's streamkit

import anyio  # noqa: E402
import httpx  # noqa: E402
from _transcripts import (  # noqa: E402
    Transcript,
    anthropic_text,
    openai_text,
    openai_tools,
    split_pieces,
)

import streamkit as sk  # noqa: E402
from streamkit.offline import decode_stream  # noqa: E402

try:
    import orjson
except ImportError:  # pragma: no cover - reported as a missing column
    orjson = None  # type: ignore[assignment]
try:
    import httpx_sse
except ImportError:  # pragma: no cover
    httpx_sse = None  # type: ignore[assignment]
try:
    import openai
except ImportError:  # pragma: no cover
    openai = None  # type: ignore[assignment]
try:
    import anthropic
except ImportError:  # pragma: no cover
    anthropic = None  # type: ignore[assignment]

# openai >= 3 and anthropic >= 2 ship on httpx2 (an httpx fork) and want its clients;
# older releases use httpx itself.
try:
    import httpx2
except ImportError:  # pragma: no cover
    httpx2 = None  # type: ignore[assignment]

MOCK_URL = "http://bench.invalid/v1"  # never resolved: MockTransport answers
MESSAGES = [{"role": "user", "content": "Write a long answer."}]
MODEL = "gpt-4.1"


_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:5.0f} s] {msg}", file=sys.stderr, flush=True)


def _sdk_httpx(sdk: Any) -> Any:
    """The httpx module an SDK's ``http_client`` must come from (httpx2 or httpx)."""
    base = sys.modules.get(f"{sdk.__name__}._base_client")
    if base is not None and hasattr(base, "httpx2"):
        return httpx2
    return httpx


def _mock_handler(mod: Any, pieces: list[bytes]) -> Callable[[Any], Any]:
    def handler(request: Any) -> Any:
        return mod.Response(
            200,
            headers={"content-type": "text/event-stream", "x-request-id": "req_bench"},
            content=iter(pieces),
        )

    return handler


# ---------------------------------------------------------------------------------------------
# floors: the least work that splits SSE events (and parses their JSON)
# ---------------------------------------------------------------------------------------------


def floor_split(pieces: Iterable[bytes]) -> int:
    """Split into events (``\\n\\n``) and slice out each ``data:`` payload. Returns the count."""
    n = 0
    buf = bytearray()
    for piece in pieces:
        buf += piece
        if b"\n" in piece and b"\n\n" in buf:
            events = buf.split(b"\n\n")
            buf = events.pop()
            for ev in events:
                _payload = ev[ev.find(b"data: ") + 6 :]
                n += 1
    return n


def floor_json(pieces: Iterable[bytes]) -> int:
    """:func:`floor_split` + ``json.loads`` of every payload but ``[DONE]``."""
    n = 0
    buf = bytearray()
    loads = json.loads
    for piece in pieces:
        buf += piece
        if b"\n" in piece and b"\n\n" in buf:
            events = buf.split(b"\n\n")
            buf = events.pop()
            for ev in events:
                payload = ev[ev.find(b"data: ") + 6 :]
                if payload != b"[DONE]":
                    loads(payload)
                n += 1
    return n


def floor_orjson(pieces: Iterable[bytes]) -> int:
    """:func:`floor_split` + ``orjson.loads`` of every payload but ``[DONE]``."""
    n = 0
    buf = bytearray()
    loads = orjson.loads
    for piece in pieces:
        buf += piece
        if b"\n" in piece and b"\n\n" in buf:
            events = buf.split(b"\n\n")
            buf = events.pop()
            for ev in events:
                payload = ev[ev.find(b"data: ") + 6 :]
                if payload != b"[DONE]":
                    loads(payload)
                n += 1
    return n


def _dict_piece(d: dict[str, Any], kind: str) -> str | None:
    """The text (or tool arguments) of one parsed chunk, as a user of a bare parser writes it."""
    choices = d.get("choices")
    if choices:
        delta = choices[0].get("delta") or {}
        if kind == "text":
            return delta.get("content")
        calls = delta.get("tool_calls")
        return calls[0]["function"].get("arguments") if calls else None
    if d.get("type") == "content_block_delta":
        return d["delta"].get("text")
    return None


# ---------------------------------------------------------------------------------------------
# columns of the in-memory tables
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    transcript: Transcript
    piece: int | str
    pieces: list[bytes]

    @property
    def piece_label(self) -> str:
        return piece_label(self.piece)

    @property
    def name(self) -> str:
        return f"{self.transcript.name}@{self.piece_label}"


def piece_label(piece: int | str) -> str:
    if piece == "event":
        return "1 event"
    assert isinstance(piece, int)
    return f"{piece // 1024} KiB" if piece >= 1024 else f"{piece} B"


@dataclass
class Column:
    key: str
    label: str
    applies: Callable[[Case], bool]
    make: Callable[[Case], Callable[[], Any]]
    """Returns a run function: one complete decode; returns the text (or the event count)."""
    floor: bool = False


def _is_openai(case: Case) -> bool:
    return case.transcript.provider == "openai-chat"


def _make_floor(fn: Callable[[list[bytes]], int]) -> Callable[[Case], Callable[[], int]]:
    def make(case: Case) -> Callable[[], int]:
        pieces = case.pieces
        return lambda: fn(pieces)

    return make


def _make_httpx_sse(case: Case) -> Callable[[], str]:
    client = httpx.Client(transport=httpx.MockTransport(_mock_handler(httpx, case.pieces)))
    kind = case.transcript.kind
    loads = json.loads
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}

    def run() -> str:
        parts = []
        with httpx_sse.connect_sse(client, "POST", MOCK_URL + "/chat/completions", json=body) as es:
            for sse in es.iter_sse():
                if sse.data == "[DONE]":
                    break
                piece = _dict_piece(loads(sse.data), kind)
                if piece:
                    parts.append(piece)
        return "".join(parts)

    return run


def _openai_client(case: Case) -> Any:
    mod = _sdk_httpx(openai)
    http = mod.Client(transport=mod.MockTransport(_mock_handler(mod, case.pieces)))
    return openai.OpenAI(api_key="sk-bench", base_url=MOCK_URL, http_client=http, max_retries=0)


def _make_openai_create(case: Case) -> Callable[[], str]:
    client = _openai_client(case)
    tools = case.transcript.kind == "tools"

    def run() -> str:
        parts = []
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if chunk.choices:
                delta = chunk.choices[0].delta
                if tools:
                    if delta.tool_calls and delta.tool_calls[0].function.arguments:
                        parts.append(delta.tool_calls[0].function.arguments)
                elif delta.content:
                    parts.append(delta.content)
        return "".join(parts)

    return run


def _make_openai_helper(case: Case) -> Callable[[], str]:
    client = _openai_client(case)
    tools = case.transcript.kind == "tools"

    def run() -> str:
        with client.chat.completions.stream(
            model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
        ) as stream:
            for _event in stream:
                pass
            message = stream.get_final_completion().choices[0].message
        if tools:
            return message.tool_calls[0].function.arguments
        return message.content or ""

    return run


def _make_anthropic(case: Case) -> Callable[[], str]:
    mod = _sdk_httpx(anthropic)
    http = mod.Client(transport=mod.MockTransport(_mock_handler(mod, case.pieces)))
    client = anthropic.Anthropic(
        api_key="sk-ant-bench",
        base_url=MOCK_URL.removesuffix("/v1"),
        http_client=http,
        max_retries=0,
    )

    def run() -> str:
        parts = []
        with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=100_000, messages=MESSAGES
        ) as stream:
            for text in stream.text_stream:
                parts.append(text)
        return "".join(parts)

    return run


def _result_text(result: sk.StreamResult, kind: str) -> str:
    if kind == "tools":
        return result.tool_calls[0].arguments
    return result.text


def _make_streamkit_client(case: Case) -> Callable[[], str]:
    http = httpx.Client(transport=httpx.MockTransport(_mock_handler(httpx, case.pieces)))
    base = MOCK_URL if _is_openai(case) else MOCK_URL.removesuffix("/v1")
    client = sk.StreamingClient(
        base_url=base, api_key="sk-bench", provider=case.transcript.provider, http_client=http
    )
    kind = case.transcript.kind

    def run() -> str:
        with client.stream(model=MODEL, messages=MESSAGES) as stream:
            for _event in stream:
                pass
        return _result_text(stream.result, kind)

    return run


def _make_decode_stream(case: Case) -> Callable[[], str]:
    body, provider, kind = case.transcript.body, case.transcript.provider, case.transcript.kind
    size = case.piece
    assert isinstance(size, int)

    def run() -> str:
        _events, result = decode_stream(body, provider=provider, chunk_size=size)
        return _result_text(result, kind)

    return run


def columns() -> list[Column]:
    cols = [
        Column("split", "floor: split events", lambda c: True, _make_floor(floor_split), True),
        Column("json", "floor: split + json.loads", lambda c: True, _make_floor(floor_json), True),
    ]
    if orjson is not None:
        cols.append(
            Column(
                "orjson",
                "floor: split + orjson.loads",
                lambda c: True,
                _make_floor(floor_orjson),
                True,
            )
        )
    if httpx_sse is not None:
        cols.append(Column("httpx-sse", "httpx-sse + json.loads", lambda c: True, _make_httpx_sse))
    if openai is not None:
        cols += [
            Column("openai", "openai create(stream=True)", _is_openai, _make_openai_create),
            Column("openai-helper", "openai .stream() helper", _is_openai, _make_openai_helper),
        ]
    if anthropic is not None:
        cols.append(
            Column(
                "anthropic",
                "anthropic messages.stream text_stream",
                lambda c: c.transcript.provider == "anthropic-messages",
                _make_anthropic,
            )
        )
    cols += [
        Column(
            "sk-client", "**streamkit StreamingClient**", lambda c: True, _make_streamkit_client
        ),
        Column(
            "sk-offline",
            "**streamkit decode_stream** (sans-I/O)",
            lambda c: isinstance(c.piece, int),
            _make_decode_stream,
        ),
    ]
    return cols


# ---------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------


def _check(col: Column, case: Case, result: Any) -> None:
    t = case.transcript
    expected: Any = t.events if col.floor else t.text
    if result != expected:
        got = result if col.floor else f"{len(result)} chars"
        want = expected if col.floor else f"{len(expected)} chars"
        raise AssertionError(f"{col.key} on {case.name}: wrong result ({got}, expected {want})")


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Move everything alive now (modules, SDK type caches, clients) out of the GC's sight.

    With openai imported the heap holds ~200k objects and a full collection costs
    ~0.1 s; without freezing, whichever column happens to trigger one pays for the
    whole process. Frozen, each column's GC work is its own garbage.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def time_interleaved(
    runs: dict[str, Callable[[], Any]],
    repeats: int,
    check: Callable[[str, Any], None],
    round_s: float = 0.25,
) -> dict[str, list[float]]:
    """Time every function in ``repeats`` interleaved rounds; returns the samples (s).

    A first pass runs each function once (its result goes to ``check``) and sorts
    them into cheap (under ``round_s``) and costly ones. Every round then runs the
    cheap ones ``k`` times over, round-robin (A B C A B C ..., order alternating),
    with the costly ones spread evenly in between, so that all columns are sampled
    across the same stretch of time and a load spike on the machine hits them
    alike. Costly columns get one sample per round (the first pass counts as one);
    cheap ones ``k`` per round (``k`` ≤ 7, about ``round_s`` of work per column).
    """
    keys = list(runs)
    times: dict[str, list[float]] = {k: [] for k in keys}
    with frozen_heap():
        first: dict[str, float] = {}
        for key in keys:
            dt, result = _sample(runs[key])
            check(key, result)
            del result
            first[key] = dt
        cheap = [k for k in keys if first[k] < round_s]
        costly = [k for k in keys if k not in cheap]
        for key in costly:
            times[key].append(first[key])
        k_sub = max(1, min(7, int(round_s / max(first[c] for c in cheap)))) if cheap else 0
        for r in range(repeats):
            schedule: list[str] = []
            for i in range(k_sub):
                schedule += cheap if (r + i) % 2 == 0 else cheap[::-1]
            these = (costly if r % 2 == 0 else costly[::-1]) if r > 0 else []
            for j, key in enumerate(these):
                schedule.insert((j + 1) * len(schedule) // (len(these) + 1) + j, key)
            for key in schedule:
                dt, _ = _sample(runs[key])
                times[key].append(dt)
    return times


def _sample(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


@dataclass
class CaseResult:
    case: Case
    repeats: int
    median_s: dict[str, float] = field(default_factory=dict)
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)

    def us_per_event(self, key: str) -> float:
        return self.median_s[key] / self.case.transcript.events * 1e6


def warm_up(
    cols: Sequence[Column], transcript_fn: Callable[[int], Transcript], piece: int | str
) -> None:
    """One small run of every column (imports, caches, JIT-like warm paths) and a check."""
    t = transcript_fn(200)
    case = Case(t, piece, split_pieces(t.body, piece))
    for col in cols:
        if col.applies(case):
            _check(col, case, col.make(case)())


def run_case(case: Case, cols: Sequence[Column], repeats: int, round_s: float) -> CaseResult:
    runs = {c.key: c.make(case) for c in cols if c.applies(case)}
    by_key = {c.key: c for c in cols}
    times = time_interleaved(runs, repeats, lambda k, res: _check(by_key[k], case, res), round_s)
    out = CaseResult(case, repeats)
    for key, ts in times.items():
        out.median_s[key] = statistics.median(ts)
        out.spread[key] = (min(ts), max(ts))
        out.samples[key] = len(ts)
    return out


def measure_peak(fn: Callable[[], Any]) -> int:
    """Peak traced memory of one run, in bytes (the input pieces are allocated before)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _current, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak


# ---------------------------------------------------------------------------------------------
# loopback: a real server process on 127.0.0.1
# ---------------------------------------------------------------------------------------------


class LoopbackServer:
    """benchmarks/_server.py in a child process (its own GIL and core)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> LoopbackServer:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def base_url(self, chunks: int, pause_us: int = 0) -> str:
        return f"http://127.0.0.1:{self.port}/n{chunks}/p{pause_us}/v1"


@dataclass
class StreamRun:
    """One loopback measurement: wall time and write→event delays (ns)."""

    wall_s: float
    events: int
    delays_ns: list[int]

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s


def _stamp(text: str) -> int:
    return time.monotonic_ns() - int(text)


def _loopback_sync_runs(
    server: LoopbackServer, chunks: int, pause_us: int
) -> dict[str, Callable[[], StreamRun]]:
    base = server.base_url(chunks, pause_us)
    url = base + "/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    wire_events = chunks + 4
    mono = time.monotonic_ns
    perf = time.perf_counter
    http = httpx.Client(timeout=60)

    def raw_bytes() -> StreamRun:
        t0 = perf()
        with http.stream("POST", url, json=body) as r:
            for _piece in r.iter_bytes():
                pass
        return StreamRun(perf() - t0, wire_events, [])

    def raw_json() -> StreamRun:
        delays = []
        t0 = perf()
        n = 0
        with http.stream("POST", url, json=body) as r:
            buf = bytearray()
            for piece in r.iter_bytes():
                buf += piece
                if b"\n\n" in buf:
                    events = buf.split(b"\n\n")
                    buf = events.pop()
                    for ev in events:
                        n += 1
                        payload = ev[ev.find(b"data: ") + 6 :]
                        if payload != b"[DONE]":
                            d = json.loads(payload)
                            if d["choices"] and d["choices"][0]["delta"].get("content"):
                                delays.append(mono() - int(d["choices"][0]["delta"]["content"]))
        return StreamRun(perf() - t0, n, delays)

    def sse_json() -> StreamRun:
        delays = []
        t0 = perf()
        with httpx_sse.connect_sse(http, "POST", url, json=body) as es:
            for sse in es.iter_sse():
                if sse.data == "[DONE]":
                    break
                d = json.loads(sse.data)
                if d["choices"] and d["choices"][0]["delta"].get("content"):
                    delays.append(mono() - int(d["choices"][0]["delta"]["content"]))
        return StreamRun(perf() - t0, wire_events, delays)

    runs: dict[str, Callable[[], StreamRun]] = {"httpx-bytes": raw_bytes, "httpx-json": raw_json}
    if httpx_sse is not None:
        runs["httpx-sse"] = sse_json

    if openai is not None:
        mod = _sdk_httpx(openai)
        oa = openai.OpenAI(
            api_key="sk-bench", base_url=base, max_retries=0, http_client=mod.Client(timeout=60)
        )

        def openai_create() -> StreamRun:
            delays = []
            t0 = perf()
            stream = oa.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    delays.append(mono() - int(chunk.choices[0].delta.content))
            return StreamRun(perf() - t0, wire_events, delays)

        runs["openai"] = openai_create

    text_delta = sk.TextDelta

    def streamkit_run(skc: sk.StreamingClient) -> Callable[[], StreamRun]:
        def streamkit_client() -> StreamRun:
            delays = []
            t0 = perf()
            with skc.stream(model=MODEL, messages=MESSAGES) as stream:
                for event in stream:
                    if type(event) is text_delta:
                        delays.append(mono() - int(event.text))
            assert stream.result.usage is not None
            return StreamRun(perf() - t0, wire_events, delays)

        return streamkit_client

    # out of the box: streamkit's own httpx.Client (its transport rechunks under h11)
    runs["sk-client"] = streamkit_run(
        sk.StreamingClient(base_url=base, api_key="sk-bench", timeout=sk.Timeouts(read_idle=60))
    )
    # the user's own plain httpx.Client: httpx's transport untouched
    runs["sk-client-given"] = streamkit_run(
        sk.StreamingClient(base_url=base, api_key="sk-bench", http_client=httpx.Client(timeout=60))
    )
    return runs


SHARD = 50
"""Streams per httpx.AsyncClient in the sharded streamkit column."""

LOOPBACK_LABELS = {
    "httpx-bytes": "raw httpx, iter_bytes only (transport floor)",
    "httpx-json": "raw httpx + split + json.loads",
    "httpx-sse": "httpx-sse + json.loads",
    "openai": "openai create(stream=True)",
    "sk-client": "**streamkit StreamingClient** (defaults: its own httpx.Client, rechunked)",
    "sk-client-given": "**streamkit StreamingClient**, http_client=httpx.Client() (plain httpx)",
    "sk-async": "**streamkit AsyncStreamingClient** (defaults: its own httpx clients, rechunked)",
    "sk-async-sharded": (
        f"**streamkit AsyncStreamingClient**, http_client=httpx.AsyncClient() per {SHARD} "
        "streams (plain httpx)"
    ),
    "openai-async": "openai AsyncOpenAI create(stream=True) (one client, httpx2 pool)",
    "httpx-async": "raw httpx.AsyncClient (shared) + split + json.loads",
}


@dataclass
class LoopbackResult:
    title: str
    streams: int
    chunks: int
    pause_us: int
    repeats: int
    runs: dict[str, list[StreamRun]]

    def eps(self, key: str) -> float:
        return statistics.median(r.events_per_s for r in self.runs[key])

    def delay_ms(self, key: str, q: float) -> float | None:
        values = [_pct(r.delays_ns, q) for r in self.runs[key] if r.delays_ns]
        return statistics.median(values) / 1e6 if values else None


def _pct(values: list[int], q: float) -> float:
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])


def loopback_single(
    server: LoopbackServer, chunks: int, pause_us: int, repeats: int
) -> LoopbackResult:
    runs = _loopback_sync_runs(server, chunks, pause_us)
    for fn in _loopback_sync_runs(server, 20, 0).values():  # warm up: imports, lazy set-up
        fn()
    out: dict[str, list[StreamRun]] = {k: [] for k in runs}
    with frozen_heap():
        for r in range(repeats):
            for key in list(runs) if r % 2 == 0 else reversed(list(runs)):
                gc.collect()
                res = runs[key]()
                if res.delays_ns and len(res.delays_ns) != chunks:
                    raise AssertionError(
                        f"{key}: {len(res.delays_ns)} text events, expected {chunks}"
                    )
                out[key].append(res)
    title = "one stream" if not pause_us else f"one stream, paced at {pause_us} µs per event"
    return LoopbackResult(title, 1, chunks, pause_us, repeats, out)


async def _concurrent(kind: str, base: str, streams: int, chunks: int) -> StreamRun:
    mono = time.monotonic_ns
    delays: list[int] = []
    limits_kw = {"max_connections": streams + 8, "max_keepalive_connections": streams + 8}
    counts: list[int] = []

    if kind in ("sk-async", "sk-async-sharded"):
        # sharded: one httpx.AsyncClient (and streamkit client) per SHARD streams, which
        # keeps httpcore's per-pool bookkeeping (O(connections) per request/release) small
        https: list[httpx.AsyncClient] = []
        if kind == "sk-async":
            # out of the box: streamkit creates (and shards) its own httpx clients
            shard = streams
            clients = [
                sk.AsyncStreamingClient(
                    base_url=base,
                    api_key="sk-bench",
                    timeout=sk.Timeouts(connect=120, read_idle=120),
                )
            ]
        else:
            shard = SHARD
            https = [
                httpx.AsyncClient(
                    limits=httpx.Limits(
                        max_connections=shard + 8, max_keepalive_connections=shard + 8
                    ),
                    timeout=120,
                )
                for _ in range(0, streams, shard)
            ]
            clients = [
                sk.AsyncStreamingClient(base_url=base, api_key="sk-bench", http_client=h)
                for h in https
            ]
        text_delta = sk.TextDelta
        next_client = iter(clients[i // shard] for i in range(streams))

        async def one() -> None:
            n = 0
            client = next(next_client)
            async with client.stream(model=MODEL, messages=MESSAGES) as stream:
                async for event in stream:
                    if type(event) is text_delta:
                        delays.append(mono() - int(event.text))
                        n += 1
            counts.append(n)

    elif kind == "openai-async":
        mod = _sdk_httpx(openai)
        http = mod.AsyncClient(limits=mod.Limits(**limits_kw), timeout=120)
        client = openai.AsyncOpenAI(
            api_key="sk-bench", base_url=base, http_client=http, max_retries=0
        )

        async def one() -> None:
            n = 0
            stream = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    delays.append(mono() - int(chunk.choices[0].delta.content))
                    n += 1
            counts.append(n)

    else:  # raw httpx floor
        http = httpx.AsyncClient(limits=httpx.Limits(**limits_kw), timeout=120)
        url = base + "/chat/completions"
        body = {"model": MODEL, "messages": MESSAGES, "stream": True}

        async def one() -> None:
            n = 0
            async with http.stream("POST", url, json=body) as r:
                buf = bytearray()
                async for piece in r.aiter_bytes():
                    buf += piece
                    if b"\n\n" in buf:
                        events = buf.split(b"\n\n")
                        buf = events.pop()
                        for ev in events:
                            payload = ev[ev.find(b"data: ") + 6 :]
                            if payload != b"[DONE]":
                                d = json.loads(payload)
                                if d["choices"] and d["choices"][0]["delta"].get("content"):
                                    delays.append(mono() - int(d["choices"][0]["delta"]["content"]))
                                    n += 1
            counts.append(n)

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(streams):
            tg.start_soon(one)
    wall = time.perf_counter() - t0
    if kind.startswith("sk-async"):
        for c in clients:
            await c.aclose()  # closes the httpx clients streamkit created itself
        for h in https if kind == "sk-async-sharded" else []:
            await h.aclose()
    else:
        await http.aclose()
    if len(counts) != streams or any(c != chunks for c in counts):
        raise AssertionError(f"{kind}: incomplete streams ({len(counts)} done)")
    return StreamRun(wall, streams * (chunks + 4), delays)


def loopback_concurrent(
    server: LoopbackServer,
    kinds: Sequence[str],
    streams: int,
    chunks: int,
    pause_us: int,
    repeats: int,
) -> LoopbackResult:
    base = server.base_url(chunks, pause_us)
    out: dict[str, list[StreamRun]] = {k: [] for k in kinds}
    with frozen_heap():
        for r in range(repeats):
            for kind in kinds if r % 2 == 0 else list(reversed(kinds)):
                gc.collect()
                log(f"    {kind}: {streams} streams x {chunks} chunks (repeat {r + 1}/{repeats})")
                out[kind].append(anyio.run(_concurrent, kind, base, streams, chunks))
    title = f"{streams} concurrent streams x {chunks} chunks"
    if pause_us:
        title += f", paced at {pause_us / 1000:g} ms per event per stream"
    return LoopbackResult(title, streams, chunks, pause_us, repeats, out)


# ---------------------------------------------------------------------------------------------
# import time
# ---------------------------------------------------------------------------------------------


def import_times(modules: Sequence[str], repeats: int) -> dict[str, float]:
    """Median ``python -c "import X"`` minus ``python -c "pass"``, fresh processes, interleaved."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with warm .pyc caches, as users do
    stmts = {"(python -c pass)": "pass", **{m: f"import {m}" for m in modules}}
    for stmt in stmts.values():  # compile the .pyc files once
        subprocess.run([sys.executable, "-c", stmt], env=env, check=True)
    samples: dict[str, list[float]] = {k: [] for k in stmts}
    for r in range(repeats):
        for key in list(stmts) if r % 2 == 0 else reversed(list(stmts)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", stmts[key]], env=env, check=True)
            samples[key].append(time.perf_counter() - t0)
    base = statistics.median(samples.pop("(python -c pass)"))
    out = {k: statistics.median(v) - base for k, v in samples.items()}
    out["(python -c pass)"] = base
    return out


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def importtime_top(module: str, top: int = 12) -> list[tuple[str, float, float]]:
    """The biggest imports (cumulative µs) under ``import module``, from ``-X importtime``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 3:
            rows.append((name.strip(), float(cum_us), float(self_us)))
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


# ---------------------------------------------------------------------------------------------
# where streamkit's time goes: cumulative stages (no profiler) and cProfile
# ---------------------------------------------------------------------------------------------


def stage_runs(t: Transcript, piece: int) -> dict[str, Callable[[], Any]]:
    """Cumulative prefixes of the client pipeline, each a complete pass over ``t``."""
    from streamkit.providers import get as get_dialect
    from streamkit.sse import SSEDecoder

    pieces = split_pieces(t.body, piece)
    runs: dict[str, Callable[[], Any]] = {}

    def sse_only() -> int:
        dec = SSEDecoder()
        n = 0
        for p in pieces:
            n += len(dec.feed(p))
        return n

    runs["1 SSEDecoder.feed"] = sse_only
    dialect = get_dialect(t.provider)

    def sse_decode() -> int:
        dec = SSEDecoder()
        d = dialect.new_decoder()
        n = 0
        for p in pieces:
            for e in dec.feed(p):
                n += len(d.decode(e))
        return n

    runs["2 + dialect.decode (JSON + typed events)"] = sse_decode

    def sse_decode_reassemble() -> int:
        dec = SSEDecoder()
        d = dialect.new_decoder()
        r = sk.Reassembler()
        n = 0
        for p in pieces:
            for e in dec.feed(p):
                n += len(r.push(d.decode(e), event_id=e.id, sequence=d.sequence_number(e)))
        r.end_attempt()
        r.snapshot()
        return n

    runs["3 + Reassembler.push"] = sse_decode_reassemble
    runs["4 decode_stream (+ session, metrics, usage)"] = lambda: decode_stream(
        t.body, provider=t.provider, chunk_size=piece
    )
    case = Case(t, piece, pieces)
    runs["5 StreamingClient over MockTransport (+ httpx, shell)"] = _make_streamkit_client(case)

    # references, not cumulative: what the parse alone costs after the same SSE decoder
    def sse_json() -> int:
        dec = SSEDecoder()
        n = 0
        loads = json.loads
        for p in pieces:
            for e in dec.feed(p):
                if e.data != "[DONE]":
                    loads(e.data)
                n += 1
        return n

    runs["ref: SSEDecoder.feed + json.loads"] = sse_json
    try:
        from streamkit.providers.openai_chat import _CHUNK  # private: may move or go
    except ImportError:
        _CHUNK = None
    if _CHUNK is not None and t.provider == "openai-chat":
        validate = _CHUNK.validate_json

        def sse_validate() -> int:
            dec = SSEDecoder()
            n = 0
            for p in pieces:
                for e in dec.feed(p):
                    if e.data != "[DONE]":
                        validate(e.data)
                    n += 1
            return n

        runs["ref: SSEDecoder.feed + the lenient wire model's validate_json"] = sse_validate
    runs["ref: floor: split + json.loads"] = lambda: floor_json(pieces)
    return runs


def run_overhead(cols: Sequence[Column], repeats: int) -> dict[str, float]:
    """µs per complete stream of a 1-chunk transcript (5 events): the fixed cost per stream."""
    t = openai_text(1)
    case = Case(t, 16384, split_pieces(t.body, 16384))
    by_key = {c.key: c for c in cols}
    runs = {c.key: c.make(case) for c in cols if c.applies(case) and not c.floor}
    times = time_interleaved(runs, repeats, lambda k, res: _check(by_key[k], case, res), 0.05)
    return {k: statistics.median(v) * 1e6 for k, v in times.items()}


def run_stages(t: Transcript, piece: int, repeats: int) -> dict[str, float]:
    runs = stage_runs(t, piece)
    for fn in runs.values():
        fn()
    times = time_interleaved(runs, repeats, lambda k, res: None)
    return {k: statistics.median(v) / t.events * 1e6 for k, v in times.items()}


def profile_client(t: Transcript, piece: int, top: int = 25) -> str:
    run = _make_streamkit_client(Case(t, piece, split_pieces(t.body, piece)))
    run()
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    # keep the table, drop the preamble; shorten site-packages paths
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    out = [
        line.replace(str(ROOT / "src") + "/", "").replace(sys.prefix + "/", "")
        for line in lines[start:]
    ]
    total_line = next((line for line in lines if "function calls" in line), "")
    return total_line.strip() + f"  ({t.events} events)\n" + "\n".join(out).rstrip()


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def fmt_us(x: float) -> str:
    return f"{x:.3g}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_rate(eps: float) -> str:
    if eps >= 1e6:
        return f"{eps / 1e6:.2f}M"
    if eps >= 1e3:
        return f"{eps / 1e3:.1f}k"
    return f"{eps:.0f}"


def fmt_x(x: float) -> str:
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def fmt_mib(b: float) -> str:
    return f"{b / 2**20:.2f} MiB" if b >= 2**20 else f"{b / 1024:.0f} KiB"


def machine_info() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores (`/proc/cpuinfo`); load average at start {load} (1/5/15 min)",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}",
    ]


def versions() -> str:
    names = [
        "streamkit",
        "httpx",
        "httpx2",
        "h11",
        "pydantic",
        "pydantic-core",
        "openai",
        "anthropic",
        "httpx-sse",
        "orjson",
        "anyio",
    ]
    parts = []
    for name in names:
        if name == "streamkit":
            parts.append(f"streamkit {sk.__version__} (this checkout)")
            continue
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.summary: list[tuple[str, str, str, str]] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(
        self, header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None
    ) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        align = align or ("l" + "r" * (len(header) - 1))
        self.lines.append("|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(row) + " |")
        self.lines.append("")


def _samples(res: CaseResult) -> str:
    counts = sorted(set(res.samples.values()))
    return "samples per column: " + "/".join(str(c) for c in counts)


def case_table(rep: Report, res: CaseResult, cols: Sequence[Column]) -> None:
    t = res.case.transcript
    floor_us = res.us_per_event("json")
    sdk = (
        "openai"
        if "openai" in res.median_s
        else "anthropic"
        if "anthropic" in res.median_s
        else None
    )
    sdk_us = res.us_per_event(sdk) if sdk else None
    rep.add(
        f"#### {t.name} @ {res.case.piece_label} pieces",
        "",
        f"{t.events:,} events, {len(t.body) / 2**20:.2f} MiB, {len(res.case.pieces):,} pieces; "
        f"{res.repeats} interleaved rounds ({_samples(res)}), median µs/event (min-max in brackets).",
        "",
    )
    header = ["column", "µs/event", "events/s", "× json floor"]
    if sdk:
        header.append(f"speed-up vs {sdk} SDK")
    rows = []
    for col in cols:
        if col.key not in res.median_s:
            continue
        us = res.us_per_event(col.key)
        lo, hi = res.spread[col.key]
        n = t.events
        row = [
            col.label,
            f"{fmt_us(us)} ({fmt_us(lo / n * 1e6)}-{fmt_us(hi / n * 1e6)})",
            fmt_rate(1e6 / us),
            fmt_x(us / floor_us),
        ]
        if sdk_us is not None:
            row.append(fmt_x(sdk_us / us))
        rows.append(row)
    rep.table(header, rows)


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


@dataclass
class CaseSpec:
    make: Callable[[int], Transcript]
    chunks: int
    pieces: list[int | str]
    skip: frozenset[str] = frozenset()
    """Column keys left out (too slow to repeat at this size)."""
    repeats: int | None = None


@dataclass
class Plan:
    quick: bool
    repeats: int
    round_s: float
    """A cheap column runs again within a round until about this long (more samples)."""
    cases: list[CaseSpec]
    memory_sizes: list[int]
    memory_max: dict[str, int]
    """Largest transcript a column's memory is measured on (tracemalloc is slow)."""
    loop_chunks: int
    paced_chunks: int
    paced_us: int
    conc: list[tuple[int, int, list[str], int]]  # (streams, chunks, kinds, repeats)
    conc_paced: tuple[int, int, int] | None  # (streams, chunks, pause_us)
    import_modules: list[str]
    import_repeats: int
    stage_repeats: int


def make_plan(quick: bool, repeats: int | None) -> Plan:
    if quick:
        return Plan(
            quick=True,
            repeats=repeats or 3,
            round_s=0.15,
            cases=[
                CaseSpec(openai_text, 1000, [16384]),
                CaseSpec(openai_text, 1000, [1], skip=frozenset({"openai", "openai-helper"})),
                CaseSpec(openai_text, 10_000, [16384], skip=frozenset({"openai-helper"})),
            ],
            memory_sizes=[1000, 10_000],
            memory_max={"openai-helper": 0, "openai": 0, "split": 0, "orjson": 0},
            loop_chunks=1000,
            paced_chunks=0,
            paced_us=0,
            conc=[(100, 100, ["httpx-async", "sk-async", "openai-async"], 1)],
            conc_paced=None,
            import_modules=["streamkit", "openai"],
            import_repeats=3,
            stage_repeats=0,
        )
    return Plan(
        quick=False,
        repeats=repeats or 5,
        round_s=0.25,
        cases=[
            CaseSpec(openai_text, 1000, [1, 1024, 16384, "event"]),
            CaseSpec(openai_text, 10_000, [16384, "event"]),
            CaseSpec(openai_text, 100_000, [16384], skip=frozenset({"openai-helper"}), repeats=3),
            CaseSpec(openai_tools, 10_000, [16384]),
            CaseSpec(anthropic_text, 10_000, [16384]),
        ],
        memory_sizes=[1000, 10_000, 100_000],
        memory_max={"openai": 10_000, "openai-helper": 10_000},
        loop_chunks=10_000,
        paced_chunks=1000,
        paced_us=1000,
        conc=[
            (100, 1000, ["httpx-async", "sk-async", "openai-async"], 2),
            (500, 1000, ["httpx-async", "sk-async", "sk-async-sharded", "openai-async"], 2),
            (1000, 1000, ["sk-async"], 1),
        ],
        conc_paced=(100, 200, 10_000),
        import_modules=["streamkit", "httpx", "openai", "anthropic"],
        import_repeats=7,
        stage_repeats=9,
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a < 1 min subset; prints the report")
    ap.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only the parts whose name contains NAME (repeatable): inmemory, memory, "
        "loopback, concurrency, import, stages, overhead, or a case such as openai-text-10k@16 KiB",
    )
    ap.add_argument(
        "--out",
        help="Markdown file to write ('-': stdout only). Default: "
        "benchmarks/RESULTS.md (full run), stdout only (--quick)",
    )
    ap.add_argument("--repeats", type=int, help="override the number of repeats")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="profile streamkit on openai-text-10k @ 16 KiB (cProfile, top 25 by "
        "tottime) plus the cumulative stage breakdown, print them and exit",
    )
    args = ap.parse_args(argv)

    if args.profile:
        t = openai_text(10_000)
        log("profiling streamkit StreamingClient on openai-text-10k @ 16 KiB ...")
        print("## Stage breakdown (µs per event, cumulative; no profiler)\n")
        stages = run_stages(t, 16384, args.repeats or 5)
        prev = 0.0
        for name, us in stages.items():
            cumulative = not name.startswith("ref:")
            extra = f"  ({us - prev:+.2f})" if cumulative else ""
            print(f"  {name:<62} {us:7.2f}{extra}")
            if cumulative:
                prev = us
        print("\n## cProfile, sorted by tottime\n")
        print(profile_client(t, 16384))
        return 0

    plan = make_plan(args.quick, args.repeats)
    only = args.only

    def wanted(name: str) -> bool:
        return not only or any(o.lower() in name.lower() for o in only)

    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/run.py", *sys.argv[1:]])
    cols = columns()
    by_key = {c.key: c for c in cols}
    results: dict[str, CaseResult] = {}

    # ---- in-memory tables ----------------------------------------------------------------
    specs = []
    for spec in plan.cases:
        t = spec.make(spec.chunks)
        names = [f"inmemory:{t.name}@{piece_label(p)}" for p in spec.pieces]
        if any(wanted(n) for n in names):
            specs.append((spec, t))
    if specs or wanted("memory"):
        log("warming up every column (and checking each reassembles the text) ...")
        for make in {spec.make for spec, _ in specs} | (
            {openai_text} if wanted("memory") else set()
        ):
            warm_up(cols, make, 16384)
    inmem_sections: list[CaseResult] = []
    for spec, t in specs:
        for piece in spec.pieces:
            case = Case(t, piece, split_pieces(t.body, piece))
            if not wanted(f"inmemory:{case.name}"):
                continue
            reps = spec.repeats or plan.repeats
            log(f"in-memory {case.name}: {reps} repeats ...")
            res = run_case(case, [c for c in cols if c.key not in spec.skip], reps, plan.round_s)
            results[case.name] = res
            inmem_sections.append(res)

    overhead: dict[str, float] = {}
    if wanted("overhead"):
        log("per-stream fixed cost (1-chunk streams) ...")
        overhead = run_overhead(cols, 20)

    # ---- memory ---------------------------------------------------------------------------
    mem_rows: dict[str, dict[int, int]] = {}
    mem_text: dict[int, int] = {}
    if wanted("memory"):
        for n in plan.memory_sizes:
            t = openai_text(n)
            case = Case(t, 16384, split_pieces(t.body, 16384))
            mem_text[n] = sys.getsizeof(t.text)
            for col in cols:
                if not col.applies(case) or n > plan.memory_max.get(col.key, n):
                    continue
                log(f"memory {col.key} on {t.name} @ 16 KiB ...")
                mem_rows.setdefault(col.key, {})[n] = measure_peak(col.make(case))

    # ---- loopback ------------------------------------------------------------------------
    loop_results: list[LoopbackResult] = []
    if wanted("loopback") or wanted("concurrency"):
        with LoopbackServer() as server:
            log(f"loopback server on 127.0.0.1:{server.port}")
            if wanted("loopback"):
                log(f"loopback: one stream x {plan.loop_chunks} chunks ...")
                loop_results.append(loopback_single(server, plan.loop_chunks, 0, plan.repeats))
                if plan.paced_chunks:
                    log(f"loopback: one stream x {plan.paced_chunks} chunks, paced ...")
                    loop_results.append(
                        loopback_single(
                            server, plan.paced_chunks, plan.paced_us, max(3, plan.repeats - 2)
                        )
                    )
            if wanted("concurrency"):
                for streams, chunks, kinds, reps in plan.conc:
                    if openai is None:
                        kinds = [k for k in kinds if k != "openai-async"]
                    log(f"concurrency: {streams} streams ...")
                    loop_results.append(
                        loopback_concurrent(server, kinds, streams, chunks, 0, reps)
                    )
                if plan.conc_paced:
                    streams, chunks, pause = plan.conc_paced
                    kinds = ["sk-async", "openai-async"] if openai is not None else ["sk-async"]
                    log(f"concurrency: {streams} paced streams ...")
                    loop_results.append(
                        loopback_concurrent(server, kinds, streams, chunks, pause, 1)
                    )

    # ---- import time ---------------------------------------------------------------------
    imports: dict[str, float] = {}
    import_tree: list[tuple[str, float, float]] = []
    if wanted("import"):
        mods = [m for m in plan.import_modules if m == "streamkit" or _installed(m)]
        log(f"import times ({plan.import_repeats} fresh processes each) ...")
        imports = import_times(mods, plan.import_repeats)
        import_tree = importtime_top("streamkit")

    # ---- stage breakdown -------------------------------------------------------------------
    stages: dict[str, float] = {}
    if (plan.stage_repeats and wanted("stages")) or (only and wanted("stages")):
        log("stage breakdown on openai-text-10k @ 16 KiB ...")
        stages = run_stages(openai_text(10_000), 16384, plan.stage_repeats or plan.repeats)

    # ---- write ---------------------------------------------------------------------------
    elapsed = time.perf_counter() - started
    out: list[str] = []
    out += [
        "# streamkit benchmark results",
        "",
        f"- Date: {stamp}; run took {elapsed:.0f} s",
        f"- Command: `{command}` (from the repository root, with the dev venv's python)",
        *machine_info(),
        f"- Libraries: {versions()}",
        "- Method: in-memory columns are fed through `httpx.MockTransport` (httpx2's for the SDKs "
        "that use it) or, for the floors and `decode_stream`, straight from the pre-cut pieces; "
        "timing with `time.perf_counter`; the heap alive before timing is frozen (`gc.freeze()`), `gc.collect()` before each column's turn, GC on. Loopback: "
        "`benchmarks/_server.py` in its own process on 127.0.0.1, one HTTP chunk per event. "
        "See `benchmarks/README.md`.",
        "",
    ]
    out += targets_section(results, loop_results, mem_rows, mem_text, plan)
    rep2 = Report()
    if inmem_sections:
        rep2.add("## In memory: µs per event", "")
        rep2.add(
            "Lower µs/event is better. `× json floor` = this column's time / the time of the "
            "split + json.loads floor on the same pieces; `speed-up vs SDK` = the provider "
            "SDK's time / this column's time (higher is better).",
            "",
        )
        for res in inmem_sections:
            case_table(rep2, res, cols)
    if overhead:
        rep2.add("## Fixed cost per stream", "")
        rep2.add(
            "One complete stream of `openai-text-1` (role, one content chunk, finish, usage, "
            "`[DONE]`) over MockTransport: request building, response set-up and teardown, "
            "result. Median of many interleaved samples. Matters for many short streams.",
            "",
        )
        sk_us = overhead.get("sk-client")
        rep2.table(
            ["column", "µs per stream", "× streamkit StreamingClient"],
            (
                [by_key[k].label, fmt_us(us), fmt_x(us / sk_us) if sk_us else ""]
                for k, us in overhead.items()
            ),
        )
    if mem_rows:
        memory_section(rep2, mem_rows, mem_text, by_key)
    if loop_results:
        loopback_section(rep2, loop_results)
    if imports:
        rep2.add("## Import time", "")
        rep2.add(
            f'Median of {plan.import_repeats} fresh `python -c "import X"` processes minus the '
            f"median of `python -c pass` ({imports['(python -c pass)'] * 1000:.0f} ms), interleaved; "
            ".pyc caches warm.",
            "",
        )
        sk_t = imports.get("streamkit")
        rows = []
        for mod, s in imports.items():
            if mod.startswith("("):
                continue
            rows.append([f"`import {mod}`", f"{s * 1000:.0f} ms", fmt_x(s / sk_t) if sk_t else ""])
        rep2.table(["module", "import time", "× streamkit"], rows)
        if import_tree:
            rep2.add(
                "Largest pieces of `import streamkit` (one `python -X importtime` run; cumulative "
                "µs includes nested imports; modules already imported by an earlier line are not "
                "counted again):",
                "",
            )
            rep2.table(
                ["module", "cumulative", "self"],
                (
                    [f"`{m}`", f"{c / 1000:.0f} ms", f"{s_ / 1000:.1f} ms"]
                    for m, c, s_ in import_tree
                ),
            )
    if stages:
        rep2.add("## Where streamkit's time goes (openai-text-10k @ 16 KiB)", "")
        rep2.add(
            "Cumulative pipeline prefixes, each a full pass over the transcript, interleaved, "
            "medians; the difference between two rows is the cost of the stage added. The `ref:` "
            "rows are references, not stages (the lenient wire model's `validate_json` is "
            "private and may no longer be on the hot path). "
            "No profiler involved. `python benchmarks/run.py --profile` adds a cProfile listing.",
            "",
        )
        rows = []
        prev = 0.0
        floor = stages.get("ref: floor: split + json.loads")
        for name, us in stages.items():
            if name.startswith("ref:"):
                rows.append([name, fmt_us(us), "", fmt_x(us / floor) if floor else ""])
                continue
            rows.append(
                [name[2:], fmt_us(us), f"{us - prev:+.2f}", fmt_x(us / floor) if floor else ""]
            )
            prev = us
        rep2.table(["stage (cumulative)", "µs/event", "stage cost µs/event", "× json floor"], rows)
    out += rep2.lines
    text = "\n".join(out).rstrip() + "\n"

    dest = args.out if args.out is not None else ("-" if args.quick else str(HERE / "RESULTS.md"))
    if dest == "-" or (args.only and args.out is None):
        sys.stdout.write(text)
    else:
        Path(dest).write_text(text)
        log(f"wrote {dest}")
    log(f"done in {elapsed:.0f} s")
    return 0


def targets_section(
    results: dict[str, CaseResult],
    loops: list[LoopbackResult],
    mem_rows: dict[str, dict[int, int]],
    mem_text: dict[int, int],
    plan: Plan,
) -> list[str]:
    rows: list[list[str]] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    r16 = results.get("openai-text-10k@16 KiB")
    if r16:
        sk_us, floor_us = r16.us_per_event("sk-client"), r16.us_per_event("json")
        ratio = sk_us / floor_us
        rows.append(
            [
                "10k text @ 16 KiB: streamkit ≤ 2.0x the json.loads floor",
                f"StreamingClient {fmt_us(sk_us)} µs vs floor {fmt_us(floor_us)} µs = {fmt_x(ratio)}"
                f" (decode_stream {fmt_x(r16.us_per_event('sk-offline') / floor_us)})",
                verdict(ratio <= 2.0),
            ]
        )
        if "openai" in r16.median_s:
            speed = r16.us_per_event("openai") / sk_us
            rows.append(
                [
                    "10k text @ 16 KiB: streamkit ≥ 8x faster than openai create(stream=True)",
                    f"openai {fmt_us(r16.us_per_event('openai'))} µs / streamkit {fmt_us(sk_us)} µs = {fmt_x(speed)}",
                    verdict(speed >= 8),
                ]
            )
    r1 = next(
        (r for k, r in results.items() if k.endswith("@1 B") and k.startswith("openai-text")), None
    )
    if r1:
        off, floor_us = r1.us_per_event("sk-offline"), r1.us_per_event("json")
        rows.append(
            [
                f"{r1.case.transcript.name.removeprefix('openai-text-')} text @ 1 B: streamkit ≤ 2x the 1-byte floor",
                f"decode_stream {fmt_us(off)} µs vs floor {fmt_us(floor_us)} µs = {fmt_x(off / floor_us)}"
                f" (StreamingClient over MockTransport, +httpx per piece: {fmt_x(r1.us_per_event('sk-client') / floor_us)})",
                verdict(off / floor_us <= 2.0),
            ]
        )
    sizes = sorted(mem_text)
    growth = _growth(mem_rows.get("sk-client", {}), sizes)
    ref = _growth(mem_rows.get("httpx-sse", {}), sizes)
    if growth is not None:
        g, a, b = growth
        m = mem_rows["sk-client"]
        text_pc = (mem_text[b] - mem_text[a]) / (b - a)
        measured = (
            f"StreamingClient peak {fmt_mib(m[a])} @ {a // 1000}k → {fmt_mib(m[b])} @ {b // 1000}k: "
            f"+{g:.0f} B/chunk; the final text alone is {text_pc:.0f} B/chunk"
        )
        ok = g <= 2 * text_pc + 16
        if ref is not None:
            measured += f", a bare httpx-sse consumer keeping the text +{ref[0]:.0f} B/chunk"
            ok = g <= max(ref[0], 2 * text_pc + 16)
        rows.append(
            [
                f"memory flat up to {b // 1000}k chunks apart from the text kept "
                "(growth ≤ the bare consumer's, or ≤ 2x the text + 16 B)",
                measured,
                verdict(ok),
            ]
        )
    for lr in loops:
        if "sk-client" in lr.runs and "openai" in lr.runs and not lr.pause_us:
            x = lr.eps("sk-client") / lr.eps("openai")
            rows.append(
                [
                    "loopback, one stream: ≥ 5x openai's events/s",
                    f"{fmt_rate(lr.eps('sk-client'))} vs {fmt_rate(lr.eps('openai'))} events/s = {fmt_x(x)}",
                    verdict(x >= 5),
                ]
            )
        if "sk-async" in lr.runs and "openai-async" in lr.runs and not lr.pause_us:
            x = lr.eps("sk-async") / lr.eps("openai-async")
            measured = f"{fmt_rate(lr.eps('sk-async'))} vs {fmt_rate(lr.eps('openai-async'))} events/s = {fmt_x(x)}"
            if "sk-async-sharded" in lr.runs:
                xs = lr.eps("sk-async-sharded") / lr.eps("openai-async")
                measured += (
                    f"; with one httpx.AsyncClient per {SHARD} streams "
                    f"{fmt_rate(lr.eps('sk-async-sharded'))} = {fmt_x(xs)}"
                )
            rows.append(
                [
                    f"loopback, {lr.streams} concurrent streams: ≥ 5x openai's events/s"
                    + (" (the target is at 500)" if lr.streams != 500 else ""),
                    measured,
                    verdict(x >= 5),
                ]
            )
    if not rows:
        return []
    rep = Report()
    rep.add("## Issue #6 targets", "")
    rep.table(["target", "measured", "verdict"], rows, "lll")
    return rep.lines


def _growth(by_n: dict[int, int], sizes: list[int]) -> tuple[float, int, int] | None:
    have = [n for n in sizes if n in by_n]
    if len(have) < 2:
        return None
    a, b = have[-2], have[-1]
    return (by_n[b] - by_n[a]) / (b - a), a, b


def memory_section(
    rep: Report,
    mem_rows: dict[str, dict[int, int]],
    mem_text: dict[int, int],
    by_key: dict[str, Column],
) -> None:
    sizes = sorted(mem_text)
    rep.add("## Memory (openai-text, 16 KiB pieces)", "")
    rep.add(
        "`tracemalloc` peak over one complete run (the input is allocated before tracing "
        "starts; the returned text counts). `growth` = (peak at the largest size - peak at the "
        "next size) / extra chunks: flat memory shows as ≈ the final text's own size "
        f"(`str` of the reassembled text: {', '.join(f'{mem_text[n] / n:.0f} B/chunk @ {n // 1000}k' for n in sizes)}); "
        "`decode_stream` returns every event, so it grows by design.",
        "",
    )
    rows = []
    for key, by_n in mem_rows.items():
        col = by_key[key]
        row = [col.label] + [fmt_mib(by_n[n]) if n in by_n else "—" for n in sizes]
        have = [n for n in sizes if n in by_n]
        if len(have) >= 2:
            a, b = have[-2], have[-1]
            row.append(f"{(by_n[b] - by_n[a]) / (b - a):.0f} B/chunk ({a // 1000}k→{b // 1000}k)")
        else:
            row.append("")
        rows.append(row)
    rep.table(["column", *(f"peak @ {n // 1000}k" for n in sizes), "growth"], rows)


def loopback_section(rep: Report, loops: list[LoopbackResult]) -> None:
    rep.add("## Loopback (127.0.0.1, a separate server process)", "")
    rep.add(
        "The server (`benchmarks/_server.py`) writes one HTTP/1.1 chunk per SSE event, as fast as "
        "the connection takes it unless paced, and puts its `time.monotonic_ns()` in each chunk's "
        "text; `delay` is the client's `time.monotonic_ns()` when the event reaches the user's loop "
        "minus that (same clock). Unpaced, the server runs ahead and the delay is mostly queueing "
        "behind a saturated client; paced runs show the per-event latency at a given load. "
        "events/s counts SSE events on the wire (role, content, finish, usage, [DONE]).",
        "",
    )
    for lr in loops:
        ref = (
            "openai"
            if "openai" in lr.runs
            else "openai-async"
            if "openai-async" in lr.runs
            else None
        )
        rep.add(f"#### {lr.title}", "", f"median of {lr.repeats} interleaved repeat(s).", "")
        header = ["client", "events/s", "p50 delay", "p95 delay"]
        if ref:
            header.append("× openai events/s")
        rows = []
        for key in lr.runs:
            p50, p95 = lr.delay_ms(key, 0.5), lr.delay_ms(key, 0.95)
            row = [
                LOOPBACK_LABELS[key],
                fmt_rate(lr.eps(key)),
                f"{p50:.2f} ms" if p50 is not None else "—",
                f"{p95:.2f} ms" if p95 is not None else "—",
            ]
            if ref:
                row.append(fmt_x(lr.eps(key) / lr.eps(ref)))
            rows.append(row)
        rep.table(header, rows)


if __name__ == "__main__":
    sys.exit(main())
