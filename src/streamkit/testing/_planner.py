"""The reply planner of the local server: transcript + fault → the steps of one reply.

:func:`plan_reply` turns the blocks a request would be served plus the
:class:`~streamkit.testing._faults.Fault` of that attempt into a
:class:`StatusReply` (an HTTP error or a non-SSE answer) or a :class:`StreamReply`:
a lazy sequence of :class:`Write`, :class:`Sleep` and :class:`Abort` steps that the
server carries out. No sockets, no clocks here (stdlib only), so every fault can be
tested as a function.

:func:`plan_frames` does the same for one attempt over a WebSocket: the transcript's events
become messages (:class:`Frame`), and the faults become pauses, a frozen server
(:class:`Freeze`), a close code (:class:`CloseSocket`) or a dropped connection
(:class:`Abort`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from streamkit.testing._faults import (
    Close,
    ConnectionLimit,
    ContentType,
    Cut,
    Diverge,
    Drip,
    Duplicate,
    ErrorEvent,
    Fault,
    HugeLine,
    InvalidUTF8,
    MalformedJSON,
    PreviousResponseNotFound,
    Reorder,
    Stall,
    Status,
)
from streamkit.testing._transcripts import Block, Dialect, map_answer_text

__all__ = [
    "Abort",
    "CloseSocket",
    "Frame",
    "FrameStep",
    "Freeze",
    "RelayEnd",
    "Reply",
    "Sleep",
    "StatusReply",
    "Step",
    "StreamReply",
    "Write",
    "error_body",
    "plan_frames",
    "plan_reply",
    "previous_response_not_found",
]

_HUGE_PIECE_BYTES = 64 * 1024  # one write of a huge line; the line is never built in memory


@dataclass(frozen=True, slots=True)
class Write:
    """Send these body bytes (never empty)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Sleep:
    """Send nothing for this many seconds."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Abort:
    """Close the connection now, without ending the chunked body."""


Step: TypeAlias = Write | Sleep | Abort


@dataclass(frozen=True, slots=True)
class Frame:
    """WebSocket: send this text message."""

    text: str


@dataclass(frozen=True, slots=True)
class Freeze:
    """WebSocket: stop the whole server for this many seconds (no messages, no pongs)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class CloseSocket:
    """WebSocket: close the socket with this code and reason (every stream on it ends)."""

    code: int
    reason: str = ""


FrameStep: TypeAlias = Frame | Sleep | Freeze | CloseSocket | Abort

RelayEnd: TypeAlias = Literal["[DONE]", "done", "close", "none"]
"""How a chat relay ends a stream over a WebSocket: a ``[DONE]`` message, a
``{"type": "done"}`` message, a close with 1000, or nothing after the last chunk."""


