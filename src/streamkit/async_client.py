"""AsyncStreamingClient and AsyncStream: the async executor (httpx/httpx2 ``AsyncClient``, anyio).

Runs on asyncio and trio. Every decision lives in the sans-I/O
:class:`~streamkit.session.StreamMachine`; the executor section is the twin of
``client.py``'s (``tests/test_twins.py`` checks it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from anyio.streams.memory import MemoryObjectSendStream

from streamkit._client_config import ClientConfig, TimeoutArg
from streamkit._httpx import HTTPX, HTTPFlavor, abody_pieces, flavor_of, head_of, target_of
from streamkit._notebook import LiveDisplay
from streamkit._request import RequestSpec
from streamkit._secret import hide_arguments
from streamkit._stream_state import StreamState
from streamkit.config import Timeouts
from streamkit.errors import StreamkitError
from streamkit.events import DeltaEvent, TextDelta
from streamkit.limiter import ConcurrencyLimiter
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy
from streamkit.session import (
    CLOSE,
    DONE,
    EOF,
    READ,
    Deliver,
    Failed,
    Open,
    Outcome,
    ReadBody,
    ResumeMode,
    Sleep,
    StreamMachine,
)
from streamkit.websocket import DEFAULT_HEARTBEAT_S, DEFAULT_PONG_TIMEOUT_S, AsyncConnection

if TYPE_CHECKING:
    from streamkit.providers._base import WebSocketDialect
    from streamkit.tracker import CostTracker

__all__ = ["AsyncStream", "AsyncStreamingClient", "TaggedEvent"]

#: After closing a response, read at most this many already-buffered pieces so that
#: httpx's nested async generators finish (trio warns about unfinished ones).
_DRAIN_READS_AFTER_CLOSE = 64


async def _finish(chunks: AsyncIterator[bytes]) -> None:
    """End the body iterator of a closed response (every nested generator level)."""
    with contextlib.suppress(Exception):
        for _ in range(_DRAIN_READS_AFTER_CLOSE):
            if await anext(chunks, None) is None:
                break
    await chunks.aclose()  # type: ignore[attr-defined]


#: Streams per ``httpx.AsyncClient`` that streamkit creates itself. httpcore's pool
#: walks every connection whenever a request starts or ends (encode/httpcore#1035), so
#: hundreds of concurrent streams on one client cost O(n^2); streamkit spreads them over
#: several clients (measured in benchmarks/RESULTS.md, "concurrency").
STREAMS_PER_HTTP_CLIENT = 50


class _Pool:
    """The HTTP clients of an :class:`AsyncStreamingClient`: the user's, or shards it made."""

    def __init__(self, timeouts: Timeouts, given: Any) -> None:
        self.flavor: HTTPFlavor = flavor_of(given, asynchronous=True) if given else HTTPX
        self._timeouts = timeouts
        self._given = given
        self._shards: list[list[Any]] = []  # [client, active streams]

    def acquire(self) -> Any:
        if self._given is not None:
            return self._given
        best = min(self._shards, key=lambda shard: shard[1], default=None)
        if best is None or best[1] >= STREAMS_PER_HTTP_CLIENT:
            # keyword arguments only; trust_env keeps SSL_CERT_FILE/SSL_CERT_DIR and
            # the proxy variables working, as with any httpx client
            best = [
                httpx.AsyncClient(
                    timeout=HTTPX.timeout(self._timeouts),
                    follow_redirects=False,
                    limits=httpx.Limits(
                        max_connections=STREAMS_PER_HTTP_CLIENT * 2,
                        max_keepalive_connections=20,
                    ),
                ),
                0,
            ]
            self._shards.append(best)
        best[1] += 1
        return best[0]

    def release(self, client: Any) -> None:
        for shard in self._shards:
            if shard[0] is client:
                shard[1] -= 1
                return

    async def aclose(self) -> None:
        shards, self._shards = self._shards, []
        for client, _ in shards:
            await client.aclose()


# ---- executor (twin of client.py) -------------------------------------------------


