"""The exception tree of streamkit.

Every exception streamkit raises on purpose derives from :class:`StreamkitError`::

    StreamkitError
    ├── APIError                      anything that happened talking to the provider
    │   ├── APIStatusError            an HTTP status >= 400 before the body was streamed
    │   │   ├── BadRequestError           400
    │   │   ├── AuthenticationError       401
    │   │   ├── PermissionDeniedError     403
    │   │   ├── NotFoundError             404
    │   │   ├── RateLimitError            429
    │   │   ├── InternalServerError       5xx (other than 529)
    │   │   └── OverloadedError           529
    │   ├── APIConnectionError        connect failed, the connection broke, or a protocol error
    │   │   ├── ConnectError              no connection could be made (refused, DNS, TLS)
    │   │   ├── APITimeoutError           connect/write/pool timeout
    │   │   │   └── StreamStalledError        no byte arrived for ``Timeouts.read_idle`` seconds
    │   │   └── WebSocketClosedError      a WebSocket closed (or dropped) before the stream ended
    │   ├── ProviderError             an error event inside an otherwise successful stream
    │   └── UnexpectedContentTypeError a 2xx answer that is not ``text/event-stream``
    ├── StreamInterruptedError        the stream broke and could not be retried or resumed
    ├── StreamProtocolError           the bytes or events broke the rules of the protocol
    │   ├── SSEError                      malformed or oversize SSE framing
    │   ├── ChunkDecodeError              a data payload that is not the provider's JSON
    │   └── StreamOrderError              events that cannot be put back in order
    ├── BudgetExceededError           a :class:`~streamkit.CostTracker` budget would be crossed
    ├── QueueFullError                a concurrency limiter's waiting queue is full
    ├── StreamStateError              misuse: e.g. iterating a stream twice
    └── ConfigurationError            an option or request that cannot work (a ValueError)

Every error raised while a stream is being read carries ``partial``: the
:class:`~streamkit.StreamResult` assembled so far (``None`` when nothing was
received). Messages never contain the API key: request headers are not part of
any message, and body excerpts are passed through :func:`redact`.

:class:`APIStatusError` and :class:`ProviderError` carry the provider's own error
fields (``code``, ``type``, ``message``, ``param``), read from the error body by
:func:`parse_error_body` for every dialect streamkit speaks.

Every exception here pickles and unpickles with the same ``str`` and attributes
(``partial`` included), so errors can cross process pools; ``__cause__`` and the
traceback are not pickled (as for any exception).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from streamkit.events import DeltaEvent
    from streamkit.result import StreamResult
    from streamkit.sse import ServerSentEvent

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ChunkDecodeError",
    "ConfigurationError",
    "ConnectError",
    "ErrorDetails",
    "InternalServerError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProviderError",
    "QueueFullError",
    "RateLimitError",
    "SSEError",
    "StreamInterruptedError",
    "StreamOrderError",
    "StreamProtocolError",
    "StreamStalledError",
    "StreamStateError",
    "StreamkitError",
    "UnexpectedContentTypeError",
    "WebSocketClosedError",
    "parse_error_body",
    "redact",
    "register_secret",
    "status_error_class",
]

#: How many characters of a response body or a bad payload an error message quotes.
EXCERPT_CHARS = 500

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}"),
    re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),
)
#: How many secrets :func:`register_secret` remembers: the most recently registered
#: ones are kept (least recently registered dropped first). A process holds a handful
#: of keys at a time; 256 also covers a server that builds one client per tenant key
#: for its recent tenants, while bounding the memory and the work :func:`redact` does
#: per message (one substring search per secret). Keys dropped from the registry are
#: still caught by the key-shape patterns (``sk-…``, ``Bearer …``, ``AIza…``).
MAX_REGISTERED_SECRETS: Final = 256

_secrets: OrderedDict[str, None] = OrderedDict()
_secrets_lock = threading.Lock()
# the registered secrets, longest first (so that a key containing another is removed
# whole); rebuilt under the lock on each change, read without it
_secrets_snapshot: tuple[str, ...] = ()


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` removes it from any text.

    The clients register their API key here, so a provider that echoes the key
    back in an error body cannot leak it through an exception message.

    Thread-safe. Values shorter than 4 characters (and ``None``/``""``) are ignored.
    At most :data:`MAX_REGISTERED_SECRETS` are kept: registering one more drops the
    least recently registered; registering a known one again makes it the most recent.
    """
    global _secrets_snapshot
    if not secret or len(secret) < 4:
        return
    with _secrets_lock:
        _secrets[secret] = None
        _secrets.move_to_end(secret)
        while len(_secrets) > MAX_REGISTERED_SECRETS:
            _secrets.popitem(last=False)
        _secrets_snapshot = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like an API key replaced by ``***``.

    Removes every key registered with :func:`register_secret` and common key
    shapes (``Bearer …``, ``sk-…``, ``sk-ant-…``, ``AIza…``). Thread-safe: it reads
    an immutable snapshot of the registry.
    """
    for secret in _secrets_snapshot:
        if secret in text:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
    return text


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = redact(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


#: Longest provider error message kept on an error, in characters.
MESSAGE_CHARS: Final = 1000

_GOOGLE_TYPE = "type.googleapis.com/google.rpc."
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """The fields of a provider's error body (see :func:`parse_error_body`).

    Every field is ``None`` when the body does not carry it.
    """

    code: str | int | None = None
    """The specific error code: OpenAI ``error.code`` (``"invalid_api_key"``,
    ``"insufficient_quota"``, ...); Gemini ``ErrorInfo.reason`` (``"API_KEY_INVALID"``)
    or else ``error.status``; ``None`` for Anthropic (its ``type`` is the code)."""
    type: str | None = None
    """The error category: OpenAI ``error.type`` (``"invalid_request_error"``),
    Anthropic ``error.type`` (``"authentication_error"``), Gemini ``error.status``
    (``"INVALID_ARGUMENT"``)."""
    message: str | None = None
    """The human-readable message (a plain-text body is its own message)."""
    param: str | None = None
    """The request field at fault: OpenAI ``error.param``; Gemini the first
    ``BadRequest.fieldViolations[].field``."""
    request_id: str | None = None
    """A request id given in the body (Anthropic's top-level ``request_id``)."""
    retry_after: float | None = None
    """Seconds to wait, from a Gemini ``RetryInfo.retryDelay`` (``"36s"``)."""

    @property
    def label(self) -> str | int | None:
        """``code``, or ``type`` when there is no code: the word to show in a message."""
        return self.code if self.code is not None else self.type


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _code(value: object) -> str | int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _str(value)


def _google_details(details: object) -> tuple[str | None, str | None, float | None]:
    """``(ErrorInfo.reason, first BadRequest field, RetryInfo delay in s)`` of Google details."""
    reason = field = None
    delay: float | None = None
    if not isinstance(details, list):
        return reason, field, delay
    for item in details:
        if not isinstance(item, dict):
            continue
        kind = item.get("@type")
        if kind == _GOOGLE_TYPE + "ErrorInfo" and reason is None:
            reason = _str(item.get("reason"))
        elif kind == _GOOGLE_TYPE + "BadRequest" and field is None:
            violations = item.get("fieldViolations")
            if isinstance(violations, list) and violations and isinstance(violations[0], dict):
                field = _str(violations[0].get("field"))
        elif kind == _GOOGLE_TYPE + "RetryInfo" and delay is None:
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                value = float(match.group(1))
                delay = value if math.isfinite(value) else None
    return reason, field, delay


def _from_json(obj: Any) -> ErrorDetails | None:
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        obj = obj[0]  # Gemini without alt=sse answers a JSON array
    if not isinstance(obj, dict):
        return None
    request_id = _str(obj.get("request_id"))
    err = obj.get("error")
    if isinstance(err, dict):
        message = _str(err.get("message"))
        status = err.get("status")
        if isinstance(status, str):
            # Gemini / Google: {"error": {"code": 429, "message", "status", "details"}}
            reason, field, delay = _google_details(err.get("details"))
            return ErrorDetails(
                code=reason or status,
                type=status,
                message=message,
                param=field,
                request_id=request_id,
                retry_after=delay,
            )
        # OpenAI and compatible {"error": {"message", "type", "param", "code"}};
        # Anthropic {"type": "error", "error": {"type", "message"}, "request_id"}
        return ErrorDetails(
            code=_code(err.get("code")),
            type=_str(err.get("type")),
            message=message,
            param=_str(err.get("param")),
            request_id=request_id,
        )
    if isinstance(err, str):  # {"error": "Unauthorized"}
        return ErrorDetails(
            code=_code(obj.get("code")),
            type=_str(obj.get("type")),
            message=err or None,
            request_id=request_id,
        )
    message = _str(obj.get("message")) or _str(obj.get("detail"))
    if message is None:
        return None
    # top-level fields: vLLM {"object": "error", "message", "type", "param", "code"},
    # FastAPI {"detail": "..."}
    return ErrorDetails(
        code=_code(obj.get("code")),
        type=_str(obj.get("type")) if obj.get("type") != "error" else None,
        message=message,
        param=_str(obj.get("param")),
        request_id=request_id,
    )


def parse_error_body(text: str) -> ErrorDetails:
    """Read the provider's error fields from an error response body or error event.

    Understands the shapes of every dialect streamkit speaks:

    - OpenAI and compatible servers: ``{"error": {"message", "type", "param", "code"}}``
      (also vLLM's top-level ``{"object": "error", "message", "type", "code"}``,
      ``{"error": "text"}`` and FastAPI's ``{"detail": "text"}``);
    - Anthropic: ``{"type": "error", "error": {"type", "message"}, "request_id"}``;
    - Gemini (Google APIs): ``{"error": {"code", "message", "status", "details"}}``,
      also as a one-item JSON array; ``details`` give ``ErrorInfo.reason`` (the code),
      ``BadRequest.fieldViolations`` (the param) and ``RetryInfo.retryDelay``;
    - plain text: the text (whitespace collapsed) is the message, unless it is
      empty or markup (an HTML error page from a proxy).

    Args:
        text: the body as text (any size; only the first ~64 KiB are parsed).

    Returns:
        The fields found; all ``None`` for an empty body or one not understood.
        Never raises.
    """
    text = text[:65536].strip()
    if not text:
        return ErrorDetails()
    if text[0] in "[{":
        try:
            obj = json.loads(text)
        except ValueError:  # truncated or broken JSON: nothing to read
            return ErrorDetails()
        return _from_json(obj) or ErrorDetails()
    if text.startswith("<"):
        return ErrorDetails()
    return ErrorDetails(message=" ".join(text.split())[:MESSAGE_CHARS])


def _rebuild(cls: type[StreamkitError], args: tuple[Any, ...]) -> StreamkitError:
    """Unpickle: a bare instance with the pickled ``args`` (``__init__`` is not run again)."""
    err = cls.__new__(cls)
    err.args = args
    return err


class StreamkitError(Exception):
    """Root of every exception streamkit raises on purpose.

    Attributes:
        partial: the :class:`~streamkit.StreamResult` assembled before the error,
            or ``None`` when nothing was received (or the error is not about a
            stream).
    """

    partial: StreamResult | None

    def __init__(self, message: str, *, partial: StreamResult | None = None) -> None:
        super().__init__(redact(message))
        self.partial = partial

    def __reduce__(self) -> tuple[Any, ...]:
        # The default (``cls(*args)`` then the attributes) fails for keyword-only
        # constructors and would run ``__init__`` again on the finished message.
        return (_rebuild, (type(self), self.args), self.__dict__)


class APIError(StreamkitError):
    """Something went wrong talking to the provider."""


class APIStatusError(APIError):
    """The provider answered with an HTTP status of 400 or more.

    ``str(err)`` reads ``HTTP 401 invalid_api_key: Incorrect API key provided
    (request id req_123)``: the status, the provider's code (or type), its message
    and the request id. When the body was not understood, an excerpt of it follows.

    Attributes:
        status_code: the HTTP status, e.g. ``429``.
        code: the provider's error code (``"invalid_api_key"``,
            ``"insufficient_quota"``, Gemini's ``"API_KEY_INVALID"`` or
            ``"RESOURCE_EXHAUSTED"``), ``None`` when absent (Anthropic has none:
            see ``type``).
        type: the provider's error type (``"invalid_request_error"``, Anthropic's
            ``"authentication_error"``, Gemini's ``"PERMISSION_DENIED"``), or ``None``.
        message: the provider's message from the body; else the ``message``
            argument (the HTTP reason phrase). Secrets redacted.
        param: the request field at fault (``"model"``), or ``None``.
        request_id: the provider's request id (``x-request-id``, ``request-id``
            or ``x-goog-request-id`` header, else Anthropic's body ``request_id``),
            ``None`` when absent.
        body: up to 500 characters of the response body, with secrets redacted.
        headers: the response headers (lower-case names).
        retry_after: the delay the server asked for, in seconds, from
            ``retry-after-ms`` or ``Retry-After`` (else a Gemini ``RetryInfo`` in the
            body); ``None`` when absent or invalid.
        should_retry: the ``x-should-retry`` header as a bool, ``None`` when absent.

    ``code``, ``type``, ``param``, ``request_id`` and ``retry_after`` given to the
    constructor win; those left ``None`` are read from ``body`` with
    :func:`parse_error_body`.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        code: str | int | None = None,
        type: str | None = None,
        param: str | None = None,
        partial: StreamResult | None = None,
    ) -> None:
        details = parse_error_body(body)
        self.status_code = status_code
        self.code = code if code is not None else details.code
        self.type = type if type is not None else details.type
        self.message = redact(details.message or message)
        self.param = param if param is not None else details.param
        self.body = _excerpt(body)
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.request_id = request_id if request_id is not None else details.request_id
        self.retry_after = retry_after if retry_after is not None else details.retry_after
        value = self.headers.get("x-should-retry")
        self.should_retry: bool | None = None if value is None else value.strip().lower() == "true"
        label = self.code if self.code is not None else self.type
        detail = f"HTTP {status_code}"
        if label is not None:
            detail += f" {label}"
        detail += f": {_excerpt(self.message, MESSAGE_CHARS)}"
        if self.request_id:
            detail += f" (request id {self.request_id})"
        if self.body and details.message is None:
            detail += f" — body: {self.body}"
        super().__init__(detail, partial=partial)


class BadRequestError(APIStatusError):
    """HTTP 400: the request was malformed (not retried)."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or wrong (not retried)."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not use this model or endpoint (not retried)."""


class NotFoundError(APIStatusError):
    """HTTP 404: wrong base URL, path or model name (not retried)."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests; see ``retry_after`` (retried)."""


class InternalServerError(APIStatusError):
    """HTTP 5xx other than 529: the provider failed (500/502/503/504 are retried)."""


class OverloadedError(APIStatusError):
    """HTTP 529: the provider is overloaded (Anthropic; retried)."""


def status_error_class(status_code: int) -> type[APIStatusError]:
    """Return the :class:`APIStatusError` subclass for an HTTP status."""
    if status_code == 400:
        return BadRequestError
    if status_code == 401:
        return AuthenticationError
    if status_code == 403:
        return PermissionDeniedError
    if status_code == 404:
        return NotFoundError
    if status_code == 429:
        return RateLimitError
    if status_code == 529:
        return OverloadedError
    if status_code >= 500:
        return InternalServerError
    return APIStatusError


class APIConnectionError(APIError):
    """The connection could not be made or broke while reading (retried / resumed)."""


class ConnectError(APIConnectionError):
    """No connection could be made: refused, a DNS failure or a TLS handshake that failed.

    Nothing was sent. Retried at most ``RetryPolicy.max_connect_attempts`` times in
    all, after half the usual backoff: a host that refuses is usually down or the
    ``base_url`` is wrong. The message names ``host:port``.
    """


class APITimeoutError(APIConnectionError):
    """Connecting, writing or waiting for a pooled connection took too long (retried)."""


class StreamStalledError(APITimeoutError):
    """No byte arrived for ``Timeouts.read_idle`` seconds (retried / resumed like a cut).

    Attributes:
        idle_s: the idle limit that was exceeded, in seconds.
    """

    def __init__(
        self, message: str, *, idle_s: float | None = None, partial: StreamResult | None = None
    ) -> None:
        super().__init__(message, partial=partial)
        self.idle_s = idle_s


class WebSocketClosedError(APIConnectionError):
    """A WebSocket closed, or dropped, before the stream ended (retried / resumed like a cut).

    Raised for the close codes that mean "try again" (RFC 6455 §7.4.1 and the IANA
    registry): 1000 before the stream's terminal event, 1001 going away, 1005 no
    status, 1006 dropped without a close frame (also a network error or a missed
    pong), 1011 server error, 1012 service restart, 1013 try again later, 1015 TLS
    failure; and for an OpenAI/xAI ``websocket_connection_limit_reached`` error.

    Attributes:
        code: the close code (``1006`` when no close frame arrived).
        reason: the close reason the server gave (``""`` when none).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int = 1006,
        reason: str = "",
        partial: StreamResult | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.code = code
        self.reason = redact(reason)


class UnexpectedContentTypeError(APIError):
    """A 2xx answer whose ``Content-Type`` is not ``text/event-stream`` (not retried).

    Attributes:
        status_code: the HTTP status.
        content_type: the ``Content-Type`` header received.
        body: the start of the body (secrets redacted).
    """

    def __init__(
        self, *, status_code: int, content_type: str, body: str, partial: StreamResult | None = None
    ) -> None:
        self.status_code = status_code
        self.content_type = content_type
        self.body = _excerpt(body)
        super().__init__(
            f"expected text/event-stream, got {content_type!r} (HTTP {status_code}); "
            f"body starts: {self.body!r}",
            partial=partial,
        )


class ProviderError(APIError):
    """The provider sent an error inside the stream (an ``error`` event or chunk).

    ``str(err)`` reads ``provider error [overloaded_error]: Overloaded``.

    Attributes:
        code: the provider's error code, or its type when it has no code (e.g.
            ``"overloaded_error"``, ``"tool_use_failed"``, ``"insufficient_quota"``,
            ``400``), ``None`` when absent.
        type: the provider's error ``type`` field (Gemini: ``status``), ``None``
            when absent.
        message: the provider's message (secrets redacted).
        param: the request field at fault, ``None`` when absent.
        raw: the raw data payload of the error event (secrets redacted).
        events: delta events decoded from the same payload (e.g. the usage an
            OpenAI error chunk carries); the session delivers them into the
            partial result before raising.

    ``code``, ``error_type`` and ``param`` left ``None`` are read from ``raw`` with
    :func:`parse_error_body` when it holds them.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | int | None = None,
        error_type: str | None = None,
        param: str | None = None,
        raw: str = "",
        events: Sequence[DeltaEvent] = (),
        partial: StreamResult | None = None,
    ) -> None:
        details = parse_error_body(raw) if raw else ErrorDetails()
        self.code = code if code is not None else details.code
        self.type = error_type if error_type is not None else details.type
        self.message = redact(message)
        self.param = param if param is not None else details.param
        self.raw = _excerpt(raw, 4000)
        self.events: list[DeltaEvent] = list(events)
        label = self.code if self.code is not None else self.type
        prefix = f"provider error [{label}]" if label is not None else "provider error"
        super().__init__(f"{prefix}: {message}", partial=partial)

    @property
    def error_type(self) -> str | None:
        """The provider's error ``type`` (the same as :attr:`type`)."""
        return self.type


