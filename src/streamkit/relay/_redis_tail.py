"""One blocking ``XREAD`` for every Redis Stream the readers of this process wait on.

A reader that waits for new events does not block a Redis connection of its own: it
registers the stream's log with the process's :class:`Tailer` and waits on an event. One of
the waiting readers at a time, the *leader*, runs a round: a single ``XREAD BLOCK`` over
every watched log (and a wake-up key, so that a newly watched log joins at once), then
hands each log's new entries to its readers and steps down, waking a waiting reader to
lead the next round. So the Redis connections in use do not grow with the readers, and
one round trip serves every stream that had news.

Each watched log keeps its last :data:`RECENT` entries; a reader further behind than that
reads Redis itself (the caller's fallback). A log nobody has waited on for
:data:`IDLE_S` seconds is dropped from the rounds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any

import anyio

from streamkit.relay._wire import Entry

__all__ = ["COALESCE_ABOVE", "IDLE_S", "RECENT", "Tailer"]

#: Entries kept per watched log for the readers that are a little behind its tail.
RECENT = 256
#: Seconds after its last reader left that a log stops being watched.
IDLE_S = 10.0

#: Watched logs above which a round first waits ``COALESCE_PER_LOG_S`` per log (at most
#: ``COALESCE_MAX_S``) for entries to gather: 5 ms at 1,000 logs, which then cost one round
#: instead of dozens, each of which Redis and the client pay for every watched log.
COALESCE_ABOVE = 16
COALESCE_PER_LOG_S = 5e-6
COALESCE_MAX_S = 0.005

#: ``xread({key: after_id}, count, block_ms) -> [(key, [(entry_id, fields), ...]), ...]``
XRead = Callable[[dict[str, str], int, int], Awaitable[Any]]


class _Waiter:
    __slots__ = ("active", "event")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.active = True


class _Watch:
    __slots__ = ("cursor", "idle_since", "readers", "recent", "waiters")

    def __init__(self, cursor: int, now: float) -> None:
        self.cursor = cursor
        """The id after which the leader reads this log."""
        self.recent: deque[tuple[Entry, bool]] = deque(maxlen=RECENT)
        self.waiters: list[_Waiter] = []
        self.readers = 0
        self.idle_since = now

    def since(self, after: int, limit: int) -> tuple[list[Entry], bool] | None:
        """Up to ``limit`` kept entries after ``after``; ``None`` if none, or not kept."""
        recent = self.recent
        if self.cursor <= after or not recent:
            return None
        start = after + 1 - recent[0][0].id
        if start < 0:
            return None  # older than what is kept
        items = list(islice(recent, start, start + limit))
        return [entry for entry, _ in items], items[-1][1]


class Tailer:
    """See the module docstring.

    Args:
        xread: runs ``XREAD BLOCK``.
        wake: appends to ``wake_key`` (so that a running round returns).
        wake_key: this process's wake-up stream.
        parse: ``(entry_id, fields) -> (Entry, ends the stream)``.
        max_block_s: the longest ``XREAD BLOCK`` (under the client's read timeout).
    """

    def __init__(
        self,
        xread: XRead,
        wake: Callable[[], Awaitable[None]],
        wake_key: str,
        parse: Callable[[Any, Any], tuple[Entry, bool]],
        max_block_s: float | None,
    ) -> None:
        self._xread = xread
        self._wake = wake
        self._wake_key = wake_key
        self._wake_last = "0-0"
        self._parse = parse
        self._max_block_s = max_block_s
        self._watches: dict[str, _Watch] = {}
        self._standby: deque[_Waiter] = deque()
        self._leading = False

    @property
    def watched(self) -> int:
        """How many logs the rounds read now."""
        return len(self._watches)

    async def wait(
        self, log: str, after: int, limit: int, timeout_s: float
    ) -> tuple[list[Entry], bool] | None:
        """Entries of ``log`` after ``after`` (and whether the last ends the stream).

        ``None`` when none came within ``timeout_s`` seconds, or when the reader is
        further behind than the entries kept here (then read Redis directly).
        """
        watch = self._watches.get(log)
        if watch is None:
            watch = self._watches[log] = _Watch(after, time.monotonic())
            await self._wake()  # a round in progress must start over with this log
        watch.readers += 1
        deadline = anyio.current_time() + timeout_s
        try:
            while True:
                got = watch.since(after, limit)
                if got is not None:
                    return got
                if watch.cursor > after:
                    return None  # behind what is kept here
                remaining = deadline - anyio.current_time()
                if remaining <= 0:
                    return None
                if not self._leading:
                    await self._lead(remaining, limit)
                    continue
                waiter = _Waiter()
                watch.waiters.append(waiter)
                self._standby.append(waiter)
                try:
                    with anyio.move_on_after(remaining):
                        await waiter.event.wait()
                finally:
                    waiter.active = False
                    if waiter in watch.waiters:
                        watch.waiters.remove(waiter)
        finally:
            watch.readers -= 1
            if watch.readers == 0:
                watch.idle_since = time.monotonic()
            self._pass_lead()

    async def _lead(self, remaining: float, limit: int) -> None:
        """One round: ``XREAD BLOCK`` every watched log, hand out what came."""
        self._leading = True
        try:
            now = time.monotonic()
            keys = {self._wake_key: self._wake_last}
            for log, watch in list(self._watches.items()):
                if watch.readers == 0 and now - watch.idle_since > IDLE_S:
                    del self._watches[log]
                else:
                    keys[log] = f"0-{watch.cursor}"
            if len(keys) > COALESCE_ABOVE:
                # a round costs O(watched logs) and ends at the first new entry: with many
                # logs, let the entries of a few milliseconds gather first
                await anyio.sleep(min(COALESCE_MAX_S, COALESCE_PER_LOG_S * len(keys)))
            block_s = remaining if self._max_block_s is None else min(remaining, self._max_block_s)
            answer = await self._xread(keys, limit, max(1, round(block_s * 1000)))
            for key, raw in answer or ():
                name = key.decode() if isinstance(key, bytes) else str(key)
                if name == self._wake_key:
                    last = raw[-1][0]
                    self._wake_last = last.decode() if isinstance(last, bytes) else str(last)
                    continue
                fed = self._watches.get(name)
                if fed is None:
                    continue
                for entry_id, fields in raw:
                    fed.recent.append(self._parse(entry_id, fields))
                fed.cursor = fed.recent[-1][0].id
                for waiter in fed.waiters:
                    waiter.event.set()
                fed.waiters.clear()
        finally:
            self._leading = False
            self._pass_lead()

    def _pass_lead(self) -> None:
        """With nobody leading, wake one waiting reader to lead the next round."""
        if self._leading:
            return
        while self._standby:
            waiter = self._standby.popleft()
            if waiter.active and not waiter.event.is_set():
                waiter.event.set()
                return
