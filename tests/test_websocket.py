"""WebSocket streaming end to end: both clients against LocalServer's WebSocket endpoint.

Sync, asyncio and trio; Responses WebSocket mode and a chat relay; real recordings; drops,
close codes, stalls (with and without pongs), connection limits, lost previous responses,
duplicate and reordered messages; lanes, rotation; the key kept out of every output.
Sleeps are recorded, not slept; intervals are short; nothing asserts wall-clock time.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import anyio
import pytest

import streamkit as sk
from streamkit import websocket
from streamkit.offline import decode_stream
from streamkit.providers.ws import ChatRelay, ResponsesWebSocket
from streamkit.testing import Fault, LocalServer

from conftest import files_of, read_real

pytestmark = pytest.mark.anyio

KEY = "sk-canary-ws-9f8e7d6c5b4a3210"
FAST = sk.RetryPolicy(initial_delay=0.0, max_delay=0.0, jitter=0.0)
FN_CALL = "openai-responses-function-call.sse"
REASONING = "openai-responses-reasoning-summary.sse"
CHAT = "openai-chat-text-include-usage.sse"
GUARD_S = 60.0  # a broken test fails instead of hanging (never reached when it passes)
#: ``Timeouts.read_idle`` where a stall is injected: far above the milliseconds between
#: messages on loopback, even on a loaded machine, so that only the injected stall trips it.
STALL_S = 1.0


@pytest.fixture(params=["sync", "asyncio", "trio"])
def flavor(request: pytest.FixtureRequest) -> str:
    """The sync client (on asyncio's test loop), or the async one on asyncio or trio."""
    return str(request.param)


@pytest.fixture
def anyio_backend(flavor: str) -> str:
    return "trio" if flavor == "trio" else "asyncio"


@dataclass
class Run:
    events: dict[int, list[sk.DeltaEvent]] = field(default_factory=dict)
    results: dict[int, sk.StreamResult] = field(default_factory=dict)
    errors: dict[int, sk.StreamkitError] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)
    order: list[tuple[int, int]] = field(default_factory=list)
    sockets_opened: int = 0
    connection: str = ""

    def of(self, index: int, kind: type[Any]) -> list[Any]:
        return [e for e in self.events.get(index, []) if isinstance(e, kind)]


Spec = dict[str, Any] | Callable[[Run], dict[str, Any]]


def client_kwargs(server: LocalServer, provider: str, **kw: Any) -> dict[str, Any]:
    return {
        "base_url": server.base_url,
        "api_key": KEY,
        "provider": provider,
        "retry": kw.pop("retry", FAST),
        **kw,
    }


