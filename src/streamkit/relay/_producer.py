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
from streamkit.relay._wire import Encoder, Outcome
from streamkit.usage import Usage

__all__ = ["run_producer"]

logger = logging.getLogger("streamkit.relay")

#: Seconds a producer may spend storing its terminal event after being cancelled.
FINISH_TIMEOUT_S = 5.0


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


async def run_producer(
    store: Store, lease: Lease, source: AsyncIterable[DeltaEvent], encoder: Encoder
) -> None:
    """Stream ``source`` into ``store`` under ``lease`` until it ends (see the module doc).

    Never raises an exception of its own (they are logged and become ``failed``
    events), so one broken stream cannot stop the task group running the others;
    cancellation propagates after the terminal event is stored.
    """
    seen = _Seen()
    outcome: Outcome | None = None
    ended: HoldEnd | None = None
    try:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def hold() -> None:
                    nonlocal ended
                    ended = await store.hold(lease)
                    scope.cancel()

                group.start_soon(hold)
                try:
                    items = encoder.begin()
                    if items and await store.append(lease, items):
                        ended = "stopped"
                    async for event in source:
                        if ended is not None:
                            break
                        seen.observe(event)
                        items = encoder.encode(event)
                        if items and await store.append(lease, items):
                            ended = "stopped"
                    else:
                        outcome = _ended(source, seen, stopped=False)
                except StreamkitError as err:
                    if isinstance(err, LeaseLostError):
                        ended = "lost"
                    elif isinstance(err, RelayError):
                        logger.warning("relay stream %s: store failed: %r", lease.stream_id, err)
                        ended = "lost"  # cannot write; readers see it as interrupted
                    else:
                        logger.info("relay stream %s: upstream failed: %r", lease.stream_id, err)
                        outcome = _failed(err)
                except Exception:
                    logger.exception("relay stream %s: the source raised", lease.stream_id)
                    outcome = Outcome("failed", error="internal")
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_TIMEOUT_S):
            await _aclose(source)
            if ended == "stopped" and outcome is None:
                outcome = _ended(source, seen, stopped=True)
            if ended != "lost":
                if outcome is None:  # cancelled: the relay is shutting down
                    outcome = Outcome("failed", error="interrupted")
                try:
                    await store.finish(lease, encoder.finish(outcome))
                except RelayError as err:
                    logger.warning("relay stream %s: not finished: %r", lease.stream_id, err)
