"""ConcurrencyLimiter and AsyncStreamingClient.stream_many."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

import streamkit as sk
from streamkit.limiter import ConcurrencyLimiter
from streamkit.testing import LocalServer, demo_transcript

pytestmark = pytest.mark.anyio


async def test_limiter_holds_1000_with_bounded_queue_and_priorities() -> None:
    limiter = ConcurrencyLimiter(10, max_waiting=990)
    running = 0
    peak = 0
    order: list[int] = []
    release = anyio.Event()

    async def worker(i: int, priority: int) -> None:
        nonlocal running, peak
        async with limiter.slot(priority):
            running += 1
            peak = max(peak, running)
            order.append(priority)
            await release.wait()
            await anyio.lowlevel.checkpoint()
            running -= 1

    async with anyio.create_task_group() as group:
        for i in range(1000):
            group.start_soon(worker, i, 1 if i % 100 == 99 else 0)
        await anyio.wait_all_tasks_blocked()
        assert limiter.in_use == 10
        assert limiter.waiting == 990
        with pytest.raises(sk.QueueFullError):
            await limiter.acquire()
        release.set()
    assert peak == 10
    assert limiter.in_use == 0
    assert limiter.waiting == 0
    assert len(order) == 1000


async def test_priorities_then_arrival_order() -> None:
    limiter = ConcurrencyLimiter(1)
    await limiter.acquire()
    granted: list[str] = []

    async def waiter(name: str, priority: int) -> None:
        await limiter.acquire(priority)
        granted.append(name)

    async with anyio.create_task_group() as group:
        for name, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)]:
            group.start_soon(waiter, name, priority)
            await anyio.wait_all_tasks_blocked()  # queue them in this order
        for _ in range(5):
            limiter.release()  # hand the one slot to the next waiter
            await anyio.wait_all_tasks_blocked()
    assert granted == ["b", "d", "a", "c", "e"]


async def test_cancelled_waiter_leaves_the_queue() -> None:
    limiter = ConcurrencyLimiter(1, max_waiting=1)
    await limiter.acquire()
    with anyio.move_on_after(0.05):
        await limiter.acquire()
    assert limiter.waiting == 0
    limiter.release()
    assert limiter.in_use == 0
    await limiter.acquire()  # the slot is free again
    assert limiter.in_use == 1


def test_limiter_validates() -> None:
    with pytest.raises(ValueError):
        ConcurrencyLimiter(0)


async def test_stream_many_tags_events_and_respects_the_limit() -> None:
    # a short answer (40 pieces): the streams still overlap, at a fraction of the events
    body = demo_transcript(text=" ".join(f"word{i}" for i in range(40)))
    with LocalServer(body) as server:
        async with sk.AsyncStreamingClient(base_url=server.base_url, api_key="k") as client:
            requests = [
                {
                    "model": "gpt-4.1",
                    "messages": [{"role": "user", "content": str(i)}],
                    "key": f"r{i}",
                }
                for i in range(30)
            ]
            texts: dict[str, str] = {}
            results: dict[str, sk.StreamResult] = {}
            async with client.stream_many(requests, max_concurrent=5) as items:
                async for item in items:
                    if isinstance(item.event, sk.TextDelta):
                        texts[item.key] = texts.get(item.key, "") + item.event.text
                    elif item.event is not None:
                        continue
                    elif item.result is not None:
                        results[item.key] = item.result
                    else:
                        raise AssertionError(item.error)
    assert set(results) == {f"r{i}" for i in range(30)}
    for key, result in results.items():
        assert texts[key] == result.text
        assert result.complete


async def test_stream_many_queue_full_is_reported_per_stream() -> None:
    with LocalServer(demo_transcript(), delay_s=0.001) as server:
        async with sk.AsyncStreamingClient(base_url=server.base_url, api_key="k") as client:
            requests = [{"model": "m", "messages": []} for _ in range(6)]
            errors = []
            done = 0
            async with client.stream_many(requests, max_concurrent=2, max_waiting=1) as items:
                async for item in items:
                    if item.error is not None:
                        errors.append(item.error)
                    elif item.result is not None:
                        done += 1
    assert len(errors) == 3
    assert all(isinstance(e, sk.QueueFullError) for e in errors)
    assert done == 3


async def test_leaving_stream_many_cancels_the_rest() -> None:
    with LocalServer(demo_transcript(), delay_s=0.05) as server:
        async with sk.AsyncStreamingClient(base_url=server.base_url, api_key="k") as client:
            requests = [{"model": "m", "messages": []} for _ in range(4)]
            seen = 0
            with anyio.fail_after(10):
                async with client.stream_many(requests) as items:
                    async for _item in items:
                        seen += 1
                        if seen == 3:
                            break
            assert seen == 3


async def test_many_streams_are_spread_over_several_http_clients() -> None:
    from streamkit.async_client import STREAMS_PER_HTTP_CLIENT

    n = STREAMS_PER_HTTP_CLIENT * 2 + 10
    short = demo_transcript(text="A short answer, so that many streams stay quick.")
    with LocalServer(short, delay_s=0.01) as server:
        client = sk.AsyncStreamingClient(base_url=server.base_url, api_key="k")
        requests = [{"model": "m", "messages": []} for _ in range(n)]
        finished = 0
        async with client.stream_many(requests, max_concurrent=n) as items:
            async for item in items:
                assert item.error is None, item.error
                finished += item.result is not None
        shards = client._pool._shards
        assert len(shards) == 3
        assert [active for _, active in shards] == [0, 0, 0]  # every stream gave its slot back
        await client.aclose()
        assert client._pool._shards == []
    assert finished == n