async def stream_all(
    flavor: str,
    server: LocalServer,
    specs: Sequence[Spec],
    *,
    provider: str = "openai-responses",
    parallel: bool = False,
    client: dict[str, Any] | None = None,
    connect: dict[str, Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> Run:
    """Run the streams of ``specs`` on one connection, one after another or in parallel.

    In parallel, stream ``i + 1`` starts once stream ``i`` has delivered its first event
    (or ended), so the order of the handshakes, and what a callable spec sees, never
    depends on scheduling.
    """
    run = Run()
    kwargs = client_kwargs(server, provider, **(client or {}))
    with anyio.fail_after(GUARD_S):
        if flavor == "sync":
            _sync(run, kwargs, specs, parallel, connect or {}, clock)
        else:
            await _async(run, kwargs, specs, parallel, connect or {}, clock)
    return run


def _sync(run: Run, kwargs: dict[str, Any], specs: Sequence[Spec], parallel: bool,
          connect: dict[str, Any], clock: Callable[[], float] | None) -> None:
    c = sk.StreamingClient(**kwargs)
    del kwargs  # this frame's locals are in the tracebacks scanned for the key
    c._sleep = run.sleeps.append  # type: ignore[method-assign,assignment]
    if clock is not None:
        c._clock = clock  # type: ignore[method-assign,assignment]
    with c, c.connect(**connect) as conn:
        run.connection = repr(conn)
        if not parallel:
            for i, spec in enumerate(specs):
                run.events[i] = []
                try:
                    with conn.stream(**(spec(run) if callable(spec) else spec)) as s:
                        for event in s:
                            run.events[i].append(event)
                    run.results[i] = s.result
                except sk.StreamkitError as err:
                    run.errors[i] = err
        else:
            waiting = list(enumerate(specs))
            live: dict[int, Any] = {}
            while live or waiting:  # round robin: one event of each lane in turn
                if waiting and all(run.events[j] for j in live):
                    i, spec = waiting.pop(0)  # the streams before it have started
                    run.events[i] = []
                    live[i] = conn.stream(**(spec(run) if callable(spec) else spec))
                for i, s in list(live.items()):
                    try:
                        event = next(s)
                    except StopIteration:
                        run.results[i] = s.result
                        del live[i]
                        continue
                    except sk.StreamkitError as err:
                        run.errors[i] = err
                        del live[i]
                        continue
                    run.events[i].append(event)
                    run.order.append((i, len(run.events[i])))
        run.sockets_opened = conn.sockets_opened


async def _async(run: Run, kwargs: dict[str, Any], specs: Sequence[Spec], parallel: bool,
                 connect: dict[str, Any], clock: Callable[[], float] | None) -> None:
    c = sk.AsyncStreamingClient(**kwargs)

    async def sleep(delay: float) -> None:
        run.sleeps.append(delay)

    c._sleep = sleep  # type: ignore[method-assign,assignment]
    if clock is not None:
        c._clock = clock  # type: ignore[method-assign,assignment]

    async def one(conn: Any, i: int, spec: Spec, started: anyio.Event | None = None) -> None:
        run.events[i] = []
        try:
            async with conn.stream(**(spec(run) if callable(spec) else spec)) as s:
                async for event in s:
                    run.events[i].append(event)
                    run.order.append((i, len(run.events[i])))
                    if started is not None:
                        started.set()
            run.results[i] = s.result
        except sk.StreamkitError as err:
            run.errors[i] = err
        finally:
            if started is not None:
                started.set()

    async with c, c.connect(**connect) as conn:
        run.connection = repr(conn)
        if parallel:
            async with anyio.create_task_group() as group:
                for i, spec in enumerate(specs):
                    started = anyio.Event()
                    group.start_soon(one, conn, i, spec, started)
                    await started.wait()
        else:
            for i, spec in enumerate(specs):
                await one(conn, i, spec)
        run.sockets_opened = conn.sockets_opened


def responses_server(name: str = FN_CALL, **kw: Any) -> LocalServer:
    return LocalServer(read_real(name), dialect="openai-responses", **kw)


def same_result(got: sk.StreamResult, want: sk.StreamResult) -> None:
    assert got.text == want.text
    assert got.reasoning == want.reasoning
    assert got.tool_calls == want.tool_calls
    assert got.finish_reason == want.finish_reason
    assert got.choices == want.choices


def chars_before(raw: bytes, count: int) -> int:
    """Characters of text, reasoning and arguments in the first ``count`` messages."""
    decoder = ResponsesWebSocket().new_decoder()
    lines = [line for line in raw.splitlines() if line.startswith(b"data:")]
    chars = 0
    for line in lines[:count]:
        for event in decoder.decode_payload(json.loads(line[5:])):
            chars += len(getattr(event, "text", None) or getattr(event, "arguments", None) or "")
    return chars


def faulty(server: LocalServer, fault: Fault, spec: dict[str, Any]) -> Spec:
    """``spec``, with ``fault`` on its first attempt only (whatever the streams before did)."""

    def make(run: Run) -> dict[str, Any]:
        server.set_faults([fault])
        return spec

    return make


def ask(text: str = "Hi", **kw: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1", "input": text, **kw}


# ---- every recording, the same as over SSE ---------------------------------------------------


@pytest.mark.parametrize("name", files_of("openai-responses"))
async def test_every_responses_recording_matches_sse(flavor: str, name: str) -> None:
    raw = read_real(name)
    try:
        want_events, want = decode_stream(raw, provider="openai-responses")
        want_error = None
    except sk.ProviderError as err:
        want_events, want, want_error = [], err.partial, err
    with responses_server(name) as server:
        run = await stream_all(flavor, server, [ask()])
    if want_error is not None:
        err = run.errors[0]
        assert type(err) is type(want_error) and err.code == want_error.code
        assert err.partial is not None and want is not None
        same_result(err.partial, want)
        return
    got = run.results[0]
    assert run.events[0] == want_events
    same_result(got, want)
    assert got.usage == want.usage
    assert got.response_id is not None and got.response_id.startswith("resp_ws")
    assert got.attempts == 1 and run.sockets_opened == 1


@pytest.mark.parametrize("end", ["[DONE]", "done", "close", "none"])
async def test_a_chat_relay_matches_sse_whatever_its_end_signal(flavor: str, end: str) -> None:
    raw = read_real(CHAT)
    want_events, want = decode_stream(raw)
    relay = ChatRelay() if end != "none" else ChatRelay(end_of_stream={"finish_reason"})
    with LocalServer(raw, relay_end=end) as server:  # type: ignore[arg-type]
        specs = [{"model": "gpt-4o", "input": [{"role": "user", "content": "Hi"}]}] * 2
        run = await stream_all(
            flavor, server, specs, provider="openai-chat", connect={"dialect": relay}
        )
        sent = [r.json for r in server.requests]
    for i in (0, 1):
        assert run.events[i] == want_events
        same_result(run.results[i], want)
        assert run.results[i].usage == want.usage
    assert sent[0]["messages"] == [{"role": "user", "content": "Hi"}]
    assert run.sockets_opened == (2 if end == "close" else 1)


@pytest.mark.parametrize("name", files_of("openai-chat", "complete"))
async def test_every_chat_recording_over_a_relay(name: str, anyio_backend: str) -> None:
    if anyio_backend == "trio":
        pytest.skip("one backend is enough for the recording sweep")
    raw = read_real(name)
    want_events, want = decode_stream(raw)
    with LocalServer(raw) as server:
        run = await stream_all(
            "asyncio", server, [{"model": "m", "input": "Hi"}], provider="openai-chat"
        )
    assert run.events[0] == want_events
    same_result(run.results[0], want)


# ---- drops resume exactly --------------------------------------------------------------------


@pytest.mark.parametrize("name", [FN_CALL, REASONING])
async def test_cuts_at_random_frame_offsets_resume_exactly(flavor: str, name: str) -> None:
    raw = read_real(name)
    want = decode_stream(raw, provider="openai-responses")[1]
    events = sum(1 for line in raw.splitlines() if line.startswith(b"data:"))
    offsets = random.Random(f"{name}-{flavor}").sample(range(1, events - 1), 4)
    with responses_server(name) as server:
        specs = [faulty(server, Fault.cut(after_events=offset), ask()) for offset in offsets]
        run = await stream_all(flavor, server, specs)
    for i, offset in enumerate(offsets):
        got = run.results[i]
        same_result(got, want)
        assert got.attempts == 2, offset
        resumed = [r.strategy for r in run.of(i, sk.ResumeEvent)]
        assert resumed == (["replay"] if chars_before(raw, offset) else []), offset
        text = "".join(e.text for e in run.of(i, sk.TextDelta))
        assert text == want.text  # delivered exactly once: nothing lost, nothing repeated
    assert run.sockets_opened == 1 + len(offsets)


async def test_twenty_streams_survive_closes_stalls_and_connection_limits(flavor: str) -> None:
    raw = read_real(FN_CALL)
    want = decode_stream(raw, provider="openai-responses")[1]
    events = sum(1 for line in raw.splitlines() if line.startswith(b"data:"))
    rng = random.Random(f"twenty-{flavor}")
    kinds = ["1006", "1011", "stall", "limit"]
    plan: list[tuple[str, int]] = [(kinds[i % 4], rng.randrange(1, events - 1)) for i in range(20)]
    faults = [
        {
            "1006": Fault.close(1006, after_events=at),
            "1011": Fault.close(1011, after_events=at, reason="server error"),
            "stall": Fault.stall(after_events=at, seconds=30.0),
            "limit": Fault.connection_limit(after_events=at),
        }[kind]
        for kind, at in plan
    ]
    tracker = sk.CostTracker()
    with responses_server(FN_CALL) as server:
        run = await stream_all(
            flavor,
            server,
            [faulty(server, fault, ask()) for fault in faults],
            client={"timeout": sk.Timeouts(read_idle=STALL_S), "tracker": tracker},
        )
        # the same breaks over SSE (HTTP, same server): the same usage and cost
        sse = sk.StreamingClient(**client_kwargs(server, "openai-responses"))
        sse._sleep = lambda s: None  # type: ignore[method-assign,assignment]
        over_sse = []
        with sse:
            for _, at in plan:
                server.set_faults([Fault.cut(after_events=at)])
                stream = sse.stream(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])
                over_sse.append(stream.until_done().result)
    assert not run.errors
    for i, (kind, at) in enumerate(plan):
        got = run.results[i]
        same_result(got, want)
        assert got.attempts == 2, (kind, at)
        assert got.usage == over_sse[i].usage, (kind, at)
        assert got.cost == over_sse[i].cost
        assert got.usage is not None and want.usage is not None
        assert got.usage.total_tokens > want.usage.total_tokens  # the cut attempt is billed
    assert tracker.total_cost == sum((r.cost for r in run.results.values()), Decimal(0))


async def test_a_stall_with_pongs_is_caught_by_read_idle(flavor: str) -> None:
    with responses_server(faults=[Fault.stall(after_events=4, seconds=30.0)]) as server:
        run = await stream_all(
            flavor, server, [ask()], client={"timeout": sk.Timeouts(read_idle=STALL_S)}
        )
    (retry,) = run.of(0, sk.RetryEvent)
    assert "StreamStalledError" in retry.reason
    same_result(run.results[0], decode_stream(read_real(FN_CALL), provider="openai-responses")[1])


async def test_a_stall_without_pongs_is_caught_by_the_pong_deadline(flavor: str) -> None:
    fault = Fault.stall(after_events=4, seconds=1.5, pongs=False)
    with responses_server(faults=[fault]) as server:
        run = await stream_all(
            flavor,
            server,
            [ask()],
            client={"timeout": sk.Timeouts(read_idle=None)},  # only the pings can tell
            connect={"heartbeat_s": 0.1, "pong_timeout_s": 0.5},
        )
    (retry,) = run.of(0, sk.RetryEvent)
    assert "WebSocketClosedError" in retry.reason and "pong" in retry.reason
    same_result(run.results[0], decode_stream(read_real(FN_CALL), provider="openai-responses")[1])


# ---- close codes, errors, handshakes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.close(4401, after_events=3, reason="key revoked"), sk.AuthenticationError),
        (Fault.close(1008, after_events=3), sk.ProviderError),
    ],
)
async def test_permanent_close_codes_are_typed_errors(
    flavor: str, fault: Fault, error: type
) -> None:
    with responses_server(faults=[fault]) as server:
        run = await stream_all(flavor, server, [ask()])
        attempts = server.attempts
    err = run.errors[0]
    assert type(err) is error
    assert err.partial is not None and attempts == 1


