"""The faults the local server injects: one frozen dataclass per kind, nothing else.

A :class:`Fault` says what goes wrong in one attempt. Each kind is a frozen dataclass
below, with its arguments, their checks and its documentation written once; the
public spelling ``Fault.<kind>(...)`` is that class (``Fault.cut is Cut``), so
``Fault.cut(after_events=5)`` builds a :class:`Cut`. The planner
(:mod:`streamkit.testing._planner`) turns a transcript plus a fault into the steps
of a reply.

Fault kinds, by where they act:

- whole reply: :class:`Status` (``Fault.status``), :class:`ContentType`
  (``Fault.content_type``);
- events (indices count events, not comment blocks, in what this attempt serves):
  :class:`Duplicate`, :class:`Reorder`, :class:`MalformedJSON`, :class:`InvalidUTF8`,
  :class:`ErrorEvent`, :class:`Diverge` (``Fault.duplicate``, ``Fault.reorder``,
  ``Fault.malformed_json``, ``Fault.invalid_utf8``, ``Fault.error_event``,
  ``Fault.diverge``);
- bytes on the wire: :class:`Cut`, :class:`Stall`, :class:`Drip`, :class:`HugeLine`
  (``Fault.cut``, ``Fault.stall``, ``Fault.drip``, ``Fault.huge_line``);
- WebSocket only: :class:`Close` (``Fault.close``: a close code after N messages),
  :class:`ConnectionLimit` (``Fault.connection_limit``), :class:`PreviousResponseNotFound`
  (``Fault.previous_response_not_found``).

Over a WebSocket every ``response.create`` (or relay request message) is one attempt, and
the same faults act on its messages: an event fault on the events, ``cut`` drops the socket
without a close frame (the client sees 1006), ``stall`` pauses (``pongs=False``: the whole
server stops answering, pings included), ``drip`` sets the pause between messages,
``status`` becomes an error message, and ``error_event`` inserts one.

:meth:`Fault.combine` joins several into one attempt (event faults first, in the order
given, then the byte faults on the result), e.g. a diverged body cut after 500 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar

__all__ = [
    "Close",
    "Combined",
    "ConnectionLimit",
    "ContentType",
    "Cut",
    "Diverge",
    "Drip",
    "Duplicate",
    "ErrorEvent",
    "Fault",
    "HugeLine",
    "InvalidUTF8",
    "MalformedJSON",
    "PreviousResponseNotFound",
    "Reorder",
    "Stall",
    "Status",
]


class Fault:
    """What goes wrong in one attempt: build one with ``Fault.<kind>(...)``.

    Instances are immutable and reusable. Pass them to ``LocalServer(faults=[...])``: item
    ``i`` of that list applies to streaming request ``i`` (0-based), ``None`` serves normally.
    """

    __slots__ = ()

    # The vocabulary: each name is the dataclass of that kind (see its docstring).
    status: ClassVar[type[Status]]
    """Answer with an HTTP error status and no stream: :class:`Status`."""
    content_type: ClassVar[type[ContentType]]
    """Answer 200 with a non-SSE body: :class:`ContentType`."""
    duplicate: ClassVar[type[Duplicate]]
    """Send one event twice in a row: :class:`Duplicate`."""
    reorder: ClassVar[type[Reorder]]
    """Swap two events: :class:`Reorder`."""
    malformed_json: ClassVar[type[MalformedJSON]]
    """Replace one event's data: :class:`MalformedJSON`."""
    invalid_utf8: ClassVar[type[InvalidUTF8]]
    """Insert invalid UTF-8 into one event: :class:`InvalidUTF8`."""
    error_event: ClassVar[type[ErrorEvent]]
    """Insert an in-band error event: :class:`ErrorEvent`."""
    diverge: ClassVar[type[Diverge]]
    """Serve a different generation from one event on: :class:`Diverge`."""
    cut: ClassVar[type[Cut]]
    """Drop the connection mid-body: :class:`Cut`."""
    stall: ClassVar[type[Stall]]
    """Pause mid-body: :class:`Stall`."""
    drip: ClassVar[type[Drip]]
    """Send the body slowly: :class:`Drip`."""
    huge_line: ClassVar[type[HugeLine]]
    """Send one oversize line: :class:`HugeLine`."""
    close: ClassVar[type[Close]]
    """WebSocket: close the socket with a code mid-stream: :class:`Close`."""
    connection_limit: ClassVar[type[ConnectionLimit]]
    """WebSocket: the server's connection time limit: :class:`ConnectionLimit`."""
    previous_response_not_found: ClassVar[type[PreviousResponseNotFound]]
    """WebSocket: the server lost the previous response: :class:`PreviousResponseNotFound`."""

    def parts(self) -> tuple[Fault, ...]:
        """The single faults this one is made of (itself, unless built by :meth:`combine`)."""
        return (self,)

    @classmethod
    def combine(cls, *faults: Fault) -> Combined:
        """Apply several faults to the same attempt.

        Event faults run first in the order given, then byte faults act on the result (any
        number of stalls, at most one cut, one drip and one huge line). ``status`` and
        ``content_type`` replace the whole reply and cannot be combined.

        Raises:
            ValueError: a whole-reply fault is combined, or a byte fault is given twice.
        """
        flat = tuple(part for fault in faults for part in fault.parts())
        whole = Status | ContentType | PreviousResponseNotFound
        if len(flat) > 1 and any(isinstance(p, whole) for p in flat):
            raise ValueError("status() and content_type() replace the reply; combine nothing else")
        for kind in (Cut, Drip, HugeLine, Close, ConnectionLimit):
            if sum(isinstance(p, kind) for p in flat) > 1:
                raise ValueError(f"at most one {kind.__name__.lower()} fault per attempt")
        return Combined(flat)


