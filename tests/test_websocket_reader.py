"""The WebSocket executors' reader gate, and messages larger than httpx-ws's default limit.

One stream at a time reads a socket and queues each message for its lane; a stream whose
message is already queued must take it without waiting for the socket's next message
(a lane would otherwise lag by a whole message interval behind the others).
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

import streamkit as sk
from streamkit import websocket
from streamkit._ws_state import EVERY
from streamkit.offline import decode_stream
from streamkit.testing import LocalServer, demo_responses_transcript

GUARD_S = 30.0  # a broken test fails instead of hanging (never reached when it passes)


def test_a_stream_with_a_queued_message_never_waits_for_the_reader() -> None:
    sock = websocket._Socket(ws=None, closer=None)
    assert websocket._start_reading(sock, "a", lambda: False, None) is True  # the reader
    # no timeout: without the ready() check this would wait for the reader for ever
    assert websocket._start_reading(sock, "b", lambda: True, None) is False
    assert not sock.waiters
    websocket._stop_reading(sock, "a")
    assert sock.reading is False
    assert websocket._start_reading(sock, "b", lambda: False, 0.0) is True


def _waiter(sock: Any, lane: str, woke: list[str]) -> threading.Thread:
    def wait() -> None:
        assert websocket._start_reading(sock, lane, lambda: False, None) is False
        woke.append(lane)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    while lane not in sock.waiters:  # registered (no timing: it waits on its event)
        thread.join(0.001)
    return thread


def test_the_reader_wakes_only_the_lane_its_message_is_for() -> None:
    sock = websocket._Socket(ws=None, closer=None)
    assert websocket._start_reading(sock, "reader", lambda: False, None)
    woke: list[str] = []
    b, c = _waiter(sock, "b", woke), _waiter(sock, "c", woke)
    websocket._stop_reading(sock, "c")  # a message for lane c
    c.join(GUARD_S)
    assert woke == ["c"] and list(sock.waiters) == ["b"]
    # the reader took its own message and leaves: b is woken to read in its place
    websocket._hand_over(sock)
    b.join(GUARD_S)
    assert woke == ["c", "b"] and not sock.waiters


def test_a_broken_socket_wakes_every_lane() -> None:
    sock = websocket._Socket(ws=None, closer=None)
    assert websocket._start_reading(sock, "reader", lambda: False, None)
    woke: list[str] = []
    threads = [_waiter(sock, lane, woke) for lane in ("b", "c", "d")]
    websocket._stop_reading(sock, EVERY)
    for thread in threads:
        thread.join(GUARD_S)
    assert sorted(woke) == ["b", "c", "d"]


def test_no_hand_over_while_someone_reads() -> None:
    sock = websocket._Socket(ws=None, closer=None)
    assert websocket._start_reading(sock, "reader", lambda: False, None)
    woke: list[str] = []
    b = _waiter(sock, "b", woke)
    websocket._hand_over(sock)  # the reader still reads: nobody is woken
    assert sock.waiters and not woke
    websocket._stop_reading(sock, "b")
    b.join(GUARD_S)
    assert woke == ["b"]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_async_gate_wakes_the_lane_then_hands_over() -> None:
    sock = websocket._Socket(ws=None, closer=None)
    assert await websocket._astart_reading(sock, "reader", lambda: False, None) is True
    with anyio.fail_after(GUARD_S):
        assert await websocket._astart_reading(sock, "x", lambda: True, None) is False
    woke: list[str] = []

    async def other(lane: str) -> None:
        assert await websocket._astart_reading(sock, lane, lambda: False, None) is False
        woke.append(lane)

    with anyio.fail_after(GUARD_S):
        async with anyio.create_task_group() as group:
            group.start_soon(other, "b")
            group.start_soon(other, "c")
            await anyio.wait_all_tasks_blocked()
            websocket._astop_reading(sock, "c")
            await anyio.wait_all_tasks_blocked()
            assert woke == ["c"] and list(sock.waiters) == ["b"]
            websocket._ahand_over(sock)
    assert woke == ["c", "b"] and not sock.waiters and sock.reading is False


@pytest.mark.parametrize("flavor", ["sync", "asyncio"])
def test_a_response_larger_than_64_kib_arrives_whole(flavor: str) -> None:
    # response.completed repeats the whole output: ~80 KiB in one message
    raw = demo_responses_transcript(text="word " * 16_000)
    assert max(len(line) for line in raw.splitlines()) > 65_536
    want = decode_stream(raw, provider="openai-responses")[1]
    with LocalServer(raw, dialect="openai-responses") as server:
        kwargs = {"base_url": server.base_url, "api_key": "sk-test", "provider": "openai-responses"}
        if flavor == "sync":
            with sk.StreamingClient(**kwargs) as client, client.connect() as conn:
                with conn.stream(model="gpt-4.1", input="Hi") as s:
                    s.until_done()
                result = s.result
        else:

            async def main() -> sk.StreamResult:
                async with sk.AsyncStreamingClient(**kwargs) as client, client.connect() as conn:
                    async with conn.stream(model="gpt-4.1", input="Hi") as s:
                        await s.until_done()
                    return s.result

            result = anyio.run(main)
    assert result.text == want.text and result.complete and result.attempts == 1