@pytest.mark.parametrize("code", [1001, 1011, 1012, 1013, 4429, 4503])
async def test_try_again_close_codes_reconnect(code: int, anyio_backend: str) -> None:
    with responses_server(faults=[Fault.close(code, after_events=3)]) as server:
        run = await stream_all("asyncio" if anyio_backend == "asyncio" else "trio", server, [ask()])
    assert run.results[0].attempts == 2 and len(run.sleeps) == 1


@pytest.mark.parametrize(("status", "error"), [(401, sk.AuthenticationError), (403, sk.PermissionDeniedError)])
async def test_a_refused_handshake_is_typed(flavor: str, status: int, error: type) -> None:
    with responses_server(handshake_faults=[Fault.status(status)]) as server:
        run = await stream_all(flavor, server, [ask()])
        handshakes = len(server.handshakes)
    err = run.errors[0]
    assert type(err) is error and err.status_code == status
    assert handshakes == 1  # never retried
    assert KEY not in str(err) and KEY not in repr(err.__dict__)


async def test_a_wrong_key_gets_401(flavor: str) -> None:
    with responses_server(api_key="sk-the-right-one-000000") as server:
        run = await stream_all(flavor, server, [ask()])
    assert isinstance(run.errors[0], sk.AuthenticationError)


async def test_an_error_message_before_content_is_retried_after_is_not(flavor: str) -> None:
    faults: list[Fault | None] = [Fault.error_event(0), None, Fault.error_event(6)]
    with responses_server(faults=faults) as server:
        run = await stream_all(flavor, server, [ask(), ask()])
    assert run.results[0].attempts == 2  # "server_error" before any content
    err = run.errors[1]
    assert isinstance(err, sk.ProviderError) and err.code == "server_error"
    assert err.partial is not None


