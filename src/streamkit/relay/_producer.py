"""The producer: runs one upstream stream into a store, in the app's task group.

It is the only writer of its stream (it holds the lease) and is independent of every
reader: a browser that disconnects neither cancels nor re-bills the generation. It
ends in exactly one of four ways, each with one terminal event:

- the upstream stream ends: ``done`` (finish reason, usage, cost);
- it fails with a streamkit error: ``failed`` ``upstream`` (the error's class name,
  never its message, which may quote the provider's answer);
- a stop is requested (the relay's stop endpoint, on any worker): ``done`` with
  ``stopped: true`` after closing the upstream response;
- the relay shuts down (cancellation): ``failed`` ``interrupted``.

When the lease is lost (the id was taken over, or the store evicted the stream), the
producer closes the upstream response and writes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from typing import Any

import anyio

from streamkit.async_client import AsyncStream
from streamkit.errors import APIStatusError, StreamkitError
from streamkit.events import DeltaEvent, FinishEvent, UsageEvent
from streamkit.relay._errors import LeaseLostError, RelayError
from streamkit.relay._store import HoldEnd, Lease, Store
from streamkit.relay._wire import Encoder, Item, Outcome
from streamkit.usage import Usage

__all__ = ["run_producer"]

logger = logging.getLogger("streamkit.relay")

#: Seconds a producer may spend storing its terminal event after being cancelled.
FINISH_TIMEOUT_S = 5.0
#: Encoded events waiting to be written, at most (then the upstream read waits): about
#: 8 s of a fast stream, so a store that pauses briefly does not slow the upstream.
CHANNEL_SIZE = 256
#: Items per write, at most (one Redis script call carries them all).
MAX_BATCH = 256


class _Seen:
    """What a plain async iterable told us (an ``AsyncStream`` has its own result)."""

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def observe(self, event: DeltaEvent) -> None:
        if isinstance(event, FinishEvent) and event.index == 0:
            self.finish_reason = event.finish_reason
        elif isinstance(event, UsageEvent):
            self.usage = event.usage


def _ended(source: AsyncIterable[DeltaEvent], seen: _Seen, *, stopped: bool) -> Outcome:
    kind: Any = "stopped" if stopped else "done"
    if isinstance(source, AsyncStream):
        result = source.snapshot()
        return Outcome(kind, result.finish_reason, result.usage, result.cost)
    return Outcome(kind, seen.finish_reason, seen.usage)


def _failed(err: StreamkitError) -> Outcome:
    status = err.status_code if isinstance(err, APIStatusError) else None
    return Outcome("failed", error="upstream", error_type=type(err).__name__, status_code=status)


async def _aclose(source: AsyncIterable[DeltaEvent]) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # closing must not hide how the stream ended
            logger.debug("closing the upstream stream failed", exc_info=True)


class _State:
    __slots__ = ("ended", "outcome")

    def __init__(self) -> None:
        self.outcome: Outcome | None = None
        self.ended: HoldEnd | None = None


async def run_producer(
    store: Store, lease: Lease, source: AsyncIterable[DeltaEvent], encoder: Encoder
) -> None:
    """Stream ``source`` into ``store`` under ``lease`` until it ends (see the module doc).

    Two tasks joined by a bounded channel: one reads and encodes the upstream events, the
    other writes them, each write taking everything that arrived while the previous one
    was in flight (at most :data:`MAX_BATCH` items). A fast store gets one event per
    write; a slow one gets fewer, larger writes instead of a growing backlog, and a full
    channel slows the upstream read (TCP backpressure), never memory.

    Never raises an exception of its own (they are logged and become ``failed``
    events), so one broken stream cannot stop the task group running the others;
    cancellation propagates after the terminal event is stored.
    """
    seen = _Seen()
    state = _State()
    send, receive = anyio.create_memory_object_stream[list[Item]](CHANNEL_SIZE)
    try:
        with anyio.CancelScope() as scope:

            async def hold() -> None:
                end = await store.hold(lease)
                state.ended = state.ended or end
                scope.cancel()

            async def pump() -> None:
                async with send:
                    try:
                        items = encoder.begin()
                        if items:
                            await send.send(items)
                        async for event in source:
                            seen.observe(event)
                            items = encoder.encode(event)
                            if items:
                                await send.send(items)
                    except StreamkitError as err:
                        logger.info("relay stream %s: upstream failed: %r", lease.stream_id, err)
                        state.outcome = _failed(err)
                    except Exception:
                        logger.exception("relay stream %s: the source raised", lease.stream_id)
                        state.outcome = Outcome("failed", error="internal")
                    else:
                        state.outcome = _ended(source, seen, stopped=False)

            async def write() -> None:
                try:
                    async with receive:
                        async for items in receive:
                            batch = list(items)
                            while len(batch) < MAX_BATCH:
                                try:
                                    batch += receive.receive_nowait()
                                except (anyio.WouldBlock, anyio.EndOfStream):
                                    break
                            if await store.append(lease, batch):
                                state.ended = "stopped"
                                break
                except LeaseLostError:
                    state.ended = "lost"
                except Exception as err:  # the store failed: cannot write any more
                    logger.warning("relay stream %s: store failed: %r", lease.stream_id, err)
                    state.ended = "lost"  # readers see it as interrupted (lease expiry)
                scope.cancel()  # written to the end (or cannot write): stop holding

            async with anyio.create_task_group() as group:
                group.start_soon(hold)
                group.start_soon(pump)
                group.start_soon(write)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_TIMEOUT_S):
            await _aclose(source)
            outcome = state.outcome
            if state.ended == "stopped":
                outcome = _ended(source, seen, stopped=True)
            if state.ended != "lost":
                if outcome is None:  # cancelled: the relay is shutting down
                    outcome = Outcome("failed", error="interrupted")
                try:
                    await store.finish(lease, encoder.finish(outcome))
                except RelayError as err:
                    logger.warning("relay stream %s: not finished: %r", lease.stream_id, err)