@dataclass(frozen=True, slots=True)
class StatusReply:
    """A complete, non-streamed reply."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class StreamReply:
    """A 200 ``text/event-stream`` reply whose body is written step by step."""

    steps: Iterator[Step]


Reply: TypeAlias = StatusReply | StreamReply

_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-test."),
    403: ("permission_error", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again in 1s."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    529: ("overloaded_error", None, "Overloaded"),
}
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}

_GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(code: int, dialect: Dialect, message: str | None = None) -> dict[str, Any]:
    """The provider's usual JSON error body for HTTP status ``code``.

    Args:
        code: the HTTP status.
        dialect: ``anthropic-messages`` gives Anthropic's shape, ``gemini`` Google's
            (``{"error": {"code", "message", "status"}}``), the others OpenAI's.
        message: overrides the usual message.
    """
    if dialect == "anthropic-messages":
        kind, text = _ANTHROPIC_ERRORS.get(code, ("api_error", f"HTTP {code}"))
        return {"type": "error", "error": {"type": kind, "message": message or text}}
    if dialect == "gemini":
        status = _GOOGLE_STATUS.get(code, "INTERNAL" if code >= 500 else "INVALID_ARGUMENT")
        return {"error": {"code": code, "message": message or f"HTTP {code}", "status": status}}
    kind, err_code, text = _OPENAI_ERRORS.get(
        code, ("server_error" if code >= 500 else "invalid_request_error", None, f"HTTP {code}")
    )
    return {"error": {"message": message or text, "type": kind, "param": None, "code": err_code}}


def _encode_body(body: bytes | str | Mapping[str, Any]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(dict(body)).encode()


def plan_reply(
    fault: Fault | None,
    blocks: list[Block],
    *,
    dialect: Dialect,
    chunk_size: int | None = None,
    delay_s: float = 0.0,
) -> Reply:
    """Decide what one attempt sends: the transcript ``blocks`` with ``fault`` applied.

    Args:
        fault: what goes wrong, or ``None`` to serve the blocks as they are.
        blocks: what this attempt would serve without a fault (already resumed or prefilled).
        dialect: decides the shape of default error bodies and which JSON fields are answer text.
        chunk_size: write the body in pieces of this many bytes; ``None`` writes one block per
            write. A drip fault overrides it.
        delay_s: pause between writes (a drip fault uses its own interval).

    Returns:
        A :class:`StatusReply`, or a :class:`StreamReply` whose steps are generated lazily.

    Raises:
        IndexError: an event fault names an event this attempt does not have.
    """
    parts = fault.parts() if fault is not None else ()
    for part in parts:
        if isinstance(part, Status):
            headers = {"content-type": "application/json", **(part.headers or {})}
            body = error_body(part.code, dialect) if part.body is None else part.body
            return StatusReply(part.code, headers, _encode_body(body))
        if isinstance(part, ContentType):
            body = _NON_STREAMED if part.body is None else part.body
            return StatusReply(200, {"content-type": part.value}, _encode_body(body))
    for part in parts:
        blocks = _apply_event_fault(part, blocks, dialect)

    huge = next((p for p in parts if isinstance(p, HugeLine)), None)
    drip = next((p for p in parts if isinstance(p, Drip)), None)
    marks: list[tuple[int, float | None]] = []  # (offset, pause seconds | None for a cut)
    for part in parts:
        if isinstance(part, Stall | Cut):
            if part.after_bytes is not None:
                offset = part.after_bytes
            else:
                assert part.after_events is not None
                offset = _offset_after_events(blocks, part.after_events)
            marks.append((offset, part.seconds if isinstance(part, Stall) else None))
    marks.sort(key=lambda mark: (mark[0], mark[1] is None))  # at one offset: stalls, then the cut

    pieces: Iterator[bytes]
    if huge is not None:
        end = _event_position(blocks, huge.after_events)
        pieces = _chain((b.raw for b in blocks[:end]), _huge_line(huge.size_bytes))
    else:
        pieces = (b.raw for b in blocks)
    interval = delay_s
    if drip is not None:
        pieces, interval = _rechunk(pieces, drip.nbytes), drip.interval_s
    elif chunk_size is not None:
        pieces = _rechunk(pieces, chunk_size)
    return StreamReply(_steps(pieces, interval, marks))


_NON_STREAMED: dict[str, Any] = {
    "id": "chatcmpl-nostream",
    "object": "chat.completion",
    "created": 1735689600,
    "model": "gpt-4.1",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10},
}


def _event_position(blocks: list[Block], event_index: int) -> int:
    """The block index of event ``event_index``; the number of events maps to ``len(blocks)``."""
    seen = 0
    for position, block in enumerate(blocks):
        if block.is_event:
            if seen == event_index:
                return position
            seen += 1
    if event_index == seen:
        return len(blocks)
    raise IndexError(f"event {event_index} out of range: this attempt serves {seen} events")


def _offset_after_events(blocks: list[Block], count: int) -> int:
    """Body bytes up to the end of the first ``count`` events."""
    if count == 0:
        return 0
    end = _event_position(blocks, count - 1) + 1
    return sum(len(b.raw) for b in blocks[:end])


def _apply_event_fault(part: Fault, blocks: list[Block], dialect: Dialect) -> list[Block]:
    out = list(blocks)
    if isinstance(part, Duplicate):
        k = _existing(blocks, part.event_index)
        out.insert(k + 1, blocks[k])
    elif isinstance(part, Reorder):
        i, j = _existing(blocks, part.i), _existing(blocks, part.j)
        out[i], out[j] = blocks[j], blocks[i]
    elif isinstance(part, MalformedJSON):
        k = _existing(blocks, part.event_index)
        out[k] = blocks[k].with_data(part.data)
    elif isinstance(part, InvalidUTF8):
        k = _existing(blocks, part.event_index)
        out[k] = _insert_raw(blocks[k], part.raw, dialect)
    elif isinstance(part, ErrorEvent):
        k = _event_position(blocks, part.event_index)
        out.insert(k, _error_block(part.payload, dialect, blocks))
    elif isinstance(part, Diverge):
        start = _event_position(blocks, part.after_events)
        out[start:] = [map_answer_text(b, dialect, _diverge_text) for b in blocks[start:]]
    return out


def _existing(blocks: list[Block], event_index: int) -> int:
    position = _event_position(blocks, event_index)
    if position == len(blocks):
        raise IndexError(f"event {event_index} out of range: this attempt serves fewer events")
    return position


def _diverge_text(text: str) -> str:
    upper = text.upper()
    return upper if upper != text else text + "*"


_MARK = "\u0000streamkit-raw\u0000"


def _insert_raw(block: Block, raw: bytes, dialect: Dialect) -> Block:
    marked = map_answer_text(block, dialect, lambda text: text + _MARK)
    if marked is not block:
        escaped = json.dumps(_MARK)[1:-1].encode()  # how the mark looks inside a JSON string
        return Block(marked.raw.replace(escaped, raw, 1))
    lines = list(block.lines)
    for n, line in enumerate(lines):
        if line.startswith(b"data:"):
            content = line.rstrip(b"\r\n")
            at = content.rfind(b'"')
            at = len(content) if at < 0 else at
            lines[n] = content[:at] + raw + line[at:]
            return Block(b"".join(lines))
    return block.with_data(raw)


def _error_block(
    payload: Mapping[str, Any] | str | None, dialect: Dialect, blocks: list[Block]
) -> Block:
    eol = blocks[0].eol if blocks else b"\n"
    if payload is None:
        if dialect == "anthropic-messages":
            payload = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
        elif dialect == "openai-responses":
            payload = {
                "type": "error",
                "code": "server_error",
                "message": "Overloaded",
                "param": None,
            }
        elif dialect == "gemini":
            payload = {
                "error": {
                    "code": 503,
                    "message": "The model is overloaded.",
                    "status": "UNAVAILABLE",
                }
            }
        else:
            payload = {"error": {"message": "Overloaded", "type": "overloaded_error"}}
    data = payload if isinstance(payload, str) else json.dumps(dict(payload), separators=(",", ":"))
    head = b"" if dialect == "gemini" else b"event: error" + eol
    return Block(head + b"data: " + data.encode() + eol + eol)


def _chain(*iterables: Iterable[bytes]) -> Iterator[bytes]:
    for iterable in iterables:
        yield from iterable


def _huge_line(size_bytes: int) -> Iterator[bytes]:
    yield b"data: "
    piece = b"x" * min(_HUGE_PIECE_BYTES, max(size_bytes, 0))
    remaining = size_bytes
    while remaining > 0:
        yield piece[:remaining]
        remaining -= len(piece)


def _rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup a byte stream into pieces of exactly ``size`` bytes (the last may be shorter)."""
    if size < 1:
        raise ValueError("chunk size must be >= 1")
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _steps(
    pieces: Iterable[bytes], interval_s: float, marks: list[tuple[int, float | None]]
) -> Iterator[Step]:
    """Interleave writes with pauses; split writes at the byte offsets of stalls and the cut."""
    pending = list(marks)
    sent = 0
    first = True
    for whole in pieces:
        piece = whole
        if not piece:
            continue
        if not first and interval_s > 0:
            yield Sleep(interval_s)
        first = False
        while piece:
            while pending and pending[0][0] <= sent:
                _, pause = pending.pop(0)
                if pause is None:
                    yield Abort()
                    return
                yield Sleep(pause)
            limit = pending[0][0] - sent if pending else len(piece)
            part, piece = piece[:limit], piece[limit:]
            yield Write(part)
            sent += len(part)
    for _, pause in pending:
        if pause is None:
            yield Abort()
            return
        yield Sleep(pause)


