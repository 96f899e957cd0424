"""AsyncStreamingClient and AsyncStream: the async shell (httpx.AsyncClient, anyio).

Runs on asyncio and trio. The line-for-line twin of ``client.py``: all logic
lives in the sans-I/O :class:`~streamkit._session.StreamSession`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import anyio
import httpx
from anyio.streams.memory import MemoryObjectSendStream

from streamkit._common import ClientConfig, StreamState
from streamkit._display import LiveView
from streamkit._httpx import (
    ERROR_BODY_LIMIT,
    build_request,
    check_response,
    httpx_timeout,
    is_identity,
    map_httpx_errors,
    needs_body,
)
from streamkit._notebook import open_view
from streamkit._session import ResumeMode, StreamSession
from streamkit.config import Timeouts
from streamkit.errors import StreamkitError
from streamkit.events import DeltaEvent, TextDelta
from streamkit.limiter import ConcurrencyLimiter
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy
from streamkit.transport import AsyncHTTPTransport

if TYPE_CHECKING:
    from streamkit.tracker import CostTracker

__all__ = ["AsyncStream", "AsyncStreamingClient", "TaggedEvent"]

#: After closing a response, read at most this many already-buffered pieces so that
#: httpx's nested async generators finish (trio warns about unfinished ones).
_DRAIN_READS_AFTER_CLOSE = 64


class AsyncStream(StreamState):
    """One streamed response: an async iterator of :data:`~streamkit.DeltaEvent`.

    The async twin of :class:`~streamkit.Stream`: the request starts on
    ``__aenter__`` or the first ``__anext__``; leaving the ``async with`` block,
    :meth:`aclose` or cancelling the task closes the connection.

    Raises (from iteration): as :class:`~streamkit.Stream`.
    """

    def __init__(self, client: AsyncStreamingClient, session: StreamSession) -> None:
        super().__init__(session)
        self._client = client
        self._response: httpx.Response | None = None
        self._chunks: AsyncGenerator[bytes, None] | None = None
        self._delay_s: float | None = None
        self._map_errors = map_httpx_errors(client._config.timeout)  # stateless: reused
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> AsyncStream:
        """Start the request (the first attempt's response is open on return)."""
        if self._response is None and not self._session.finished:
            await self._step()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        await self.aclose()

    def __aiter__(self) -> AsyncStream:
        """The stream is its own async iterator (iterate it once)."""
        return self

    async def __anext__(self) -> DeltaEvent:
        """The next event; performs I/O (and retry sleeps) as needed."""
        while True:
            buffer = self._buffer
            position = self._buffer_pos
            if position < len(buffer):  # the hot path: an event already decoded
                self._buffer_pos = position + 1
                return buffer[position]
            if buffer:
                buffer.clear()
                self._buffer_pos = 0
            if self._closed or (self._session.finished and self._response is None):
                await self._close_response()
                raise StopAsyncIteration
            await self._step()

    @property
    async def text_stream(self) -> AsyncIterator[str]:
        """The text pieces of choice 0 as plain ``str`` (consumes the stream)."""
        async for e in self:
            if isinstance(e, TextDelta) and e.index == 0:
                yield e.text

    async def until_done(self) -> AsyncStream:
        """Consume the rest of the stream; return ``self`` (then read :attr:`result`)."""
        async for _ in self:
            pass
        return self

    async def adisplay(self, *, throttle_s: float = 1 / 30) -> StreamResult:
        """Render the stream live in a notebook cell; return the final result.

        The text is shown as Markdown, redrawn at most every ``throttle_s`` seconds
        (about 30 times a second), with a note when a retry or resume happens and a
        footer of tokens, cost, time to first token and tokens/s. Outside IPython the
        final rendering is printed once. Needs ``streamkit[notebook]`` for the live view.

        Raises:
            StreamkitError: as iteration does (the view keeps what arrived).
        """
        view = LiveView(throttle_s=throttle_s)
        target = open_view()
        clock = self._client._clock
        async for event in self:
            now = clock()
            if view.on_event(event, now):
                target.update(view.markdown(self.snapshot()))
                view.drawn(now)
        result = self.result
        target.update(view.markdown(result, final=True), final=True)
        return result

    async def aclose(self) -> None:
        """Close the connection; iteration stops. Safe to call twice."""
        self._closed = True
        self._session.abandon(self._client._clock())
        await self._close_response()

    def _release_http(self) -> None:
        if self._http is not None and (self._closed or self._session.finished):
            http, self._http = self._http, None
            self._client._http.release(http)

    async def _close_response(self) -> None:
        self._release_http()
        response, self._response = self._response, None
        chunks, self._chunks = self._chunks, None
        if response is not None:
            with anyio.CancelScope(shield=True):
                await response.aclose()
                if chunks is not None:
                    # httpx nests async generators; reading once from the closed
                    # stream ends every level, so none is left for trio's finalizer
                    with contextlib.suppress(Exception):
                        for _ in range(_DRAIN_READS_AFTER_CLOSE):
                            if await anext(chunks, None) is None:
                                break
                    await chunks.aclose()

    async def _step(self) -> None:
        session = self._session
        clock = self._client._clock
        try:
            with self._map_errors:
                session.take_failure()  # one found behind events already delivered
                if self._response is None:
                    if self._delay_s is not None:
                        delay, self._delay_s = self._delay_s, None
                        await self._client._sleep(delay)
                    await self._open()
                    return
                assert self._chunks is not None
                chunk = await anext(self._chunks, None)
                if chunk is None:
                    if not session.finished:
                        self._buffer.extend(session.end(clock()))
                    await self._close_response()
                    return
                if session.finished:
                    return  # draining what follows the terminal event, up to EOF
                self._buffer.extend(session.feed(chunk, clock()))
                if session.stream_done:
                    self._buffer.extend(session.end(clock()))
        except StreamkitError as err:
            await self._close_response()
            if session.finished:
                return  # the stream had ended; what broke was the drain after it
            try:
                plan = session.fail(err, clock())
            finally:
                self._release_http()
            self._buffer.extend(plan.events)
            self._delay_s = plan.delay_s
        except BaseException:
            await self._close_response()
            raise

    async def _open(self) -> None:
        session = self._session
        client = self._client
        spec = session.next_request(client._clock())
        if self._http is None:
            self._http = client._http.acquire()
        request = build_request(self._http, spec, client._config.timeout)
        response = await self._http.send(request, stream=True, follow_redirects=False)
        self._response = response
        if needs_body(response):
            body = bytearray()
            async with aclosing(
                cast("AsyncGenerator[bytes, None]", response.aiter_bytes())
            ) as pieces:
                async for piece in pieces:
                    body += piece
                    if len(body) >= ERROR_BODY_LIMIT:
                        break
            error = check_response(response, bytes(body))
            if error is not None:
                raise error
        chunks = response.aiter_raw() if is_identity(response) else response.aiter_bytes()
        self._chunks = cast("AsyncGenerator[bytes, None]", chunks)
        self._buffer.extend(session.opened(client._clock()))


#: Streams per ``httpx.AsyncClient`` that streamkit creates itself. httpcore's pool
#: walks every connection whenever a request starts or ends (encode/httpcore#1035), so
#: hundreds of concurrent streams on one client cost O(n^2); streamkit spreads them over
#: several clients (measured in benchmarks/RESULTS.md, "concurrency").
STREAMS_PER_HTTP_CLIENT = 50


class _HTTPClients:
    """The ``httpx.AsyncClient`` instances of one streamkit client: the user's, or shards."""

    def __init__(self, timeouts: Timeouts, given: httpx.AsyncClient | None) -> None:
        self._timeouts = timeouts
        self._given = given
        self._shards: list[list[Any]] = []  # [client, active streams]

    def acquire(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        best = min(self._shards, key=lambda shard: shard[1], default=None)
        if best is None or best[1] >= STREAMS_PER_HTTP_CLIENT:
            best = [
                httpx.AsyncClient(
                    timeout=httpx_timeout(self._timeouts),
                    follow_redirects=False,
                    transport=AsyncHTTPTransport(
                        httpx.Limits(
                            max_connections=STREAMS_PER_HTTP_CLIENT * 2,
                            max_keepalive_connections=20,
                        )
                    ),
                ),
                0,
            ]
            self._shards.append(best)
        best[1] += 1
        client: httpx.AsyncClient = best[0]
        return client

    def release(self, client: httpx.AsyncClient) -> None:
        for shard in self._shards:
            if shard[0] is client:
                shard[1] -= 1
                return

    async def aclose(self) -> None:
        shards, self._shards = self._shards, []
        for client, _ in shards:
            await client.aclose()


@dataclass(frozen=True, slots=True)
class TaggedEvent:
    """One item of :meth:`AsyncStreamingClient.stream_many`.

    Exactly one of ``event``, ``result`` and ``error`` is set: an event of stream
    ``key``; its final result (the last item of that stream); or the error that ended it.
    """

    key: Any
    """The request's ``"key"`` entry, or its position in ``requests``."""
    event: DeltaEvent | None = None
    result: StreamResult | None = None
    error: StreamkitError | None = None


class AsyncStreamingClient:
    """An async client for streaming LLM responses (asyncio or trio, via anyio).

    Same arguments as :class:`~streamkit.StreamingClient`; ``http_client`` is an
    ``httpx.AsyncClient``.
    """

    # time.monotonic, as in the sync twin: anyio.current_time() costs ~1 µs a call
    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(anyio.sleep)

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        provider: str = "openai-chat",
        retry: RetryPolicy | None = None,
        timeout: Timeouts | None = None,
        tracker: CostTracker | None = None,
        resume: ResumeMode = "auto",
        http_client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._config = ClientConfig(
            base_url=base_url,
            api_key=api_key,
            provider=provider,
            retry=retry,
            timeout=timeout,
            tracker=tracker,
            resume=resume,
            headers=headers,
        )
        self._http = _HTTPClients(self._config.timeout, http_client)

    @property
    def tracker(self) -> CostTracker | None:
        """The cost tracker given to the constructor."""
        return self._config.tracker

    def stream(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        resume: ResumeMode | None = None,
        **params: Any,
    ) -> AsyncStream:
        """Start streaming a response; returns at once (the request starts on iteration).

        Args: as :meth:`StreamingClient.stream`.
        """
        session = self._config.new_session(
            model=model, messages=messages, resume=resume, params=params
        )
        return AsyncStream(self, session)

    @asynccontextmanager
    async def stream_many(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        max_concurrent: int = 10,
        max_waiting: int | None = None,
        limiter: ConcurrencyLimiter | None = None,
        buffer: int = 256,
    ) -> AsyncIterator[AsyncIterator[TaggedEvent]]:
        """Run many streams concurrently; iterate their events tagged by request.

        Each request is a mapping of :meth:`stream` keyword arguments, plus optional
        ``"key"`` (the tag; default its position) and ``"priority"`` (higher starts
        first when slots are scarce). At most ``max_concurrent`` streams run at once
        (or as many as ``limiter``, shared with other callers, allows). Leaving the
        ``async with`` block cancels the streams still running::

            async with client.stream_many(requests, max_concurrent=50) as items:
                async for item in items:
                    if item.event is not None: ...
                    elif item.result is not None: ...  # stream item.key finished
                    else: ...  # item.error ended stream item.key

        A stream's error (including :class:`~streamkit.errors.QueueFullError` when
        ``max_waiting`` streams already wait) ends only that stream.

        Args:
            requests: the streams to run.
            max_concurrent: slots when no ``limiter`` is given.
            max_waiting: bound of the waiting queue when no ``limiter`` is given.
            limiter: a :class:`~streamkit.ConcurrencyLimiter` to share.
            buffer: items buffered between the streams and the reader.
        """
        gate = limiter or ConcurrencyLimiter(max_concurrent, max_waiting=max_waiting)
        send, receive = anyio.create_memory_object_stream[TaggedEvent](buffer)

        async def run_one(
            key: Any, request: Mapping[str, Any], out: MemoryObjectSendStream[TaggedEvent]
        ) -> None:
            kwargs = dict(request)
            priority = int(kwargs.pop("priority", 0))
            kwargs.pop("key", None)
            async with out:
                try:
                    async with gate.slot(priority), self.stream(**kwargs) as stream:
                        async for event in stream:
                            await out.send(TaggedEvent(key, event=event))
                    await out.send(TaggedEvent(key, result=stream.result))
                except StreamkitError as err:
                    await out.send(TaggedEvent(key, error=err))

        async with anyio.create_task_group() as group:
            async with send:
                for position, request in enumerate(requests):
                    group.start_soon(run_one, request.get("key", position), request, send.clone())
            try:
                yield receive
            finally:
                group.cancel_scope.cancel()
                await receive.aclose()

    async def aclose(self) -> None:
        """Close the HTTP clients this client created (never one you passed in)."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncStreamingClient:
        """Use as an async context manager: closes on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client."""
        await self.aclose()

    def __repr__(self) -> str:
        """Show the configuration without the API key."""
        return f"AsyncStreamingClient({self._config!r})"