class AsyncStream(StreamState):
    """One streamed response: an async iterator of :data:`~streamkit.DeltaEvent`.

    The request starts on ``__enter__`` or the first ``next()``. Leaving the
    ``with`` block or calling :meth:`close` closes the connection. Failed
    attempts are retried and broken streams resumed as the client's
    :class:`~streamkit.RetryPolicy` and ``resume`` mode say; each retry shows up
    as a :class:`~streamkit.RetryEvent` (and a :class:`~streamkit.ResumeEvent`)
    in the same iteration.

    Raises (from iteration):
        APIStatusError: a non-retryable status, or retries used up before content.
        StreamInterruptedError: the stream broke after content and could not be resumed.
        ChunkDecodeError, SSEError, ProviderError: bad or error data in the stream.
        StreamStateError: the body was consumed elsewhere (a misuse; never retried).
        Every error carries ``partial``, the :class:`~streamkit.StreamResult` so far.
    """

    def __init__(self, client: AsyncStreamingClient, machine: StreamMachine) -> None:
        super().__init__(machine)
        self._client = client
        self._pool = client._pool
        self._flavor = client._pool.flavor
        self._errors = self._flavor.errors
        self._timeouts = client._config.timeout
        self._http: Any = None
        self._response: Any = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._target = "?"
        self._pending: Any = None

    async def __aenter__(self) -> AsyncStream:
        """Start the request (the first attempt's response is open on return)."""
        if not self._closed and not self._buffer:
            await self._step(stop_at_read=True)
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
            if self._closed:
                raise StopAsyncIteration
            await self._step()

    async def aclose(self) -> None:
        """Close the connection; iteration stops. Safe to call twice."""
        self._closed = True
        self._machine.close()
        self._session.abandon(self._client._clock())
        await self._close_response()
        self._release_http()

    async def _step(self, stop_at_read: bool = False) -> None:
        """Run the machine's actions until it delivers events or ends."""
        send = self._machine.send
        action, self._pending = self._pending, None
        outcome: Outcome = None
        try:
            while True:
                if action is None:
                    try:
                        action = send(outcome)
                    except StopIteration:
                        action = DONE
                if action is READ:
                    if stop_at_read:
                        self._pending = action
                        return
                    try:
                        outcome = await anext(self._chunks, EOF)  # type: ignore[arg-type]
                    except self._errors as exc:
                        outcome = Failed(self._flavor.map_error(exc, self._timeouts, self._target))
                elif type(action) is Deliver:
                    self._buffer = action.events
                    self._buffer_pos = 0
                    return
                elif type(action) is Open:
                    outcome = await self._open(action.spec)
                elif type(action) is ReadBody:
                    outcome = await self._read_body(action.limit)
                elif type(action) is Sleep:
                    await self._client._sleep(action.delay_s)
                    outcome = None
                elif action is CLOSE:
                    await self._close_response()
                    outcome = None
                else:  # DONE
                    self._closed = True
                    self._release_http()
                    return
                action = None
        except BaseException:
            self._closed = True
            await self._close_response()
            self._release_http()
            raise

    async def _open(self, spec: RequestSpec) -> Outcome:
        if self._http is None:
            self._http = self._pool.acquire()
        self._target = target_of(spec)
        try:
            request = self._flavor.build_request(self._http, spec, self._timeouts)
            response = await self._http.send(request, stream=True, follow_redirects=False)
        except self._errors as exc:
            return Failed(self._flavor.map_error(exc, self._timeouts, self._target))
        self._response = response
        self._chunks = abody_pieces(response)
        return head_of(response)

    async def _read_body(self, limit: int) -> Outcome:
        body = bytearray()
        try:
            async with aclosing(self._response.aiter_bytes()) as pieces:
                async for piece in pieces:
                    body += piece
                    if len(body) >= limit:
                        break
        except self._errors as exc:
            return Failed(self._flavor.map_error(exc, self._timeouts, self._target))
        return bytes(body)

    async def _close_response(self) -> None:
        response, self._response = self._response, None
        chunks, self._chunks = self._chunks, None
        if response is not None:
            with anyio.CancelScope(shield=True):
                await response.aclose()
                if chunks is not None:
                    await _finish(chunks)

    def _release_http(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            self._pool.release(http)

    # ---- end of the executor twin -------------------------------------------------------

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
        clock = self._client._clock
        with LiveDisplay(self.snapshot, throttle_s=throttle_s) as live:
            async for event in self:
                live.on_event(event, clock())
            return live.finish(self.result)


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

    Same arguments and errors as :class:`~streamkit.StreamingClient`; ``http_client``
    is an ``httpx.AsyncClient`` or an ``httpx2.AsyncClient``.
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
        timeout: TimeoutArg = None,
        tracker: CostTracker | None = None,
        resume: ResumeMode = "auto",
        http_client: httpx.AsyncClient | Any | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # first: no frame local holds the plain key, URL password or credential headers
        api_key, base_url, headers = hide_arguments(api_key, base_url, headers)  # type: ignore[assignment]
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
        self._pool = _Pool(self._config.timeout, http_client)

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
        return AsyncStream(self, StreamMachine(session, clock=self._clock))

    def connect(
        self,
        url: str | None = None,
        *,
        dialect: WebSocketDialect | None = None,
        heartbeat_s: float | None = DEFAULT_HEARTBEAT_S,
        pong_timeout_s: float | None = DEFAULT_PONG_TIMEOUT_S,
        rotate_after_s: float | None = None,
    ) -> AsyncConnection:
        """Open a WebSocket connection; use it with ``async with`` (asyncio or trio).

        Args and errors: as :meth:`StreamingClient.connect`.
        """
        return AsyncConnection(
            self,
            dialect=dialect,
            url=url,
            heartbeat_s=heartbeat_s,
            pong_timeout_s=pong_timeout_s,
            rotate_after_s=rotate_after_s,
        )

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
        await self._pool.aclose()

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
        """Show the configuration without the API key or a URL password."""
        config = getattr(self, "_config", None)  # None while __init__ raises
        return f"AsyncStreamingClient({config if config is not None else '<not configured>'!r})"
