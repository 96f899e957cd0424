"""The loopback clients: real sockets to :mod:`servers` on 127.0.0.1.

Two kinds of rows:

* **Burst** (``burst_single``, ``burst_concurrent``): the server writes events back to
  back, so a client's read usually returns many events at once. This measures the
  parse path under a saturated socket; it is not what an LLM stream looks like.
* **Realistic framing** (``realistic``): the server writes ONE event per TCP write,
  paced (100 streams x 50 events/s, and 1 stream at one event per ms). Each competitor
  runs in a fresh client process of its own (``python benchmarks/loopback.py client
  SPEC``), separate from the server, and reports its own process CPU time
  (``time.process_time``, all threads) over the streaming, so the figure is the
  client's CPU per event; and the delay from the server's write to the user's event
  (CLOCK_MONOTONIC, shared by both processes), p50 and p99 over every content event.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - the raw-asyncio limit row uses asyncio streams directly
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":  # a client process: import this checkout's streamkit
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent / "src"))

import anyio  # noqa: E402
import httpx  # noqa: E402
from harness import frozen_heap, log, percentile  # noqa: E402
from servers import HOST, ServerProcess, wire_events  # noqa: E402

# The peers (and streamkit) are imported where they are used, so that a realistic-framing
# client process imports only its own competitor's library.


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


MODEL = "gpt-4.1"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
MESSAGES = [{"role": "user", "content": "Write a long answer."}]
_BODY = {"model": MODEL, "messages": MESSAGES, "stream": True}
_ANTHROPIC_BODY = {"model": ANTHROPIC_MODEL, "max_tokens": 4096, "messages": MESSAGES}
mono = time.monotonic_ns


def _sdk_httpx(sdk: Any) -> Any:
    base = sys.modules.get(f"{sdk.__name__}._base_client")
    if base is not None and hasattr(base, "httpx2"):
        import httpx2

        return httpx2
    return httpx


def _chat_text(d: dict[str, Any]) -> str | None:
    choices = d["choices"]
    return choices[0]["delta"].get("content") if choices else None


def _split_json(buf: bytearray, delays: list[int], anthropic_shape: bool = False) -> bytearray:
    """Split complete events off ``buf``, ``json.loads`` each, stamp the content ones."""
    events = buf.split(b"\n\n")
    rest = events.pop()
    now = mono()
    for ev in events:
        payload = ev[ev.find(b"data: ") + 6 :]
        if payload == b"[DONE]":
            continue
        d = json.loads(payload)
        if anthropic_shape:
            if d["type"] == "content_block_delta":
                delays.append(now - int(d["delta"]["text"]))
        elif (text := _chat_text(d)) is not None and text:
            delays.append(now - int(text))
    return bytearray(rest)


# ---- burst: one stream, sync clients -----------------------------------------------------------


@dataclass
class StreamRun:
    """One loopback measurement: wall time, events and write→event delays (ns)."""

    wall_s: float
    events: int
    delays_ns: list[int]

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s


BURST_LABELS = {
    "httpx-bytes": "raw httpx, iter_bytes only (transport floor)",
    "httpx-json": "raw httpx + split + json.loads",
    "httpx-sse": "httpx-sse + json.loads",
    "openai": "openai create(stream=True)",
    "sk-client": "**streamkit StreamingClient** (defaults: its own httpx.Client)",
    "sk-client-given": "**streamkit StreamingClient**, http_client=httpx.Client()",
    "sk-async": "**streamkit AsyncStreamingClient** (defaults: its own httpx clients)",
    "openai-async": "openai AsyncOpenAI create(stream=True) (one client)",
    "httpx-async": "raw httpx.AsyncClient (shared) + split + json.loads",
}


def _burst_sync_runs(server: ServerProcess, chunks: int) -> dict[str, Callable[[], StreamRun]]:
    import streamkit as sk

    base = server.base_url(chunks)
    url = base + "/chat/completions"
    events = wire_events(chunks)
    perf = time.perf_counter
    http = httpx.Client(timeout=60)

    def raw_bytes() -> StreamRun:
        t0 = perf()
        with http.stream("POST", url, json=_BODY) as r:
            for _piece in r.iter_bytes():
                pass
        return StreamRun(perf() - t0, events, [])

    def raw_json() -> StreamRun:
        delays: list[int] = []
        t0 = perf()
        with http.stream("POST", url, json=_BODY) as r:
            buf = bytearray()
            for piece in r.iter_bytes():
                buf += piece
                if b"\n\n" in buf:
                    buf = _split_json(buf, delays)
        return StreamRun(perf() - t0, events, delays)

    def sse_json() -> StreamRun:
        import httpx_sse

        delays = []
        t0 = perf()
        with httpx_sse.connect_sse(http, "POST", url, json=_BODY) as es:
            for sse in es.iter_sse():
                if sse.data == "[DONE]":
                    break
                text = _chat_text(json.loads(sse.data))
                if text:
                    delays.append(mono() - int(text))
        return StreamRun(perf() - t0, events, delays)

    runs: dict[str, Callable[[], StreamRun]] = {"httpx-bytes": raw_bytes, "httpx-json": raw_json}
    if _installed("httpx_sse"):
        runs["httpx-sse"] = sse_json
    if _installed("openai"):
        import openai

        oa = openai.OpenAI(
            api_key="sk-bench",
            base_url=base,
            max_retries=0,
            http_client=_sdk_httpx(openai).Client(timeout=60),
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
            return StreamRun(perf() - t0, events, delays)

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
            return StreamRun(perf() - t0, events, delays)

        return streamkit_client

    runs["sk-client"] = streamkit_run(sk.StreamingClient(base_url=base, api_key="sk-bench"))
    runs["sk-client-given"] = streamkit_run(
        sk.StreamingClient(base_url=base, api_key="sk-bench", http_client=httpx.Client(timeout=60))
    )
    return runs


@dataclass
class BurstResult:
    title: str
    streams: int
    chunks: int
    rounds: int
    runs: dict[str, list[StreamRun]]

    def eps(self, key: str) -> float:
        return statistics.median(r.events_per_s for r in self.runs[key])

    def delay_ms(self, key: str, q: float) -> float | None:
        values = [percentile(r.delays_ns, q) for r in self.runs[key] if r.delays_ns]
        return statistics.median(values) / 1e6 if values else None


def burst_single(server: ServerProcess, chunks: int, rounds: int) -> BurstResult:
    """One stream of ``chunks`` events per sync client, ``rounds`` interleaved rounds."""
    runs = _burst_sync_runs(server, chunks)
    for fn in _burst_sync_runs(server, 20).values():  # warm up: imports, lazy set-up
        fn()
    out: dict[str, list[StreamRun]] = {k: [] for k in runs}
    with frozen_heap():
        for r in range(rounds):
            for key in list(runs) if r % 2 == 0 else reversed(list(runs)):
                gc.collect()
                res = runs[key]()
                if res.delays_ns and len(res.delays_ns) != chunks:
                    raise AssertionError(
                        f"{key}: {len(res.delays_ns)} text events, expected {chunks}"
                    )
                out[key].append(res)
    return BurstResult("burst, one stream", 1, chunks, rounds, out)


# ---- burst: concurrent streams, async clients -------------------------------------------------


async def _burst_concurrent(kind: str, base: str, streams: int, chunks: int) -> StreamRun:
    delays: list[int] = []
    counts: list[int] = []
    limits_kw = {"max_connections": streams + 8, "max_keepalive_connections": streams + 8}
    closers: list[Callable[[], Awaitable[None]]] = []
    one: Callable[[], Awaitable[None]]
    if kind == "sk-async":
        import streamkit as sk

        client = sk.AsyncStreamingClient(
            base_url=base, api_key="sk-bench", timeout=sk.Timeouts(connect=120, read_idle=120)
        )
        closers.append(client.aclose)
        text_delta = sk.TextDelta

        async def one() -> None:
            n = 0
            async with client.stream(model=MODEL, messages=MESSAGES) as stream:
                async for event in stream:
                    if type(event) is text_delta:
                        delays.append(mono() - int(event.text))
                        n += 1
            counts.append(n)

    elif kind == "openai-async":
        import openai

        mod = _sdk_httpx(openai)
        http = mod.AsyncClient(limits=mod.Limits(**limits_kw), timeout=120)
        closers.append(http.aclose)
        oa = openai.AsyncOpenAI(api_key="sk-bench", base_url=base, http_client=http, max_retries=0)

        async def one() -> None:
            n = 0
            stream = await oa.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    delays.append(mono() - int(chunk.choices[0].delta.content))
                    n += 1
            counts.append(n)

    else:  # raw httpx floor
        http = httpx.AsyncClient(limits=httpx.Limits(**limits_kw), timeout=120)
        closers.append(http.aclose)
        url = base + "/chat/completions"

        async def one() -> None:
            mine: list[int] = []
            async with http.stream("POST", url, json=_BODY) as r:
                buf = bytearray()
                async for piece in r.aiter_bytes():
                    buf += piece
                    if b"\n\n" in buf:
                        buf = _split_json(buf, mine)
            delays.extend(mine)
            counts.append(len(mine))

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(streams):
            tg.start_soon(one)
    wall = time.perf_counter() - t0
    for close in closers:
        await close()
    if len(counts) != streams or any(c != chunks for c in counts):
        raise AssertionError(f"{kind}: incomplete streams ({len(counts)} done)")
    return StreamRun(wall, streams * wire_events(chunks), delays)


def burst_concurrent(
    server: ServerProcess, kinds: Sequence[str], streams: int, chunks: int, rounds: int
) -> BurstResult:
    base = server.base_url(chunks)
    out: dict[str, list[StreamRun]] = {k: [] for k in kinds}
    with frozen_heap():
        for r in range(rounds):
            for kind in kinds if r % 2 == 0 else list(reversed(kinds)):
                gc.collect()
                log(f"    {kind}: {streams} streams x {chunks} chunks (round {r + 1}/{rounds})")
                out[kind].append(anyio.run(_burst_concurrent, kind, base, streams, chunks))
    title = f"burst, {streams} concurrent streams x {chunks} chunks"
    return BurstResult(title, streams, chunks, rounds, out)


# ---- realistic framing: one client process per competitor ---------------------------------------

#: key -> (label, transcript: "openai" or "anthropic")
REALISTIC = {
    "asyncio-raw": ("raw asyncio streams + split + json.loads (the limit)", "openai"),
    "aiohttp": ("aiohttp + split + json.loads", "openai"),
    "httpx-lines": ("raw httpx aiter_lines + json.loads", "openai"),
    "httpx-sse": ("httpx-sse + json.loads", "openai"),
    "sk-async": ("**streamkit AsyncStreamingClient** (defaults)", "openai"),
    "openai": ("openai AsyncOpenAI create(stream=True)", "openai"),
    "sk-async-anthropic": (
        "**streamkit AsyncStreamingClient** (defaults), Anthropic transcript",
        "anthropic",
    ),
    "anthropic": ("anthropic AsyncAnthropic messages.create(stream=True)", "anthropic"),
}


def realistic_kinds() -> list[str]:
    """The realistic-framing competitors whose library is installed."""
    needs = {"aiohttp": "aiohttp", "httpx-sse": "httpx_sse", "openai": "openai"}
    needs["anthropic"] = "anthropic"
    return [k for k in REALISTIC if _installed(needs.get(k, "streamkit"))]


@dataclass(frozen=True)
class Scenario:
    streams: int
    events: int
    """Content events per stream."""
    pace_us: int

    @property
    def title(self) -> str:
        rate = 1e6 / self.pace_us
        return (
            f"{self.streams} stream{'s' if self.streams > 1 else ''} x {rate:g} events/s "
            f"({self.events} events each)"
        )


async def _raw_asyncio(port: int, path: str, anthropic_shape: bool, delays: list[int]) -> None:
    """The least a client can do: one read per wake-up, de-chunk, split, ``json.loads``."""
    reader, writer = await asyncio.open_connection(HOST, port)
    body = json.dumps(_ANTHROPIC_BODY if anthropic_shape else _BODY).encode()
    writer.write(
        b"POST %s HTTP/1.1\r\nHost: %s:%d\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (path.encode(), HOST.encode(), port, len(body), body)
    )
    await reader.readuntil(b"\r\n\r\n")  # the head: 200, chunked (the server's only answer)
    raw = bytearray()  # chunked framing not parsed yet
    data = bytearray()  # de-chunked body not split into events yet
    done = False
    while not done:
        piece = await reader.read(65536)
        if not piece:
            raise ConnectionError("the server closed the stream early")
        raw += piece
        pos = 0
        while (eol := raw.find(b"\r\n", pos)) >= 0:
            size = int(raw[pos:eol].split(b";")[0], 16)
            if size == 0:
                done = True
                break
            end = eol + 2 + size
            if len(raw) < end + 2:
                break
            data += raw[eol + 2 : end]
            pos = end + 2
        del raw[:pos]
        if b"\n\n" in data:
            data = _split_json(data, delays, anthropic_shape)
    writer.close()


async def _client_streams(kind: str, port: int, sc: Scenario) -> tuple[int, list[int]]:
    """Run ``sc.streams`` concurrent streams with competitor ``kind``; (wire events, delays)."""
    anthropic_shape = REALISTIC[kind][1] == "anthropic"
    root = f"http://{HOST}:{port}/n{sc.events}/p{sc.pace_us}"
    chat_path = f"/n{sc.events}/p{sc.pace_us}/v1/chat/completions"
    messages_path = f"/n{sc.events}/p{sc.pace_us}/v1/messages"
    url = f"http://{HOST}:{port}" + (messages_path if anthropic_shape else chat_path)
    delays: list[int] = []
    limits = httpx.Limits(max_connections=sc.streams + 8, max_keepalive_connections=sc.streams + 8)
    closers: list[Callable[[], Awaitable[Any]]] = []
    one: Callable[[], Awaitable[None]]

    if kind == "asyncio-raw":
        path = messages_path if anthropic_shape else chat_path

        async def one() -> None:
            await _raw_asyncio(port, path, anthropic_shape, delays)

    elif kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        closers.append(session.close)

        async def one() -> None:
            async with session.post(url, json=_BODY) as r:
                buf = bytearray()
                async for piece in r.content.iter_any():
                    buf += piece
                    if b"\n\n" in buf:
                        buf = _split_json(buf, delays)

    elif kind == "httpx-lines":
        http = httpx.AsyncClient(limits=limits, timeout=120)
        closers.append(http.aclose)

        async def one() -> None:
            async with http.stream("POST", url, json=_BODY) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        text = _chat_text(json.loads(line[6:]))
                        if text:
                            delays.append(mono() - int(text))

    elif kind == "httpx-sse":
        import httpx_sse

        http = httpx.AsyncClient(limits=limits, timeout=120)
        closers.append(http.aclose)

        async def one() -> None:
            async with httpx_sse.aconnect_sse(http, "POST", url, json=_BODY) as es:
                async for sse in es.aiter_sse():
                    if sse.data == "[DONE]":
                        break
                    text = _chat_text(json.loads(sse.data))
                    if text:
                        delays.append(mono() - int(text))

    elif kind in ("sk-async", "sk-async-anthropic"):
        import streamkit as sk

        provider = "anthropic-messages" if anthropic_shape else "openai-chat"
        client = sk.AsyncStreamingClient(
            base_url=root if anthropic_shape else root + "/v1",
            api_key="sk-bench",
            provider=provider,
        )
        closers.append(client.aclose)
        text_delta = sk.TextDelta
        model = ANTHROPIC_MODEL if anthropic_shape else MODEL

        async def one() -> None:
            async with client.stream(model=model, messages=MESSAGES, max_tokens=4096) as stream:
                async for event in stream:
                    if type(event) is text_delta:
                        delays.append(mono() - int(event.text))

    elif kind == "openai":
        import openai

        oa = openai.AsyncOpenAI(api_key="sk-bench", base_url=root + "/v1", max_retries=0)
        closers.append(oa.close)

        async def one() -> None:
            stream = await oa.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    delays.append(mono() - int(chunk.choices[0].delta.content))

    elif kind == "anthropic":
        import anthropic

        an = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=root, max_retries=0)
        closers.append(an.close)

        async def one() -> None:
            stream = await an.messages.create(
                model=ANTHROPIC_MODEL, max_tokens=4096, messages=MESSAGES, stream=True
            )
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    delays.append(mono() - int(event.delta.text))

    else:
        raise ValueError(f"unknown competitor {kind!r}")

    async with anyio.create_task_group() as tg:
        for _ in range(sc.streams):
            tg.start_soon(one)
    for close in closers:
        await close()
    if len(delays) != sc.streams * sc.events:
        raise AssertionError(
            f"{kind}: {len(delays)} content events, expected {sc.streams * sc.events}"
        )
    return sc.streams * wire_events(sc.events, anthropic_shape), delays


def client_main(spec: dict[str, Any]) -> dict[str, Any]:
    """One client process: warm up, then each scenario with its CPU time and delays."""
    kind, port = spec["kind"], spec["port"]
    scenarios = [Scenario(**s) for s in spec["scenarios"]]
    out: dict[str, Any] = {"kind": kind, "results": []}

    async def main() -> None:
        await _client_streams(kind, port, Scenario(2, 20, 100))  # imports, lazy set-up
        gc.collect()
        for sc in scenarios:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            events, delays = await _client_streams(kind, port, sc)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            out["results"].append(
                {
                    "scenario": [sc.streams, sc.events, sc.pace_us],
                    "cpu_s": cpu,
                    "wall_s": wall,
                    "events": events,
                    "p50_ns": percentile(delays, 0.50),
                    "p99_ns": percentile(delays, 0.99),
                }
            )

    anyio.run(main)
    return out


@dataclass
class RealisticResult:
    scenario: Scenario
    rounds: int
    cpu_us: dict[str, list[float]] = field(default_factory=dict)
    """CPU µs per wire event, one value per round."""
    p50_ms: dict[str, list[float]] = field(default_factory=dict)
    p99_ms: dict[str, list[float]] = field(default_factory=dict)

    def median(self, table: dict[str, list[float]], key: str) -> float:
        return statistics.median(table[key])


def realistic(
    server: ServerProcess, kinds: Sequence[str], scenarios: Sequence[Scenario], rounds: int
) -> list[RealisticResult]:
    """Every competitor in its own process per round (order alternating), all scenarios each."""
    results = [RealisticResult(sc, rounds) for sc in scenarios]
    spec_scenarios = [vars(sc) for sc in scenarios]
    for r in range(rounds):
        for kind in kinds if r % 2 == 0 else list(reversed(kinds)):
            log(f"    realistic framing: {kind} (round {r + 1}/{rounds})")
            spec = {"kind": kind, "port": server.port, "scenarios": spec_scenarios}
            proc = subprocess.run(
                [sys.executable, str(HERE / "loopback.py"), "client", json.dumps(spec)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:  # a peer that broke: say so, keep the others' rows
                log(f"    client {kind} FAILED, left out of this round:\n{proc.stderr[-3000:]}")
                continue
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            for res, got in zip(results, report["results"], strict=True):
                res.cpu_us.setdefault(kind, []).append(got["cpu_s"] / got["events"] * 1e6)
                res.p50_ms.setdefault(kind, []).append(got["p50_ns"] / 1e6)
                res.p99_ms.setdefault(kind, []).append(got["p99_ns"] / 1e6)
    return results


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "client":
        sys.exit("usage: python benchmarks/loopback.py client '<json spec>'")
    print(json.dumps(client_main(json.loads(sys.argv[2]))))
