"""A concurrency limiter for many streams: bounded, prioritized, anyio-based.

Shared by any number of streams (e.g. through
:meth:`AsyncStreamingClient.stream_many`), it lets ``max_concurrent`` streams run
and queues the rest, most urgent first; a full queue raises
:class:`~streamkit.errors.QueueFullError` at once instead of growing without bound.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from streamkit.errors import QueueFullError

__all__ = ["ConcurrencyLimiter"]


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False


class ConcurrencyLimiter:
    """Lets at most ``max_concurrent`` holders run; the others wait in priority order.

    Args:
        max_concurrent: how many slots exist (>= 1).
        max_waiting: how many callers may wait for a slot; one more raises
            :class:`~streamkit.errors.QueueFullError`. ``None``: unbounded.

    Priorities: a higher ``priority`` is served first; equal priorities are served
    in arrival order (FIFO). Cancelling a waiting caller removes it from the queue.
    """

    def __init__(self, max_concurrent: int, *, max_waiting: int | None = None) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if max_waiting is not None and max_waiting < 0:
            raise ValueError("max_waiting must be >= 0 or None")
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self._in_use = 0
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._counter = itertools.count()
        self._waiting = 0

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Callers currently waiting for a slot."""
        return self._waiting

    async def acquire(self, priority: int = 0) -> None:
        """Wait for a slot (higher ``priority`` first).

        Raises:
            QueueFullError: ``max_waiting`` callers are already waiting.
        """
        if self._in_use < self.max_concurrent and not self._waiting:
            self._in_use += 1
            return
        if self.max_waiting is not None and self._waiting >= self.max_waiting:
            raise QueueFullError(
                f"{self._waiting} streams already wait for one of {self.max_concurrent} slots "
                f"(max_waiting={self.max_waiting})"
            )
        waiter = _Waiter()
        heapq.heappush(self._heap, (-priority, next(self._counter), waiter))
        self._waiting += 1
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self.release()  # granted and cancelled in the same instant: pass it on
            else:
                self._waiting -= 1
                self._heap = [item for item in self._heap if item[2] is not waiter]
                heapq.heapify(self._heap)
            raise

    def release(self) -> None:
        """Give a slot back; the most urgent waiter gets it."""
        while self._heap:
            _, _, waiter = heapq.heappop(self._heap)
            self._waiting -= 1
            waiter.granted = True
            waiter.event.set()
            return  # the slot passes straight to the waiter
        self._in_use -= 1

    @asynccontextmanager
    async def slot(self, priority: int = 0) -> AsyncIterator[None]:
        """Hold a slot for the body of an ``async with`` block."""
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
