"""The sans-I/O core that every client executor drives: :class:`StreamMachine`.

A :class:`StreamMachine` runs one logical stream (every attempt, retry sleep and
resume) over a :class:`StreamSession`. Like httpx's ``Auth.auth_flow`` or tenacity's
``iter()``, it hands out *actions* and takes their *outcomes*; an executor performs
each action with real I/O and knows nothing else::

    machine = StreamMachine(session, clock=time.monotonic)
    outcome = None
    while True:
        action = machine.next(outcome)      # raises the stream's final error
        if action is READ:                  outcome = <next body chunk (bytes)> | EOF | Failed(err)
        elif isinstance(action, Open):      outcome = ResponseHead(...) | Failed(err)
        elif isinstance(action, ReadBody):  outcome = <up to action.limit bytes> | Failed(err)
        elif isinstance(action, Sleep):     sleep(action.delay_s); outcome = None
        elif isinstance(action, Deliver):   hand action.events to the user; outcome = None
        elif action is CLOSE:               close the response; outcome = None
        elif action is DONE:                break

Every decision lives here, once: when a status or content type is an error, when
to stop reading, when a failure is retried or resumed (and with which request),
how long to sleep, and what is delivered before an error is raised. The executors
(:mod:`streamkit.client`, :mod:`streamkit.async_client`, for httpx and httpx2) only
turn an action into one library call and map that library's exceptions into
:class:`Failed` outcomes.

Errors: :meth:`StreamMachine.next` raises the error that ends the stream (a
:class:`~streamkit.errors.StreamkitError` carrying ``partial``) after it has asked for
``CLOSE``; an executor re-raises it to the user.

Over a WebSocket (``StreamMachine(session, clock=..., transport="websocket")``, driven
by :mod:`streamkit.websocket`) one stream is a lane's messages on a shared socket::

        if isinstance(action, Connect):     outcome = CONNECTED | REUSED | ResponseHead(...)
                                                      | Failed(err)
        elif isinstance(action, Send):      send action.message; outcome = None | Failed(err)
        elif action is RECEIVE:             outcome = <message: dict | str> | Closed(code, reason)
                                                      | Failed(err)
        elif isinstance(action, Release):   this attempt is over on its socket; outcome = None

A message enters the session through :meth:`StreamSession.feed_message`; a drop, a
close code, a stall or a connection limit goes through the same failure path as HTTP
(:meth:`StreamSession.fail`: a :class:`~streamkit.events.RetryEvent`, a sleep, a
resumed attempt on a new socket).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, cast

from streamkit._head import ERROR_BODY_LIMIT, ResponseHead
from streamkit._request import RequestSpec
from streamkit._session import ResumeMode, RetryPlan, StreamAccount, StreamSession, prompt_chars
from streamkit.errors import APIStatusError, StreamkitError, StreamStateError
from streamkit.events import DeltaEvent
from streamkit.providers._base import WebSocketDialect

__all__ = [
    "CLOSE",
    "CONNECTED",
    "DONE",
    "EOF",
    "READ",
    "RECEIVE",
    "REUSED",
    "Action",
    "Closed",
    "Connect",
    "Deliver",
    "Failed",
    "Open",
    "Outcome",
    "ReadBody",
    "Release",
    "ResponseHead",
    "ResumeMode",
    "RetryPlan",
    "Send",
    "Sleep",
    "StreamAccount",
    "StreamMachine",
    "StreamSession",
    "prompt_chars",
]


class _Marker:
    """A named singleton action or outcome (compare with ``is``)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


READ: Final = _Marker("READ")
"""Action: read the next piece of the body. Outcome: ``bytes``, :data:`EOF` or :class:`Failed`."""
CLOSE: Final = _Marker("CLOSE")
"""Action: close the current response (and release its connection). Outcome: ``None``."""
DONE: Final = _Marker("DONE")
"""Action: the stream is over; stop iterating."""
EOF: Final = _Marker("EOF")
"""Outcome of :data:`READ`: the body ended."""
RECEIVE: Final = _Marker("RECEIVE")
"""WebSocket action: the next message of this stream's lane. Outcome: the message (a
parsed JSON object as ``dict``; a text that is not one, e.g. ``"[DONE]"``, as ``str``),
:class:`Closed` or :class:`Failed` (:class:`~streamkit.errors.StreamStalledError`
when none came for ``Timeouts.read_idle`` seconds)."""
CONNECTED: Final = _Marker("CONNECTED")
"""Outcome of :class:`Connect`: a new socket was opened for this stream."""
REUSED: Final = _Marker("REUSED")
"""Outcome of :class:`Connect`: the stream uses a socket that was already open (if it
turns out closed before the first message, the request goes on a new socket at once)."""


@dataclass(frozen=True, slots=True)
class Open:
    """Action: send ``spec`` and wait for the response head.

    Outcome: a :class:`ResponseHead`, or :class:`Failed`.
    """

    spec: RequestSpec


@dataclass(frozen=True, slots=True)
class ReadBody:
    """Action: read up to ``limit`` bytes of an error response's body (decoded).

    Outcome: the ``bytes`` read (possibly fewer), or :class:`Failed`.
    """

    limit: int


