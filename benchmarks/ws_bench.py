"""WebSocket benchmark (issue #14, item 5): one Responses stream over WebSocket vs over SSE.

    python benchmarks/ws_bench.py                 # full run, ~2.5 min on 2 cores
    python benchmarks/ws_bench.py --quick         # ~30 s
    python benchmarks/ws_bench.py --kinds sk-ws,ws-raw --rounds 5 --out /tmp/ws.md
    python benchmarks/ws_bench.py --profile       # + cProfile of streamkit's two transports
    make bench-ws

Two kinds of process, all on 127.0.0.1:

- one **server** (``--role server``, raw asyncio, hand-written HTTP/1.1 and RFC 6455
  framing, ``TCP_NODELAY``; a few µs per event, far under any client) that serves the
  same OpenAI Responses transcript two ways on one port: ``POST .../v1/responses`` as SSE
  (one event per HTTP chunk, one ``write`` each), and ``GET .../v1/responses`` with
  ``Upgrade: websocket`` as Responses WebSocket mode (every ``response.create`` message
  is answered with the transcript's events, **one JSON text frame per event**, in one
  ``write`` each; ``stream_id`` lanes run in parallel and every event echoes its lane;
  no compression is negotiated). The base URL carries the configuration,
  ``http://127.0.0.1:PORT/n<content events>/p<µs between events>/v1``. Unpaced (``p0``)
  the events are those of ``transcripts.responses_text(n)`` (``streamkit.testing``'s
  ``demo_responses_transcript`` with a long seeded answer: n + 8 events, non-ASCII text),
  written back to back as fast as the socket takes them. Paced, each text delta is
  ``" <time.monotonic_ns() at the write>"`` (the tail events carry the same text), on a
  fixed per-stream schedule, so the client can measure the **delay** from the server's
  write to the user's event (one CLOCK_MONOTONIC for every process of the machine);
- one **client process per competitor and round** (``--role client``), importing only its
  own library. After a warm-up stream (imports, lazy set-up, the first connection) it runs
  each scenario, measuring its own CPU time (``time.process_time``: every thread of the
  client, never the server's) and wall time. **CPU µs per event** = client CPU / events
  on the wire; **events/s** = events on the wire / wall time (two cores: the server has
  one, the client the other). Every competitor does the same work per text delta: it
  appends ``(time.monotonic_ns(), text)``; after the timing, the burst streams' texts are
  checked against the transcript (SHA-256) and the paced stamps become the delays.

Scenarios (full run; ``--quick`` in brackets):

- **burst, 1 stream**: one stream of 10,000 text deltas (10,008 events) [2,000];
- **burst, sequential**: 20 streams of 1,000 deltas one after another on one socket (SSE:
  one keep-alive HTTP connection) [10 x 500]; the per-stream round trip is included;
- **paced**: 20 concurrent streams x 50 events/s, 200 deltas each (4 s) [10 x 50, 1 s];
  over WebSocket all on ONE socket, one ``stream_id`` lane each; over SSE 20 HTTP
  connections. p50/p99 delay over every text delta.

Competitors:

- ``sk-sse``: streamkit ``AsyncStreamingClient(provider="openai-responses")``,
  ``client.stream(...)``: typed events over SSE;
- ``sk-ws``: the same client's ``connect()``, ``conn.stream(model=..., input=...,
  lane=...)``: typed events over WebSocket (httpx-ws on wsproto);
- ``openai-sse``: openai-python ``AsyncOpenAI().responses.create(stream=True)`` (httpx2);
- ``openai-ws``: openai-python ``AsyncOpenAI().responses.connect()``,
  ``conn.response.create(...)``, raw events from ``conn.recv()`` (websockets), routed by
  ``stream_id`` in user code;
- ``httpx-ws-raw``: ``httpx_ws.aconnect_ws`` + ``json.loads``: the transport under
  streamkit's WebSocket mode;
- ``ws-raw``: ``websockets.asyncio.client.connect`` + ``json.loads``: the floor.

Client objects (an httpx client and its TLS context, an ``AsyncOpenAI``) are made before
the timing; opening the socket or HTTP connection is timed.

Rounds: every competitor in a fresh process per round, the order alternating between
rounds (3 rounds, [2]); medians with the min-max. The server's own CPU per event (its
``process_time``, read over ``GET /cpu`` before and after each scenario) is reported too:
it must stay well below the clients'. On a shared machine only figures within one table
compare; the load average is in the report.

Needs ``pip install -e '.[dev,bench]'`` (``openai[realtime]`` brings ``websockets``,
``streamkit[websocket]`` brings ``httpx-ws``). A competitor whose library is missing is
left out. Prints a Markdown report (``--out`` to write it); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio  # noqa: TID251 - standalone benchmark processes (the server is raw asyncio)
import base64
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))  # this checkout's streamkit

HOST = "127.0.0.1"  # never anything else
MODEL = "gpt-4.1"
PROMPT = "Write a long answer."
MESSAGES = [{"role": "user", "content": PROMPT}]
OVERHEAD = 8  # events of a Responses stream besides its text deltas
mono = time.monotonic_ns

KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # key: (label, transport, modules it needs)
    "sk-sse": ("**streamkit AsyncStreamingClient.stream()**", "SSE", ("streamkit",)),
    "sk-ws": ("**streamkit AsyncStreamingClient.connect()**", "WebSocket", ("httpx_ws",)),
    "openai-sse": ("openai responses.create(stream=True)", "SSE", ("openai",)),
    "openai-ws": ("openai responses.connect(), raw events", "WebSocket", ("openai", "websockets")),
    "httpx-ws-raw": ("httpx-ws + json.loads (streamkit's transport)", "WebSocket", ("httpx_ws",)),
    "ws-raw": ("websockets + json.loads (the floor)", "WebSocket", ("websockets",)),
}
FLOOR = "ws-raw"


def log(msg: str, _t0: float = time.perf_counter()) -> None:
    print(f"[{time.perf_counter() - _t0:5.0f} s] {msg}", file=sys.stderr, flush=True)


def installed(kind: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in KINDS[kind][2])


@dataclass(frozen=True)
class Scenario:
    name: str
    streams: int
    """Concurrent streams (WebSocket: lanes of one socket)."""
    sequential: int
    """Streams one after another on each socket / HTTP connection."""
    events: int
    """Text deltas per stream."""
    pace_us: int
    """µs between a stream's events; 0 = burst."""

    @property
    def wire_events(self) -> int:
        return self.streams * self.sequential * (self.events + OVERHEAD)

    @property
    def title(self) -> str:
        if self.pace_us:
            return (
                f"paced: {self.streams} concurrent streams x {1e6 / self.pace_us:g} events/s, "
                f"{self.events:,} deltas each (WebSocket: {self.streams} lanes of one socket)"
            )
        if self.sequential > 1:
            return (
                f"burst, sequential: {self.sequential} streams x {self.events:,} deltas, "
                "one after another on one socket / keep-alive connection"
            )
        return f"burst, 1 stream of {self.events:,} deltas ({self.wire_events:,} events)"