async def test_duplicate_and_reordered_messages_are_put_right(flavor: str) -> None:
    faults = [Fault.duplicate(5), Fault.reorder(5, 6), Fault.combine(Fault.duplicate(3), Fault.reorder(7, 8))]
    with responses_server(faults=faults) as server:
        run = await stream_all(flavor, server, [ask()] * 3)
    want_events, want = decode_stream(read_real(FN_CALL), provider="openai-responses")
    for i in range(3):
        assert run.events[i] == want_events
        assert run.results[i].attempts == 1


# ---- conversations: previous_response_id, rotation -----------------------------------------


def follow_up(text: str, previous: int) -> Callable[[Run], dict[str, Any]]:
    return lambda run: ask(text, previous_response_id=run.results[previous].response_id)


async def test_previous_response_not_found_falls_back_to_the_full_input(flavor: str) -> None:
    faults = [None, Fault.previous_response_not_found()]
    with responses_server(faults=faults) as server:
        run = await stream_all(flavor, server, [ask("first"), follow_up("second", 0)])
        sent = [r.json for r in server.requests]
    want = decode_stream(read_real(FN_CALL), provider="openai-responses")[1]
    same_result(run.results[1], want)
    assert sent[1]["previous_response_id"] == run.results[0].response_id
    assert "previous_response_id" not in sent[2]
    full = sent[2]["input"]
    assert full[0] == {"role": "user", "content": "first"}
    assert full[-1] == {"role": "user", "content": "second"}
    assert any(item.get("type") == "function_call" for item in full)  # the first output
    assert not run.of(1, sk.RetryEvent)


