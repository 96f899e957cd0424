"""RedisStore: relayed streams in Redis, so that any worker can serve any stream.

Per stream id three keys, in one hash slot (``{id}``, for Redis Cluster):

- ``<prefix>:{<id>}:log``: a Redis Stream; entry ``0-<n>`` is event ``n`` with fields
  ``e`` (event) and ``d`` (data). ``XADD ... MAXLEN ~ max_events`` bounds it; readers
  tail it with ``XREAD BLOCK``.
- ``<prefix>:{<id>}:meta``: a hash: ``owner``, ``base``, ``seq`` (the last id),
  ``done``, ``stop``.
- ``<prefix>:{<id>}:lease``: the producer's fencing token, ``SET ... NX PX``-style,
  renewed every ``lease_s / 3`` seconds. Every write runs as a Lua script that first
  checks the token, so a producer that lost its lease (paused past ``lease_s``, or
  taken over with ``replace=True``) can never write into the stream again.

Every write refreshes a TTL of ``ttl_s`` on the log and the hash. A stream that is not
done and whose lease has expired is *orphaned* (its worker died): the first reader to
notice stores the terminal ``interrupted`` event, atomically, once.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from streamkit.errors import ConfigurationError
from streamkit.relay._errors import LeaseLostError, StoreUnavailableError, StreamExistsError
from streamkit.relay._redis_tail import Tailer
from streamkit.relay._store import (
    Batch,
    HoldEnd,
    Lease,
    Store,
    StreamInfo,
    resolve_cursor,
)
from streamkit.relay._wire import Entry, Item

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ModuleNotFoundError as exc:  # pragma: no cover - only without the extra
    if exc.name != "redis" and not (exc.name or "").startswith("redis."):
        raise
    raise ModuleNotFoundError(
        "streamkit.relay.RedisStore needs redis>=5: pip install 'streamkit[redis]'",
        name=exc.name,
    ) from exc

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

# KEYS: meta, log, lease. ARGV: owner, token, replace, lease_ms, ttl_s
_CREATE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
local base = 0
if owner then
  if owner ~= ARGV[1] then return 'other-owner' end
  if redis.call('HGET', KEYS[1], 'done') ~= '1' and redis.call('EXISTS', KEYS[3]) == 1
     and ARGV[3] ~= '1' then
    return 'live'
  end
  base = tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[4])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'base', base, 'seq', base, 'done', '0', 'stop', '0')
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 'ok'
"""

# the shared head of the writing scripts: append ARGV[first..] as (event, data) pairs; the
# last entry of a finished stream carries f=1, so that a reader tailing the log knows it
_ADD = """
local function add(first, maxlen, final)
  local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
  for i = first, #ARGV, 2 do
    seq = seq + 1
    local id = '0-' .. seq
    if final and i + 2 > #ARGV then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, id,
                 'e', ARGV[i], 'd', ARGV[i + 1], 'f', '1')
    else
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, id, 'e', ARGV[i], 'd', ARGV[i + 1])
    end
  end
  redis.call('HSET', KEYS[1], 'seq', seq)
end
"""

# KEYS: meta, log, lease. ARGV: token, max_events, ttl_s, done (0/1), pairs...
_APPEND = (
    _ADD
    + """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
add(5, ARGV[2], ARGV[4] == '1')
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'done', '1')
  redis.call('DEL', KEYS[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if redis.call('HGET', KEYS[1], 'stop') == '1' then return 1 end
return 0
"""
)

# KEYS: meta, log, lease. ARGV: token, lease_ms, ttl_s
_RENEW = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if redis.call('HGET', KEYS[1], 'stop') == '1' then return 1 end
return 0
"""

# KEYS: meta. Sets the stop flag of a live stream.
_STOP = """
if redis.call('HGET', KEYS[1], 'done') ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'stop', '1')
return 1
"""

# KEYS: meta, log, lease. ARGV: max_events, ttl_s, pairs... Ends an orphaned stream.
_SEAL = (
    _ADD
    + """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'done') ~= '0' then return 0 end