def plan(quick: bool) -> list[Scenario]:
    if quick:
        return [
            Scenario("burst-1", 1, 1, 2_000, 0),
            Scenario("burst-seq", 1, 10, 500, 0),
            Scenario("paced", 10, 1, 50, 20_000),
        ]
    return [
        Scenario("burst-1", 1, 1, 10_000, 0),
        Scenario("burst-seq", 1, 20, 1_000, 0),
        Scenario("paced", 20, 1, 200, 20_000),
    ]


# ---- the server (its own process) --------------------------------------------------------------

_N = re.compile(rb"/n(\d+)(?=/)")
_P = re.compile(rb"/p(\d+)(?=/)")
_DEMO_ID = b"resp_demo68a1f0c2b7e94d35"
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\nx-request-id: req_bench\r\n\r\n"
)
_DELTA_PREFIX = (
    b'{"type":"response.output_text.delta","item_id":"msg_demo68a1f0c2b7e94d36",'
    b'"output_index":0,"content_index":0,"delta":"'
)
_DELTA_MID = b'","logprobs":[],"sequence_number":'


def _blocks(body: bytes) -> list[tuple[bytes, bytes]]:
    """(``event:`` name, JSON payload) of every SSE event of a Responses body."""
    out = []
    for block in body.split(b"\n\n"):
        if block.strip():
            head, _, data = block.partition(b"\ndata: ")
            out.append((head.removeprefix(b"event: "), data))
    return out


