"""A real local streaming server (starlette + uvicorn on 127.0.0.1) that replays transcripts.

The server runs uvicorn in a daemon thread with its own event loop, so it serves sync and async
clients alike, from any test framework. It only ever binds ``127.0.0.1`` on a port the OS picks.

How a connection is cut: the ASGI app sends the first bytes of the chunked body, then raises a
private exception. uvicorn answers an exception raised after the response started by closing
the transport, so the client gets the bytes already written and then EOF with no terminating
zero-length chunk: a broken body, exactly like a dropped upstream. A logging filter on
``uvicorn.error`` drops the log record of that deliberate exception (and only of that one).

How a stall is done: the app simply awaits, in 50 ms slices that watch a shutdown flag, so that
``stop()`` cuts every in-flight stream at once and never waits for a long stall to end.

WebSocket (same port, any path, uvicorn's wsproto implementation): every ``response.create``
(or relay request message) is one attempt, served as the transcript's events, one message
each, through :func:`~streamkit.testing._planner.plan_frames`. Lanes (``stream_id``) run in
parallel, each in order, and every message echoes its lane. A dropped connection (1006) is
the same deliberate exception as a cut body; a frozen server (``stall(pongs=False)``) blocks
the server's event loop in 10 ms slices that watch the shutdown flag, so that nothing, not
even a pong, is sent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Self, assert_never
from urllib.parse import parse_qsl

import anyio
import anyio.lowlevel
import uvicorn
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamkit.testing._faults import Fault
from streamkit.testing._planner import (
    Abort,
    CloseSocket,
    Frame,
    FrameStep,
    Freeze,
    RelayEnd,
    Sleep,
    StatusReply,
    Step,
    Write,
    error_body,
    plan_frames,
    plan_reply,
    previous_response_not_found,
)
from streamkit.testing._transcripts import (
    DIALECTS,
    Block,
    Dialect,
    PrefillError,
    add_ids,
    after_event_id,
    after_sequence_number,
    continue_after_prefill,
    demo_anthropic_transcript,
    demo_responses_transcript,
    demo_transcript,
    load_transcript,
    prefill_text,
    split_blocks,
)

_HOST = "127.0.0.1"
_START_TIMEOUT_S = 10.0
_JOIN_TIMEOUT_S = 10.0
_SLEEP_SLICE_S = 0.05  # how often a sleeping stream checks for shutdown
_FREEZE_SLICE_S = 0.01  # how often a frozen server checks for shutdown
_RELAY_ENDS: tuple[RelayEnd, ...] = ("[DONE]", "done", "close", "none")
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

Transcript = bytes | str | PathLike[str] | None
"""What a server serves: SSE bytes, a path (or built-in name, see ``load_transcript``), or
``None`` for the dialect's demo transcript."""


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server received, as the client sent it."""

    method: str
    """``"POST"``, ``"GET"``, ..."""
    path: str
    """The URL path, e.g. ``"/v1/chat/completions"``."""
    query: str
    """The raw query string without ``?`` (``""`` when none)."""
    headers: dict[str, str]
    """Header names lower-cased; repeated headers joined with ``", "``."""
    json: Any
    """The body parsed as JSON, ``None`` when empty or not JSON."""
    body: bytes = field(default=b"", repr=False)
    """The raw body bytes."""


class _ConnectionCut(Exception):
    """Raised inside the ASGI app to make uvicorn drop the connection mid-body."""


class _DropCutRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _ConnectionCut)


_filter_lock = threading.Lock()
_filter_installed = False


def _install_log_filter() -> None:
    global _filter_installed
    with _filter_lock:
        if not _filter_installed:
            logging.getLogger("uvicorn.error").addFilter(_DropCutRecords())
            _filter_installed = True


def _as_bytes(transcript: Transcript, dialect: Dialect) -> bytes:
    if transcript is None:
        if dialect == "anthropic-messages":
            return demo_anthropic_transcript()
        if dialect == "openai-responses":
            return demo_responses_transcript()
        if dialect == "gemini":
            raise ValueError("there is no demo transcript for gemini: pass one")
        return demo_transcript()
    if isinstance(transcript, bytes):
        return transcript
    return load_transcript(Path(transcript) if isinstance(transcript, PathLike) else transcript)


class LocalServer:
    """A local LLM streaming server with fault injection, for tests and demos.

    Serves ``transcript`` (a recorded SSE body) byte for byte as ``text/event-stream`` to every
    request, whatever the method and path: ``POST /v1/chat/completions``, ``/v1/messages``,
    ``/v1/responses``, ``/v1/models/{model}:streamGenerateContent``, ``GET
    /v1/responses/{id}?stream=true&starting_after=N`` ... Every request is one *attempt*, and
    item ``i`` of ``faults`` says what goes wrong in attempt ``i``.

    Per request, in this order:

    1. a ``status``/``content_type`` fault answers at once;
    2. with ``add_ids``, events get ``id: 1``, ``id: 2``, ... and a ``Last-Event-ID: k`` header
       serves only the events with an id above ``k`` (without ``add_ids`` the header is ignored,
       like a server that does not support it);
    3. a ``starting_after=N`` query serves only the events whose JSON ``sequence_number`` > N;
    4. for ``openai-chat`` and ``anthropic-messages``, a last request message with ``"role":
       "assistant"`` is an assistant prefill: the server continues the answer after that text
       (``400`` with a JSON error if it is not a prefix of the transcript's answer);
    5. event faults, then byte faults (cut, stall, drip, huge line).

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with LocalServer(faults=[Fault.cut(after_events=5)]) as server:
            client = httpx.Client(base_url=server.base_url)
            ...

    The same port speaks WebSocket (``ws://127.0.0.1:<port>/v1/responses``, any path): with
    ``dialect="openai-responses"`` as OpenAI's Responses WebSocket mode (``response.create``
    messages; the transcript's events as messages, each echoing the request's ``stream_id``;
    a ``previous_response_id`` that this socket did not complete is answered with
    ``previous_response_not_found``), with ``"openai-chat"`` as a Chat Completions relay
    (the chat request as a message; ``chat.completion.chunk`` messages, ended as
    ``relay_end`` says). Each request message is an attempt and takes the next fault.
    Handshakes are recorded in :attr:`handshakes`, request messages in :attr:`requests`
    (method ``"WEBSOCKET"``).

    Args:
        transcript: SSE bytes, a path to a ``.sse`` file, or ``None`` for the demo transcript
            of ``dialect``.
        dialect: the provider shape: picks default error bodies, how prefill and the answer text
            are found, and the demo transcript.
        faults: item ``i`` applies to attempt ``i`` (0-based); ``None`` items and attempts past
            the end are served normally.
        add_ids: number the events and honour ``Last-Event-ID``.
        chunk_size: write the body in pieces of this many bytes; ``None`` writes one event
            (blank-line-terminated block) per write.
        delay_s: seconds to wait between writes (``0.02`` looks like real token timing).
        api_key: WebSocket only: a handshake must carry this key (``Authorization: Bearer``
            or a ``key`` query parameter), else it is answered 401; ``None`` accepts any.
        relay_end: WebSocket relays (``openai-chat``): end each stream with a ``"[DONE]"``
            message, a ``"done"`` message (``{"type": "done"}``), a ``"close"`` with 1000, or
            ``"none"`` (nothing after the last chunk).
        handshake_faults: WebSocket only: item ``i`` answers the ``i``-th handshake; only
            ``Fault.status`` (the handshake's HTTP status) applies.

    Raises:
        ValueError: an unknown dialect or ``relay_end``, a bad ``chunk_size``, or a negative
            ``delay_s``.
    """

    def __init__(
        self,
        transcript: Transcript = None,
        *,
        dialect: Dialect = "openai-chat",
        faults: Sequence[Fault | None] = (),
        add_ids: bool = False,
        chunk_size: int | None = None,
        delay_s: float = 0.0,
        api_key: str | None = None,
        relay_end: RelayEnd = "[DONE]",
        handshake_faults: Sequence[Fault | None] = (),
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
        if relay_end not in _RELAY_ENDS:
            raise ValueError(f"relay_end must be one of {_RELAY_ENDS}, got {relay_end!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be None or >= 1")
        if delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        self.dialect: Dialect = dialect
        self.add_ids = add_ids
        self.chunk_size = chunk_size
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._blocks = split_blocks(_as_bytes(transcript, dialect))
        self._faults: list[Fault | None] = list(faults)
        self._fault_offset = 0
        self._requests: list[RecordedRequest] = []
        self._handshakes: list[RecordedRequest] = []
        self._handshake_faults: list[Fault | None] = list(handshake_faults)
        self.api_key = api_key
        self.relay_end: RelayEnd = relay_end
        self._attempts = 0
        self._closing = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._port: int | None = None

    # --- public state ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on.

        Raises:
            RuntimeError: the server is not running.
        """
        if self._port is None:
            raise RuntimeError("the server is not running: use `with LocalServer(...)` or start()")
        return self._port

    @property
    def origin(self) -> str:
        """``"http://127.0.0.1:<port>"``."""
        return f"http://{_HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """``"http://127.0.0.1:<port>/v1"``, to use as a client's ``base_url``."""
        return f"{self.origin}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def ws_url(self) -> str:
        """``"ws://127.0.0.1:<port>/v1"``: append ``/responses`` (any path is served)."""
        return f"ws://{_HOST}:{self.port}/v1"

    @property
    def handshakes(self) -> list[RecordedRequest]:
        """Every WebSocket handshake received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._handshakes)

    @property
    def attempts(self) -> int:
        """How many streaming requests were answered so far (each consumes one fault slot)."""
        with self._lock:
            return self._attempts

    @property
    def running(self) -> bool:
        """Whether the server thread is up."""
        return self._thread is not None and self._thread.is_alive()

    def set_transcript(self, transcript: Transcript) -> None:
        """Serve ``transcript`` from the next request on (same forms as the constructor)."""
        blocks = split_blocks(_as_bytes(transcript, self.dialect))
        with self._lock:
            self._blocks = blocks

    def set_faults(self, faults: Sequence[Fault | None]) -> None:
        """Replace the fault list; its item ``i`` applies to the ``i``-th request from now on."""
        with self._lock:
            self._faults = list(faults)
            self._fault_offset = self._attempts

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a daemon thread and wait until the port accepts connections.

        Returns:
            The server itself.

        Raises:
            RuntimeError: it is already running, or uvicorn failed to start.
        """
        if self.running:
            raise RuntimeError("the server is already running")
        _install_log_filter()
        self._closing.clear()
        self._error = None
        config = uvicorn.Config(
            self._app,
            host=_HOST,
            port=0,
            log_level="warning",
            log_config=None,  # leave the process's logging configuration alone
            access_log=False,
            lifespan="off",
            http="h11",
            ws="wsproto",
            interface="asgi3",
            proxy_headers=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=self._run, args=(server,), name="streamkit-local-server", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local server did not start") from self._error
            time.sleep(0.005)
        sockets = server.servers[0].sockets
        self._port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop the server: cut the streams in flight, close the port, join the thread.

        Safe to call twice or before :meth:`start`. Recorded requests stay readable.

        Raises:
            RuntimeError: the server thread did not end within 10 seconds.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._closing.set()
        server.should_exit = True
        thread.join(_JOIN_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_JOIN_TIMEOUT_S)
        self._server = self._thread = None
        self._port = None
        if thread.is_alive():
            raise RuntimeError("the local server thread did not stop")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "stopped"
        return f"<LocalServer {self.dialect} {where} attempts={self._attempts}>"

    def _run(self, server: uvicorn.Server) -> None:
        try:
            anyio.run(server.serve)
        except BaseException as exc:  # reported by start(); SystemExit included
            self._error = exc

    # --- the ASGI app ---------------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=_headers(scope),
            json=parsed,
            body=body,
        )
        attempt, fault, blocks = self._attempt(record)
        request_id = f"req_local{attempt:04d}"
        reply_headers = {"x-request-id": request_id}
        if self.dialect == "anthropic-messages":
            reply_headers["request-id"] = request_id

        try:
            reply = plan_reply(
                fault,
                self._select(record, blocks),
                dialect=self.dialect,
                chunk_size=self.chunk_size,
                delay_s=self.delay_s,
            )
        except PrefillError as exc:
            content = json.dumps(error_body(400, self.dialect, str(exc))).encode()
            reply = StatusReply(400, {"content-type": "application/json"}, content)
        except IndexError as exc:  # a fault names an event this attempt does not have
            message = f"streamkit.testing: {fault!r} does not fit this attempt: {exc}"
            content = json.dumps(error_body(500, self.dialect, message)).encode()
            reply = StatusReply(500, {"content-type": "application/json"}, content)
        if isinstance(reply, StatusReply):
            response = Response(
                reply.body, status_code=reply.status, headers={**reply_headers, **reply.headers}
            )
            await response(scope, receive, send)
            return

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    *((k.encode(), v.encode()) for k, v in reply_headers.items()),
                ],
            }
        )
        if await self._write_steps(reply.steps, receive, send):
            raise _ConnectionCut("streamkit.testing cut the connection on purpose")

    def _attempt(self, record: RecordedRequest) -> tuple[int, Fault | None, list[Block]]:
        """Record a request (HTTP or a WebSocket message); take its attempt number and fault."""
        with self._lock:
            self._requests.append(record)
            attempt = self._attempts
            self._attempts += 1
            slot = attempt - self._fault_offset
            fault = self._faults[slot] if 0 <= slot < len(self._faults) else None
            return attempt, fault, self._blocks

    def _select(self, record: RecordedRequest, blocks: list[Block]) -> list[Block]:
        """What this request gets before faults: ids, resumption, prefill."""
        if self.add_ids:
            blocks = add_ids(blocks)
            last = record.headers.get("last-event-id", "").strip()
            if last.isdigit():
                blocks = after_event_id(blocks, int(last))
        starting_after = dict(parse_qsl(record.query)).get("starting_after", "")
        if starting_after.lstrip("-").isdigit():
            blocks = after_sequence_number(blocks, int(starting_after))
        if self.dialect in ("openai-chat", "anthropic-messages"):
            prefill = prefill_text(record.json)
            if prefill is not None:
                blocks = continue_after_prefill(blocks, prefill, self.dialect)
        return blocks

    async def _write_steps(self, steps: Iterator[Step], receive: Receive, send: Send) -> bool:
        """Carry out the steps; True when the connection must be cut (fault or shutdown)."""
        cut = False
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()  # the client left: stop writing

            group.start_soon(watch_disconnect)
            cut = await self._drive(steps, send)
            group.cancel_scope.cancel()
        return cut

    async def _drive(self, steps: Iterator[Step], send: Send) -> bool:
        for step in steps:
            if self._closing.is_set():
                return True
            if isinstance(step, Write):
                await send({"type": "http.response.body", "body": step.data, "more_body": True})
                # uvicorn's send does not always yield: let the disconnect watcher run
                await anyio.lowlevel.checkpoint()
            elif isinstance(step, Sleep):
                await self._sleep(step.seconds)
            elif isinstance(step, Abort):
                return True
            else:
                assert_never(step)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return False

    async def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._closing.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await anyio.sleep(min(remaining, _SLEEP_SLICE_S))

    # --- the WebSocket endpoint -----------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        handshake = RecordedRequest(
            method="GET",
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=_headers(scope),
            json=None,
        )
        with self._lock:
            self._handshakes.append(handshake)
            index = len(self._handshakes) - 1
            fault = self._handshake_faults[index] if index < len(self._handshake_faults) else None
        if isinstance(fault, Fault.status):
            await self._reject(send, fault.code, fault.headers or {}, fault.body)
            return
        if self.api_key is not None and not self._key_ok(handshake):
            await self._reject(send, 401, {}, None)
            return
        await send({"type": "websocket.accept"})
        socket = _Socket(self, handshake, send)
        await socket.serve(receive)
        if socket.dropped:
            raise _ConnectionCut("streamkit.testing dropped the WebSocket on purpose")

    def _key_ok(self, handshake: RecordedRequest) -> bool:
        given = dict(parse_qsl(handshake.query)).get("key")
        authorization = handshake.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        return given == self.api_key

    async def _reject(self, send: Send, status: int, headers: Mapping[str, str], body: Any) -> None:
        if body is None:
            body = error_body(status, self.dialect)
        content = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(dict(body)).encode())
        )
        raw_headers = [(b"content-type", b"application/json")]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send(
            {"type": "websocket.http.response.start", "status": status, "headers": raw_headers}
        )
        await send({"type": "websocket.http.response.body", "body": content})

    def _freeze(self, seconds: float) -> None:
        """Block the server's event loop (no messages, no pongs, no new connections)."""
        deadline = time.monotonic() + seconds
        while not self._closing.is_set() and time.monotonic() < deadline:
            time.sleep(_FREEZE_SLICE_S)