def _one_of(after_bytes: int | None, after_events: int | None) -> None:
    if (after_bytes is None) == (after_events is None):
        raise ValueError("give exactly one of after_bytes and after_events")


# --- whole reply -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status(Fault):
    """``Fault.status(code, headers=None, body=None)``: answer with HTTP status ``code``, no stream.

    Args:
        code: e.g. 429, 500, 503, 529, 401.
        headers: extra response headers, e.g. ``{"Retry-After": "1"}`` or
            ``{"retry-after-ms": "200"}`` (kept as a ``dict``).
        body: the body; a mapping is sent as JSON. ``None`` sends the provider's usual JSON
            error for that status (OpenAI's ``{"error": {"message", "type", "param",
            "code"}}``; Anthropic's ``{"type": "error", "error": {...}}`` when the server's
            dialect is ``anthropic-messages``; Google's for ``gemini``).
    """

    code: int
    headers: Mapping[str, str] | None = None
    body: bytes | str | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", dict(self.headers or {}))


@dataclass(frozen=True, slots=True)
class ContentType(Fault):
    """``Fault.content_type(value, body)``: answer 200 with a non-SSE content type.

    As a proxy does, or a server that ignores ``stream``.

    Args:
        value: the ``content-type`` header.
        body: the body (a mapping is sent as JSON); ``None`` sends a non-streamed
            ``chat.completion`` object.
    """

    value: str = "application/json"
    body: bytes | str | Mapping[str, Any] | None = None


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Duplicate(Fault):
    """``Fault.duplicate(event_index)``: send event ``event_index`` (0-based) twice in a row."""

    event_index: int


@dataclass(frozen=True, slots=True)
class Reorder(Fault):
    """``Fault.reorder(i, j)``: swap events ``i`` and ``j``."""

    i: int
    j: int


@dataclass(frozen=True, slots=True)
class MalformedJSON(Fault):
    """``Fault.malformed_json(event_index, data)``: replace the data of one event.

    Args:
        event_index: the event (0-based).
        data: the new data, truncated JSON by default.
    """

    event_index: int
    data: str = '{"choices": ['


@dataclass(frozen=True, slots=True)
class InvalidUTF8(Fault):
    """``Fault.invalid_utf8(event_index, raw)``: insert invalid UTF-8 into one event's data.

    When the event carries answer text the bytes go at the end of that text, inside the
    JSON string (so after U+FFFD replacement the JSON still parses); otherwise just before
    the last ``"`` of the first data line, or at its end.

    Args:
        event_index: the event (0-based).
        raw: the bytes to insert.
    """

    event_index: int
    raw: bytes = b"\xff\xfe"


@dataclass(frozen=True, slots=True)
class ErrorEvent(Fault):
    """``Fault.error_event(event_index, payload)``: insert an in-band error event.

    Args:
        event_index: insert before this event; the number of events is also accepted (at
            the end).
        payload: the error's data (a mapping is sent as JSON). ``None`` sends the dialect's
            overload error: ``event: error`` + ``{"error": {"message": "Overloaded", "type":
            "overloaded_error"}}`` for openai-chat, ``{"type": "error", "error": {"type":
            "overloaded_error", "message": "Overloaded"}}`` for anthropic-messages.
    """

    event_index: int
    payload: Mapping[str, Any] | str | None = None


@dataclass(frozen=True, slots=True)
class Diverge(Fault):
    """``Fault.diverge(after_events)``: serve a different generation from that event on.

    Same framing and event count, but the answer text of every content delta from event
    ``after_events`` on is upper-cased (a piece that upper-casing leaves unchanged, such
    as punctuation, gets ``"*"`` appended), so a client that replays and skips cannot
    splice it.
    """

    after_events: int


