"""Relay: the ASGI building block that starts streams and serves them as SSE and WebSocket."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskGroup
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, Router, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from streamkit.errors import ConfigurationError
from streamkit.events import DeltaEvent
from streamkit.relay._errors import (
    RelayError,
    StoreFullError,
    StoreUnavailableError,
    StreamExistsError,
)
from streamkit.relay._producer import run_producer
from streamkit.relay._store import Batch, MemoryStore, Store
from streamkit.relay._wire import WireName, get_wire

__all__ = ["Action", "AuthHook", "Relay", "StartCall", "StartHook", "new_stream_id"]

logger = logging.getLogger("streamkit.relay")

#: What a request asks to do with a stream, as the auth hook sees it.
Action: TypeAlias = Literal["start", "read", "stop"]

#: ``authorize(connection, action) -> owner | None`` (sync or async): who is asking.
AuthHook: TypeAlias = Callable[[HTTPConnection, Action], "Awaitable[str | None] | str | None"]

#: ``start(call) -> stream`` (sync or async): the user's code that calls the client.
StartHook: TypeAlias = Callable[
    ["StartCall"], "Awaitable[AsyncIterable[DeltaEvent]] | AsyncIterable[DeltaEvent]"
]

_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_NO_STORE = (("cache-control", "no-cache, no-store"), ("x-accel-buffering", "no"))
#: Close codes of the WebSocket endpoint (4000-4999 are the application's, RFC 6455 7.4.2).
WS_BAD_REQUEST, WS_UNAUTHORIZED, WS_NOT_FOUND = 4400, 4401, 4404


def new_stream_id() -> str:
    """A new unguessable stream id: 24 URL-safe characters, 144 random bits."""
    return secrets.token_urlsafe(18)


class StartCall:
    """What the start hook gets: the request, the owner, and how to name the stream.

    Attributes:
        request: the Starlette request that asked to start.
        owner: what the auth hook returned for it (``""`` without a hook).
        stream_id: ``None`` (the default) gives the stream a new unguessable id; set
            it to use your own (1-128 of ``A-Z a-z 0-9 _ -``), e.g. the chat's id for
            the AI SDK's ``GET {api}/{chatId}/stream`` resume. A reused id starts a
            new generation of that stream (its old events are dropped).
        replace: with your own ``stream_id``: take over the id while its previous
            generation is still live (its producer stops), instead of answering 409.
    """

    def __init__(self, request: Request, owner: str, *, max_body_bytes: int) -> None:
        self.request = request
        self.owner = owner
        self.stream_id: str | None = None
        self.replace = False
        self._max_body_bytes = max_body_bytes
        self._json: Any = None
        self._read = False

    async def json(self) -> Any:
        """The request body parsed as JSON (read once, at most ``max_body_bytes``).

        Raises:
            HTTPException: 413 when the body is larger than ``max_body_bytes``, 400
                when it is not JSON (the relay turns either into the response).
        """
        if not self._read:
            body = bytearray()
            async for chunk in self.request.stream():
                body += chunk
                if len(body) > self._max_body_bytes:
                    raise HTTPException(413, f"the body exceeds {self._max_body_bytes} bytes")
            try:
                self._json = json.loads(body)
            except ValueError:
                raise HTTPException(400, "the body is not JSON") from None
            self._read = True
        return self._json


class _Endpoint:
    """An ASGI app around one of the relay's handlers (Starlette routes it as ASGI)."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handler(scope, receive, send)