class _Transcripts:
    """The events a stream of ``n`` deltas is served: burst from transcripts.py, paced stamped."""

    def __init__(self) -> None:
        self._burst: dict[int, list[tuple[bytes, bytes]]] = {}
        self.head = _blocks(self._body(1))[:4]
        self.served = 0

    @staticmethod
    def _body(n: int) -> bytes:
        from transcripts import responses_text

        return responses_text(n).body

    def burst(self, n: int) -> list[tuple[bytes, bytes]]:
        events = self._burst.get(n)
        if events is None:
            events = self._burst[n] = _blocks(self._body(n))
            assert len(events) == n + OVERHEAD
        return events

    @staticmethod
    def tail(stamps: list[bytes]) -> list[tuple[bytes, bytes]]:
        from streamkit.testing import demo_responses_transcript

        events = _blocks(demo_responses_transcript(model=MODEL, text=b"".join(stamps).decode()))
        assert len(events) == len(stamps) + OVERHEAD  # one delta per stamp, as written
        return events[-4:]

    def next_id(self) -> bytes:
        self.served += 1
        return b"resp_bench%015d" % self.served  # as long as the transcript's id


def _stamped(i: int, stamps: list[bytes]) -> bytes:
    stamp = b" %d" % mono()
    stamps.append(stamp)
    return b"%s%s%s%d}" % (_DELTA_PREFIX, stamp, _DELTA_MID, i)


async def _events(
    tr: _Transcripts, n: int, pace_us: int, lane: bytes | None
) -> Any:  # an async iterator of (event name, payload)
    """The events of one response, at the pace asked (the caller writes each at once)."""
    loop = asyncio.get_running_loop()
    new_id = tr.next_id()
    pace = pace_us / 1e6
    start = loop.time()
    total = n + OVERHEAD
    burst = None if pace else tr.burst(n)
    stamps: list[bytes] = []
    tail: list[tuple[bytes, bytes]] = []
    for i in range(total):
        if burst is not None:
            name, data = burst[i]
        elif i < 4:
            name, data = tr.head[i]
        elif i < n + 4:
            name, data = b"response.output_text.delta", _stamped(i, stamps)
        else:
            if not tail:
                tail = tr.tail(stamps)
            name, data = tail[i - n - 4]
        if i < 2 or i == total - 1:
            data = data.replace(_DEMO_ID, new_id)
        if lane is not None:
            data = b'%s,"stream_id":%s}' % (data[:-1], lane)
        yield name, data
        if pace:
            delay = start + (i + 1) * pace - loop.time()
            await asyncio.sleep(delay if delay > 0 else 0)
        elif not i & 31:
            await asyncio.sleep(0)  # let the other streams (and the reader) run too


def _ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return data
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