async def test_an_unknown_previous_response_is_the_error(flavor: str) -> None:
    with responses_server() as server:
        run = await stream_all(flavor, server, [ask("x", previous_response_id="resp_elsewhere")])
    err = run.errors[0]
    assert isinstance(err, sk.ProviderError) and err.code == "previous_response_not_found"


async def test_rotation_mid_session_loses_nothing(flavor: str) -> None:
    now = [1000.0]

    def turn(text: str, previous: int, jump: float = 0.0) -> Callable[[Run], dict[str, Any]]:
        def spec(run: Run) -> dict[str, Any]:
            now[0] += jump  # the socket ages between responses
            return ask(text, previous_response_id=run.results[previous].response_id)

        return spec

    specs = [ask("one"), turn("two", 0), turn("three", 1, jump=120.0), turn("four", 2)]
    with responses_server() as server:
        run = await stream_all(
            flavor, server, specs, connect={"rotate_after_s": 100.0}, clock=lambda: now[0]
        )
        sent = [r.json for r in server.requests]
        handshakes = len(server.handshakes)
    want = decode_stream(read_real(FN_CALL), provider="openai-responses")[1]
    assert not run.errors
    for i in range(4):
        same_result(run.results[i], want)
    assert run.sockets_opened == 2 and handshakes == 2
    # turn three: the new socket does not have turn two, so the full input goes instead
    assert [("previous_response_id" in s) for s in sent] == [False, True, True, False, True]
    assert [m.get("content") for m in sent[3]["input"] if m.get("role") == "user"] == [
        "one",
        "two",
        "three",
    ]
    assert sent[4]["previous_response_id"] == run.results[2].response_id  # chained again


async def test_rotation_waits_for_the_streams_on_the_old_socket(flavor: str) -> None:
    now = [0.0]
    raw = read_real(FN_CALL)
    with responses_server(delay_s=0.005) as server:

        def late(run: Run) -> dict[str, Any]:
            now[0] += 500.0  # lane b starts when the socket is past its age
            return ask(lane="b")

        run = await stream_all(
            flavor,
            server,
            [ask(lane="a"), late],
            parallel=True,
            connect={"rotate_after_s": 100.0},
            clock=lambda: now[0],
        )
    want = decode_stream(raw, provider="openai-responses")[1]
    for i in (0, 1):
        same_result(run.results[i], want)
        assert run.results[i].attempts == 1
    assert run.sockets_opened == 2


