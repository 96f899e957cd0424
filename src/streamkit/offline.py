"""Decode a recorded stream offline, through the same pipeline the clients use."""

from __future__ import annotations

from streamkit._request import RequestSpec
from streamkit.errors import StreamkitError
from streamkit.events import DeltaEvent
from streamkit.providers import get
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy
from streamkit.session import StreamSession

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
    session.next_request(0.0)
    events = session.opened(0.0)
    step = chunk_size or max(len(data), 1)
    try:
        feed = session.feed
        for start in range(0, len(data), step):
            new = feed(data[start : start + step], 0.0)
            if new:
                events.extend(new)
                if session.stream_done:
                    break
        events.extend(session.end(0.0))
    except StreamkitError as err:
        session.fail(err, 0.0)  # always raises: one attempt, no retry
        raise  # pragma: no cover
    result = session.result
    assert result is not None
    return events, result