async def _read_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client message (continuations joined): (opcode, unmasked payload)."""
    opcode, parts = 0, []
    while True:
        b0, b1 = await reader.readexactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if b1 & 0x80 else b""
        data = await reader.readexactly(length)
        if mask:
            data = _unmask(data, mask)
        op = b0 & 0x0F
        if op >= 8:  # control frames come whole, even between fragments
            return op, data
        opcode = opcode or op
        parts.append(data)
        if b0 & 0x80:
            return opcode, b"".join(parts)


async def _serve_websocket(
    tr: _Transcripts, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: bytes
) -> None:
    m = _N.search(target)
    n = int(m.group(1)) if m else 1000
    m = _P.search(target)
    pace_us = int(m.group(1)) if m else 0
    write = writer.write
    lanes: dict[Any, asyncio.Queue[None]] = {}
    tasks: list[asyncio.Task[None]] = []

    async def lane_worker(queue: asyncio.Queue[None], lane: bytes | None) -> None:
        try:
            while True:
                await queue.get()
                async for _name, data in _events(tr, n, pace_us, lane):
                    write(_ws_frame(data))
                    await writer.drain()
        except ConnectionError:  # the client left
            return

    try:
        while True:
            opcode, data = await _read_message(reader)
            if opcode == 8:  # close: echo the code, then end the TCP connection
                write(_ws_frame(data[:2], 8))
                await writer.drain()
                return
            if opcode == 9:
                write(_ws_frame(data, 10))
                continue
            if opcode not in (1, 2):
                continue
            request = json.loads(data)
            if request.get("type") != "response.create":
                continue
            lane = request.get("stream_id")
            queue = lanes.get(lane)
            if queue is None:
                queue = lanes[lane] = asyncio.Queue()
                raw = None if lane is None else json.dumps(lane).encode()
                tasks.append(asyncio.create_task(lane_worker(queue, raw)))
            queue.put_nowait(None)
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        for task in tasks:
            task.cancel()


async def _serve_one(
    tr: _Transcripts, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    write = writer.write
    try:
        while True:  # keep-alive: one request after another
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.split(b"\r\n")
            target = lines[0].split(b" ", 2)[1].split(b"?")[0]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if headers.get(b"upgrade", b"").lower() == b"websocket":
                key = headers[b"sec-websocket-key"]
                accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
                write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept
                )
                await _serve_websocket(tr, reader, writer, target)
                return
            length = int(headers.get(b"content-length", b"0"))
            if length:
                await reader.readexactly(length)
            if target == b"/cpu":  # the server's own CPU seconds, read between scenarios
                body = b"%.6f" % time.process_time()
                write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                continue
            m = _N.search(target)
            n = int(m.group(1)) if m else 1000
            m = _P.search(target)
            pace_us = int(m.group(1)) if m else 0
            first = True
            async for name, data in _events(tr, n, pace_us, None):
                event = b"event: %s\ndata: %s\n\n" % (name, data)
                frame = b"%x\r\n%s\r\n" % (len(event), event)
                if first:
                    frame, first = _SSE_HEAD + frame, False
                write(frame)
                await writer.drain()  # back-pressure from a slow client
            write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()


async def server_main(sizes: list[int]) -> None:
    tr = _Transcripts()
    for n in sizes:  # made before serving, so that no client's figures include it
        tr.burst(n)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_one(tr, reader, writer)

    server = await asyncio.start_server(handle, HOST, 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    # serve until the parent closes our stdin (or terminates us)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    os._exit(0)


# ---- the clients (one process per competitor and round) ------------------------------------

Sink = list[tuple[int, str]]
"""One stream's text deltas: (time.monotonic_ns() at arrival, text)."""


def _lanes(sc: Scenario) -> list[str | None]:
    return [None] if sc.streams == 1 else [f"s{i}" for i in range(sc.streams)]


def _create(lane: str | None) -> str:
    msg: dict[str, Any] = {"type": "response.create", "model": MODEL, "input": PROMPT}
    if lane is not None:
        msg["stream_id"] = lane
    return json.dumps(msg)