class StreamInterruptedError(StreamkitError):
    """The stream broke and could not be retried or resumed.

    ``partial`` holds everything received before the break; ``__cause__`` is the
    last underlying error.

    Attributes:
        attempts: how many HTTP attempts were made.
    """

    def __init__(
        self, message: str, *, attempts: int = 1, partial: StreamResult | None = None
    ) -> None:
        super().__init__(message, partial=partial)
        self.attempts = attempts


class StreamProtocolError(StreamkitError):
    """The bytes or events received broke the rules of the protocol (not retried)."""


class SSEError(StreamProtocolError):
    """Malformed or oversize server-sent-events framing (e.g. a line over the limit).

    Attributes:
        events: the events :meth:`SSEDecoder.feed <streamkit.sse.SSEDecoder.feed>`
            completed in the same call before the failure (``[]`` if none), so that a
            piece holding good events and then an oversize line loses none of them.
    """

    def __init__(
        self,
        message: str,
        *,
        partial: StreamResult | None = None,
        events: list[ServerSentEvent] | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.events: list[ServerSentEvent] = events or []


class ChunkDecodeError(StreamProtocolError):
    """A data payload that is not the provider's JSON.

    Attributes:
        raw: the offending payload (up to 500 characters, secrets redacted).
        event: the SSE event type it came with.
    """

    def __init__(
        self, message: str, *, raw: str, event: str = "message", partial: StreamResult | None = None
    ) -> None:
        self.raw = _excerpt(raw)
        self.event = event
        super().__init__(f"{message}; raw data: {self.raw!r}", partial=partial)


class StreamOrderError(StreamProtocolError):
    """Numbered events arrived in an order that cannot be restored (a gap never filled)."""


class BudgetExceededError(StreamkitError):
    """A budget of a :class:`~streamkit.CostTracker` would be crossed.

    Attributes:
        budget_usd: the budget in USD.
        spent_usd: the cost in USD when the stream was stopped.
    """

    def __init__(
        self,
        message: str,
        *,
        budget_usd: object = None,
        spent_usd: object = None,
        partial: StreamResult | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.budget_usd = budget_usd
        self.spent_usd = spent_usd


class QueueFullError(StreamkitError):
    """A concurrency limiter's waiting queue is full; the stream was not started."""


class StreamStateError(StreamkitError):
    """A stream was used in a way its state does not allow (e.g. iterated twice)."""


class ConfigurationError(StreamkitError, ValueError):
    """A client option or request cannot work; raised before anything is sent, never retried.

    Examples: a ``base_url`` without ``http://``/``https://``, an unknown ``provider``,
    no API key found, a key or header value with CR/LF or non-ASCII characters, or a
    request httpx refuses to send (``httpx.UnsupportedProtocol``, ``httpx.InvalidURL``,
    ``httpx.LocalProtocolError``). A subclass of ``ValueError``; the message names the
    problem and the fix and never contains the API key.
    """