class _Socket:
    """One accepted WebSocket of a :class:`LocalServer`: lanes, memory, faults."""

    def __init__(self, server: LocalServer, handshake: RecordedRequest, send: Send) -> None:
        self.server = server
        self.handshake = handshake
        self._send = send
        self._send_lock = anyio.Lock()
        self.completed: set[str] = set()
        """Response ids completed on this socket (what ``previous_response_id`` may name)."""
        self.dropped = False
        self._closed = False
        self._group: TaskGroup | None = None

    async def serve(self, receive: Receive) -> None:
        lanes: dict[Any, Any] = {}
        outs: list[MemoryObjectReceiveStream[tuple[str, Any]]] = []
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                while not self._closed:
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                    if text is None:
                        text = (message.get("bytes") or b"").decode("utf-8", "replace")
                    try:
                        request: Any = json.loads(text)
                    except ValueError:
                        request = None
                    lane = request.get("stream_id") if isinstance(request, dict) else None
                    queue = lanes.get(lane)
                    if queue is None:
                        queue, out = anyio.create_memory_object_stream[tuple[str, Any]](1000)
                        lanes[lane] = queue
                        outs.append(out)
                        group.start_soon(self._lane, out)
                    queue.send_nowait((text, request))
                group.cancel_scope.cancel()
        finally:  # every lane's queue is closed, however the socket ended
            for queue in lanes.values():
                queue.close()
            for out in outs:  # a lane task cancelled before it started never closed its end
                out.close()

    async def _lane(self, requests: MemoryObjectReceiveStream[tuple[str, Any]]) -> None:
        async with requests:
            async for text, request in requests:
                if not await self._answer(text, request):
                    return

    async def _answer(self, text: str, request: Any) -> bool:
        """Serve one request message; False once the socket is closed or dropped."""
        server = self.server
        record = RecordedRequest(
            method="WEBSOCKET",
            path=self.handshake.path,
            query=self.handshake.query,
            headers=self.handshake.headers,
            json=request,
            body=text.encode(),
        )
        attempt, fault, blocks = server._attempt(record)
        lane = request.get("stream_id") if isinstance(request, dict) else None
        previous = request.get("previous_response_id") if isinstance(request, dict) else None
        responses = server.dialect == "openai-responses"
        try:
            if responses and isinstance(previous, str) and previous not in self.completed:
                steps: list[FrameStep] = [Frame(previous_response_not_found(previous))]
            else:
                steps = plan_frames(
                    fault,
                    server._select(record, blocks),
                    dialect=server.dialect,
                    delay_s=server.delay_s,
                    relay_end=server.relay_end,
                    previous_response_id=previous if isinstance(previous, str) else None,
                )
        except (IndexError, ValueError, PrefillError) as exc:
            status = 400 if isinstance(exc, PrefillError) else 500
            error = error_body(status, "openai-chat", f"streamkit.testing: {exc}")["error"]
            steps = [Frame(json.dumps({"type": "error", "status": status, "error": error}))]
        renamed = _ResponseIds(f"resp_ws{attempt:05d}") if responses else None
        for step in steps:
            if self._closed or server._closing.is_set():
                return False
            if isinstance(step, Frame):
                out = step.text
                if renamed is not None:
                    out = renamed(out)
                    if _is_terminal(out) and renamed.new_id:
                        self.completed.add(renamed.new_id)
                if lane is not None:
                    out = _with_lane(out, lane)
                if not await self._text(out):
                    return False
            elif isinstance(step, Sleep):
                await server._sleep(step.seconds)
            elif isinstance(step, Freeze):
                server._freeze(step.seconds)
            elif isinstance(step, CloseSocket):
                await self._close(step.code, step.reason)
                return False
            elif isinstance(step, Abort):
                self.dropped = True
                self._stop()
                return False
            else:
                assert_never(step)
        return True

    async def _text(self, text: str) -> bool:
        try:
            async with self._send_lock:
                await self._send({"type": "websocket.send", "text": text})
            await anyio.lowlevel.checkpoint()
        except OSError:  # the client left (uvicorn's ClientDisconnected)
            self._stop()
            return False
        return True

    async def _close(self, code: int, reason: str) -> None:
        if not self._closed:
            self._closed = True
            try:
                async with self._send_lock:
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
            except (OSError, RuntimeError):
                pass
            self._stop()

    def _stop(self) -> None:
        self._closed = True
        if self._group is not None:
            self._group.cancel_scope.cancel()


class _ResponseIds:
    """Gives each served response its own id: the transcript's id becomes ``new_id``."""

    def __init__(self, new_id: str) -> None:
        self.new_id = new_id
        self._old: str | None = None

    def __call__(self, text: str) -> str:
        if self._old is None:
            try:
                payload = json.loads(text)
            except ValueError:
                return text
            response = payload.get("response") if isinstance(payload, dict) else None
            old = response.get("id") if isinstance(response, dict) else None
            if not isinstance(old, str) or not old:
                return text
            self._old = old
        return text.replace(self._old, self.new_id)


def _is_terminal(text: str) -> bool:
    if '"response.' not in text:
        return False
    try:
        payload = json.loads(text)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("type") in _TERMINAL


def _with_lane(text: str, lane: Any) -> str:
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    if not isinstance(payload, dict):
        return text
    payload["stream_id"] = lane
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers
