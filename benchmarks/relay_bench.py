"""Relay benchmark (issue #15, item 6): many SSE clients on one relay worker.

    python benchmarks/relay_bench.py         # 1,000 clients; memory, redis, sse-starlette
    python benchmarks/relay_bench.py --clients 100,300 --seconds 15 --modes memory
    make bench-relay

Three processes besides Redis, all on 127.0.0.1:

- an **upstream** that answers every request with an OpenAI chat-completions stream paced
  at ``--rate`` events per second (30 by default); each text delta carries the
  ``time.monotonic()`` at which it was written (CLOCK_MONOTONIC: one clock for every
  process of the machine);
- one **relay worker** (uvicorn, one process) running one of the modes below; its CPU time
  and RSS are what "per connection" divides;
- the **clients** (this process): ``--clients`` raw TCP connections, each POSTing
  ``/chat`` with ``Accept: text/event-stream`` and reading the stream to its end, started
  evenly over a ramp; each text event's delay is its arrival time minus its upstream
  write time.

Modes:

- ``memory``: ``streamkit.relay.Relay`` with ``MemoryStore`` (the default);
- ``redis``: ``Relay`` with ``RedisStore`` on a redis-server started here (its CPU is
  reported apart);
- ``sse-starlette``: the bare relay people write by hand: the same
  ``AsyncStreamingClient`` upstream, each text delta yielded to sse-starlette's
  ``EventSourceResponse`` (no store, no resume, no auth).

Statistics cover a steady window: after every client has connected plus 2 s, for
``--window`` seconds. Delays are of events written upstream inside the window.
"Delivered" compares the events received in the window with the ``clients x rate``
offered: below ~98 % the worker is saturated and the delays only measure its backlog.

Needs the dev extras plus ``pip install -e '.[bench]'`` (sse-starlette, psutil) and, for
``redis``, a ``redis-server`` executable. Prints a Markdown report (``--out`` to write it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
MODES = ("memory", "redis", "sse-starlette")
CHUNK_PREFIX = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,'
    b'"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"'
)
CHUNK_SUFFIX = b'|"},"finish_reason":null}]}\n\n'
STREAM_END = (
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,'
    b'"model":"gpt-4.1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,'
    b'"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,'
    b'"total_tokens":14}}\n\n'
    b"data: [DONE]\n\n"
)
STAMP = re.compile(rb'"text":"(\d+\.\d+)\|"')
REQUEST = (
    b"POST /chat HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)


def chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


# --- the upstream (its own process) ------------------------------------------------------


async def upstream_main(rate: float, events: int) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0, backlog=4096)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    print(f"PORT {port}", flush=True)
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += await stream.receive()
                request_head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", request_head)
                while length and len(body) < int(length[1]):
                    body += await stream.receive()
                await stream.send(head)
                start = time.monotonic()
                for i in range(events):
                    await anyio.sleep_until(start + i / rate)
                    stamp = b"%.6f" % time.monotonic()
                    await stream.send(chunk(CHUNK_PREFIX + stamp + CHUNK_SUFFIX))
                await stream.send(chunk(STREAM_END) + b"0\r\n\r\n")
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                pass

    await listener.serve(handle)


# --- the relay worker (its own process) ------------------------------------------------------


def relay_app(mode: str, upstream: str, redis_url: str | None) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import streamkit as sk

    client = sk.AsyncStreamingClient(base_url=upstream, api_key="bench")
    messages = [{"role": "user", "content": "Hi"}]

    async def health(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    if mode == "sse-starlette":
        from sse_starlette.sse import EventSourceResponse

        async def chat(request: Any) -> Any:
            await request.body()

            async def events() -> AsyncIterator[dict[str, str]]:
                n = 0
                async with client.stream(model="gpt-4.1", messages=messages) as stream:
                    async for event in stream:
                        if isinstance(event, sk.TextDelta):
                            n += 1
                            data = json.dumps({"text": event.text}, separators=(",", ":"))
                            yield {"id": str(n), "event": "text", "data": data}
                yield {"event": "done", "data": "{}"}

            return EventSourceResponse(events(), ping=15)

        @asynccontextmanager
        async def bare_lifespan(app: Any) -> AsyncIterator[None]:
            async with client:
                yield

        routes = [Route("/health", health), Route("/chat", chat, methods=["POST"])]
        return Starlette(routes=routes, lifespan=bare_lifespan)

    from streamkit.relay import MemoryStore, RedisStore, Relay, Store

    async def start(call: Any) -> Any:
        await call.json()
        return client.stream(model="gpt-4.1", messages=messages)

    store: Store = RedisStore(redis_url) if mode == "redis" else MemoryStore()  # type: ignore[arg-type]
    relay = Relay(start, store=store)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with client, relay:
            yield

    return Starlette(routes=[Route("/health", health), *relay.routes("/chat")], lifespan=lifespan)


def relay_main(fd: int, mode: str, upstream: str, redis_url: str | None) -> None:
    import uvicorn

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        relay_app(mode, upstream, redis_url),
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=[sock])


# --- the clients and the measurement (this process) ---------------------------------------------


@dataclass
class Run:
    mode: str
    clients: int
    rate: float
    events: int
    window: tuple[float, float] = (0.0, 0.0)
    samples: list[tuple[float, float]] = field(default_factory=list)
    """(upstream write time, arrival time) of every text event."""
    finished: int = 0
    failed: int = 0
    cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    rss_idle: int = 0
    rss_steady: int = 0


async def one_client(port: int, run: Run) -> None:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        run.failed += 1
        return
    samples = run.samples
    async with stream:
        await stream.send(REQUEST)
        buffer = b""
        while True:
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                run.failed += 1
                return
            now = time.monotonic()
            buffer += data
            end = 0
            for match in STAMP.finditer(buffer):
                samples.append((float(match[1]), now))
                end = match.end()
            if b"event: done" in buffer:
                run.finished += 1
                return
            buffer = buffer[end:] if end else buffer[-200:]


def spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    import redis

    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [
        executable,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()
    return process, f"redis://127.0.0.1:{port}/0"


def start_worker(mode: str, upstream: str, redis_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """A relay worker process on a socket bound here (requests wait in its backlog)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    command = [sys.executable, __file__, "--role", "relay", "--fd", str(fd), "--mode", mode]
    command += ["--upstream", upstream, "--redis-url", redis_url]
    worker = subprocess.Popen(command, pass_fds=[fd], env=env, cwd=ROOT)
    listener.close()
    return worker, port