class Runner:
    """One competitor: its client objects are made by :meth:`open` (untimed, e.g. the
    TLS context an httpx client loads), the scenario runs in :meth:`run` (timed: it opens
    its socket or HTTP connection and streams)."""

    sockets = 0
    """WebSockets the last :meth:`run` opened (streamkit's connection reports it)."""

    def __init__(self, kind: str, base: str) -> None:
        self.kind, self.base = kind, base
        self.url = base.replace("http://", "ws://") + "/responses"

    async def open(self) -> None:
        kind, base = self.kind, self.base
        if kind in ("sk-sse", "sk-ws"):
            import streamkit as sk

            self.text_delta = sk.TextDelta
            self.client = sk.AsyncStreamingClient(
                base_url=base, api_key="sk-bench", provider="openai-responses"
            )
        elif kind in ("openai-sse", "openai-ws"):
            import openai

            self.oa = openai.AsyncOpenAI(api_key="sk-bench", base_url=base, max_retries=0)
        elif kind == "httpx-ws-raw":
            import httpx
            import httpx_ws

            self.aconnect_ws = httpx_ws.aconnect_ws
            self.http = httpx.AsyncClient()
        elif kind == "ws-raw":
            from websockets.asyncio.client import connect

            self.ws_connect = connect

    async def aclose(self) -> None:
        for name in ("client", "oa", "http"):
            obj = getattr(self, name, None)
            if obj is not None:
                await (obj.aclose() if name != "oa" else obj.close())

    async def run(self, sc: Scenario, sinks: list[Sink]) -> None:
        if self.kind in ("sk-sse", "openai-sse"):
            await self._sse(sc, sinks)
        elif self.kind == "sk-ws":
            await self._sk_ws(sc, sinks)
        elif self.kind == "openai-ws":
            await self._openai_ws(sc, sinks)
        else:
            await self._raw_ws(sc, sinks)

    async def _sse(self, sc: Scenario, sinks: list[Sink]) -> None:
        """``sc.streams`` tasks, each ``sc.sequential`` streams one after another."""
        one: Callable[[Sink], Awaitable[None]]
        if self.kind == "sk-sse":
            client, text_delta = self.client, self.text_delta

            async def one(sink: Sink) -> None:
                append = sink.append
                async with client.stream(model=MODEL, messages=MESSAGES) as stream:
                    async for event in stream:
                        if type(event) is text_delta:
                            append((mono(), event.text))
                assert stream.result.usage is not None

        else:
            oa = self.oa

            async def one(sink: Sink) -> None:
                append = sink.append
                stream = await oa.responses.create(model=MODEL, input=PROMPT, stream=True)
                async for event in stream:
                    if event.type == "response.output_text.delta":
                        append((mono(), event.delta))

        async def worker() -> None:
            for _ in range(sc.sequential):
                sink: Sink = []
                sinks.append(sink)
                await one(sink)

        await asyncio.gather(*(worker() for _ in range(sc.streams)))

    async def _sk_ws(self, sc: Scenario, sinks: list[Sink]) -> None:
        """One streamkit connection: a task per lane, each ``sc.sequential`` streams in turn."""
        text_delta = self.text_delta
        async with self.client.connect() as conn:

            async def worker(lane: str | None) -> None:
                for _ in range(sc.sequential):
                    sink: Sink = []
                    sinks.append(sink)
                    append = sink.append
                    async with conn.stream(model=MODEL, input=PROMPT, lane=lane) as stream:
                        async for event in stream:
                            if type(event) is text_delta:
                                append((mono(), event.text))
                    assert stream.result.usage is not None

            await asyncio.gather(*(worker(lane) for lane in _lanes(sc)))
            self.sockets = conn.sockets_opened

    async def _openai_ws(self, sc: Scenario, sinks: list[Sink]) -> None:
        """One socket, one reader: a ``response.create`` per lane, the raw events routed by
        ``stream_id`` until every lane's ``response.completed``; ``sc.sequential`` times."""
        lanes = _lanes(sc)
        async with self.oa.responses.connect() as conn:
            for _ in range(sc.sequential):
                by_lane: dict[str | None, Sink] = {}
                for lane in lanes:
                    sinks.append(by_lane.setdefault(lane, []))
                    if lane is None:
                        await conn.response.create(model=MODEL, input=PROMPT)
                    else:
                        await conn.response.create(model=MODEL, input=PROMPT, stream_id=lane)
                pending = len(lanes)
                while pending:
                    event = await conn.recv()
                    kind = event.type
                    if kind == "response.output_text.delta":
                        by_lane[getattr(event, "stream_id", None)].append((mono(), event.delta))
                    elif kind == "response.completed":
                        pending -= 1
                    elif kind == "error":
                        raise RuntimeError(f"openai-ws: {event}")
        self.sockets = 1

    async def _raw_ws(self, sc: Scenario, sinks: list[Sink]) -> None:
        """As :meth:`_openai_ws`, on the bare library, ``json.loads`` of every message."""
        lanes = _lanes(sc)
        loads = json.loads
        if self.kind == "ws-raw":
            connection = self.ws_connect(self.url)
        else:
            connection = self.aconnect_ws(self.url, self.http)
        async with connection as ws:
            if self.kind == "ws-raw":
                send, recv = ws.send, ws.recv
            else:
                send, recv = ws.send_text, ws.receive_text
            for _ in range(sc.sequential):
                by_lane: dict[str | None, Sink] = {}
                for lane in lanes:
                    sinks.append(by_lane.setdefault(lane, []))
                    await send(_create(lane))
                pending = len(lanes)
                while pending:
                    d = loads(await recv())
                    t = d["type"]
                    if t == "response.output_text.delta":
                        by_lane[d.get("stream_id")].append((mono(), d["delta"]))
                    elif t == "response.completed":
                        pending -= 1
        self.sockets = 1


async def run_scenario(kind: str, port: int, sc: Scenario, timed: Any = None) -> list[Sink]:
    """Run ``sc`` with a fresh :class:`Runner`; ``timed`` wraps only its :meth:`~Runner.run`."""
    runner = Runner(kind, f"http://{HOST}:{port}/n{sc.events}/p{sc.pace_us}/v1")
    await runner.open()
    sinks: list[Sink] = []
    try:
        if timed is None:
            await runner.run(sc, sinks)
        else:
            with timed:
                await runner.run(sc, sinks)
                timed.sockets = runner.sockets
    finally:
        await runner.aclose()
    return sinks


class Timed:
    """CPU and wall time of the block (and, around it, the server's CPU)."""

    sockets = 0

    def __init__(self, port: int, profile: bool) -> None:
        self.port = port
        self.profiler: Any = None
        if profile:
            import cProfile

            self.profiler = cProfile.Profile()

    def __enter__(self) -> Timed:
        gc.collect()
        self.server = server_cpu_s(self.port)
        if self.profiler is not None:
            self.profiler.enable()
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall
        if self.profiler is not None:
            self.profiler.disable()
        self.server = server_cpu_s(self.port) - self.server


def server_cpu_s(port: int) -> float:
    """The server process's CPU seconds so far (``GET /cpu``, a blocking socket, untimed)."""
    with socket.create_connection((HOST, port)) as s:
        s.sendall(b"GET /cpu HTTP/1.1\r\nHost: bench\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
            data += s.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head)[1])  # type: ignore[index]
        while len(body) < length:
            body += s.recv(4096)
    return float(body)


def _percentile(values: list[int], q: float) -> float:
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))]) if s else float("nan")


def client_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then every scenario: CPU and wall time; then check texts, compute delays."""
    kind, port = spec["kind"], spec["port"]
    scenarios = [Scenario(**s) for s in spec["scenarios"]]
    expected: dict[str, str] = spec["expected"]  # n -> sha256 of the transcript's text
    out: dict[str, Any] = {"kind": kind, "results": []}

    async def main() -> None:
        await run_scenario(kind, port, Scenario("warm-up", 2, 2, 20, 0))
        for sc in scenarios:
            timed = Timed(port, bool(spec.get("profile")))
            sinks = await run_scenario(kind, port, sc, timed)
            if timed.profiler is not None:
                out["profile"] = _profile_text(timed.profiler, spec.get("profile_top", 25))
            if len(sinks) != sc.streams * sc.sequential or any(len(s) != sc.events for s in sinks):
                got = sorted({len(s) for s in sinks})
                raise AssertionError(f"{kind} {sc.name}: {len(sinks)} streams, deltas {got}")
            delays: list[int] = []
            if sc.pace_us:
                delays = [now - int(text) for sink in sinks for now, text in sink]
            else:
                want = expected[str(sc.events)]
                for sink in sinks:
                    text = "".join(t for _, t in sink)
                    if hashlib.sha256(text.encode()).hexdigest() != want:
                        raise AssertionError(f"{kind} {sc.name}: the text differs")
            out["results"].append(
                {
                    "name": sc.name,
                    "cpu_s": timed.cpu,
                    "server_cpu_s": timed.server,
                    "wall_s": timed.wall,
                    "sockets": timed.sockets,
                    "events": sc.wire_events,
                    "p50_ns": _percentile(delays, 0.50),
                    "p99_ns": _percentile(delays, 0.99),
                }
            )

    asyncio.run(main())
    return out


def _profile_text(profiler: Any, top: int) -> str:
    import io
    import pstats

    out = []
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(order).print_stats(top)
        text = buf.getvalue()
        total = re.search(r"(\d+) function calls.* in ([\d.]+) seconds", text)
        out.append(f"sorted by {order}" + (f" ({total[0]})" if total else ""))
        out.append(text[text.find("   ncalls") :].rstrip() if "   ncalls" in text else text)
        out.append("")
    return "\n".join(out)


# ---- the benchmark (the parent process) ---------------------------------------------------


class Server:
    """The server role in a child process (its own GIL, core and CPU accounting)."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes

    def __enter__(self) -> Server:
        sizes = ",".join(map(str, self.sizes))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--role", "server", "--sizes", sizes],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_client(spec: dict[str, Any]) -> dict[str, Any] | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--role", "client", "--spec", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=300,
    )
    if proc.returncode != 0:  # a competitor that broke: say so, keep the others' rows
        log(f"    client {spec['kind']} FAILED, left out of this round:\n{proc.stderr[-3000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@dataclass
class Cell:
    eps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    server_us: list[float] = field(default_factory=list)
    sockets: list[int] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)


