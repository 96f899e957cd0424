"""Where relayed streams live: the :class:`Store` contract and the in-process :class:`MemoryStore`.

A stream has one producer (holding a *lease*) and any number of readers, each with its
own cursor (the id of the last event it received). The producer appends numbered
entries and finally a terminal one; readers read after their cursor, waiting for new
entries. Nothing is pushed to a reader: a slow reader only lags, it never makes the
store (or the producer) hold more.

Cursor rules, the same for every store (:func:`resolve_cursor`):

- no cursor, or ``0``: from the first event of the stream's current generation;
- a cursor from an earlier generation of a reused stream id, beyond the last event,
  or older than the oldest event still kept: ``expired``.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import anyio

from streamkit.errors import ConfigurationError
from streamkit.relay._errors import LeaseLostError, StoreFullError, StreamExistsError
from streamkit.relay._wire import Entry, Item

__all__ = [
    "Batch",
    "HoldEnd",
    "Lease",
    "MemoryStore",
    "StoreStats",
    "Store",
    "StreamInfo",
    "resolve_cursor",
]

#: Why :meth:`Store.hold` returned: a stop was requested, or the lease is gone.
HoldEnd = Literal["stopped", "lost"]


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to write one generation of a stream (fenced by ``token``)."""

    stream_id: str
    owner: str
    token: str


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a store knows about a stream."""

    owner: str
    """The owner given at creation (what the relay's auth hook returned)."""
    done: bool
    """The terminal event is stored."""
    base: int
    """Ids of the current generation start at ``base + 1`` (0 unless the id was reused)."""
    last_id: int
    """The id of the newest event (``base`` when there is none yet)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """The result of :meth:`Store.read`."""

    entries: Sequence[Entry]
    """Events after the cursor, oldest first; empty when none arrived in time."""
    finished: bool = False
    """No event will follow ``entries``: the stream is done and these reach its end."""
    status: Literal["ok", "gone", "expired"] = "ok"
    """``gone``: no such stream (any more); ``expired``: the events after the cursor
    are no longer kept, or the cursor belongs to an earlier generation."""


def resolve_cursor(after: int | None, base: int, last_id: int) -> int | None:
    """The id to read after, or ``None`` when the cursor is expired.

    Args:
        after: the reader's cursor (``None`` or ``0``: from the start).
        base: the stream's ``base`` (see :class:`StreamInfo`).
        last_id: the id of the stream's newest event.
    """
    if not after:
        return base
    if after <= base or after > last_id:
        return None
    return after


class Store(ABC):
    """The contract every relay store follows (async; safe for many concurrent tasks).

    Stores bound what they keep; each documents its limits. ``items`` are
    ``(event, data)`` pairs; the store numbers them.
    """

    @abstractmethod
    async def create(self, stream_id: str, *, owner: str, replace: bool = False) -> Lease:
        """Start a new generation of ``stream_id`` and return its lease.

        An id whose previous generation finished (or whose producer died) is reused:
        its old events are dropped and the numbering continues.

        Raises:
            StreamExistsError: the id belongs to another owner, or is live and
                ``replace`` is false. With ``replace=True`` a live generation is taken
                over: its producer's next write raises :class:`LeaseLostError`.
            StoreFullError: the store's stream limit is reached by live streams.
            StoreUnavailableError: the backend failed.
        """

    @abstractmethod
    async def append(self, lease: Lease, items: Sequence[Item]) -> bool:
        """Store ``items`` as the next events; return whether a stop was requested.

        Raises:
            LeaseLostError: ``lease`` no longer holds the stream (nothing is written).
            StoreUnavailableError: the backend failed.
        """

    @abstractmethod
    async def finish(self, lease: Lease, items: Sequence[Item]) -> None:
        """Store the last ``items`` and mark the stream done, atomically.

        ``items`` end with the terminal event; the lease is released.

        Raises:
            LeaseLostError: ``lease`` no longer holds the stream (nothing is written).
            StoreUnavailableError: the backend failed.
        """

    @abstractmethod
    async def hold(self, lease: Lease) -> HoldEnd:
        """Keep ``lease`` alive until a stop is requested or the lease is lost.

        Returns ``"stopped"`` or ``"lost"``; renews the lease where it expires. The
        producer cancels it when the stream ends.
        """

    @abstractmethod
    async def request_stop(self, stream_id: str) -> bool:
        """Ask the producer of a live stream to stop; ``False`` when it is not live.

        The producer sees it at its next write or lease renewal, on any worker.
        """

    @abstractmethod
    async def info(self, stream_id: str) -> StreamInfo | None:
        """The stream's owner and state, ``None`` when there is no such stream."""

    @abstractmethod
    async def read(
        self,
        stream_id: str,
        after: int | None,
        *,
        limit: int,
        timeout_s: float,
        orphan: Sequence[Item] = (),
    ) -> Batch:
        """Return up to ``limit`` events after ``after``, waiting for one if needed.

        When there is none, waits up to ``timeout_s`` seconds (``0``: do not wait). With
        ``timeout_s=0`` a read at the end of a finished stream returns ``finished`` at
        once; with a timeout, a store may first wait (the relay never reads past an
        entry it got with ``finished``).

        Args:
            stream_id: the stream.
            after: the reader's cursor (see :func:`resolve_cursor`).
            limit: the most entries to return (the reader's queue bound).
            timeout_s: how long to wait for a new event, seconds.
            orphan: terminal items to store when the stream turns out to be orphaned
                (not done, and no producer holds its lease: the worker running it
                died). Stores whose producers cannot die apart from them ignore it.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to close by default
        """Release the store's resources (connections). The relay calls it on exit."""

    async def __aenter__(self) -> Store:
        """Use as an async context manager: closes on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.aclose()


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What a :class:`MemoryStore` holds right now."""

    streams: int
    live_streams: int
    events: int
    bytes: int
    """UTF-8 bytes of the stored event names and data."""


def _size(entry: Entry) -> int:
    data = entry.data
    return len(entry.event) + (len(data) if data.isascii() else len(data.encode()))


class _Stream:
    __slots__ = (
        "base",
        "changed",
        "done",
        "entries",
        "last_id",
        "lost",
        "nbytes",
        "owner",
        "signal",
        "stop",
        "token",
        "touched",
    )

    def __init__(self, owner: str, token: str, base: int, now: float) -> None:
        self.owner = owner
        self.token = token
        self.base = base
        self.last_id = base
        self.entries: list[Entry] = []
        self.nbytes = 0
        self.done = False
        self.stop = False
        self.lost = False
        self.touched = now
        self.signal = anyio.Event()  # stop requested or lease lost: wakes the producer
        self.changed: anyio.Event | None = None  # new entries: wakes the readers

    @property
    def first_id(self) -> int:
        return self.entries[0].id if self.entries else self.last_id + 1

    def wake(self) -> None:
        changed, self.changed = self.changed, None
        if changed is not None:
            changed.set()


class MemoryStore(Store):
    """Streams in this process's memory, bounded; for one worker (or tests).

    Limits (each enforced on every write, so they hold at all times):

    - ``max_streams``: creating one more evicts the least recently written *finished*
      stream; when all are live, :class:`StoreFullError` (the relay answers 503).
    - ``max_events`` per stream: the oldest events of a stream are dropped beyond it
      (a reader whose cursor falls behind gets ``expired``).
    - ``max_bytes`` in total (event names + data, UTF-8): beyond it, finished streams
      are evicted (least recently written first), then the oldest events of the
      largest live stream are dropped.
    - ``ttl_s``: a stream not written for ``ttl_s`` seconds is evicted (a live one
      loses its lease, so its producer stops).

    Args:
        max_streams: streams kept at once. The default, 1,000, is a busy worker's
            concurrent chats plus the recently finished ones.
        max_events: events kept per stream. 10,000 covers an 8k-token answer
            streamed a token per event.
        max_bytes: bytes kept in total; 64 MiB is 1,000 streams of 64 KiB.
        ttl_s: seconds a stream is kept after its last write: a reload within 10
            minutes (the default) still resumes.
        clock: monotonic seconds (tests pass a fake one).

    Raises:
        ConfigurationError: a limit is not positive.
    """

    def __init__(
        self,
        *,
        max_streams: int = 1_000,
        max_events: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        ttl_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("max_streams", max_streams),
            ("max_events", max_events),
            ("max_bytes", max_bytes),
            ("ttl_s", ttl_s),
        ):
            if not value > 0:
                raise ConfigurationError(f"MemoryStore({name}={value!r}): must be > 0")
        self.max_streams = max_streams
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        # least recently written first (move_to_end on every write)
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        self._bytes = 0

    def __repr__(self) -> str:
        s = self.stats()
        return f"MemoryStore(streams={s.streams}, events={s.events}, bytes={s.bytes})"

    def stats(self) -> StoreStats:
        """Counts of what the store holds now (O(streams))."""
        streams = self._streams.values()
        return StoreStats(
            streams=len(self._streams),
            live_streams=sum(1 for s in streams if not s.done),
            events=sum(len(s.entries) for s in streams),
            bytes=self._bytes,
        )

    # --- producer side -----------------------------------------------------------------

    async def create(self, stream_id: str, *, owner: str, replace: bool = False) -> Lease:
        """See :meth:`Store.create`."""
        now = self._clock()
        self._expire(now)
        old = self._streams.get(stream_id)
        base = 0
        if old is not None:
            if old.owner != owner:
                raise StreamExistsError(f"stream {stream_id!r} belongs to another owner")
            if not old.done and not replace:
                raise StreamExistsError(f"stream {stream_id!r} is live; pass replace=True")
            base = old.last_id
            self._evict(stream_id)
        if len(self._streams) >= self.max_streams:
            victim = next((k for k, s in self._streams.items() if s.done), None)
            if victim is None:
                raise StoreFullError(f"{self.max_streams} live streams: the store is full")
            self._evict(victim)
        token = secrets.token_urlsafe(12)
        self._streams[stream_id] = _Stream(owner, token, base, now)
        return Lease(stream_id, owner, token)

    def _held(self, lease: Lease) -> _Stream:
        stream = self._streams.get(lease.stream_id)
        if stream is None or stream.token != lease.token or stream.lost or stream.done:
            raise LeaseLostError(f"stream {lease.stream_id!r}: this producer lost its lease")
        return stream

    def _add(self, stream: _Stream, stream_id: str, items: Sequence[Item]) -> None:
        added = 0
        entries = stream.entries
        for event, data in items:
            stream.last_id += 1
            entry = Entry(stream.last_id, event, data)
            entries.append(entry)
            added += _size(entry)
        stream.nbytes += added
        self._bytes += added
        stream.touched = self._clock()
        self._streams.move_to_end(stream_id)
        excess = len(entries) - self.max_events
        if excess > 0:
            self._drop_oldest(stream, excess)
        if self._bytes > self.max_bytes:
            self._shrink()
        stream.wake()

    def _drop_oldest(self, stream: _Stream, count: int) -> None:
        dropped = sum(_size(e) for e in stream.entries[:count])
        del stream.entries[:count]
        stream.nbytes -= dropped
        self._bytes -= dropped

    def _shrink(self) -> None:
        for stream_id in [k for k, s in self._streams.items() if s.done]:
            if self._bytes <= self.max_bytes:
                return
            self._evict(stream_id)
        while self._bytes > self.max_bytes:
            largest = max(self._streams.values(), key=lambda s: s.nbytes)
            # drop just enough of its oldest events
            over, count = self._bytes - self.max_bytes, 0
            for entry in largest.entries:
                count += 1
                over -= _size(entry)
                if over <= 0:
                    break
            self._drop_oldest(largest, count)

    async def append(self, lease: Lease, items: Sequence[Item]) -> bool:
        """See :meth:`Store.append`."""
        stream = self._held(lease)
        if items:
            self._add(stream, lease.stream_id, items)
        return stream.stop

    async def finish(self, lease: Lease, items: Sequence[Item]) -> None:
        """See :meth:`Store.finish`."""
        stream = self._held(lease)
        stream.done = True
        self._add(stream, lease.stream_id, items)

    async def hold(self, lease: Lease) -> HoldEnd:
        """See :meth:`Store.hold` (nothing to renew in memory)."""
        stream = self._streams.get(lease.stream_id)
        if stream is None or stream.token != lease.token:
            return "lost"
        await stream.signal.wait()
        return "lost" if stream.lost else "stopped"

    async def request_stop(self, stream_id: str) -> bool:
        """See :meth:`Store.request_stop`."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.done:
            return False
        stream.stop = True
        stream.signal.set()
        return True

    # --- reader side ---------------------------------------------------------------------

    async def info(self, stream_id: str) -> StreamInfo | None:
        """See :meth:`Store.info`."""
        self._expire(self._clock())
        s = self._streams.get(stream_id)
        return None if s is None else StreamInfo(s.owner, s.done, s.base, s.last_id)

    async def read(
        self,
        stream_id: str,
        after: int | None,
        *,
        limit: int,
        timeout_s: float,
        orphan: Sequence[Item] = (),
    ) -> Batch:
        """See :meth:`Store.read`."""
        self._expire(self._clock())
        stream = self._streams.get(stream_id)
        if stream is None:
            return Batch((), status="gone")
        cursor = resolve_cursor(after, stream.base, stream.last_id)
        if cursor is None:
            return Batch((), status="expired")
        with anyio.move_on_after(timeout_s):
            while True:
                if self._streams.get(stream_id) is not stream:
                    return Batch((), status="gone")  # evicted or replaced meanwhile
                if cursor < stream.last_id:
                    start = cursor + 1 - stream.first_id
                    if start < 0:
                        return Batch((), status="expired")
                    entries = stream.entries[start : start + limit]
                    finished = stream.done and entries[-1].id == stream.last_id
                    return Batch(entries, finished=finished)
                if stream.done:
                    return Batch((), finished=True)
                if stream.changed is None:
                    stream.changed = anyio.Event()
                await stream.changed.wait()
        return Batch(())

    # --- eviction --------------------------------------------------------------------------

    def _evict(self, stream_id: str) -> None:
        stream = self._streams.pop(stream_id)
        self._bytes -= stream.nbytes
        if not stream.done:
            stream.lost = True
            stream.signal.set()
        stream.wake()

    def _expire(self, now: float) -> None:
        for stream_id, stream in list(self._streams.items()):
            if now - stream.touched < self.ttl_s:
                return  # ordered by last write: the rest are newer
            self._evict(stream_id)