# --- WebSocket ---------------------------------------------------------------------------------


def _ws_error(dialect: Dialect, code: int, error: Mapping[str, Any]) -> str:
    """An error message as the dialect's WebSocket sends it."""
    if dialect == "openai-responses":
        payload: dict[str, Any] = {"type": "error", "status": code, "error": dict(error)}
    else:
        payload = {"error": dict(error)}
    return json.dumps(payload, separators=(",", ":"))


def previous_response_not_found(previous_response_id: str) -> str:
    """OpenAI's error message for a ``previous_response_id`` the socket does not hold."""
    return _ws_error(
        "openai-responses",
        400,
        {
            "type": "invalid_request_error",
            "code": "previous_response_not_found",
            "message": f"Previous response with id '{previous_response_id}' not found.",
            "param": "previous_response_id",
        },
    )


_CONNECTION_LIMIT = {
    "type": "invalid_request_error",
    "code": "websocket_connection_limit_reached",
    "message": (
        "Responses websocket connection limit reached (60 minutes). Create a new websocket "
        "connection to continue."
    ),
    "param": None,
}


def plan_frames(
    fault: Fault | None,
    blocks: list[Block],
    *,
    dialect: Dialect,
    delay_s: float = 0.0,
    relay_end: RelayEnd = "[DONE]",
    previous_response_id: str | None = None,
) -> list[FrameStep]:
    """Decide what one attempt sends over a WebSocket: the events of ``blocks`` as messages.

    Args:
        fault: what goes wrong, or ``None``.
        blocks: what this attempt would serve without a fault.
        dialect: the shape of error messages and which JSON fields are answer text.
        delay_s: pause between messages (a drip fault uses its own interval).
        relay_end: ``openai-chat`` only: how the stream ends (see :data:`RelayEnd`).
        previous_response_id: the request's, for the error message of
            :class:`~streamkit.testing._faults.PreviousResponseNotFound`.

    Returns:
        The steps; messages are the events' data, in order, comment blocks left out.

    Raises:
        IndexError: an event fault names an event this attempt does not have.
        ValueError: a fault that has no meaning over a WebSocket (``content_type``,
            ``huge_line``).
    """
    parts = fault.parts() if fault is not None else ()
    for part in parts:
        if isinstance(part, Status):
            error = error_body(part.code, "openai-chat")["error"]
            if isinstance(part.body, Mapping):
                error = dict(part.body.get("error", part.body))
            return [Frame(_ws_error(dialect, part.code, error))]
        if isinstance(part, PreviousResponseNotFound):
            return [Frame(previous_response_not_found(previous_response_id or "resp_unknown"))]
        if isinstance(part, ContentType | HugeLine):
            raise ValueError(f"{type(part).__name__} faults are for HTTP, not WebSocket")
    for part in parts:
        blocks = _apply_event_fault(part, blocks, dialect)
    texts = [b.data for b in blocks if b.is_event and b.data is not None]
    end: list[FrameStep] = []
    if dialect == "openai-chat":
        kept: list[str] = []
        for text in texts:
            if text.strip() != "[DONE]" or relay_end == "[DONE]":
                kept.append(text)
            elif relay_end == "done":
                kept.append('{"type":"done"}')
        texts = kept
        if relay_end == "close":
            end.append(CloseSocket(1000))

    marks: list[tuple[int, FrameStep]] = []
    for part in parts:
        if isinstance(part, Stall | Cut):
            count = part.after_events
            if count is None:
                assert part.after_bytes is not None
                count = _frames_within(texts, part.after_bytes)
            if isinstance(part, Cut):
                marks.append((count, Abort()))
            elif part.pongs:
                marks.append((count, Sleep(part.seconds)))
            else:
                marks.append((count, Freeze(part.seconds)))
        elif isinstance(part, Close):
            step: FrameStep = Abort() if part.code == 1006 else CloseSocket(part.code, part.reason)
            marks.append((part.after_events, step))
        elif isinstance(part, ConnectionLimit):
            marks.append((part.after_events, Frame(_ws_error(dialect, 400, _CONNECTION_LIMIT))))
            marks.append((part.after_events, CloseSocket(1000, "connection limit reached")))
    marks.sort(key=lambda mark: mark[0])  # stable: in the order the faults were given

    drip = next((p for p in parts if isinstance(p, Drip)), None)
    interval = drip.interval_s if drip is not None else delay_s
    steps: list[FrameStep] = []
    pending = list(marks)
    for position, text in enumerate(texts):
        while pending and pending[0][0] <= position:
            mark = pending.pop(0)[1]
            steps.append(mark)
            if isinstance(mark, Abort | CloseSocket):
                return steps
        if position and interval > 0:
            steps.append(Sleep(interval))
        steps.append(Frame(text))
    for _, mark in pending:
        steps.append(mark)
        if isinstance(mark, Abort | CloseSocket):
            return steps
    return steps + end


def _frames_within(texts: list[str], nbytes: int) -> int:
    """How many whole messages fit in the first ``nbytes`` bytes."""
    total = 0
    for count, text in enumerate(texts):
        total += len(text.encode())
        if total > nbytes:
            return count
    return len(texts)