# ---- lanes ---------------------------------------------------------------------------------


async def test_two_lanes_stream_in_parallel_on_one_socket(flavor: str) -> None:
    raw = read_real(FN_CALL)
    with responses_server(delay_s=0.005) as server:
        run = await stream_all(flavor, server, [ask(lane="a"), ask(lane="b")], parallel=True)
        lanes = [r.json.get("stream_id") for r in server.requests]
        handshakes = len(server.handshakes)
    want = decode_stream(raw, provider="openai-responses")[1]
    for i in (0, 1):
        same_result(run.results[i], want)
    assert sorted(lanes) == ["a", "b"] and handshakes == 1 and run.sockets_opened == 1
    last_of_a = max(n for n, (i, _) in enumerate(run.order) if i == 0)
    first_of_b = min(n for n, (i, _) in enumerate(run.order) if i == 1)
    assert first_of_b < last_of_a  # interleaved, not one after the other


async def test_a_failure_or_cancel_on_one_lane_leaves_the_others(flavor: str) -> None:
    raw = read_real(FN_CALL)
    want = decode_stream(raw, provider="openai-responses")[1]
    permanent = {"type": "error", "error": {"type": "invalid_request_error", "code": "bad"}}
    with responses_server(delay_s=0.002, faults=[Fault.error_event(4, permanent)]) as server:
        run = await stream_all(
            flavor, server, [ask(lane="a"), ask(lane="b")], parallel=True
        )
        assert isinstance(run.errors[0], sk.ProviderError)
        same_result(run.results[1], want)
        assert run.sockets_opened == 1
        # a stream left half-way: its lane takes the next stream at once, on the same socket
        kwargs = client_kwargs(server, "openai-responses")
        if flavor == "sync":
            with sk.StreamingClient(**kwargs) as c, c.connect() as conn:
                b = conn.stream(**ask(lane="b"))
                with conn.stream(**ask(lane="a")) as a:
                    next(a), next(a), next(a)
                    next(b)
                again = conn.stream(**ask(lane="a")).until_done()
                rest = b.until_done()
                opened = conn.sockets_opened
        else:
            async with sk.AsyncStreamingClient(**kwargs) as ac, ac.connect() as conn:
                b = conn.stream(**ask(lane="b"))
                async with conn.stream(**ask(lane="a")) as a:
                    for _ in range(3):
                        await a.__anext__()
                    await b.__anext__()
                again = await conn.stream(**ask(lane="a")).until_done()
                rest = await b.until_done()
                opened = conn.sockets_opened
    same_result(again.result, want)
    same_result(rest.result, want)
    assert opened == 1


async def test_misuse_fails_fast(flavor: str) -> None:
    with responses_server() as server:
        kwargs = client_kwargs(server, "openai-responses")
        client = sk.StreamingClient(**kwargs)
        with client.connect() as conn:
            conn.stream(**ask(lane="x"))
            with pytest.raises(sk.StreamStateError, match="lane 'x'"):
                conn.stream(**ask(lane="x"))
            with pytest.raises(TypeError, match="lane"):
                conn.stream(**ask(stream_id="y"))
            with pytest.raises(TypeError, match="background"):
                conn.stream(**ask(background=True))
        with pytest.raises(sk.StreamStateError, match="closed"):
            conn.stream(**ask())
        with pytest.raises(sk.ConfigurationError, match="ws://"):
            client.connect("ftp://relay.test/ws")
        with pytest.raises(sk.ConfigurationError, match="heartbeat_s"):
            client.connect(heartbeat_s=-1)
        with pytest.raises(sk.ConfigurationError, match="no WebSocket mode"):
            sk.StreamingClient(api_key=KEY, provider="anthropic-messages").connect()
        with pytest.raises(sk.ConfigurationError, match="no lanes"):
            sk.StreamingClient(api_key=KEY, provider="openai-chat").connect().stream(
                model="m", input="Hi", lane="a"
            )
        aclient = sk.AsyncStreamingClient(**kwargs)
        with pytest.raises(sk.StreamStateError, match="async with"):
            aclient.connect().stream(**ask())
        client.close()
        await aclient.aclose()