class Relay:
    """Start LLM streams from requests and serve them to browsers, resumably.

    An ASGI app (mount it, or add :meth:`routes` to your app) with these endpoints,
    relative to where it is mounted:

    - ``POST /``: start: the auth hook (``"start"``), then your ``start`` hook;
      ``201 {"stream_id", "stream_url", "ws_url", "stop_url"}``, or the SSE stream
      itself when the request accepts ``text/event-stream`` (always with
      ``wire="ui-message-stream"``); header ``X-Stream-Id`` either way.
    - ``GET /{id}/stream``: the stream as server-sent events from the cursor in
      ``Last-Event-ID`` or ``?last_event_id=``; ``204`` when it is finished and
      nothing is left to send.
    - ``WS /{id}/ws``: the same events as JSON text messages; the client's first
      message is ``{"last_event_id": <id or null>}``.
    - ``POST /{id}/stop``: stop the generation (``202``; ``204`` if it had ended).

    The generation runs in the relay's task group, not in the request: a browser that
    disconnects neither cancels nor re-bills it, and reconnects (to any worker, with
    :class:`RedisStore`) continue after the last event it received. Enter the relay
    in your app's lifespan (``async with relay:``, or ``lifespan=relay.lifespan``).

    Args:
        start: ``start(call)`` returns the stream to relay, usually
            ``client.stream(model=..., messages=...)`` of an
            :class:`~streamkit.AsyncStreamingClient` (any async iterable of
            :data:`~streamkit.DeltaEvent` works). It may ``await call.json()`` and
            raise ``starlette.exceptions.HTTPException`` to refuse (e.g. 400).
        store: where streams live; default a :class:`MemoryStore` (one worker). The
            relay closes it on exit.
        authorize: ``authorize(connection, action)`` returns the owner's id, or
            ``None`` to refuse (401). Readers and stoppers must get the same owner as
            the starter, or they get 404. Default: everyone is owner ``""`` (then the
            unguessable stream id is the only protection).
        wire: ``"streamkit"`` (see :data:`STREAMKIT_EVENTS`) or
            ``"ui-message-stream"`` (the Vercel AI SDK 5 UI message stream).
        cors_origins: origins allowed to call the relay from a browser (``"*"`` for
            any). Starlette's ``CORSMiddleware`` answers preflights, allowing
            ``Last-Event-ID``, ``Content-Type``, ``Authorization`` and ``cors_headers``
            and exposing ``X-Stream-Id``. WebSocket handshakes from an ``Origin`` that
            is neither listed nor the relay's own are refused (403).
        cors_allow_credentials: let cross-origin pages send cookies
            (``withCredentials``); needs explicit origins.
        cors_headers: more request headers to allow.
        retry_ms: the SSE ``retry:`` hint: how long a browser waits before it
            reconnects, milliseconds.
        heartbeat_s: seconds of silence after which an SSE comment (``: keep-alive``)
            is sent, so that proxies keep the connection open.
        send_timeout_s: a write to a client blocked this long (the client stopped
            reading) closes its connection: the slow-client policy. The client
            resumes from its last event when it reconnects, as long as the store
            keeps it.
        batch_events: the most events read from the store and written at once: the
            bound of each connection's queue.
        max_body_bytes: the largest start request body :meth:`StartCall.json` reads.

    Raises:
        ConfigurationError: an option is out of range, or the wire format unknown.
    """

    def __init__(
        self,
        start: StartHook,
        *,
        store: Store | None = None,
        authorize: AuthHook | None = None,
        wire: WireName = "streamkit",
        cors_origins: Sequence[str] = (),
        cors_allow_credentials: bool = False,
        cors_headers: Sequence[str] = (),
        retry_ms: int = 1000,
        heartbeat_s: float = 15.0,
        send_timeout_s: float = 30.0,
        batch_events: int = 64,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        if isinstance(cors_origins, str):
            raise ConfigurationError("Relay(cors_origins=...): pass a list of origins")
        for name, value in (
            ("heartbeat_s", heartbeat_s),
            ("send_timeout_s", send_timeout_s),
            ("batch_events", batch_events),
            ("max_body_bytes", max_body_bytes),
        ):
            if not value > 0:
                raise ConfigurationError(f"Relay({name}={value!r}): must be > 0")
        if retry_ms < 0:
            raise ConfigurationError(f"Relay(retry_ms={retry_ms!r}): must be >= 0")
        if cors_allow_credentials and "*" in cors_origins:
            raise ConfigurationError("Relay: cors_allow_credentials needs explicit origins")
        self._start_hook = start
        self.store: Store = store if store is not None else MemoryStore()
        self._authorize = authorize
        self.wire = get_wire(wire)
        self.cors_origins = tuple(cors_origins)
        self._cors: dict[str, Any] | None = None
        if self.cors_origins:
            self._cors = {
                "allow_origins": self.cors_origins,
                "allow_methods": ("GET", "POST"),
                "allow_headers": ("Last-Event-ID", "Content-Type", "Authorization", *cors_headers),
                "allow_credentials": cors_allow_credentials,
                "expose_headers": ("X-Stream-Id",),
            }
        self.retry_ms = retry_ms
        self.heartbeat_s = heartbeat_s
        self.send_timeout_s = send_timeout_s
        self.batch_events = batch_events
        self.max_body_bytes = max_body_bytes
        self._tasks: TaskGroup | None = None
        self._orphan = self.wire.failure("interrupted")
        self._router = Router(routes=self.routes(), lifespan=self.lifespan)

    def __repr__(self) -> str:
        return f"Relay(store={self.store!r}, wire={self.wire.name!r})"

    # --- wiring ------------------------------------------------------------------------

    def routes(self, prefix: str = "") -> list[BaseRoute]:
        """The relay's routes under ``prefix``, to add to a Starlette or FastAPI app.

        ``prefix`` is the start endpoint's exact path (e.g. ``"/api/chat"``, as the AI
        SDK posts to it); the others are below it. Mounting the relay instead
        (``app.mount("/chat", relay)``) starts at ``POST /chat/``.
        """
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ConfigurationError(f"routes({prefix!r}): start with '/', end without")
        return [
            Route(prefix or "/", self._app(self._handle_start), methods=None),
            Route(prefix + "/{stream_id}/stream", self._app(self._handle_stream), methods=None),
            Route(prefix + "/{stream_id}/stop", self._app(self._handle_stop), methods=None),
            WebSocketRoute(prefix + "/{stream_id}/ws", _Endpoint(self._handle_websocket)),
        ]

    def _app(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> ASGIApp:
        app: ASGIApp = _Endpoint(handler)
        if self._cors is not None:
            app = CORSMiddleware(app, **self._cors)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The relay as an ASGI app (mount it, or run it alone: it handles lifespan)."""
        await self._router(scope, receive, send)

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """``async with relay.lifespan(app):``: a Starlette ``lifespan=`` for the relay."""
        async with self:
            yield

    async def __aenter__(self) -> Relay:
        """Open the task group that runs the producers."""
        if self._tasks is not None:
            raise RuntimeError("this Relay is already running")
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the producers still running and close the store.

        The streams still running end with ``failed`` ``interrupted``.
        """
        tasks, self._tasks = self._tasks, None
        if tasks is None:
            return
        tasks.cancel_scope.cancel()
        try:
            await tasks.__aexit__(exc_type, exc, tb)
        finally:
            await self.store.aclose()

    # --- the Python API --------------------------------------------------------------------

    async def open(
        self,
        source: AsyncIterable[DeltaEvent],
        *,
        owner: str = "",
        stream_id: str | None = None,
        replace: bool = False,
    ) -> str:
        """Start relaying ``source`` (in the relay's task group); return its stream id.

        What the start endpoint does after the hooks, for streams started from your
        own code (a webhook, a queue consumer). The source is closed if it cannot be
        started.

        Raises:
            RuntimeError: the relay is not running (enter it in your app's lifespan).
            ConfigurationError: ``stream_id`` has characters outside ``A-Za-z0-9_-``
                or more than 128.
            StreamExistsError, StoreFullError, StoreUnavailableError: from the store.
        """
        try:
            tasks = self._tasks
            if tasks is None:
                raise RuntimeError(
                    "the Relay is not running: enter it in your app's lifespan "
                    "(`async with relay:` or `lifespan=relay.lifespan`)"
                )
            if stream_id is None:
                stream_id = new_stream_id()
            elif not _STREAM_ID.fullmatch(stream_id):
                raise ConfigurationError("a stream id is 1-128 of A-Z a-z 0-9 _ -")
            lease = await self.store.create(stream_id, owner=owner, replace=replace)
        except BaseException:
            with anyio.CancelScope(shield=True):
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()
            raise
        tasks.start_soon(run_producer, self.store, lease, source, self.wire.encoder(stream_id))
        return stream_id

    async def stop(self, stream_id: str) -> bool:
        """Ask the stream's producer to stop (on whichever worker runs it).

        Returns ``False`` when the stream is not live.
        """
        return await self.store.request_stop(stream_id)

    # --- helpers ---------------------------------------------------------------------------

    async def _owner(self, connection: HTTPConnection, action: Action) -> str | None:
        if self._authorize is None:
            return ""
        owner = self._authorize(connection, action)
        if inspect.isawaitable(owner):
            owner = await owner
        return owner

    async def _readable(self, stream_id: str, owner: str) -> bool:
        """Whether ``owner`` may read or stop ``stream_id`` (else: 404, never its text)."""
        if not _STREAM_ID.fullmatch(stream_id):
            return False
        info = await self.store.info(stream_id)
        return info is not None and secrets.compare_digest(info.owner, owner)

    def _origin_allowed(self, headers: Headers) -> bool:
        origin = headers.get("origin")
        if origin is None or "*" in self.cors_origins or origin in self.cors_origins:
            return True
        return urlsplit(origin).netloc == headers.get("host")

    @staticmethod
    def _cursor(value: str | None) -> int | None:
        """``Last-Event-ID`` / ``last_event_id`` as a cursor; ``ValueError`` if not one."""
        if value is None or value.strip() == "":
            return None
        cursor = int(value)
        if cursor < 0:
            raise ValueError(value)
        return cursor

    # --- HTTP handlers ----------------------------------------------------------------------

    async def _handle_start(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method != "POST":
            await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        try:
            owner = await self._owner(request, "start")
            if owner is None:
                raise HTTPException(401, "not allowed to start a stream")
            call = StartCall(request, owner, max_body_bytes=self.max_body_bytes)
            source = self._start_hook(call)
            if inspect.isawaitable(source):
                source = await source
            try:
                stream_id = await self.open(
                    source, owner=owner, stream_id=call.stream_id, replace=call.replace
                )
            except ConfigurationError as err:
                raise HTTPException(400, str(err)) from None
            except StreamExistsError:
                raise HTTPException(409, "a stream with this id exists") from None
            except (StoreFullError, StoreUnavailableError) as err:
                logger.warning("relay: cannot start a stream: %r", err)
                raise HTTPException(503, "the relay cannot take more streams now") from None
        except HTTPException as err:
            await _error_response(err)(scope, receive, send)
            return
        accept = request.headers.get("accept", "")
        if self.wire.name == "ui-message-stream" or "text/event-stream" in accept:
            await self._sse(scope, receive, send, stream_id, None)
            return
        base = request.url.path.rstrip("/")
        body = {
            "stream_id": stream_id,
            "stream_url": f"{base}/{stream_id}/stream",
            "ws_url": f"{base}/{stream_id}/ws",
            "stop_url": f"{base}/{stream_id}/stop",
        }
        headers = {"X-Stream-Id": stream_id, "Cache-Control": "no-store"}
        await JSONResponse(body, status_code=201, headers=headers)(scope, receive, send)

    async def _handle_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method != "GET":
            await Response(status_code=405, headers={"Allow": "GET"})(scope, receive, send)
            return
        stream_id = request.path_params["stream_id"]
        try:
            owner = await self._owner(request, "read")
            if owner is None:
                raise HTTPException(401, "not allowed to read streams")
            if not await self._readable(stream_id, owner):
                raise HTTPException(404, "no such stream")
            raw = request.headers.get("last-event-id")
            if raw is None:
                raw = request.query_params.get("last_event_id")
            try:
                after = self._cursor(raw)
            except ValueError:
                raise HTTPException(400, "Last-Event-ID is not an event id") from None
        except HTTPException as err:
            await _error_response(err)(scope, receive, send)
            return
        except StoreUnavailableError:
            await Response(status_code=503, headers={"Retry-After": "1"})(scope, receive, send)
            return
        await self._sse(scope, receive, send, stream_id, after)

    async def _handle_stop(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method != "POST":
            await Response(status_code=405, headers={"Allow": "POST"})(scope, receive, send)
            return
        stream_id = request.path_params["stream_id"]
        try:
            owner = await self._owner(request, "stop")
            if owner is None:
                raise HTTPException(401, "not allowed to stop streams")
            if not await self._readable(stream_id, owner):
                raise HTTPException(404, "no such stream")
        except HTTPException as err:
            await _error_response(err)(scope, receive, send)
            return
        stopping = await self.stop(stream_id)
        response = JSONResponse({"stopping": True}, 202) if stopping else Response(status_code=204)
        await response(scope, receive, send)

    # --- SSE ---------------------------------------------------------------------------------

    async def _read(self, stream_id: str, after: int | None, timeout_s: float) -> Batch:
        return await self.store.read(
            stream_id, after, limit=self.batch_events, timeout_s=timeout_s, orphan=self._orphan
        )

    async def _sse(
        self, scope: Scope, receive: Receive, send: Send, stream_id: str, after: int | None
    ) -> None:
        try:
            batch = await self._read(stream_id, after, 0)
        except StoreUnavailableError:
            await Response(status_code=503, headers={"Retry-After": "1"})(scope, receive, send)
            return
        if batch.status == "gone":
            await _error_response(HTTPException(404, "no such stream"))(scope, receive, send)
            return
        if batch.finished and not batch.entries:
            await Response(status_code=204, headers={"X-Stream-Id": stream_id})(
                scope, receive, send
            )
            return
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"x-stream-id", stream_id.encode()),
            *((k.encode(), v.encode()) for k, v in (*_NO_STORE, *self.wire.headers)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            try:
                await self._pump_sse(send, stream_id, after, batch)
            except StoreUnavailableError as err:
                logger.warning("relay stream %s: store failed while serving: %r", stream_id, err)
                await self._send(send, b"", more=False)
            group.cancel_scope.cancel()

    async def _pump_sse(self, send: Send, stream_id: str, cursor: int | None, batch: Batch) -> None:
        wire = self.wire
        body = f"retry: {self.retry_ms}\n\n"
        while True:
            final = batch.finished or batch.status != "ok"
            if batch.status != "ok":  # expired: the events after the cursor are gone
                body += wire.unnumbered_sse(wire.failure("expired")[0])
            elif batch.entries:
                body += "".join([wire.sse(entry) for entry in batch.entries])
                cursor = batch.entries[-1].id
            elif not body and not final:
                body = ": keep-alive\n\n"
            if batch.finished:
                body += wire.sse_trailer.decode()
            if not await self._send(send, body.encode(), more=not final) or final:
                return
            body = ""
            batch = await self._read(stream_id, cursor, self.heartbeat_s)

    async def _send(self, send: Send, body: bytes, *, more: bool) -> bool:
        """Write one piece; ``False`` when the client is gone or too slow (then closed)."""
        message = {"type": "http.response.body", "body": body, "more_body": more}
        with anyio.move_on_after(self.send_timeout_s) as timer:
            try:
                await send(message)
            except OSError:  # ASGI 2.4: the client disconnected
                return False
        if not timer.cancelled_caught:
            return True
        logger.info("relay: closing a client that read nothing for %s s", self.send_timeout_s)
        with anyio.move_on_after(min(1.0, self.send_timeout_s)), contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        return False

    # --- WebSocket ----------------------------------------------------------------------------

    async def _handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        if not self._origin_allowed(websocket.headers):
            await websocket.close(code=1008)  # before accept: the handshake gets 403
            return
        stream_id = websocket.path_params["stream_id"]
        owner = await self._owner(websocket, "read")
        await websocket.accept()
        try:
            if owner is None:
                await websocket.close(WS_UNAUTHORIZED, "not allowed to read streams")
                return
            if not await self._readable(stream_id, owner):
                await websocket.close(WS_NOT_FOUND, "no such stream")
                return
            with anyio.fail_after(self.send_timeout_s):
                first = await websocket.receive_text()
            try:
                message = json.loads(first) if first.strip() else {}
                raw = message.get("last_event_id") if isinstance(message, dict) else None
                after = self._cursor(None if raw is None else str(raw))
            except ValueError:
                await websocket.close(WS_BAD_REQUEST, 'expected {"last_event_id": ...}')
                return
            async with anyio.create_task_group() as group:
                group.start_soon(_cancel_on_ws_close, websocket, group.cancel_scope)
                try:
                    await self._pump_websocket(websocket, stream_id, after)
                except (WebSocketDisconnect, TimeoutError):
                    pass  # the client left, or stopped reading (the slow-client policy)
                except RelayError as err:
                    logger.warning(
                        "relay stream %s: store failed while serving: %r", stream_id, err
                    )
                    with anyio.move_on_after(1):
                        await websocket.close(1011)
                group.cancel_scope.cancel()
        except (WebSocketDisconnect, TimeoutError):
            return  # before the first message
        except RelayError as err:
            logger.warning("relay stream %s: store failed: %r", stream_id, err)
            with anyio.move_on_after(1):
                await websocket.close(1011)

    async def _pump_websocket(
        self, websocket: WebSocket, stream_id: str, after: int | None
    ) -> None:
        wire = self.wire
        batch = await self._read(stream_id, after, 0)
        while True:
            if batch.status != "ok":
                event, data = wire.failure("expired")[0]
                text = f'{{"event":{json.dumps(event)},"data":{data}}}'
                await self._ws_send(websocket, text)
                break
            for entry in batch.entries:
                await self._ws_send(websocket, wire.message(entry))
                after = entry.id
            if batch.finished:
                break
            batch = await self._read(stream_id, after, self.heartbeat_s)
        with anyio.move_on_after(self.send_timeout_s):
            await websocket.close(1000)

    async def _ws_send(self, websocket: WebSocket, text: str) -> None:
        with anyio.fail_after(self.send_timeout_s):  # slow client: TimeoutError closes it
            await websocket.send_text(text)


def _error_response(err: HTTPException) -> Response:
    headers = dict(err.headers or {})
    if err.status_code == 503:
        headers.setdefault("Retry-After", "1")
    return JSONResponse({"error": err.detail}, status_code=err.status_code, headers=headers)


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _cancel_on_ws_close(websocket: WebSocket, scope: anyio.CancelScope) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            scope.cancel()
            return
