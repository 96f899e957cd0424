"""The store contract, one body for MemoryStore (asyncio and trio) and RedisStore (a real Redis).

Two RedisStore instances on one server stand for two workers: what one writes, the other
reads, stops or takes over.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from streamkit.relay import (
    Batch,
    LeaseLostError,
    MemoryStore,
    Store,
    StoreFullError,
    StreamExistsError,
    resolve_cursor,
)

from ._helpers import wait_for

pytestmark = pytest.mark.anyio

CASES = [("memory", "asyncio"), ("memory", "trio"), ("redis", "asyncio")]
ORPHAN = [("failed", '{"error":"interrupted"}')]


def items(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [("text", f'{{"text":"w{i}"}}') for i in range(start, start + n)]


def texts(batch: Batch) -> list[str]:
    return [e.data for e in batch.entries]


@pytest.fixture(params=CASES, ids=["-".join(c) for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def anyio_backend(case: tuple[str, str]) -> str:
    return case[1]  # redis.asyncio runs on asyncio only


@pytest.fixture
async def stores(
    case: tuple[str, str], request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Store]]:
    """``stores(**limits)`` makes a store; for Redis each call is another "worker"."""
    made: list[Store] = []
    memory: dict[str, MemoryStore] = {}

    def make(**limits: Any) -> Store:
        if case[0] == "memory":  # one process: every "worker" shares the same memory
            key = repr(sorted(limits.items()))
            if key not in memory:
                limits.pop("lease_s", None)
                memory[key] = MemoryStore(**limits)
            return memory[key]
        from streamkit.relay import RedisStore

        store = RedisStore(request.getfixturevalue("redis_url"), **limits)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


async def test_append_read_finish(stores: Callable[..., Store]) -> None:
    store = stores()
    lease = await store.create("s1", owner="alice")
    assert await store.append(lease, items(3)) is False  # no stop requested
    batch = await store.read("s1", None, limit=10, timeout_s=0)
    assert [e.id for e in batch.entries] == [1, 2, 3] and not batch.finished
    assert texts(batch)[0] == '{"text":"w0"}' and batch.entries[0].event == "text"
    assert [e.id for e in (await store.read("s1", 1, limit=1, timeout_s=0)).entries] == [2]
    await store.finish(lease, [("done", "{}")])
    last = await store.read("s1", 3, limit=10, timeout_s=5)
    assert [(e.id, e.event) for e in last.entries] == [(4, "done")] and last.finished
    whole = await store.read("s1", 0, limit=10, timeout_s=0)
    assert [e.id for e in whole.entries] == [1, 2, 3, 4] and whole.finished
    assert await store.read("s1", 4, limit=10, timeout_s=0) == Batch((), finished=True)
    info = await store.info("s1")
    assert info is not None
    assert (info.owner, info.done, info.base, info.last_id) == ("alice", True, 0, 4)
    with pytest.raises(LeaseLostError):
        await store.append(lease, items(1))  # a finished stream takes no more writes
    assert await store.info("nope") is None
    assert (await store.read("nope", None, limit=10, timeout_s=0)).status == "gone"


async def test_readers_wait_for_new_events_or_time_out(stores: Callable[..., Store]) -> None:
    producer, reader = stores(), stores()
    lease = await producer.create("s1", owner="")
    await producer.append(lease, items(1))
    assert await reader.read("s1", 1, limit=10, timeout_s=0.05) == Batch(())  # a heartbeat
    got: list[Batch] = []
    async with anyio.create_task_group() as group:

        async def read() -> None:
            got.append(await reader.read("s1", 1, limit=10, timeout_s=10))

        group.start_soon(read)
        await anyio.wait_all_tasks_blocked()  # the reader waits (in XREAD BLOCK for Redis)
        await producer.append(lease, items(2, start=1))
    assert got[0].entries[0].id == 2


async def test_cursor_rules(stores: Callable[..., Store]) -> None:
    assert resolve_cursor(None, 0, 5) == 0 and resolve_cursor(0, 3, 9) == 3
    assert resolve_cursor(4, 3, 9) == 4 and resolve_cursor(9, 3, 9) == 9
    assert resolve_cursor(3, 3, 9) is None  # an earlier generation's id
    assert resolve_cursor(10, 3, 9) is None  # beyond the last event
    store = stores()
    lease = await store.create("s1", owner="")
    await store.append(lease, items(2))
    assert (await store.read("s1", 7, limit=10, timeout_s=0)).status == "expired"
    assert (await store.read("s1", -0, limit=10, timeout_s=0)).entries[0].id == 1


async def test_a_reused_id_starts_a_new_generation_numbered_on(
    stores: Callable[..., Store],
) -> None:
    store = stores()
    first = await store.create("chat-1", owner="alice")
    await store.append(first, items(2))
    await store.finish(first, [("done", "{}")])
    second = await store.create("chat-1", owner="alice")  # finished: reusable
    await store.append(second, items(2, start=10))
    batch = await store.read("chat-1", None, limit=10, timeout_s=0)
    assert [e.id for e in batch.entries] == [4, 5]  # the numbering goes on
    assert texts(batch) == ['{"text":"w10"}', '{"text":"w11"}']  # the old text is gone
    assert (await store.read("chat-1", 2, limit=10, timeout_s=0)).status == "expired"
    assert (await store.read("chat-1", 4, limit=10, timeout_s=0)).entries[0].id == 5
    info = await store.info("chat-1")
    assert info is not None and (info.base, info.last_id, info.done) == (3, 5, False)


async def test_a_stale_producer_cannot_write_into_a_taken_over_id(
    stores: Callable[..., Store],
) -> None:
    worker_a, worker_b = stores(lease_s=0.3), stores(lease_s=0.3)
    stale = await worker_a.create("chat-1", owner="alice")
    await worker_a.append(stale, items(2))
    with pytest.raises(StreamExistsError, match="another owner"):
        await worker_b.create("chat-1", owner="mallory")
    with pytest.raises(StreamExistsError, match="live"):
        await worker_b.create("chat-1", owner="alice")
    fresh = await worker_b.create("chat-1", owner="alice", replace=True)
    with pytest.raises(LeaseLostError):
        await worker_a.append(stale, items(1, start=50))
    with pytest.raises(LeaseLostError):
        await worker_a.finish(stale, [("done", "{}")])
    assert await worker_a.hold(stale) == "lost"
    await worker_b.append(fresh, items(1, start=7))
    batch = await worker_a.read("chat-1", None, limit=10, timeout_s=0)
    assert texts(batch) == ['{"text":"w7"}']  # only the new generation's events


async def test_stop_reaches_the_producer_from_any_worker(stores: Callable[..., Store]) -> None:
    producer, other = stores(lease_s=0.3), stores(lease_s=0.3)
    lease = await producer.create("s1", owner="")
    assert await other.request_stop("s1") is True
    with anyio.fail_after(10):
        assert await producer.hold(lease) == "stopped"
    assert await producer.append(lease, items(1)) is True  # seen on the next write too
    await producer.finish(lease, [("done", '{"stopped":true}')])
    assert await other.request_stop("s1") is False  # finished
    assert await other.request_stop("unknown") is False


async def test_the_oldest_events_are_dropped_past_max_events(
    stores: Callable[..., Store], case: tuple[str, str]
) -> None:
    store = stores(max_events=10)
    lease = await store.create("s1", owner="")
    for start in range(0, 300, 30):
        await store.append(lease, items(30, start))
    kept = await store.read("s1", 290, limit=100, timeout_s=0)
    assert [e.id for e in kept.entries] == list(range(291, 301))
    assert (await store.read("s1", None, limit=10, timeout_s=0)).status == "expired"
    if case[0] == "memory":  # exact; Redis's MAXLEN ~ trims whole nodes (~100 entries)
        assert (await store.read("s1", 289, limit=10, timeout_s=0)).status == "expired"


# --- MemoryStore only: its limits -------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_memory_store_evicts_finished_streams_first_then_refuses() -> None:
    store = MemoryStore(max_streams=3)
    leases = [await store.create(f"s{i}", owner="") for i in range(3)]
    await store.finish(leases[1], [("done", "{}")])
    await store.create("s3", owner="")  # evicts s1, the only finished one
    assert await store.info("s1") is None and await store.info("s0") is not None
    with pytest.raises(StoreFullError):
        await store.create("s4", owner="")
    assert store.stats().streams == 3 and store.stats().live_streams == 3


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_memory_store_ttl_evicts_and_fences_a_silent_stream() -> None:
    clock = FakeClock()
    store = MemoryStore(ttl_s=60, clock=clock)
    lease = await store.create("s1", owner="")
    await store.append(lease, items(1))
    clock.now = 59
    assert await store.info("s1") is not None
    clock.now = 61
    assert await store.info("s1") is None  # evicted: live, but silent too long
    assert await store.hold(lease) == "lost"
    with pytest.raises(LeaseLostError):
        await store.append(lease, items(1))


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_memory_store_stays_within_its_limits_under_any_load() -> None:
    """Seeded random traffic; after every write the counts are within the limits."""
    rng = random.Random(15)
    store = MemoryStore(max_streams=8, max_events=50, max_bytes=20_000)
    leases: dict[str, Any] = {}
    written = 0
    for step in range(3_000):
        stream_id = f"s{rng.randrange(12)}"
        lease = leases.get(stream_id)
        try:
            if lease is None:
                leases[stream_id] = await store.create(stream_id, owner="", replace=True)
                continue
            payload = "é" * rng.randrange(1, 400)
            batch = [("text", f'{{"text":"{payload}"}}')] * rng.randrange(1, 4)
            if rng.random() < 0.05:
                await store.finish(lease, batch)
                del leases[stream_id]
            else:
                await store.append(lease, batch)
            written += sum(len(d.encode()) for _, d in batch)
        except LeaseLostError:
            del leases[stream_id]
        except StoreFullError:
            pass
        stats = store.stats()
        assert stats.streams <= 8 and stats.bytes <= 20_000, step
        assert all(len(s.entries) <= 50 for s in store._streams.values())
        assert stats.bytes == sum(
            len(e.event) + len(e.data.encode()) for s in store._streams.values() for e in s.entries
        )
    assert written > 50 * 20_000  # the load was far beyond the limits


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_store_seals_an_orphaned_stream_once(redis_url: str) -> None:
    """A producer that stops renewing (its worker died): a reader ends the stream."""
    from streamkit.relay import RedisStore

    async with (
        RedisStore(redis_url, lease_s=0.3) as dead_worker,
        RedisStore(redis_url, lease_s=0.3) as worker,
    ):
        lease = await dead_worker.create("s1", owner="")
        await dead_worker.append(lease, items(2))
        assert await worker.read("s1", 2, limit=10, timeout_s=0, orphan=ORPHAN) == Batch(())
        client = sync_redis(redis_url)
        wait_for(
            lambda: not client.exists("streamkit:relay:{s1}:lease"), what="the lease to expire"
        )
        client.close()
        first = await worker.read("s1", 2, limit=10, timeout_s=0.1, orphan=ORPHAN)
        assert [(e.id, e.data) for e in first.entries] == [(3, ORPHAN[0][1])] and first.finished
        again = await worker.read("s1", 0, limit=10, timeout_s=0, orphan=ORPHAN)
        assert [e.id for e in again.entries] == [1, 2, 3]  # sealed once
        with pytest.raises(LeaseLostError):  # the worker that was "dead" comes back: fenced
            await dead_worker.append(lease, items(1))


def sync_redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_store_blocks_no_longer_than_the_clients_socket_timeout(
    redis_url: str,
) -> None:
    """A heartbeat longer than the client's read timeout comes back empty, not failed."""
    import redis.asyncio

    from streamkit.relay import RedisStore

    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.4)
    async with RedisStore(client) as store:
        lease = await store.create("s1", owner="")
        await store.append(lease, items(1))
        # several XREAD BLOCKs of 0.2 s, each well under the client's read timeout
        assert await store.read("s1", 1, limit=10, timeout_s=1) == Batch(())
        assert await store.read("s1", None, limit=10, timeout_s=1) != Batch(())
    await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_readers_share_one_blocking_read_whatever_their_number(
    redis_url: str,
) -> None:
    """60 readers of 30 streams on a pool of 4 connections: each gets its stream, in order.

    A third of the readers give up half-way (a browser leaves), the round's leader among
    them at times; the others still get every event.
    """
    import redis.asyncio

    from streamkit.relay import RedisStore

    pool = redis.asyncio.BlockingConnectionPool.from_url(redis_url, max_connections=4)
    client = redis.asyncio.Redis(connection_pool=pool)
    got: dict[tuple[int, int], list[str]] = {}

    async def reader(stream: int, reader_no: int, stop_after: int | None) -> None:
        texts: list[str] = got.setdefault((stream, reader_no), [])
        cursor = None
        while True:
            batch = await store.read(f"s{stream}", cursor, limit=3, timeout_s=10)
            texts += [e.data for e in batch.entries]
            if batch.entries:
                cursor = batch.entries[-1].id
            if batch.finished or (stop_after is not None and len(texts) >= stop_after):
                return

    async with RedisStore(client) as store:
        leases = [await store.create(f"s{n}", owner="") for n in range(30)]
        async with anyio.create_task_group() as group:
            for n in range(30):
                group.start_soon(reader, n, 0, None)
                group.start_soon(reader, n, 1, 5 if n % 3 == 0 else None)
            await anyio.wait_all_tasks_blocked()
            for step in range(10):
                for n, lease in enumerate(leases):
                    await store.append(lease, items(1, start=100 * n + step))
            for lease in leases:
                await store.finish(lease, [("done", "{}")])
        assert store._tailer.watched <= 30
    await client.aclose()
    await pool.disconnect()
    for (n, reader_no), texts in got.items():
        expected = [d for _, d in items(10, start=100 * n)] + ["{}"]
        if reader_no == 1 and n % 3 == 0:
            assert texts == expected[: len(texts)] and len(texts) >= 5
        else:
            assert texts == expected
