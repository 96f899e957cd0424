r"""Sans-I/O, incremental parser for ``text/event-stream`` (Server-Sent Events).

This module implements the WHATWG HTML Living Standard, section 9.2
"Server-sent events", subsections 9.2.5 "Parsing an event stream" and 9.2.6
"Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html), for bytes that
arrive in arbitrary pieces. It performs no I/O and reads no clocks: feed it the
bytes of a response body with :meth:`SSEDecoder.feed` and it hands back every
:class:`ServerSentEvent` completed by them.

What the standard prescribes, and this decoder does:

* The stream is UTF-8; invalid bytes decode to U+FFFD. One leading byte order
  mark (``EF BB BF``) is dropped; any later one is ordinary text.
* Lines end with CRLF, LF or CR (and nothing else: U+2028, U+2029, NEL, VT and FF
  are text). A CRLF split across two chunks is one line end.
* A blank line dispatches the event being built, if its data buffer is not empty.
* A line starting with ``:`` is a comment. Otherwise the field name is the text
  before the first ``:`` (or the whole line) and the value is the rest, minus a
  single leading space. Known fields (case-sensitive) are ``event``, ``data``,
  ``id`` (ignored if it contains U+0000) and ``retry`` (ASCII digits only);
  others are ignored.
* At the end of the stream an event that was not terminated by a blank line is
  discarded.
* An ``id`` field sets the *last event ID buffer*; each blank line (dispatch, even
  of a block with no data, such as an ``id``-only block) copies it to the *last
  event ID string*, :attr:`SSEDecoder.last_event_id`: the value a reconnecting
  client sends as ``Last-Event-ID``. An event that never ends does not change it.

Examples:
    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'event: delta\ndata: {"a": 1}\n')
    []
    >>> [event] = decoder.feed(b"\n")
    >>> event.event, event.json()
    ('delta', {'a': 1})

"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from streamkit.errors import SSEError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "DEFAULT_MAX_LINE_SIZE",
    "SSEDecoder",
    "ServerSentEvent",
]

# 16 MiB. Far larger than any real LLM stream chunk, including those carrying
# base64-encoded images, audio or thinking signatures (which reach a few MiB at
# most), yet small enough that a misbehaving or hostile server cannot make the
# decoder buffer an unbounded amount of memory while waiting for a line end or
# for the blank line that ends an event.
DEFAULT_MAX_LINE_SIZE: Final[int] = 16 * 1024 * 1024
"""Default longest line, in bytes without its line end (16 MiB)."""

DEFAULT_MAX_EVENT_SIZE: Final[int] = 16 * 1024 * 1024
"""Default largest data buffer of one event, in characters (16 * 1024 * 1024)."""

_BOM: Final = b"\xef\xbb\xbf"

# Characters that str.splitlines() treats as line breaks although SSE does not.
_OTHER_LINE_BREAKS: Final = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _has_other_line_breaks(text: str) -> bool:
    for char in _OTHER_LINE_BREAKS:  # noqa: SIM110 - faster than any(<genexpr>)
        if char in text:
            return True
    return False


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    r"""One dispatched server-sent event.

    Attributes:
        event: The event type: the value of the block's last ``event`` field, or
            ``"message"`` when there was none (or it was empty).
        data: The data buffer: the values of the block's ``data`` fields joined
            with ``"\n"`` (one trailing line feed removed). Empty ``data:``
            lines contribute empty lines, so the data may be ``""``.
        id: The last event ID at dispatch time (set by an ``id`` field in this
            or any earlier block), ``""`` if there is none.
        retry: The reconnection time in milliseconds if this block contained a
            valid ``retry`` field, else ``None``.

    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None

    def json(self) -> Any:
        """Parse :attr:`data` as JSON.

        Returns:
            The decoded JSON value.

        Raises:
            json.JSONDecodeError: If :attr:`data` is not valid JSON (e.g. the
                ``[DONE]`` sentinel of OpenAI-style streams).

        """
        return json.loads(self.data)


