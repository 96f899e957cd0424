"""WebSocket streaming: one socket, many typed streams (``client.connect()``).

``StreamingClient.connect()`` returns a :class:`Connection` and
``AsyncStreamingClient.connect()`` an :class:`AsyncConnection` (asyncio or trio). A
connection keeps a WebSocket open and runs one stream per *lane* on it; every stream
yields the same :data:`~streamkit.DeltaEvent` union and ends with the same
:class:`~streamkit.StreamResult` (usage, cost, metrics) as an SSE stream::

    with client.connect() as conn:                        # OpenAI/xAI Responses WebSocket mode
        with conn.stream(model="gpt-5", input="Hi") as s:
            for event in s: ...
        first = s.result
        again = conn.stream(model="gpt-5", input="More", previous_response_id=first.response_id)

Every decision is made by the sans-I/O core: a :class:`~streamkit.session.StreamMachine`
per stream (retry, resume, deadlines, budgets, dedup) and one
:class:`~streamkit._ws_state.ConnectionState` per connection (which socket, which
lane, rotation, conversation history). This module turns their actions into calls of
the WebSocket library and maps its exceptions: ``httpx-ws`` for httpx clients,
``httpx2.websockets`` for httpx2 clients (the same API, both on wsproto, RFC 6455
pings in the background). Needs ``pip install 'streamkit[websocket]'``.

The sync and async executors below are twins (``tests/test_websocket_twins.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from streamkit._head import ResponseHead
from streamkit._httpx import HTTPFlavor, target_of
from streamkit._request import RequestSpec
from streamkit._stream_state import StreamState
from streamkit._ws_state import EVERY, ConnectionState, Lane, _Every
from streamkit.errors import (
    ConfigurationError,
    StreamStalledError,
    StreamStateError,
    WebSocketClosedError,
    redact,
)
from streamkit.events import DeltaEvent, TextDelta
from streamkit.providers._base import WebSocketDialect
from streamkit.providers.ws import ChatRelay, ResponsesWebSocket
from streamkit.session import (
    CONNECTED,
    DONE,
    RECEIVE,
    REUSED,
    Closed,
    Connect,
    Deliver,
    Failed,
    Outcome,
    Release,
    ResumeMode,
    Send,
    Sleep,
    StreamMachine,
)
from streamkit.sse import DEFAULT_MAX_LINE_SIZE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from streamkit._client_config import ClientConfig
    from streamkit.async_client import AsyncStreamingClient
    from streamkit.client import StreamingClient

__all__ = [
    "DEFAULT_HEARTBEAT_S",
    "DEFAULT_PONG_TIMEOUT_S",
    "MAX_MESSAGE_SIZE",
    "AsyncConnection",
    "AsyncConnectionStream",
    "Connection",
    "ConnectionStream",
]

#: Seconds between RFC 6455 pings: 20 s, under the 30-60 s idle timeouts of common
#: proxies and load balancers, and what websockets and openai-python use.
DEFAULT_HEARTBEAT_S = 20.0
#: Seconds to wait for the pong of a ping before the socket counts as dead (20 s).
DEFAULT_PONG_TIMEOUT_S = 20.0
#: Rotate a socket when it reaches this share of the server's connection limit, so that
#: a response started just before has time to end (OpenAI 60 min → 54, xAI 25 → 22.5).
ROTATE_AT = 0.9
#: Bytes one received message may have (16 MiB, the SSE decoder's line limit): a
#: ``response.completed`` repeats the whole output; a larger message closes the socket
#: with code 1009.
MAX_MESSAGE_SIZE = DEFAULT_MAX_LINE_SIZE

#: The timeouts the library raises from ``receive(timeout=...)`` (sync: ``queue.Empty``).
_RECEIVE_TIMEOUTS = (queue.Empty, TimeoutError)
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# ---- the WebSocket library (httpx-ws or httpx2.websockets) ------------------------------


class _Library:
    """``httpx_ws`` or ``httpx2.websockets``: the client classes and how to read their errors."""

    def __init__(self, module: ModuleType, flavor: HTTPFlavor) -> None:
        self.module = module
        self.flavor = flavor
        self.upgrade_error: type[BaseException] = module.WebSocketUpgradeError
        self.disconnect: type[BaseException] = module.WebSocketDisconnect
        #: what ``receive``/``send`` raise when the socket is gone (mapped, never raised)
        self.errors: tuple[type[BaseException], ...] = (
            module.HTTPXWSException,
            anyio.ClosedResourceError,
            anyio.BrokenResourceError,
            anyio.EndOfStream,
            *_protocol_errors(),
        )

    def closed(self, exc: BaseException, pong_timeout_s: float | None) -> Closed:
        """The :class:`Closed` outcome an exception of :attr:`errors` stands for."""
        if isinstance(exc, self.disconnect):
            return Closed(int(getattr(exc, "code", 1006)), str(getattr(exc, "reason", "") or ""))
        pong = f", or no pong within {pong_timeout_s} s" if pong_timeout_s else ""
        return Closed(1006, f"the connection was lost (a network error{pong})")

    def head_of(self, exc: BaseException) -> ResponseHead:
        """The handshake response of an upgrade error (its body was not read)."""
        response = exc.response  # type: ignore[attr-defined]
        status = int(response.status_code)
        reason = response.reason_phrase or ""
        if not reason:
            with contextlib.suppress(ValueError):
                reason = HTTPStatus(status).phrase
        return ResponseHead(status, reason, dict(response.headers.items()), time.time())


def _protocol_errors() -> tuple[type[BaseException], ...]:
    try:
        from wsproto.utilities import LocalProtocolError
    except ModuleNotFoundError:  # pragma: no cover - wsproto comes with httpx-ws
        return ()
    return (LocalProtocolError,)


_libraries: dict[str, _Library] = {}


def _library(flavor: HTTPFlavor) -> _Library:
    """The WebSocket library for an HTTP flavor, imported on first use.

    Raises:
        ModuleNotFoundError: ``httpx-ws`` is not installed (the message names the extra).
    """
    library = _libraries.get(flavor.name)
    if library is None:
        name = "httpx_ws" if flavor.name == "httpx" else f"{flavor.name}.websockets"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                f"WebSocket streaming needs {'httpx-ws' if name == 'httpx_ws' else name}: "
                "pip install 'streamkit[websocket]'",
                name=exc.name,
            ) from exc
        library = _libraries[flavor.name] = _Library(module, flavor)
    return library


class _RedactHTTPXLog(logging.Filter):
    """Removes registered secrets from httpx's request log lines (a key in a query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = redact(message)
        if shown != message:
            record.msg, record.args = shown, ()
        return True