# --- bytes on the wire -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cut(Fault):
    """``Fault.cut(after_bytes=None, *, after_events=None)``: drop the connection mid-body.

    The first body bytes are sent, then the chunked body never gets its terminating
    zero-length chunk, so the client sees a broken connection (httpx:
    ``RemoteProtocolError: peer closed connection without sending complete message body``).

    Args:
        after_bytes: body bytes to send first (past the end: the whole body, then the cut).
        after_events: instead, cut right after this many whole events.

    Raises:
        ValueError: neither or both of ``after_bytes`` and ``after_events`` given.
    """

    after_bytes: int | None = None
    _: KW_ONLY
    after_events: int | None = None

    def __post_init__(self) -> None:
        _one_of(self.after_bytes, self.after_events)


@dataclass(frozen=True, slots=True)
class Stall(Fault):
    """``Fault.stall(after_bytes=None, seconds=5.0, *, after_events=None, pongs=True)``: pause.

    The first body bytes are sent, then nothing for ``seconds``, then the rest.

    Args:
        after_bytes: body bytes to send before the pause.
        seconds: length of the pause. The server's ``stop()`` cuts it short.
        after_events: instead, pause after this many whole events.
        pongs: WebSocket only: ``False`` freezes the whole server for ``seconds`` (no
            messages, no pongs to the client's pings, no new connections), like a peer
            that died without closing; ``True`` pauses this stream only (pings are
            answered), like a provider that stopped generating.

    Raises:
        ValueError: neither or both of ``after_bytes`` and ``after_events`` given.
    """

    after_bytes: int | None = None
    seconds: float = 5.0
    _: KW_ONLY
    after_events: int | None = None
    pongs: bool = True

    def __post_init__(self) -> None:
        _one_of(self.after_bytes, self.after_events)


@dataclass(frozen=True, slots=True)
class Drip(Fault):
    """``Fault.drip(nbytes, interval_s)``: send the whole body ``nbytes`` bytes at a time.

    Args:
        nbytes: bytes per write (at least 1).
        interval_s: seconds between writes.

    Raises:
        ValueError: ``nbytes < 1``.
    """

    nbytes: int
    interval_s: float

    def __post_init__(self) -> None:
        if self.nbytes < 1:
            raise ValueError("drip needs nbytes >= 1")


@dataclass(frozen=True, slots=True)
class HugeLine(Fault):
    """``Fault.huge_line(size_bytes, *, after_events=0)``: send one oversize ``data:`` line.

    After ``after_events`` events, one line of ``data: `` followed by ``size_bytes`` ``x``
    bytes, with no line end, generated in 64 KiB pieces (so 20 MB cost no memory); the body
    then ends. A bounded client must give up (``SSEError``) instead of buffering it.
    """

    size_bytes: int
    _: KW_ONLY
    after_events: int = 0


# --- WebSocket only ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Close(Fault):
    """``Fault.close(code, *, after_events=0, reason="")``: close the WebSocket mid-stream.

    After ``after_events`` messages of this attempt, the server closes the socket with
    ``code`` (``1011``, ``1013``, ``1001``, ``4429``, ...); every stream on that socket ends.
    ``1006`` cannot be sent on the wire (it means "no close frame"): the server then drops
    the connection without a close frame, as :class:`Cut` does.

    Raises:
        ValueError: a code outside 1000-4999, or a negative ``after_events``.
    """

    code: int
    _: KW_ONLY
    after_events: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        if not 1000 <= self.code <= 4999:
            raise ValueError("a close code is between 1000 and 4999")
        if self.after_events < 0:
            raise ValueError("after_events must be >= 0")


@dataclass(frozen=True, slots=True)
class ConnectionLimit(Fault):
    """``Fault.connection_limit(*, after_events=0)``: the server's connection time limit.

    After ``after_events`` messages, an OpenAI ``error`` message with code
    ``websocket_connection_limit_reached`` (the 60-minute limit; xAI's is 25), then a close
    with 1000: a client reconnects and continues.
    """

    _: KW_ONLY
    after_events: int = 0


@dataclass(frozen=True, slots=True)
class PreviousResponseNotFound(Fault):
    """``Fault.previous_response_not_found()``: answer with ``previous_response_not_found``.

    The attempt gets only an OpenAI ``error`` message with that code (status 400), as when
    the socket that held the previous response is gone. The server also answers this way,
    without a fault, to a ``previous_response_id`` that this socket did not complete.
    """


@dataclass(frozen=True, slots=True)
class Combined(Fault):
    """Several faults in one attempt; see :meth:`Fault.combine`."""

    faults: tuple[Fault, ...]

    def parts(self) -> tuple[Fault, ...]:
        """The single faults, in order."""
        return self.faults


Fault.status = Status
Fault.content_type = ContentType
Fault.duplicate = Duplicate
Fault.reorder = Reorder
Fault.malformed_json = MalformedJSON
Fault.invalid_utf8 = InvalidUTF8
Fault.error_event = ErrorEvent
Fault.diverge = Diverge
Fault.cut = Cut
Fault.stall = Stall
Fault.drip = Drip
Fault.huge_line = HugeLine
Fault.close = Close
Fault.connection_limit = ConnectionLimit
Fault.previous_response_not_found = PreviousResponseNotFound