# Building a frozen dataclass through its generated ``__init__`` goes through
# ``object.__setattr__`` once per field; setting the slots directly is about
# 40 % cheaper, which matters at one event per token. The result is identical
# to ``ServerSentEvent(event, data, id, retry)`` (tests check this).
_new_object = object.__new__
_set_event = ServerSentEvent.__dict__["event"].__set__
_set_data = ServerSentEvent.__dict__["data"].__set__
_set_id = ServerSentEvent.__dict__["id"].__set__
_set_retry = ServerSentEvent.__dict__["retry"].__set__


class SSEDecoder:
    """Incremental, WHATWG-conformant server-sent events decoder.

    Feed it the response body in pieces of any size (down to single bytes, or
    empty ones) and it returns the events each piece completes. Work is linear
    in the input: only the new bytes are searched for line ends, and an
    incomplete line is kept in a byte buffer and decoded once, when it ends.

    Attributes:
        last_event_id: The WHATWG *last event ID string*: the ID of the last
            dispatched event, the value to send as ``Last-Event-ID`` when
            reconnecting. Set from the buffer at each blank line, also by a block
            with an ``id`` and no data (dispatch is attempted, no event is
            returned); an event left unfinished (by a cut, or :meth:`close`)
            does not change it. Persists across events; ``""`` initially, and
            ``""`` again after an empty ``id`` field was dispatched.
        last_event_id_buffer: The WHATWG *last event ID buffer*: the value of
            the last valid ``id`` field read, dispatched or not.
        reconnection_time: The last valid ``retry`` value, in milliseconds, or
            ``None`` if none was seen.
        bytes_received: Total number of bytes passed to :meth:`feed`, including
            comments, byte order mark and line ends.

    """

    __slots__ = (
        "_block_retry",
        "_bom_buffer",
        "_buffer",
        "_closed",
        "_data",
        "_data_size",
        "_error",
        "_event_type",
        "_in_block",
        "_max_event_size",
        "_max_line_size",
        "_pending_at_close",
        "_skip_lf",
        "_started",
        "bytes_received",
        "last_event_id",
        "last_event_id_buffer",
        "reconnection_time",
    )

    last_event_id: str
    last_event_id_buffer: str
    reconnection_time: int | None
    bytes_received: int

    def __init__(
        self,
        *,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        r"""Create a decoder at the start of a stream.

        Args:
            max_line_size: Longest accepted line, in bytes, not counting its
                line end. A longer line raises :class:`SSEError`; at most about
                this much plus one fed chunk is ever buffered.
            max_event_size: Largest accepted data buffer of one event, in
                characters (equal to bytes for ASCII and JSON-escaped
                payloads), counting the ``"\n"`` after each data line.

        Raises:
            ValueError: If a limit is not a positive integer.

        """
        if max_line_size < 1 or max_event_size < 1:
            raise ValueError("max_line_size and max_event_size must be positive")
        self._max_line_size = max_line_size
        self._max_event_size = max_event_size
        self.last_event_id = ""
        self.last_event_id_buffer = ""
        self.reconnection_time = None
        self.bytes_received = 0
        # Bytes of the current, not yet terminated line.
        self._buffer = bytearray()
        # Leading bytes that might still turn out to be the byte order mark.
        self._bom_buffer = b""
        self._started = False
        # The previous chunk ended with CR: a LF starting the next one is part
        # of the same line end.
        self._skip_lf = False
        # The event being built.
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._block_retry: int | None = None
        # A field line was processed since the last blank line.
        self._in_block = False
        self._closed = False
        # Why feed() refuses input (closed, or failed earlier), else None.
        self._error: str | None = None
        self._pending_at_close = False

    @property
    def has_pending(self) -> bool:
        """Whether the decoder holds input that has not produced an event yet.

        True when an incomplete line is buffered, or when a field line (of any
        name, comments excluded) was read since the last blank line, i.e. the
        stream currently ends in the middle of an event. After :meth:`close`,
        this keeps the value it had when the stream was closed, so callers can
        tell a stream that ended mid-event.
        """
        if self._closed:
            return self._pending_at_close
        return bool(self._buffer or self._bom_buffer or self._in_block)

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Consume the next piece of the stream.

        Args:
            data: The next bytes of the body, of any length (``b""`` is
                accepted and returns ``[]``). A line end, byte order mark or
                multi-byte character may be split across calls.

        Returns:
            The events completed by this piece, in stream order (often empty).

        Raises:
            SSEError: If the decoder was closed, failed earlier, or a limit is
                exceeded (a line longer than ``max_line_size`` bytes, or an
                event data buffer larger than ``max_event_size`` characters).
                After a limit error the decoder is unusable.

        """
        if self._started and not self._skip_lf and self._error is None:
            buffer = self._buffer
            if 10 not in data and 13 not in data:  # int membership is a plain memchr
                # fast path: a piece inside a line (small reads, 1-byte feeding)
                if len(buffer) + len(data) <= self._max_line_size:
                    self.bytes_received += len(data)
                    buffer += data
                    return []
            elif (
                not buffer
                and data[-1] == 0x0A
                and 13 not in data
                and len(data) <= self._max_line_size
            ):
                # fast path: whole LF-framed lines (a read of one or more events);
                # no line can be over the limit, no byte is left for the buffer
                self.bytes_received += len(data)
                return self._interpret_lf(data.decode("utf-8", "replace"))
        if self._error is not None:
            raise SSEError(self._error)
        self.bytes_received += len(data)
        if not self._started:
            data = self._bom_buffer + data
            if len(data) < 3 and _BOM.startswith(data):
                self._bom_buffer = data
                return []
            self._bom_buffer = b""
            self._started = True
            if data.startswith(_BOM):
                data = data[3:]
        if not data:
            return []
        start = 0
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == 0x0A:
                start = 1
        end = data.rfind(b"\n")
        cr = data.rfind(b"\r")
        if cr > end:
            end = cr
        buffer = self._buffer
        if end < start:
            # No line end: the whole piece belongs to the current line.
            if len(buffer) + len(data) - start > self._max_line_size:
                self._fail(self._line_error())
            buffer += data[start:] if start else data
            return []
        size = len(data)
        tail_too_long = size - end - 1 > self._max_line_size
        if buffer:
            buffer += data[start : end + 1]
            region: bytes | bytearray = buffer
        elif start or end + 1 < size:
            region = data[start : end + 1]
        else:
            region = data
        limit = self._max_line_size
        if len(region) > limit and max(map(len, region.splitlines())) > limit:
            # the lines before the first oversize one still make their events
            raw_lines = region.splitlines()
            cut = next(i for i, line in enumerate(raw_lines) if len(line) > limit)
            good = [line.decode("utf-8", "replace") for line in raw_lines[:cut]]
            self._fail(self._line_error(), self._interpret(good))
        text = region.decode("utf-8", "replace")
        if buffer:
            buffer.clear()
        if tail_too_long:
            self._fail(self._line_error(), self._interpret(_lines(text)))
        if end + 1 < size:
            buffer += data[end + 1 :]
        elif data[end] == 0x0D:
            self._skip_lf = True
        if cr < 0:  # no CR anywhere in the text (the buffer never holds line ends)
            return self._interpret_lf(text)
        return self._interpret(_lines(text))

    def close(self) -> list[ServerSentEvent]:
        """Signal the end of the stream.

        Per the standard, an event not terminated by a blank line (and an
        incomplete final line) is discarded, so this always returns ``[]``;
        check :attr:`has_pending` (before or after closing) to tell whether
        the stream ended mid-event. Calling it again has no effect. Buffers are
        released; :attr:`last_event_id` and :attr:`reconnection_time` are kept
        (an unterminated event does not set :attr:`last_event_id`).

        Returns:
            An empty list (kept for symmetry with :meth:`feed`).

        """
        if not self._closed:
            self._pending_at_close = self.has_pending
            self._closed = True
            self._error = "decoder is closed"
            self._buffer = bytearray()
            self._bom_buffer = b""
            self._data = []
            self._data_size = 0
        return []

    def _line_error(self) -> str:
        limit = self._max_line_size
        return f"SSE line longer than max_line_size ({limit} bytes) without a line end"

    def _event_error(self) -> str:
        limit = self._max_event_size
        return f"SSE event data larger than max_event_size ({limit} characters)"

    def _fail(self, message: str, events: list[ServerSentEvent] | None = None) -> NoReturn:
        self._error = f"decoder unusable after an earlier error: {message}"
        self._buffer = bytearray()
        self._data = []
        raise SSEError(message, events=events)

    def _interpret_lf(self, text: str) -> list[ServerSentEvent]:
        r"""Interpret decoded text that ends with ``"\n"`` and holds no ``"\r"``.

        The same as ``self._interpret(_lines(text))``, block by block: the text is
        cut at its blank lines (``"\n\n"``), and a block in one of the two shapes
        real streams are made of, ``data: …`` or ``event: …`` + ``data: …`` (one
        line each), becomes its event directly, without going line by line; any
        other block, and the lines after the last blank line, take the general path.

        Why this is exactly the standard: each item ``b`` that ``text.split("\n\n")``
        puts before a separator stands for the lines ``b.split("\n")`` followed by one
        blank line (``b`` cannot end with ``"\n"``, as the split is leftmost), and the
        last item for the complete lines after the last blank line. Right after a
        blank line the event being built is empty (no data, type, retry or field
        line, and the *last event ID string* equals the buffer): so a block of only a
        ``data`` line (or an ``event`` line and a ``data`` line) dispatches an event
        with that data (and type), the buffer's ID and no retry, and leaves the state
        as empty as it found it. Only the first block may start with an event left
        half-built by the previous piece; it then takes the general path.

        Raises:
            SSEError: If an event's data buffer exceeds ``max_event_size``.

        """
        blocks = text.split("\n\n")
        tail = blocks.pop()
        events: list[ServerSentEvent] = []
        if blocks:
            if self._in_block:
                self._interpret([*blocks[0].split("\n"), ""], events)
                start = 1
            else:
                start = 0
            limit = self._max_event_size
            id_buffer = self.last_event_id_buffer
            new, cls = _new_object, ServerSentEvent
            set_event, set_data, set_id, set_retry = _set_event, _set_data, _set_id, _set_retry
            append = events.append
            for block in blocks[start:] if start else blocks:
                if block.startswith("data:"):
                    if "\n" in block:
                        event_type = None  # more lines: the general path
                    else:
                        event_type = "message"
                        value = block[6:] if block.startswith(" ", 5) else block[5:]
                elif block.startswith("event:"):
                    event_type = None
                    nl = block.find("\n")
                    if block.startswith("data:", nl + 1) and block.find("\n", nl + 1) < 0:
                        event_type = (block[7:nl] if block.startswith(" ", 6) else block[6:nl]) or (
                            "message"
                        )
                        nl += 6
                        value = block[nl + 1 :] if block.startswith(" ", nl) else block[nl:]
                else:
                    event_type = None
                if event_type is None:
                    self._interpret([*block.split("\n"), ""], events)
                    id_buffer = self.last_event_id_buffer
                    continue
                if len(value) >= limit:  # the data buffer holds value + "\n"
                    self._fail(self._event_error(), events)
                event = new(cls)
                set_event(event, event_type)
                set_data(event, value)
                set_id(event, id_buffer)
                set_retry(event, None)
                append(event)
        if tail:
            lines = tail.split("\n")
            lines.pop()  # tail ends with a line end: the last item is ""
            self._interpret(lines, events)
        return events

    def _interpret(
        self, lines: list[str], events: list[ServerSentEvent] | None = None
    ) -> list[ServerSentEvent]:
        """Apply "Interpreting an event stream" to complete lines.

        Args:
            lines: Decoded lines without their line ends.
            events: The list to add the dispatched events to (a new one if ``None``).

        Returns:
            ``events``, with the events dispatched by blank lines among the lines.

        Raises:
            SSEError: If an event's data buffer exceeds ``max_event_size``.

        """
        if events is None:
            events = []
        data = self._data
        size = self._data_size
        limit = self._max_event_size
        in_block = self._in_block
        event_type = self._event_type
        block_retry = self._block_retry
        id_buffer = self.last_event_id_buffer
        last_event_id = self.last_event_id
        # Locals are much cheaper than attribute and global look-ups in the loop.
        new, cls = _new_object, ServerSentEvent
        set_event, set_data, set_id, set_retry = _set_event, _set_data, _set_id, _set_retry
        try:
            for line in lines:
                if line.startswith("data:"):
                    # Fast path for the most common line.
                    value = line[6:] if line.startswith("data: ") else line[5:]
                    size += len(value) + 1
                    if size > limit:
                        self._fail(self._event_error(), events)
                    data.append(value)
                    in_block = True
                elif not line:
                    # Dispatch: the last event ID string takes the buffer's value,
                    # whether or not there is data to make an event of.
                    last_event_id = id_buffer
                    if data:
                        event = new(cls)
                        set_event(event, event_type or "message")
                        set_data(event, data[0] if len(data) == 1 else "\n".join(data))
                        set_id(event, last_event_id)
                        set_retry(event, block_retry)
                        events.append(event)
                        data.clear()
                        size = 0
                    event_type = ""
                    block_retry = None
                    in_block = False
                elif line[0] == ":":
                    continue
                else:
                    in_block = True
                    field, _, value = line.partition(":")
                    if value.startswith(" "):
                        value = value[1:]
                    if field == "event":
                        event_type = value
                    elif field == "id":
                        if "\x00" not in value:
                            id_buffer = value
                    elif field == "retry":
                        retry = _parse_retry(value)
                        if retry is not None:
                            self.reconnection_time = block_retry = retry
                    elif field == "data":
                        # Only a bare "data" line (no colon) gets here.
                        size += 1
                        if size > limit:
                            self._fail(self._event_error(), events)
                        data.append("")
        finally:
            # Also on error, so that last_event_id stays usable for a resume.
            self._data_size = size
            self._in_block = in_block
            self._event_type = event_type
            self._block_retry = block_retry
            self.last_event_id_buffer = id_buffer
            self.last_event_id = last_event_id
        return events


def _lines(text: str) -> list[str]:
    """Split decoded text that ends with a line end into lines (CR, LF or CRLF)."""
    if "\r" not in text:
        lines = text.split("\n")
        lines.pop()  # the text ends with a line end: the last item is ""
        return lines
    if _has_other_line_breaks(text):
        # CRLF first, then the remaining lone CRs.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        lines.pop()
        return lines
    # Only CR, LF and CRLF can break lines here (the fast path for CRLF-framed
    # streams); no trailing "" item with splitlines().
    return text.splitlines()


def _parse_retry(value: str) -> int | None:
    """Parse a ``retry`` field value per the standard.

    Args:
        value: The field value (after the optional single space).

    Returns:
        The reconnection time in milliseconds, or ``None`` if the value is not
        made of ASCII digits only (then the field is ignored).

    """
    # str.isdigit() alone also accepts non-ASCII digits (full-width,
    # superscripts...); int() would also accept "_", signs and whitespace.
    if not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"
    if len(digits) > 4000:
        # int() refuses more than 4300 digits (CPython's conversion limit);
        # no clock can wait 10**4000 ms, so such a value is ignored.
        return None
    return int(digits)