async def measure(
    run: Run,
    worker: subprocess.Popen[bytes],
    port: int,
    redis: tuple[Any, str] | None,
    ramp_s: float,
    window_s: float,
) -> None:
    import httpx
    import psutil

    process = psutil.Process(worker.pid)
    redis_process = psutil.Process(redis[0].pid) if redis else None
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        await anyio.sleep(0.5)
        run.rss_idle = process.memory_info().rss
        async with anyio.create_task_group() as group:
            # a saturated worker may need far longer than the streams last: stop waiting
            # for stragglers once the window is measured and the streams should be over
            group.cancel_scope.deadline = anyio.current_time() + run.events / run.rate + 15
            began = time.monotonic()
            for i in range(run.clients):
                await anyio.sleep_until(began + ramp_s * i / run.clients)
                group.start_soon(one_client, port, run)
            await anyio.sleep_until(began + ramp_s + 2)
            cpu0, redis0, t0 = sum(process.cpu_times()[:2]), _cpu(redis_process), time.monotonic()
            rss = []
            while time.monotonic() < t0 + window_s:
                await anyio.sleep(0.5)
                rss.append(process.memory_info().rss)
            cpu1, redis1, t1 = sum(process.cpu_times()[:2]), _cpu(redis_process), time.monotonic()
            run.window = (t0, t1)
            run.cpu_s = cpu1 - cpu0
            run.redis_cpu_s = redis1 - redis0
            run.rss_steady = sorted(rss)[len(rss) // 2]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def _cpu(process: Any) -> float:
    return 0.0 if process is None else float(sum(process.cpu_times()[:2]))


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(run: Run) -> dict[str, Any]:
    t0, t1 = run.window
    seconds = t1 - t0
    delays = [(arrived - sent) * 1000 for sent, arrived in run.samples if t0 <= sent < t1]
    received = sum(1 for _, arrived in run.samples if t0 <= arrived < t1)
    offered = run.clients * run.rate * seconds
    return {
        "mode": run.mode,
        "clients": run.clients,
        "p50_ms": quantile(delays, 0.50),
        "p99_ms": quantile(delays, 0.99),
        "max_ms": max(delays, default=float("nan")),
        "delivered": received / offered if offered else float("nan"),
        "cpu_core": run.cpu_s / seconds,
        "cpu_per_conn_pct": 100 * run.cpu_s / seconds / run.clients,
        "cpu_us_per_event": 1e6 * run.cpu_s / received if received else float("nan"),
        "rss_per_conn_kib": (run.rss_steady - run.rss_idle) / run.clients / 1024,
        "rss_mib": run.rss_steady / 2**20,
        "redis_core": run.redis_cpu_s / seconds,
        "finished": run.finished,
        "failed": run.failed,
    }


def report(rows: list[dict[str, Any]], args: argparse.Namespace, took: float) -> str:
    load = os.getloadavg()
    lines = [
        f"- Command: `python benchmarks/relay_bench.py --clients {args.clients}"
        f" --rate {args.rate:g} --seconds {args.seconds:g} --window {args.window:g}"
        f" --modes {','.join(args.modes)}`; took {took:.0f} s",
        f"- {os.cpu_count()} cores; load average at the end {load[0]:.2f} / {load[1]:.2f} /"
        f" {load[2]:.2f}; Python {platform.python_version()}; uvicorn (h11), one worker process",
        "- Delay: upstream write → client read of the same text event (one monotonic clock);"
        " CPU and RSS are the relay worker's (Redis's CPU apart); RSS per connection ="
        " (steady RSS - idle RSS) / clients, stored events included.",
        "",
        "| mode | clients | p50 delay | p99 delay | delivered | worker CPU | CPU per connection"
        " | CPU per event | RSS per connection | worker RSS | redis-server CPU |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        redis_cpu = f"{100 * r['redis_core']:.0f} %" if r["mode"] == "redis" else "-"
        lines.append(
            f"| {r['mode']} | {r['clients']:,} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms"
            f" | {100 * r['delivered']:.0f} % | {100 * r['cpu_core']:.0f} % of a core"
            f" | {r['cpu_per_conn_pct']:.3f} % | {r['cpu_us_per_event']:.0f} µs"
            f" | {r['rss_per_conn_kib']:.0f} KiB | {r['rss_mib']:.0f} MiB | {redis_cpu} |"
        )
    incomplete = [r for r in rows if r["failed"] or r["finished"] < r["clients"]]
    for r in incomplete:
        lines.append(
            f"\n{r['mode']} at {r['clients']}: {r['finished']} streams finished,"
            f" {r['failed']} connections failed."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="bench", choices=["bench", "upstream", "relay"])
    parser.add_argument("--clients", default="1000", help="comma-separated counts")
    parser.add_argument("--rate", type=float, default=30.0, help="events per second per stream")
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="stream length (0: ramp + window + 6)"
    )
    parser.add_argument("--window", type=float, default=10.0, help="steady window, seconds")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--out", default="-", help="where to write the Markdown report")
    parser.add_argument("--fd", type=int, default=-1)
    parser.add_argument("--mode", default="memory")
    parser.add_argument("--upstream", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--events", type=int, default=0)
    args = parser.parse_args(argv)
    if args.role == "upstream":
        anyio.run(upstream_main, args.rate, args.events)
        return 0
    if args.role == "relay":
        relay_main(args.fd, args.mode, args.upstream, args.redis_url or None)
        return 0
    counts = [int(c) for c in args.clients.split(",")]
    args.modes = [m for m in args.modes.split(",") if m]
    unknown = set(args.modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {MODES}")
    began = time.monotonic()
    rows = []
    redis = start_redis() if "redis" in args.modes else None
    try:
        for clients in counts:
            ramp_s = max(1.0, clients / 400)
            seconds = args.seconds or ramp_s + args.window + 6
            events = int(seconds * args.rate)
            upstream = spawn(
                "--role", "upstream", "--rate", str(args.rate), "--events", str(events)
            )
            try:
                assert upstream.stdout is not None
                port = int(upstream.stdout.readline().split()[1])
                for mode in args.modes:
                    print(f"{mode} x {clients} ...", file=sys.stderr, flush=True)
                    if redis:
                        import redis as redis_lib

                        redis_lib.Redis.from_url(redis[1]).flushall()
                    run = Run(mode, clients, args.rate, events)
                    url = f"http://127.0.0.1:{port}/v1"
                    worker, relay_port = start_worker(mode, url, redis[1] if redis else "")
                    anyio.run(measure, run, worker, relay_port, redis, ramp_s, args.window)
                    rows.append(row(run))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            finally:
                upstream.terminate()
                upstream.wait(10)
    finally:
        if redis:
            redis[0].terminate()
            redis[0].wait(10)
    text = report(rows, args, time.monotonic() - began)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