@dataclass(frozen=True, slots=True)
class Sleep:
    """Action: wait ``delay_s`` seconds before the next attempt. Outcome: ``None``."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class Deliver:
    """Action: hand ``events`` to the user, in order, before asking for the next action."""

    events: list[DeltaEvent]


@dataclass(frozen=True, slots=True)
class Connect:
    """WebSocket action: have an open socket to ``url`` for this stream.

    The executor reuses its connection's socket, or opens one with a handshake to
    ``url`` carrying ``headers`` (it opens a new one when the socket is gone, retired,
    or near the server's connection limit). Outcome: :data:`CONNECTED` (opened),
    :data:`REUSED`; a :class:`ResponseHead` when the server answered the handshake with
    another status than 101; or :class:`Failed`.
    """

    url: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Send:
    """WebSocket action: send ``message`` as one JSON text message.

    Outcome: ``None``, or :class:`Failed`.
    """

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Release:
    """WebSocket action: this attempt is over on its socket (drop what is queued for it).

    ``retire``: the attempt failed, so the socket is in doubt (it broke or stalled, or
    the server may still be sending this lane's response, even after an ``error``
    message): start no new stream on it; it closes when the other lanes on it are
    done. Outcome: ``None``.
    """

    retire: bool


@dataclass(frozen=True, slots=True)
class Closed:
    """Outcome of :data:`RECEIVE`: the socket closed with ``code`` (1006: no close frame)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    """Outcome: the action failed with ``error`` (the executor's library error, mapped)."""

    error: StreamkitError


Action: TypeAlias = Open | ReadBody | Sleep | Deliver | Connect | Send | Release | _Marker
"""What :meth:`StreamMachine.next` returns."""
Outcome: TypeAlias = ResponseHead | bytes | Failed | Closed | dict[str, Any] | str | _Marker | None
"""What :meth:`StreamMachine.next` takes: the result of the previous action."""


class StreamMachine:
    """One logical stream as actions and outcomes (see the module docstring).

    Args:
        session: the stream's :class:`StreamSession` (decoding, reassembly, usage,
            metrics, retry and resume planning).
        clock: monotonic seconds (``time.monotonic``, or a fake clock in tests).
        transport: ``"http"`` (one request per attempt, SSE body) or ``"websocket"``
            (messages on a shared socket; the session's dialect is a
            :class:`~streamkit.providers._base.WebSocketDialect`).
        fallback: WebSocket only: the request to send instead when the server says it
            lost the conversation the first one continues (``previous_response_not_found``:
            the full input, without ``previous_response_id``); ``None``: that error ends
            the stream.

    Raises:
        StreamStateError: ``transport="websocket"`` with a dialect that is not one.
    """

    __slots__ = ("_clock", "_fallback", "_flow", "_over", "send", "session")

    def __init__(
        self,
        session: StreamSession,
        *,
        clock: Callable[[], float],
        transport: Literal["http", "websocket"] = "http",
        fallback: RequestSpec | None = None,
    ) -> None:
        self.session = session
        self._clock = clock
        self._fallback = fallback
        if transport == "websocket":
            if not hasattr(session.dialect, "close_error"):
                raise StreamStateError(
                    f"dialect {session.dialect.name!r} does not speak WebSocket "
                    "(use streamkit.providers.ws.ResponsesWebSocket or ChatRelay)"
                )
            self._flow: Generator[Action, Outcome, None] = self._ws_flow()
        else:
            self._flow = self._http_flow()
        self._over = False
        #: The executors' fast path: :meth:`next` without its bookkeeping (the flow's
        #: own generator ``send``): ``StopIteration`` means :data:`DONE`; after it
        #: raised or stopped, do not call it again.
        self.send: Callable[[Outcome], Action] = self._flow.send

    def next(self, outcome: Outcome) -> Action:
        """Take the outcome of the previous action (``None`` at first); return the next one.

        Raises:
            StreamkitError: the error that ends the stream (with ``partial``); the
                machine has asked for :data:`CLOSE` first. Later calls return :data:`DONE`.
        """
        if self._over:
            return DONE
        try:
            return self._flow.send(outcome)
        except StopIteration:
            self._over = True
            return DONE
        except BaseException:
            self._over = True
            raise

    def close(self) -> None:
        """Stop the machine (the user left); later :meth:`next` calls return :data:`DONE`."""
        self._over = True
        self._flow.close()

    @property
    def over(self) -> bool:
        """True once the machine returned :data:`DONE` or raised."""
        return self._over

    def _http_flow(self) -> Generator[Action, Outcome, None]:
        session = self.session
        clock = self._clock
        delay_s: float | None = None
        while True:
            failure: StreamkitError | None = None
            try:
                if delay_s is not None:
                    yield Sleep(delay_s)
                outcome = yield Open(session.next_request(clock()))
                if type(outcome) is not ResponseHead:
                    raise _failure(outcome)
                if outcome.needs_body:
                    body = yield ReadBody(ERROR_BODY_LIMIT)
                    if type(body) is not bytes:
                        raise _failure(body)
                    error = outcome.error(body)
                    if error is not None:
                        raise error
                events = session.opened(clock())
                if events:
                    yield Deliver(events)
                while True:
                    chunk = yield READ
                    if type(chunk) is bytes:  # the hot path
                        events = session.feed(chunk, clock())
                        if events:
                            yield Deliver(events)
                            session.take_failure()  # one found behind those events
                        if session.stream_done:  # the terminal event: stop here
                            events = session.end(clock())
                            if events:
                                yield Deliver(events)
                            break
                    elif chunk is EOF:
                        events = session.end(clock())  # raises if the stream broke
                        if events:
                            yield Deliver(events)
                        yield CLOSE
                        return
                    else:
                        raise _failure(chunk)
                # read what follows the terminal event up to EOF, so that the connection
                # is reused; a failure there does not matter any more
                while type((yield READ)) is bytes:
                    pass
                yield CLOSE
                return
            except StreamkitError as err:
                failure = err
            delay_s = yield from self._recover(failure, CLOSE)
            if delay_s is None:
                return

    def _recover(
        self, failure: StreamkitError, close: Action
    ) -> Generator[Action, Outcome, float | None]:
        """What both flows do after a failed attempt: close it, plan the retry or raise.

        Returns the seconds to sleep before the next attempt, or ``None`` when the
        stream had ended already (what broke was the drain after it).

        Raises:
            StreamkitError: the stream's final error (see :meth:`StreamSession.fail`).
        """
        yield close
        session = self.session
        if session.finished:
            return None
        plan = session.fail(failure, self._clock())  # raises when it is not retried
        if plan.events:
            yield Deliver(plan.events)
        return plan.delay_s

    def _ws_flow(self) -> Generator[Action, Outcome, None]:
        session = self.session
        clock = self._clock
        dialect = cast("WebSocketDialect", session.dialect)
        fallback = self._fallback
        delay_s: float | None = None
        while True:
            failure: StreamkitError
            try:
                if delay_s is not None:
                    yield Sleep(delay_s)
                spec = session.next_request(clock())
                request = spec.json if spec.json is not None else {}
                stale_retry = True
                while True:
                    outcome = yield Connect(spec.url, spec.headers)
                    reused = outcome is REUSED
                    if outcome is not CONNECTED and not reused:
                        if type(outcome) is ResponseHead:
                            raise _handshake_error(outcome)
                        raise _failure(outcome)
                    outcome = yield Send(request)
                    if outcome is None:
                        events = session.opened(clock())
                        if events:
                            yield Deliver(events)
                        first = yield RECEIVE
                        if type(first) is not Closed or not reused or not stale_retry:
                            break
                    elif not reused or not stale_retry:
                        raise _failure(outcome)
                    # an open socket that the server had closed meanwhile (a relay closes
                    # after each stream; an idle socket times out): the request never got
                    # there, so it goes on a new socket at once, once, as HTTP clients
                    # resend on a stale pooled connection
                    stale_retry = False
                    yield Release(retire=True)
                message: Outcome = first
                while True:
                    kind = type(message)
                    if kind is dict or kind is str:  # the hot path
                        events = session.feed_message(message, clock())
                        if events:
                            yield Deliver(events)
                            session.take_failure()  # one found behind those events
                        if session.stream_done:
                            break
                    elif kind is Closed:
                        closed = cast("Closed", message)
                        error = dialect.close_error(closed.code, closed.reason, session.decoder)
                        if error is not None:
                            raise error
                        break  # a close that ends the stream (a relay's close 1000)
                    else:
                        raise _failure(message)
                    message = yield RECEIVE
                events = session.end(clock())  # raises if the stream is not complete
                if events:
                    yield Deliver(events)
                yield Release(retire=False)
                return
            except StreamkitError as err:
                failure = dialect.transport_error(err)
            if (
                fallback is not None
                and not session.reassembler.delivered_chars
                and dialect.needs_full_input(failure)
            ):
                # the socket that held the previous response is gone: send the full input
                # (this error replaces the response: the socket is fine, nothing follows)
                yield Release(retire=False)
                session.restart(fallback)
                fallback, delay_s = None, None
                continue
            # the socket is in doubt: it may be broken, or still sending this lane's
            # response; it takes no new stream (the other lanes on it carry on)
            delay_s = yield from self._recover(failure, Release(retire=True))
            if delay_s is None:
                return


def _handshake_error(head: ResponseHead) -> StreamkitError:
    """The error of a WebSocket handshake answered with ``head`` instead of 101."""
    if head.status >= 300:
        error = head.error(b"")
        if error is not None:
            return error
    return APIStatusError(
        f"the server answered the WebSocket handshake with HTTP {head.status} instead of "
        "101 Switching Protocols: is this a WebSocket endpoint?",
        status_code=head.status,
        headers=head.headers,
    )


def _failure(outcome: Outcome) -> StreamkitError:
    if type(outcome) is Failed:
        return outcome.error
    return StreamStateError(f"executor bug: unexpected outcome {outcome!r}")
