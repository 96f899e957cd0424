"""The loopback server: a minimal, fast SSE server on 127.0.0.1, in its own process.

Run as ``python benchmarks/servers.py``: it binds 127.0.0.1 on an OS-assigned port,
prints the port on stdout and serves until stdin closes. Keeping it in another process
(out of the client's GIL and CPU accounting) means the client's cost is what is
measured; it uses asyncio's transport with hand-written HTTP/1.1 chunked framing, so it
costs a few microseconds per event, well under any client. :class:`ServerProcess` starts
and stops it from the benchmark.

Every request gets a stream configured by the path of its base URL:

* ``/n<N>``: content events (default 1000);
* ``/p<US>``: the pace, one event every ``US`` microseconds on an absolute schedule
  (no drift). ``p0`` (the default) is **burst** mode: events back to back, as fast as
  the socket takes them (yielding to other streams after each), so many events share a
  TCP segment and the client reads many at once.
* a path ending in ``/messages`` gets an Anthropic Messages stream (``message_start``,
  ``content_block_start``, ``ping``, N ``text_delta``s, ``content_block_stop``,
  ``message_delta``, ``message_stop``); any other an OpenAI ``chat.completion.chunk``
  stream (role, N content chunks, finish, usage, ``[DONE]``).

Each event is one HTTP chunk written with one ``write`` (so, paced, one ``send`` and
one TCP segment: ``TCP_NODELAY`` is set); the response head travels with the first
event and the terminating ``0`` chunk with the last. Each content event's text is
``" <time.monotonic_ns() at the write>"``: the client subtracts it from its own
``time.monotonic_ns()`` when the event reaches the user's code (same machine, same
CLOCK_MONOTONIC), which gives the delay from the server's write to the user's event.

``asyncio`` is used directly (not anyio) for the lowest server overhead.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - a standalone benchmark server process, see the docstring
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"  # never anything else
_N = re.compile(rb"/n(\d+)(?=/)")
_P = re.compile(rb"/p(\d+)(?=/)")

_CID = "chatcmpl-LOOPBACKq3ZrT8vLmN2pKxYz7w"
_HEAD = (
    '{"id":"' + _CID + '","object":"chat.completion.chunk","created":1767225600,'
    '"model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_b3f1157249","choices":'
    '[{"index":0,"delta":'
)
_TAIL = ',"logprobs":null,"finish_reason":FINISH}]}'


def _chat(delta: dict[str, object], finish: str | None = None) -> bytes:
    payload = (
        _HEAD
        + json.dumps(delta, separators=(",", ":"))
        + _TAIL.replace("FINISH", json.dumps(finish))
    )
    return f"data: {payload}\n\n".encode()


def _chat_tail(n: int) -> list[bytes]:
    usage = {
        "prompt_tokens": 42,
        "completion_tokens": n,
        "total_tokens": 42 + n,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    usage_chunk = _HEAD.split(',"choices"')[0] + ',"choices":[],"usage":' + json.dumps(usage) + "}"
    return [_chat({}, "stop"), f"data: {usage_chunk}\n\n".encode(), b"data: [DONE]\n\n"]


def _anthropic(name: str, payload: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


_MESSAGE = {
    "id": "msg_01LOOPBACKq3ZrT8vLmN2pKx",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 42, "output_tokens": 1},
}


@dataclass(frozen=True)
class _Shape:
    """The events of one dialect: head, one content event per stamp, tail."""

    head: list[bytes]
    prefix: bytes
    """A content event up to its text."""
    suffix: bytes
    """A content event after its text."""
    tail: Callable[[int], list[bytes]]
    """The closing events, given the number of content events."""


_CHAT = _Shape(
    head=[_chat({"role": "assistant", "content": "", "refusal": None})],
    prefix=f'data: {_HEAD}{{"content":" '.encode(),
    suffix=('"}' + _TAIL.replace("FINISH", "null") + "\n\n").encode(),
    tail=_chat_tail,
)
_ANTHROPIC = _Shape(
    head=[
        _anthropic("message_start", {"type": "message_start", "message": _MESSAGE}),
        _anthropic(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _anthropic("ping", {"type": "ping"}),
    ],
    prefix=(
        b"event: content_block_delta\ndata: "
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" '
    ),
    suffix=b'"}}\n\n',
    tail=lambda n: [
        _anthropic("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _anthropic(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
        ),
        _anthropic("message_stop", {"type": "message_stop"}),
    ],
)

_RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
    b"x-request-id: req_loopback\r\n"
    b"\r\n"
)


def wire_events(n: int, anthropic: bool = False) -> int:
    """SSE events on the wire for ``n`` content events."""
    return n + (6 if anthropic else 4)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    loop = asyncio.get_running_loop()
    monotonic_ns = time.monotonic_ns
    write = writer.write
    try:
        while True:  # keep-alive: one request after another
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            target = head.split(b" ", 2)[1].split(b"?")[0]
            m = _N.search(target)
            n = int(m.group(1)) if m else 1000
            m = _P.search(target)
            pace = int(m.group(1)) / 1e6 if m else 0.0
            shape = _ANTHROPIC if target.endswith(b"/messages") else _CHAT
            prefix, suffix = shape.prefix, shape.suffix
            fixed_head, fixed_tail = shape.head, shape.tail(n)
            total = len(fixed_head) + n + len(fixed_tail)
            start = loop.time()
            for i in range(total):
                if i < len(fixed_head):
                    event = fixed_head[i]
                elif i < len(fixed_head) + n:
                    event = b"%s%d%s" % (prefix, monotonic_ns(), suffix)
                else:
                    event = fixed_tail[i - len(fixed_head) - n]
                frame = _chunked(event)
                if i == 0:
                    frame = _RESPONSE_HEAD + frame
                if i == total - 1:
                    frame += b"0\r\n\r\n"
                write(frame)
                await writer.drain()  # back-pressure from a slow client
                if pace:
                    delay = start + (i + 1) * pace - loop.time()
                    await asyncio.sleep(delay if delay > 0 else 0)
                else:
                    await asyncio.sleep(0)  # let the other streams write too
    except ConnectionError:
        return
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve_one, HOST, 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    # serve until the parent closes our stdin (or terminates us)
    await loop.run_in_executor(None, sys.stdin.read)
    sys.stdout.flush()
    os._exit(0)  # streams in flight just end with the process


class ServerProcess:
    """This module's server in a child process (its own GIL, core and CPU accounting)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
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

    def base_url(self, chunks: int, pace_us: int = 0, *, v1: bool = True) -> str:
        """The base URL of a stream of ``chunks`` content events, one per ``pace_us`` µs."""
        url = f"http://{HOST}:{self.port}/n{chunks}/p{pace_us}"
        return url + "/v1" if v1 else url


if __name__ == "__main__":
    asyncio.run(_main())
