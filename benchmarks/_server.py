"""A minimal, fast OpenAI-style streaming server for the loopback benchmarks.

Run as its own process (``python benchmarks/_server.py``): it binds 127.0.0.1 on an
OS-assigned port, prints the port on stdout and serves until stdin closes or it is
terminated. Keeping the server in another process (and out of the client's GIL)
means the client's throughput is what is measured; the server uses the raw asyncio
transport with hand-written HTTP/1.1 chunked framing so that it costs a few
microseconds per event, well under any client.

Every request (any method, any path under ``.../v1/``) gets a
``chat.completion.chunk`` stream shaped like :mod:`_transcripts`' transcripts,
configured by path segments of the base URL:

* ``/n<N>``: content chunks (default 1000);
* ``/p<US>``: pause this many microseconds between events (default 0: as fast as
  the connection takes them, yielding to other streams after every event).

So ``base_url = f"http://127.0.0.1:{port}/n10000/p0/v1"``. Each content chunk's
text is ``" <time.monotonic_ns() at the write>"``: the client subtracts it from its
own ``time.monotonic_ns()`` when the event reaches it (same machine, same clock),
which gives the delay from the server's write to the client's event.

``asyncio`` is used directly here (not anyio) for the lowest server overhead; the
benchmark clients themselves run on anyio.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - a standalone benchmark server process, see the docstring
import json
import os
import re
import socket
import sys
import time

_HOST = "127.0.0.1"  # never anything else
_CID = "chatcmpl-LOOPBACKq3ZrT8vLmN2pKxYz7w"
_HEAD = (
    '{"id":"' + _CID + '","object":"chat.completion.chunk","created":1767225600,'
    '"model":"gpt-4.1-2025-04-14","system_fingerprint":"fp_b3f1157249","choices":'
    '[{"index":0,"delta":'
)
_TAIL = ',"logprobs":null,"finish_reason":FINISH}]}'
_N = re.compile(rb"/n(\d+)(?=/)")
_P = re.compile(rb"/p(\d+)(?=/)")


def _frame(payload: str) -> bytes:
    data = f"data: {payload}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(delta: dict[str, object], finish: str | None = None) -> str:
    return (
        _HEAD
        + json.dumps(delta, separators=(",", ":"))
        + _TAIL.replace("FINISH", json.dumps(finish))
    )


_ROLE = _frame(_chunk({"role": "assistant", "content": "", "refusal": None}))
_CONTENT_PREFIX = f'data: {_HEAD}{{"content":" '.encode()
_CONTENT_SUFFIX = ('"}' + _TAIL.replace("FINISH", "null") + "\n\n").encode()


def _tail(n: int) -> bytes:
    usage = {
        "prompt_tokens": 42,
        "completion_tokens": n,
        "total_tokens": 42 + n,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    usage_chunk = _HEAD.split(',"choices"')[0] + ',"choices":[],"usage":' + json.dumps(usage) + "}"
    return _frame(_chunk({}, "stop")) + _frame(usage_chunk) + _frame("[DONE]") + b"0\r\n\r\n"


_RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
    b"x-request-id: req_loopback\r\n"
    b"\r\n"
)


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    monotonic_ns = time.monotonic_ns
    write = writer.write
    prefix, suffix = _CONTENT_PREFIX, _CONTENT_SUFFIX
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
            target = head.split(b" ", 2)[1]
            m = _N.search(target)
            n = int(m.group(1)) if m else 1000
            m = _P.search(target)
            pause = int(m.group(1)) / 1e6 if m else 0.0
            write(_RESPONSE_HEAD + _ROLE)
            for _ in range(n):
                data = b"%s%d%s" % (prefix, monotonic_ns(), suffix)
                write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()  # back-pressure from a slow client
                await asyncio.sleep(pause)  # 0: let the other streams write too
            write(_tail(n))
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve_one, _HOST, 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    # serve until the parent closes our stdin (or terminates us)
    await loop.run_in_executor(None, sys.stdin.read)
    sys.stdout.flush()
    os._exit(0)  # streams in flight just end with the process


if __name__ == "__main__":
    asyncio.run(_main())