add(3, ARGV[1], true)
redis.call('HSET', KEYS[1], 'done', '1')
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""
)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.contextmanager
def _redis_errors() -> Iterator[None]:
    """Translate redis-py and socket errors into :class:`StoreUnavailableError`."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailableError(f"Redis failed: {type(exc).__name__}") from exc


class RedisStore(Store):
    """Streams in Redis (Redis Streams + a fenced producer lease); for many workers.

    Any worker sharing the Redis server serves any stream: the browser may reconnect
    to another worker, and a worker that dies takes only its producers with it (their
    streams end with ``interrupted`` once their lease expires).

    Limits: ``max_events`` per stream (``XADD MAXLEN ~``: Redis trims whole radix-tree
    nodes, so a stream may briefly hold up to ~100 more), ``ttl_s`` after the last
    write. The readers of one process share one blocking ``XREAD`` over every stream
    they wait on, so the connections in use do not grow with the readers.

    Runs on asyncio only (``redis.asyncio``); :class:`MemoryStore` also runs on trio.

    Args:
        redis: a ``redis.asyncio.Redis`` client (not closed by :meth:`aclose`), or a
            URL such as ``"redis://127.0.0.1:6379/0"`` (the client made from it is
            closed by :meth:`aclose`).
        prefix: the key prefix.
        max_events: events kept per stream.
        ttl_s: seconds a stream is kept after its last write (600: a reload within
            10 minutes still resumes).
        lease_s: seconds a producer's lease lasts without renewal; a dead worker's
            streams are declared ``interrupted`` after about this long.
        max_connections: with a URL, the connections the store's pool opens at most
            (a ``BlockingConnectionPool``: past it, commands wait for a free one). A
            client you pass keeps its own pool: redis-py's default ``ConnectionPool``
            fails past its limit instead of waiting, so give it a
            ``BlockingConnectionPool`` too.

    Raises:
        ConfigurationError: a limit is not positive, or ``lease_s < 0.3``.
    """

    def __init__(
        self,
        redis: Redis | str,
        *,
        prefix: str = "streamkit:relay",
        max_events: int = 10_000,
        ttl_s: int = 600,
        lease_s: float = 10.0,
        max_connections: int = 64,
    ) -> None:
        if max_events <= 0 or ttl_s <= 0 or max_connections <= 0:
            raise ConfigurationError(
                "RedisStore: max_events, ttl_s and max_connections must be > 0"
            )
        if lease_s < 0.3:
            raise ConfigurationError("RedisStore: lease_s must be >= 0.3 seconds")
        self._pool: Any = None
        if isinstance(redis, str):
            # a pool that waits for a free connection rather than failing at its limit
            self._pool = aioredis.BlockingConnectionPool.from_url(
                redis, max_connections=max_connections, timeout=20
            )
        client: Any = redis if self._pool is None else aioredis.Redis(connection_pool=self._pool)
        self._redis: Any = client
        self.prefix = prefix
        self.max_events = max_events
        self.ttl_s = int(ttl_s)
        self.lease_s = lease_s
        # redis-py's default read timeout is 5 s (8.x; None before): a blocking XREAD
        # must end well before it, so that a busy event loop still reads the answer in time
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout", 5.0)
        self._max_block_s: float | None = None if timeout is None else 0.5 * float(timeout)
        self._wake_key = f"{prefix}:wake:{secrets.token_urlsafe(9)}"
        self._tailer = Tailer(
            self._xread, self._wake, self._wake_key, self._parse, self._max_block_s
        )
        self._create = client.register_script(_CREATE)
        self._append = client.register_script(_APPEND)
        self._renew = client.register_script(_RENEW)
        self._stop = client.register_script(_STOP)
        self._seal = client.register_script(_SEAL)

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r}, lease_s={self.lease_s})"

    def _keys(self, stream_id: str) -> list[str]:
        slot = f"{self.prefix}:{{{stream_id}}}"
        return [f"{slot}:meta", f"{slot}:log", f"{slot}:lease"]

    async def aclose(self) -> None:
        """Close the Redis client and its connections if this store made it from a URL."""
        if self._pool is not None:
            with _redis_errors():
                await self._redis.aclose()
                await self._pool.disconnect()

    # --- producer side -----------------------------------------------------------------

    async def create(self, stream_id: str, *, owner: str, replace: bool = False) -> Lease:
        """See :meth:`Store.create`."""
        token = secrets.token_urlsafe(12)
        lease_ms = max(1, round(self.lease_s * 1000))
        args = [owner, token, "1" if replace else "0", lease_ms, self.ttl_s]
        with _redis_errors():
            answer = _str(await self._create(keys=self._keys(stream_id), args=args))
        if answer == "other-owner":
            raise StreamExistsError(f"stream {stream_id!r} belongs to another owner")
        if answer == "live":
            raise StreamExistsError(f"stream {stream_id!r} is live; pass replace=True")
        return Lease(stream_id, owner, token)

    async def _write(self, lease: Lease, items: Sequence[Item], *, done: bool) -> bool:
        args: list[Any] = [lease.token, self.max_events, self.ttl_s, "1" if done else "0"]
        for event, data in items:
            args += (event, data)
        with _redis_errors():
            answer = int(await self._append(keys=self._keys(lease.stream_id), args=args))
        if answer < 0:
            raise LeaseLostError(f"stream {lease.stream_id!r}: this producer lost its lease")
        return answer == 1

    async def append(self, lease: Lease, items: Sequence[Item]) -> bool:
        """See :meth:`Store.append`."""
        return await self._write(lease, items, done=False)

    async def finish(self, lease: Lease, items: Sequence[Item]) -> None:
        """See :meth:`Store.finish`."""
        await self._write(lease, items, done=True)

    async def hold(self, lease: Lease) -> HoldEnd:
        """See :meth:`Store.hold`: renews the lease every ``lease_s / 3`` seconds.

        A renewal that fails (Redis unreachable) is retried at the next interval; once
        the lease must have expired, the lease counts as lost.
        """
        keys = self._keys(lease.stream_id)
        args = [lease.token, max(1, round(self.lease_s * 1000)), self.ttl_s]
        interval = self.lease_s / 3
        failures = 0
        while True:
            await anyio.sleep(interval)
            try:
                with _redis_errors():
                    answer = int(await self._renew(keys=keys, args=args))
            except StoreUnavailableError:
                failures += 1
                if failures >= 3:
                    return "lost"
                continue
            failures = 0
            if answer < 0:
                return "lost"
            if answer == 1:
                return "stopped"

    async def request_stop(self, stream_id: str) -> bool:
        """See :meth:`Store.request_stop`."""
        with _redis_errors():
            return int(await self._stop(keys=self._keys(stream_id)[:1])) == 1

    # --- reader side ---------------------------------------------------------------------

    async def info(self, stream_id: str) -> StreamInfo | None:
        """See :meth:`Store.info`."""
        meta = self._keys(stream_id)[0]
        with _redis_errors():
            owner, done, base, seq = await self._redis.hmget(meta, "owner", "done", "base", "seq")
        if owner is None:
            return None
        return StreamInfo(_str(owner), _str(done) == "1", int(base), int(seq))

    async def read(
        self,
        stream_id: str,
        after: int | None,
        *,
        limit: int,
        timeout_s: float,
        orphan: Sequence[Item] = (),
    ) -> Batch:
        """See :meth:`Store.read`.

        A reader with a cursor and ``timeout_s > 0`` waits for the process's one shared
        ``XREAD BLOCK`` (see ``streamkit.relay._redis_tail``), and checks the stream's
        state (gone, expired, finished, orphaned) in one pipelined round trip only when
        nothing came; so a read past the end of a finished stream says ``finished``
        after ``timeout_s``, not at once. The last entry of a finished stream is marked
        in the log itself (``f``), so a tailing reader knows the end without another
        round trip. Each ``XREAD BLOCK`` lasts at most half the client's
        ``socket_timeout`` (5 s when the client sets none); a wait repeats it.
        """
        meta, log, lease = self._keys(stream_id)
        if after and timeout_s > 0:
            # a reader tailing the stream: wait for the process's shared XREAD first; the
            # checks below run when nothing came, or when the reader is behind
            got = await self._tailer.wait(log, after, limit, timeout_s)
            if got is not None:
                return Batch(got[0], finished=got[1])
        start = f"0-{after or 0}"
        for _ in range(2):  # a second pass only after sealing an orphan
            with _redis_errors():
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.hmget(meta, "base", "seq", "done")
                    pipe.exists(lease)
                    pipe.xread({log: start}, count=limit)
                    (base, seq, done), leased, answer = await pipe.execute()
            if base is None:
                return Batch((), status="gone")
            base, seq = int(base), int(seq)
            cursor = resolve_cursor(after, base, seq)
            if cursor is None:
                return Batch((), status="expired")
            if answer:
                return self._batch(answer, cursor)
            if cursor < seq:
                return Batch((), status="expired")  # the log expired or was trimmed
            if _str(done) == "1":
                return Batch((), finished=True)
            if leased or not orphan:
                break
            args: list[Any] = [self.max_events, self.ttl_s]
            for event, data in orphan:
                args += (event, data)
            with _redis_errors():
                await self._seal(keys=[meta, log, lease], args=args)
        if timeout_s <= 0 or after:
            return Batch(())  # (a tailing reader has waited already)
        assert cursor is not None  # every pass that ends the loop set it
        got = await self._tailer.wait(log, cursor, limit, timeout_s)
        return Batch(()) if got is None else Batch(got[0], finished=got[1])

    async def _xread(self, keys: dict[str, str], count: int, block_ms: int) -> Any:
        with _redis_errors():
            return await self._redis.xread(keys, count=count, block=block_ms)

    async def _wake(self) -> None:
        with _redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
                pipe.expire(self._wake_key, 60)
                await pipe.execute()

    def _parse(self, entry_id: Any, fields: dict[Any, Any]) -> tuple[Entry, bool]:
        return self._entry(entry_id, fields), self._final(fields)

    def _batch(self, answer: Any, cursor: int) -> Batch:
        raw = answer[0][1]
        entries = [self._entry(entry_id, fields) for entry_id, fields in raw]
        if entries[0].id != cursor + 1:
            return Batch((), status="expired")  # trimmed past the cursor
        return Batch(entries, finished=self._final(raw[-1][1]))

    @staticmethod
    def _final(fields: dict[Any, Any]) -> bool:
        return b"f" in fields or "f" in fields

    @staticmethod
    def _entry(entry_id: Any, fields: dict[Any, Any]) -> Entry:
        number = int(_str(entry_id).partition("-")[2])
        event = fields.get(b"e", fields.get("e"))
        data = fields.get(b"d", fields.get("d"))
        return Entry(number, _str(event), _str(data))
