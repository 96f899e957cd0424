"""Decode a recorded stream offline, through the same pipeline the clients use."""

from __future__ import annotations

import itertools

from streamkit._request import RequestSpec
from streamkit.events import DeltaEvent
from streamkit.providers import get
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy
from streamkit.session import (
    DONE,
    EOF,
    READ,
    Deliver,
    Open,
    Outcome,
    ResponseHead,
    StreamMachine,
    StreamSession,
)

__all__ = ["decode_stream"]


def decode_stream(
    data: bytes, *, provider: str = "openai-chat", chunk_size: int | None = None
) -> tuple[list[DeltaEvent], StreamResult]:
    """Decode a whole recorded SSE body into its delta events and final result.

    Runs the client pipeline (SSE parser → dialect decoder → reassembler →
    metrics) without any network: no retry, no resume.

    Args:
        data: the response body exactly as recorded.
        provider: the dialect name (see :func:`streamkit.providers.names`).
        chunk_size: feed the bytes in pieces of this size (``None``: all at once).

    Returns:
        The events in delivery order and the :class:`~streamkit.StreamResult`.

    Raises:
        ProviderError, ChunkDecodeError, SSEError: as a client would; the error's
            ``partial`` holds the result decoded before it.
        APIConnectionError: the recording ends before the stream was complete.
    """
    session = StreamSession(
        dialect=get(provider),
        request=RequestSpec("POST", "offline://recording"),
        retry=RetryPolicy(max_attempts=1),
    )
    machine = StreamMachine(session, clock=itertools.repeat(0.0).__next__)
    step = chunk_size or max(len(data), 1)
    ends = range(step, len(data) + step, step)
    pieces = map(data.__getitem__, map(slice, range(0, len(data), step), ends))
    events: list[DeltaEvent] = []
    outcome: Outcome = None
    send = machine.send
    while True:  # the executors' loop, with the recording as the network
        try:
            action = send(outcome)  # raises the stream's error, with `partial`
        except StopIteration:
            break
        if action is READ:
            outcome = next(pieces, EOF)
        elif type(action) is Deliver:
            events.extend(action.events)
            outcome = None
        elif type(action) is Open:
            outcome = _RECORDED_HEAD
        elif action is DONE:
            break
        else:  # CLOSE (nothing to close); no Sleep or ReadBody: one attempt, status 200
            outcome = None
    result = session.result
    assert result is not None
    return events, result


_RECORDED_HEAD = ResponseHead(200, "OK", {"content-type": "text/event-stream"}, wall_time=0.0)