# ---- the key never shows -------------------------------------------------------------------


def everything_printed(run: Run, caplog: pytest.LogCaptureFixture) -> str:
    parts = [run.connection, caplog.text]
    for events in run.events.values():
        parts += [repr(e) for e in events]
    for result in run.results.values():
        parts.append(repr(result))
    for err in run.errors.values():
        parts.append("".join(traceback.TracebackException.from_exception(
            err, capture_locals=True
        ).format()))
        parts.append(repr(vars(err)))
    return "\n".join(parts)


@pytest.mark.parametrize("key_in", ["header", "query"])
async def test_the_key_never_shows(
    flavor: str, key_in: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = read_real(CHAT)
    relay = ChatRelay(key_in=key_in)  # type: ignore[arg-type]
    faults = [Fault.close(1011, after_events=2), None, Fault.close(4401, after_events=1)]
    with LocalServer(raw, api_key=KEY, faults=faults) as server:
        run = await stream_all(
            flavor,
            server,
            [{"model": "m", "input": "Hi"}] * 2,
            provider="openai-chat",
            connect={"dialect": relay},
        )
        handshake = server.handshakes[0]
        # and a handshake that cannot connect at all
        port = server.port
    refused = await stream_all(
        flavor,
        _Closed(port),  # type: ignore[arg-type]
        [{"model": "m", "input": "Hi"}],
        provider="openai-chat",
        connect={"dialect": relay},
    )
    assert isinstance(refused.errors[0], sk.APIConnectionError)
    if key_in == "query":
        assert f"key={KEY}" in handshake.query and "authorization" not in handshake.headers
    else:
        assert handshake.headers["authorization"] == f"Bearer {KEY}"
    assert run.results[0].text and isinstance(run.errors[1], sk.AuthenticationError)
    printed = everything_printed(run, caplog) + everything_printed(refused, caplog)
    assert KEY not in printed
    assert "httpx" in caplog.text or not caplog.text  # the handshake log lines were seen


@dataclass
class _Closed:
    """A server that was stopped: its port refuses connections."""

    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


# ---- the library ---------------------------------------------------------------------------


async def test_httpx2_clients_use_httpx2_websockets(flavor: str) -> None:
    httpx2 = pytest.importorskip("httpx2")
    want = decode_stream(read_real(FN_CALL), provider="openai-responses")[1]
    with responses_server(faults=[Fault.close(1011, after_events=4)]) as server:
        if flavor == "sync":
            given = httpx2.Client()
            run = await stream_all(flavor, server, [ask()], client={"http_client": given})
            given.close()
        else:
            agiven = httpx2.AsyncClient()
            run = await stream_all(flavor, server, [ask()], client={"http_client": agiven})
            await agiven.aclose()
    same_result(run.results[0], want)
    assert run.results[0].attempts == 2


def test_a_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_ws", None)
    monkeypatch.setattr(websocket, "_libraries", {})
    client = sk.StreamingClient(api_key=KEY, provider="openai-responses")
    with pytest.raises(ModuleNotFoundError, match=r"streamkit\[websocket\]"):
        client.connect()


def test_the_default_url_and_rotation() -> None:
    client = sk.StreamingClient(api_key=KEY, provider="openai-responses")
    conn = client.connect()
    assert conn.url == "wss://api.openai.com/v1/responses"
    assert conn._state.rotate_after_s == pytest.approx(3600 * 0.9)
    xai = sk.StreamingClient(
        api_key=KEY, provider="openai-responses", base_url="https://api.x.ai/v1"
    ).connect()
    assert xai.url == "wss://api.x.ai/v1/responses"
    assert xai._state.rotate_after_s == pytest.approx(1500 * 0.9)
    assert isinstance(conn.dialect, ResponsesWebSocket)
    assert client.connect(rotate_after_s=float("inf"))._state.rotate_after_s is None
    conn.close()
    xai.close()