def _m(values: list[float], fmt: str, spread: bool = True) -> str:
    if not values:
        return "-"
    med = fmt.format(statistics.median(values))
    if not spread or len(values) < 2:
        return med
    return f"{med} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    kinds: list[str],
    cells: dict[tuple[str, str], Cell],
    profiles: dict[str, str],
    load0: tuple[float, float, float],
    took: float,
) -> str:
    load1 = os.getloadavg()

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    versions = ", ".join(
        f"{d} {version(d)}" for d in ("streamkit", "openai", "websockets", "httpx-ws", "wsproto")
    )
    lines = [
        f"- Command: `{args.command}`; took {took:.0f} s; {args.rounds} rounds, each competitor"
        " in a fresh process per round, order alternating; median (min-max) over rounds",
        f"- {os.cpu_count()} cores; load average {load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}"
        f" at the start, {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f} at the end;"
        f" Python {platform.python_version()}; {versions}",
        "- CPU µs per event: the client process's CPU (`time.process_time`) / events on the"
        " wire; events/s: events on the wire / wall time; delay: server write → the user's"
        " event (one CLOCK_MONOTONIC); paced, events/s is the offered rate (every event"
        " arrived). Server and client each have a core; opening the socket or HTTP"
        " connection is timed, making the client objects is not.",
    ]
    for sc in scenarios:
        lines += ["", f"### {sc.title}", ""]
        floor = cells.get((FLOOR, sc.name))
        floor_cpu = statistics.median(floor.cpu_us) if floor and floor.cpu_us else None
        head = (
            "| client | transport | events/s | CPU µs per event | CPU x floor"
            " | server CPU µs per event |"
        )
        rule = "|:---|:---|---:|---:|---:|---:|"
        if sc.pace_us:
            head += " p50 delay | p99 delay |"
            rule += "---:|---:|"
        lines += [head, rule]
        for kind in kinds:
            cell = cells.get((kind, sc.name))
            if cell is None or not cell.cpu_us:
                continue
            label, transport, _ = KINDS[kind]
            ratio = (
                f"{statistics.median(cell.cpu_us) / floor_cpu:.2f}"
                if floor_cpu and kind != FLOOR
                else ("1" if kind == FLOOR else "-")
            )
            row = (
                f"| {label} | {transport} | {_m(cell.eps, '{:,.0f}')}"
                f" | {_m(cell.cpu_us, '{:.1f}')} | {ratio}"
                f" | {_m(cell.server_us, '{:.1f}', spread=False)} |"
            )
            if sc.pace_us:
                row += f" {_m(cell.p50_ms, '{:.2f} ms')} | {_m(cell.p99_ms, '{:.2f} ms')} |"
            lines.append(row)
        for kind in kinds:
            cell = cells.get((kind, sc.name))
            if cell is not None and max(cell.sockets, default=0) > 1:
                lines.append(
                    f"\n{KINDS[kind][0]} opened {', '.join(map(str, cell.sockets))} WebSockets"
                    " in this scenario (one per round), where one would do."
                )
    for kind, text in profiles.items():
        lines += [
            "",
            f"### cProfile: {KINDS[kind][0]}, {scenarios[0].title}",
            "",
            "```",
            text.rstrip(),
            "```",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="bench", choices=["bench", "server", "client"])
    parser.add_argument("--spec", default="", help="(client role) the JSON spec")
    parser.add_argument("--sizes", default="", help="(server role) burst transcripts to make")
    parser.add_argument("--quick", action="store_true", help="smaller scenarios, 2 rounds")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 3, quick 2)")
    parser.add_argument("--kinds", default="", help=f"comma-separated, of {','.join(KINDS)}")
    parser.add_argument("--only", default="", help="comma-separated scenarios: burst-1, ...")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile sk-ws and sk-sse on burst-1"
    )
    parser.add_argument("--out", default="-", help="where to write the Markdown report")
    args = parser.parse_args(argv)
    if args.role == "server":
        asyncio.run(server_main([int(n) for n in args.sizes.split(",") if n]))
        return 0
    if args.role == "client":
        print(json.dumps(client_main(json.loads(args.spec))))
        return 0

    args.command = "python benchmarks/ws_bench.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    args.command = args.command.rstrip()
    args.rounds = args.rounds or (2 if args.quick else 3)
    scenarios = plan(args.quick)
    if args.only:
        wanted = args.only.split(",")
        scenarios = [sc for sc in scenarios if sc.name in wanted]
    wanted_kinds = args.kinds.split(",") if args.kinds else list(KINDS)
    unknown = set(wanted_kinds) - set(KINDS)
    if unknown:
        raise SystemExit(f"unknown kinds {sorted(unknown)}; choose from {list(KINDS)}")
    kinds = [k for k in wanted_kinds if installed(k)]
    for k in set(wanted_kinds) - set(kinds):
        log(f"{k}: {', '.join(KINDS[k][2])} not installed, left out")

    from transcripts import responses_text

    expected = {
        str(sc.events): hashlib.sha256(responses_text(sc.events).text.encode()).hexdigest()
        for sc in scenarios
        if not sc.pace_us
    }
    load0 = os.getloadavg()
    began = time.monotonic()
    cells: dict[tuple[str, str], Cell] = {}
    profiles: dict[str, str] = {}
    spec_scenarios = [vars(sc) for sc in scenarios]
    with Server(sorted({sc.events for sc in scenarios if not sc.pace_us} | {20})) as server:
        for r in range(args.rounds):
            for kind in kinds if r % 2 == 0 else list(reversed(kinds)):
                log(f"{kind} (round {r + 1}/{args.rounds})")
                spec = {
                    "kind": kind,
                    "port": server.port,
                    "scenarios": spec_scenarios,
                    "expected": expected,
                }
                got = run_client(spec)
                if got is None:
                    continue
                for res in got["results"]:
                    cell = cells.setdefault((kind, res["name"]), Cell())
                    cell.eps.append(res["events"] / res["wall_s"])
                    cell.cpu_us.append(res["cpu_s"] / res["events"] * 1e6)
                    cell.server_us.append(res["server_cpu_s"] / res["events"] * 1e6)
                    cell.sockets.append(res["sockets"])
                    if res["p50_ns"] == res["p50_ns"]:  # not NaN: a paced scenario
                        cell.p50_ms.append(res["p50_ns"] / 1e6)
                        cell.p99_ms.append(res["p99_ns"] / 1e6)
                log(
                    "    "
                    + "; ".join(
                        f"{res['name']}: {res['events'] / res['wall_s']:,.0f} events/s,"
                        f" {res['cpu_s'] / res['events'] * 1e6:.1f} µs/event"
                        for res in got["results"]
                    )
                )
        if args.profile:
            for kind in ("sk-ws", "sk-sse"):
                if kind in kinds:
                    log(f"cProfile: {kind}")
                    spec = {
                        "kind": kind,
                        "port": server.port,
                        "scenarios": spec_scenarios[:1],
                        "expected": expected,
                        "profile": True,
                    }
                    got = run_client(spec)
                    if got is not None:
                        profiles[kind] = got.get("profile", "")
    text = report(args, scenarios, kinds, cells, profiles, load0, time.monotonic() - began)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