_log_filter_lock = threading.Lock()
_log_filter: _RedactHTTPXLog | None = None


def _redact_httpx_logs() -> None:
    """Keep a query-string key out of httpx's log lines (it logs each request's URL at INFO)."""
    global _log_filter
    with _log_filter_lock:
        if _log_filter is None:
            _log_filter = _RedactHTTPXLog()
            for name in ("httpx", "httpx2"):
                logging.getLogger(name).addFilter(_log_filter)


# ---- options and the parts both connections share (no I/O) ------------------------------


def _check_seconds(name: str, value: float | None) -> None:
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not ((value > 0 and math.isfinite(value)) or value == math.inf)
    ):
        raise ConfigurationError(f"{name} must be a positive number of seconds or None")


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"url must be a string, got {type(url).__name__}")
    shown = redact(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as err:
        raise ConfigurationError(f"url {shown!r} is not a valid URL: {err}") from None
    if parts.scheme not in ("ws", "wss", "http", "https") or not host:
        raise ConfigurationError(
            f"url {shown!r} must be a ws://, wss://, http:// or https:// URL with a host"
        )
    return url


def _dialect_for(config: ClientConfig, dialect: WebSocketDialect | None) -> WebSocketDialect:
    if dialect is not None:
        if not hasattr(dialect, "close_error"):
            raise ConfigurationError(
                "dialect must be a WebSocket dialect (streamkit.providers.ws.ResponsesWebSocket "
                f"or ChatRelay), got {type(dialect).__name__}"
            )
        return dialect
    if config.provider == "openai-responses":
        return ResponsesWebSocket()
    if config.provider == "openai-chat":
        return ChatRelay()
    raise ConfigurationError(
        f"provider {config.provider!r} has no WebSocket mode: use provider='openai-responses' "
        "(OpenAI, xAI, Azure), or 'openai-chat' with a relay (dialect=ChatRelay(...))"
    )


@dataclass(frozen=True, slots=True)
class _Options:
    url: str
    heartbeat_s: float | None
    pong_timeout_s: float | None
    rotate_after_s: float | None


def _options(
    config: ClientConfig,
    dialect: WebSocketDialect,
    url: str | None,
    heartbeat_s: float | None,
    pong_timeout_s: float | None,
    rotate_after_s: float | None,
) -> _Options:
    _check_seconds("heartbeat_s", heartbeat_s)
    _check_seconds("pong_timeout_s", pong_timeout_s)
    if rotate_after_s is not None:
        _check_seconds("rotate_after_s", rotate_after_s)
    url = _check_url(url) if url is not None else dialect.default_url(config.base_url)
    if rotate_after_s is None:
        limit = dialect.default_connection_limit_s(url)
        rotate_after_s = None if limit is None else limit * ROTATE_AT
    elif rotate_after_s == math.inf:
        rotate_after_s = None
    if getattr(dialect, "key_in", "header") == "query":
        _redact_httpx_logs()
    return _Options(url, heartbeat_s, pong_timeout_s, rotate_after_s)


class _ConnectionBase:
    """What :class:`Connection` and :class:`AsyncConnection` share: options, state, requests."""

    def __init__(
        self,
        config: ClientConfig,
        flavor: HTTPFlavor,
        clock: Any,
        dialect: WebSocketDialect | None,
        url: str | None,
        heartbeat_s: float | None,
        pong_timeout_s: float | None,
        rotate_after_s: float | None,
    ) -> None:
        self._config = config
        self._dialect = _dialect_for(config, dialect)
        self._options = _options(
            config, self._dialect, url, heartbeat_s, pong_timeout_s, rotate_after_s
        )
        self._lib = _library(flavor)
        self._clock = clock
        self._state = ConnectionState(self._dialect, rotate_after_s=self._options.rotate_after_s)
        self._sockets: dict[int, Any] = {}
        self._closed = False
        self._target = target_of(RequestSpec("GET", self._options.url))

    @property
    def url(self) -> str:
        """The WebSocket URL (a key in its query string shows as ``***`` in ``repr``)."""
        return self._options.url

    @property
    def dialect(self) -> WebSocketDialect:
        """The connection's WebSocket dialect."""
        return self._dialect

    @property
    def sockets_opened(self) -> int:
        """How many sockets this connection opened so far (reconnects and rotations included)."""
        return self._state.sockets_opened

    def _machine(
        self,
        *,
        model: str,
        input: str | Sequence[Mapping[str, Any]],
        lane: Lane,
        previous_response_id: str | None,
        resume: ResumeMode | None,
        params: dict[str, Any],
    ) -> StreamMachine:
        if self._closed:
            raise StreamStateError("the connection is closed: open another with client.connect()")
        key = self._dialect.lane_key
        for name in ("stream_id", "previous_response_id") if key else ():
            if name in params:
                raise TypeError(
                    f"{name}= is not accepted here: pass "
                    f"{'lane' if name == 'stream_id' else 'previous_response_id'}= instead"
                )
        if lane is not None and not isinstance(lane, str):
            raise TypeError(f"lane must be a string or None, got {type(lane).__name__}")
        messages = [{"role": "user", "content": input}] if isinstance(input, str) else input
        if lane is not None and key is not None:
            params[key] = lane
        if previous_response_id is not None:
            params["previous_response_id"] = previous_response_id
        session = self._config.new_session(
            model=model,
            messages=messages,
            resume=resume,
            params=params,
            dialect=self._dialect,
            url=self._options.url,
        )
        fallback = None
        if previous_response_id is not None:
            first = session.request.json or {}
            full = self._state.full_input(previous_response_id, first.get("input") or [])
            if full is not None:
                rest = {k: v for k, v in params.items() if k != "previous_response_id"}
                message = self._dialect.build_request(
                    base_url=self._options.url,
                    api_key=None,
                    model=model,
                    messages=full,
                    params=rest,
                ).json
                fallback = replace(session.request, json=message)
        self._state.claim(lane)
        return StreamMachine(session, clock=self._clock, transport="websocket", fallback=fallback)

    def _ws_client_options(self) -> dict[str, Any]:
        return {
            # a whole response arrives in one message (response.completed): allow what
            # the SSE decoder allows for one line, not httpx-ws's 64 KiB default
            "max_message_size_bytes": MAX_MESSAGE_SIZE,
            "keepalive_ping_interval_seconds": self._options.heartbeat_s,
            "keepalive_ping_timeout_seconds": self._options.pong_timeout_s,
        }

    def _stalled(self, idle_s: float | None) -> StreamStalledError:
        return StreamStalledError(
            f"no message received from {self._target} for {idle_s} s (Timeouts.read_idle)",
            idle_s=idle_s,
        )

    def _send_failure(self, exc: BaseException) -> Failed:
        closed = self._lib.closed(exc, self._options.pong_timeout_s)
        return Failed(
            WebSocketClosedError(
                f"could not send to {self._target}: {closed.reason or closed.code}",
                code=closed.code,
                reason=closed.reason,
            )
        )

    def _handshake_failure(self, exc: BaseException) -> Failed:
        err = self._lib.flavor.map_error(exc, self._config.timeout, self._target)
        if err.__cause__ is not None and getattr(self._dialect, "key_in", "") == "query":
            err.__cause__ = None  # httpx's frames hold the URL, whose query may hold the key
            err.__suppress_context__ = True
        return Failed(err)

    def _completed(self, stream: StreamState) -> None:
        session = stream.session
        result = session.result
        output = getattr(session.decoder, "output_items", None)
        if result is None or not result.response_id or output is None:
            return
        items = output()
        if items is None:
            return
        message = session.request.json or {}
        self._state.remember(
            result.response_id,
            previous=message.get("previous_response_id"),
            input_items=message.get("input") or [],
            output_items=items,
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {redact(self._options.url)!r} dialect={self._dialect.name!r} "
            f"sockets={len(self._sockets)}{' closed' if self._closed else ''}>"
        )


@dataclass(slots=True)
class _Socket:
    """An open WebSocket: the library's session, its reader's state, and how to close it.

    One stream at a time reads the socket (``reading``) and queues each message for the
    lane it names; the others wait, each on an event of its own in ``waiters``. The
    reader wakes the lane a message is for (every lane when the socket breaks), and a
    stream that stops reading for good wakes one waiter to read in its place. So a lane
    whose message another lane's stream read takes it at once (not at the socket's next
    message), and a message costs one wake-up, however many lanes wait.

    The decisions are the methods below, shared by both executors; ``lock`` guards
    ``reading`` and ``waiters`` across threads (the sync executor's helpers hold it, the
    async ones run on one event loop and need none).
    """

    ws: Any
    closer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    reading: bool = False
    waiters: dict[Lane, Any] = field(default_factory=dict)

    def claim(self, lane: Lane, ready: Callable[[], bool], new_event: Callable[[], Any]) -> Any:
        """Decide for a stream of ``lane`` that wants a message from this socket.

        Returns ``True`` when the caller becomes the reader, ``None`` when ``ready()``
        (nothing to wait for), else a ``new_event()`` registered for ``lane`` to wait on.
        """
        if not self.reading:
            self.reading = True
            return True
        if ready():
            return None
        event = self.waiters[lane] = new_event()
        return event

    def forget(self, lane: Lane, event: Any) -> None:
        """The wait on ``event`` is over (woken or timed out)."""
        if self.waiters.get(lane) is event:
            del self.waiters[lane]

    def release(self, woken: Lane | _Every) -> list[Any]:
        """Stop reading after a message for ``woken``; return the events to set."""
        self.reading = False
        if isinstance(woken, _Every):
            return list(self.waiters.values())
        event = self.waiters.get(woken)
        return [] if event is None else [event]

    def successor(self) -> Any:
        """The event of the waiter to read next when a stream leaves (``None``: none)."""
        if self.reading or not self.waiters:
            return None
        return next(iter(self.waiters.values()))


def _start_reading(
    sock: _Socket, lane: Lane, ready: Callable[[], bool], wait_s: float | None
) -> bool:
    """Become ``sock``'s reader (``True``), or wait (``False``: look at the queue again).

    The wait ends when the reader wakes ``lane`` or hands over, or after ``wait_s``
    seconds; there is none when ``ready()`` (the lane has a message queued, or the socket
    is gone). ``ready()`` is checked and the waiter registered under one lock, so a
    wake-up is never lost.
    """
    with sock.lock:
        claimed = sock.claim(lane, ready, threading.Event)
    if claimed is True:
        return True
    if claimed is not None:
        claimed.wait(None if wait_s is None else max(wait_s, 0.0))
        with sock.lock:
            sock.forget(lane, claimed)
    return False


def _stop_reading(sock: _Socket, woken: Lane | _Every) -> None:
    """The reader lets go of ``sock`` after routing a message to ``woken``'s queue."""
    with sock.lock:
        events = sock.release(woken)
    for event in events:
        event.set()


def _hand_over(sock: _Socket | None) -> None:
    """A stream leaves ``sock`` (for now): if nobody reads it, wake a waiter to read."""
    if sock is None or not sock.waiters:
        # (unlocked: a waiter registers only while someone reads, under the lock that
        # the reader's _stop_reading took before this)
        return
    with sock.lock:
        event = sock.successor()
    if event is not None:
        event.set()


async def _astart_reading(
    sock: _Socket, lane: Lane, ready: Callable[[], bool], wait_s: float | None
) -> bool:
    """:func:`_start_reading` of the async executor (one event loop: no lock needed)."""
    claimed = sock.claim(lane, ready, anyio.Event)
    if claimed is True:
        return True
    if claimed is not None:
        try:
            with anyio.move_on_after(math.inf if wait_s is None else max(wait_s, 0.0)):
                await claimed.wait()
        finally:
            sock.forget(lane, claimed)
    return False


def _astop_reading(sock: _Socket, woken: Lane | _Every) -> None:
    """:func:`_stop_reading` of the async executor."""
    for event in sock.release(woken):
        event.set()


def _ahand_over(sock: _Socket | None) -> None:
    """:func:`_hand_over` of the async executor."""
    event = None if sock is None else sock.successor()
    if event is not None:
        event.set()


# ---- sync executor ----------------------------------------------------------------------


class ConnectionStream(StreamState):
    """One response over a :class:`Connection`: an iterator of :data:`~streamkit.DeltaEvent`.

    The same API as :class:`~streamkit.Stream`: the request is sent on ``__enter__`` or
    the first ``next()``; ``result``, ``snapshot()``, ``text_stream``; leaving the
    ``with`` block or :meth:`close` ends it (the socket stays open for other streams).

    Raises (from iteration): as :class:`~streamkit.Stream`, plus
    :class:`~streamkit.errors.WebSocketClosedError` when the socket closed and the
    retries are used up; every error carries ``partial``.
    """

    def __init__(self, conn: Connection, machine: StreamMachine, lane: Lane) -> None:
        super().__init__(machine)
        self._conn = conn
        self._lane = lane
        self._socket = 0  # the socket of the current attempt (0: none)
        self._pending: Any = None
        self._idle_s = conn._config.timeout.read_idle
        self._claimed = True

    @property
    def lane(self) -> Lane:
        """The stream's lane (``stream_id``), ``None`` for the default lane."""
        return self._lane

    def __enter__(self) -> ConnectionStream:
        """Send the request (the stream is under way on return)."""
        if not self._closed and not self._buffer:
            self._step(stop_at_receive=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the stream (the socket stays open)."""
        self.close()

    def __iter__(self) -> ConnectionStream:
        """The stream is its own iterator (iterate it once)."""
        return self

    def __next__(self) -> DeltaEvent:
        """The next event; performs I/O (and retry sleeps) as needed."""
        while True:
            buffer = self._buffer
            position = self._buffer_pos
            if position < len(buffer):
                self._buffer_pos = position + 1
                return buffer[position]
            if self._closed:
                raise StopIteration
            self._step()

    def close(self) -> None:
        """End the stream; iteration stops. Safe to call twice.

        A response still arriving is dropped (its lane takes a new stream at once);
        what was received is accounted.
        """
        if not self._closed:
            self._closed = True
            self._machine.close()
            self._session.abandon(self._conn._clock())
        self._conn._release(self, retire=False, abandoned=True)
        self._unclaim()

    def _step(self, stop_at_receive: bool = False) -> None:
        """Run the machine's actions until it delivers events or ends."""
        conn = self._conn
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
                if action is RECEIVE:
                    if stop_at_receive:
                        self._pending = action
                        return
                    outcome = conn._receive(self._socket, self._lane, self._idle_s)
                elif type(action) is Deliver:
                    self._buffer = action.events
                    self._buffer_pos = 0
                    return
                elif type(action) is Send:
                    outcome = conn._send(self._socket, action.message)
                elif type(action) is Connect:
                    outcome = conn._connect(self, action)
                elif type(action) is Release:
                    conn._release(self, retire=action.retire)
                    outcome = None
                elif type(action) is Sleep:
                    conn._sleep(action.delay_s)
                    outcome = None
                else:  # DONE
                    self._closed = True
                    conn._completed(self)
                    self._unclaim()
                    return
                action = None
        except BaseException:
            self._closed = True
            conn._release(self, retire=False, abandoned=True)
            self._unclaim()
            raise

    def _unclaim(self) -> None:
        if self._claimed:
            self._claimed = False
            self._conn._state.unclaim(self._lane)

    # ---- end of the sync executor -------------------------------------------------------

    @property
    def text_stream(self) -> Iterator[str]:
        """The text pieces of choice 0 as plain ``str`` (consumes the stream)."""
        return (e.text for e in self if isinstance(e, TextDelta) and e.index == 0)

    def until_done(self) -> ConnectionStream:
        """Consume the rest of the stream; return ``self`` (then read :attr:`result`)."""
        for _ in self:
            pass
        return self


class Connection(_ConnectionBase):
    """A WebSocket connection of a :class:`~streamkit.StreamingClient`: many streams, one socket.

    Made by :meth:`StreamingClient.connect() <streamkit.StreamingClient.connect>`; use it
    as a context manager. The socket opens with the first stream and is reopened as
    needed: after a drop (the stream resumes), and before the server's connection
    limit (between responses). Closing it closes every socket.
    """

    def __init__(
        self,
        client: StreamingClient,
        *,
        dialect: WebSocketDialect | None,
        url: str | None,
        heartbeat_s: float | None,
        pong_timeout_s: float | None,
        rotate_after_s: float | None,
    ) -> None:
        pool = client._pool
        super().__init__(
            client._config,
            pool.flavor,
            client._clock,
            dialect,
            url,
            heartbeat_s,
            pong_timeout_s,
            rotate_after_s,
        )
        self._client = client
        self._sleep = client._sleep
        self._http = pool.acquire()
        self._pool = pool
        self._ws_client = self._lib.module.WebSocketClient(self._http, **self._ws_client_options())
        self._opening = threading.Lock()

    def stream(
        self,
        *,
        model: str,
        input: str | Sequence[Mapping[str, Any]],
        lane: str | None = None,
        previous_response_id: str | None = None,
        resume: ResumeMode | None = None,
        **params: Any,
    ) -> ConnectionStream:
        """Start one streamed response on this connection; returns at once.

        Args:
            model: the model name.
            input: the input: a string (one user message), Responses input items, or
                chat messages (converted to input items; a relay gets them as
                ``messages``).
            lane: the lane (``stream_id``): streams on different lanes run in
                parallel on one socket; a lane takes one stream at a time. Relays
                have one lane (``None``).
            previous_response_id: continue that response's conversation with only the
                new ``input``; if the server no longer has it (a new socket after a
                drop or a rotation), the full input is sent instead when this
                connection made that response.
            resume: overrides the client's resume mode for this stream.
            **params: extra fields of the message (``tools``, ``instructions``,
                ``store``, ``generate``, ``max_output_tokens``, ...).

        Raises:
            TypeError: a bad ``model``/``input``/``lane``, or ``stream``,
                ``background``, ``stream_id`` or ``stream_options`` in ``params``.
            StreamStateError: the lane has an open stream, or the connection is closed.
            ConfigurationError: a named lane on a relay.
        """
        machine = self._machine(
            model=model,
            input=input,
            lane=lane,
            previous_response_id=previous_response_id,
            resume=resume,
            params=params,
        )
        return ConnectionStream(self, machine, lane)

    def __enter__(self) -> Connection:
        """Use as a context manager: closes every socket on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        self.close()

    # ---- sync connection executor -----------------------------------------------------

    def close(self) -> None:
        """Close every socket; streams still open end. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._close_sockets(self._state.close_all())
        self._pool.release(self._http)

    def _connect(self, stream: ConnectionStream, action: Connect) -> Outcome:
        # one handshake at a time: a lane that arrives meanwhile takes the new socket
        with self._opening:
            state = self._state
            socket_id, to_close = state.attach(stream._lane, self._clock())
            self._close_sockets(to_close)
            if socket_id is None:
                try:
                    sock = self._open_socket(action.url, action.headers)
                except self._lib.upgrade_error as exc:
                    return self._lib.head_of(exc)
                except self._lib.flavor.errors as exc:
                    return self._handshake_failure(exc)
                socket_id = state.opened(stream._lane, self._clock())
                self._sockets[socket_id] = sock
                stream._socket = socket_id
                return CONNECTED
        stream._socket = socket_id
        return REUSED

    def _send(self, socket_id: int, message: dict[str, Any]) -> Outcome:
        sock = self._sockets.get(socket_id)
        if sock is None:
            return Failed(WebSocketClosedError("the WebSocket is closed", code=1006))
        try:
            sock.ws.send_text(_JSON(message))
        except self._lib.errors as exc:
            return self._send_failure(exc)
        return None

    def _receive(self, socket_id: int, lane: Lane, idle_s: float | None) -> Outcome:
        state = self._state
        clock = self._clock
        sock = self._sockets.get(socket_id)
        deadline = None if idle_s is None else clock() + idle_s

        def ready() -> bool:
            return not state.waiting(socket_id, lane)

        try:
            while True:
                item: Outcome = state.take(socket_id, lane)
                if item is not None:
                    return item
                timeout = None
                if deadline is not None:
                    timeout = deadline - clock()
                    if timeout <= 0:
                        return Failed(self._stalled(idle_s))
                if sock is None:
                    return Closed(1006, "the connection was closed")
                if not _start_reading(sock, lane, ready, timeout):
                    continue
                woken: Lane | _Every = lane
                try:
                    if state.waiting(socket_id, lane):
                        try:
                            event = sock.ws.receive(timeout=timeout)
                        except _RECEIVE_TIMEOUTS:
                            continue
                        except self._lib.errors as exc:
                            closed = self._lib.closed(exc, self._options.pong_timeout_s)
                            state.broken(socket_id, closed)
                            woken = EVERY
                            continue
                        data = getattr(event, "data", None)
                        if data is not None:
                            woken = state.feed(socket_id, data)
                finally:
                    _stop_reading(sock, woken)
        finally:  # leaving the socket: someone else reads it
            _hand_over(sock)

    def _release(
        self,
        stream: ConnectionStream,
        *,
        retire: bool,
        abandoned: bool = False,
    ) -> None:
        socket_id, stream._socket = stream._socket, 0
        if socket_id:
            state = self._state
            to_close = state.detach(socket_id, stream._lane, retire=retire, abandoned=abandoned)
            self._close_sockets(to_close)

    def _close_sockets(self, socket_ids: list[int]) -> None:
        for socket_id in socket_ids:
            sock = self._sockets.pop(socket_id, None)
            if sock is not None:
                self._close_socket(sock)

    # ---- end of the sync connection executor ------------------------------------------

    def _open_socket(self, url: str, headers: Mapping[str, str]) -> _Socket:
        stack = contextlib.ExitStack()
        ws = stack.enter_context(self._ws_client.connect(url, headers=dict(headers)))
        return _Socket(ws, stack)

    def _close_socket(self, sock: _Socket) -> None:
        with contextlib.suppress(Exception):  # the socket may be broken already
            sock.closer.close()


# ---- async executor ---------------------------------------------------------------------


class AsyncConnectionStream(StreamState):
    """One response streamed over an :class:`AsyncConnection`: an async iterator of events.

    The same API as :class:`~streamkit.AsyncStream` (``async with``, ``async for``,
    ``result``, ``snapshot()``, ``text_stream``); see :class:`ConnectionStream`.
    """

    def __init__(self, conn: AsyncConnection, machine: StreamMachine, lane: Lane) -> None:
        super().__init__(machine)
        self._conn = conn
        self._lane = lane
        self._socket = 0  # the socket of the current attempt (0: none)
        self._pending: Any = None
        self._idle_s = conn._config.timeout.read_idle
        self._claimed = True

    @property
    def lane(self) -> Lane:
        """The stream's lane (``stream_id``), ``None`` for the default lane."""
        return self._lane

    async def __aenter__(self) -> AsyncConnectionStream:
        """Send the request (the stream is under way on return)."""
        if not self._closed and not self._buffer:
            await self._step(stop_at_receive=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the stream (the socket stays open)."""
        await self.aclose()

    def __aiter__(self) -> AsyncConnectionStream:
        """The stream is its own async iterator (iterate it once)."""
        return self

    async def __anext__(self) -> DeltaEvent:
        """The next event; performs I/O (and retry sleeps) as needed."""
        while True:
            buffer = self._buffer
            position = self._buffer_pos
            if position < len(buffer):
                self._buffer_pos = position + 1
                return buffer[position]
            if self._closed:
                raise StopAsyncIteration
            await self._step()

    async def aclose(self) -> None:
        """End the stream; iteration stops. Safe to call twice.

        A response still arriving is dropped (its lane takes a new stream at once);
        what was received is accounted.
        """
        if not self._closed:
            self._closed = True
            self._machine.close()
            self._session.abandon(self._conn._clock())
        self._conn._release(self, retire=False, abandoned=True)
        self._unclaim()

    async def _step(self, stop_at_receive: bool = False) -> None:
        """Run the machine's actions until it delivers events or ends."""
        conn = self._conn
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
                if action is RECEIVE:
                    if stop_at_receive:
                        self._pending = action
                        return
                    outcome = await conn._receive(self._socket, self._lane, self._idle_s)
                elif type(action) is Deliver:
                    self._buffer = action.events
                    self._buffer_pos = 0
                    return
                elif type(action) is Send:
                    outcome = await conn._send(self._socket, action.message)
                elif type(action) is Connect:
                    outcome = await conn._connect(self, action)
                elif type(action) is Release:
                    conn._release(self, retire=action.retire)
                    outcome = None
                elif type(action) is Sleep:
                    await conn._sleep(action.delay_s)
                    outcome = None
                else:  # DONE
                    self._closed = True
                    conn._completed(self)
                    self._unclaim()
                    return
                action = None
        except BaseException:
            self._closed = True
            conn._release(self, retire=False, abandoned=True)
            self._unclaim()
            raise

    def _unclaim(self) -> None:
        if self._claimed:
            self._claimed = False
            self._conn._state.unclaim(self._lane)

    # ---- end of the async executor ------------------------------------------------------

    @property
    async def text_stream(self) -> AsyncIterator[str]:
        """The text pieces of choice 0 as plain ``str`` (consumes the stream)."""
        async for e in self:
            if isinstance(e, TextDelta) and e.index == 0:
                yield e.text

    async def until_done(self) -> AsyncConnectionStream:
        """Consume the rest of the stream; return ``self`` (then read :attr:`result`)."""
        async for _ in self:
            pass
        return self


class AsyncConnection(_ConnectionBase):
    """A WebSocket connection of an :class:`~streamkit.AsyncStreamingClient` (asyncio or trio).

    Made by :meth:`AsyncStreamingClient.connect() <streamkit.AsyncStreamingClient.connect>`;
    use it with ``async with`` (its sockets live in a task group of that block). Streams
    on different lanes may run in different tasks. See :class:`Connection`.
    """

    def __init__(
        self,
        client: AsyncStreamingClient,
        *,
        dialect: WebSocketDialect | None,
        url: str | None,
        heartbeat_s: float | None,
        pong_timeout_s: float | None,
        rotate_after_s: float | None,
    ) -> None:
        pool = client._pool
        super().__init__(
            client._config,
            pool.flavor,
            client._clock,
            dialect,
            url,
            heartbeat_s,
            pong_timeout_s,
            rotate_after_s,
        )
        self._client = client
        self._sleep = client._sleep
        self._http = pool.acquire()
        self._pool = pool
        self._ws_client = self._lib.module.AsyncWebSocketClient(
            self._http, **self._ws_client_options()
        )
        self._opening = anyio.Lock()
        self._group: Any = None

    def stream(
        self,
        *,
        model: str,
        input: str | Sequence[Mapping[str, Any]],
        lane: str | None = None,
        previous_response_id: str | None = None,
        resume: ResumeMode | None = None,
        **params: Any,
    ) -> AsyncConnectionStream:
        """Start one streamed response on this connection; returns at once.

        Args: as :meth:`Connection.stream`.
        """
        if self._group is None and not self._closed:
            raise StreamStateError(
                "enter the connection first: async with client.connect() as conn: ..."
            )
        machine = self._machine(
            model=model,
            input=input,
            lane=lane,
            previous_response_id=previous_response_id,
            resume=resume,
            params=params,
        )
        return AsyncConnectionStream(self, machine, lane)

    async def __aenter__(self) -> AsyncConnection:
        """Open the task group the sockets live in."""
        if self._group is not None or self._closed:
            raise StreamStateError("a connection is entered once: call client.connect() again")
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Close every socket and wait for them to close."""
        await self.aclose()
        group, self._group = self._group, None
        if group is None:
            return None
        return await group.__aexit__(exc_type, exc, tb)  # type: ignore[no-any-return]

    # ---- async connection executor ----------------------------------------------------

    async def aclose(self) -> None:
        """Close every socket; streams still open end. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._close_sockets(self._state.close_all())
        self._pool.release(self._http)

    async def _connect(self, stream: AsyncConnectionStream, action: Connect) -> Outcome:
        # one handshake at a time: a lane that arrives meanwhile takes the new socket
        async with self._opening:
            state = self._state
            socket_id, to_close = state.attach(stream._lane, self._clock())
            self._close_sockets(to_close)
            if socket_id is None:
                try:
                    sock = await self._open_socket(action.url, action.headers)
                except self._lib.upgrade_error as exc:
                    return self._lib.head_of(exc)
                except self._lib.flavor.errors as exc:
                    return self._handshake_failure(exc)
                socket_id = state.opened(stream._lane, self._clock())
                self._sockets[socket_id] = sock
                stream._socket = socket_id
                return CONNECTED
        stream._socket = socket_id
        return REUSED

    async def _send(self, socket_id: int, message: dict[str, Any]) -> Outcome:
        sock = self._sockets.get(socket_id)
        if sock is None:
            return Failed(WebSocketClosedError("the WebSocket is closed", code=1006))
        try:
            await sock.ws.send_text(_JSON(message))
        except self._lib.errors as exc:
            return self._send_failure(exc)
        return None

    async def _receive(self, socket_id: int, lane: Lane, idle_s: float | None) -> Outcome:
        state = self._state
        clock = self._clock
        sock = self._sockets.get(socket_id)
        deadline = None if idle_s is None else clock() + idle_s

        def ready() -> bool:
            return not state.waiting(socket_id, lane)

        try:
            while True:
                item: Outcome = state.take(socket_id, lane)
                if item is not None:
                    return item
                timeout = None
                if deadline is not None:
                    timeout = deadline - clock()
                    if timeout <= 0:
                        return Failed(self._stalled(idle_s))
                if sock is None:
                    return Closed(1006, "the connection was closed")
                if not await _astart_reading(sock, lane, ready, timeout):
                    continue
                woken: Lane | _Every = lane
                try:
                    if state.waiting(socket_id, lane):
                        try:
                            event = await sock.ws.receive(timeout=timeout)
                        except _RECEIVE_TIMEOUTS:
                            continue
                        except self._lib.errors as exc:
                            closed = self._lib.closed(exc, self._options.pong_timeout_s)
                            state.broken(socket_id, closed)
                            woken = EVERY
                            continue
                        data = getattr(event, "data", None)
                        if data is not None:
                            woken = state.feed(socket_id, data)
                finally:
                    _astop_reading(sock, woken)
        finally:  # leaving the socket: someone else reads it
            _ahand_over(sock)

    def _release(
        self,
        stream: AsyncConnectionStream,
        *,
        retire: bool,
        abandoned: bool = False,
    ) -> None:
        socket_id, stream._socket = stream._socket, 0
        if socket_id:
            state = self._state
            to_close = state.detach(socket_id, stream._lane, retire=retire, abandoned=abandoned)
            self._close_sockets(to_close)

    def _close_sockets(self, socket_ids: list[int]) -> None:
        for socket_id in socket_ids:
            sock = self._sockets.pop(socket_id, None)
            if sock is not None:
                self._close_socket(sock)

    # ---- end of the async connection executor -----------------------------------------

    async def _open_socket(self, url: str, headers: Mapping[str, str]) -> _Socket:
        if self._group is None:
            raise StreamStateError("the connection is closed: open another with client.connect()")
        sock: _Socket = await self._group.start(self._hold_socket, url, dict(headers))
        return sock

    async def _hold_socket(
        self, url: str, headers: dict[str, str], *, task_status: Any = anyio.TASK_STATUS_IGNORED
    ) -> None:
        # the socket lives in this task of the connection's task group, so that its own
        # task group (httpx-ws runs the reader and the pings there) is entered and left
        # in one task, whichever task opened or closes the socket
        closer = anyio.Event()
        started = False
        try:
            async with self._ws_client.connect(url, headers=headers) as ws:
                task_status.started(_Socket(ws, closer))
                started = True
                await closer.wait()
        except Exception:
            if not started:
                raise  # the handshake failed: start() raises it in the caller

    def _close_socket(self, sock: _Socket) -> None:
        sock.closer.set()
