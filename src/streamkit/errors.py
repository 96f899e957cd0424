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
    │   │   └── APITimeoutError           connect/write/pool timeout
    │   │       └── StreamStalledError        no byte arrived for ``Timeouts.read_idle`` seconds
    │   ├── ProviderError             an error event inside an otherwise successful stream
    │   └── UnexpectedContentTypeError a 2xx answer that is not ``text/event-stream``
    ├── StreamInterruptedError        the stream broke and could not be retried or resumed
    ├── StreamProtocolError           the bytes or events broke the rules of the protocol
    │   ├── SSEError                      malformed or oversize SSE framing
    │   ├── ChunkDecodeError              a data payload that is not the provider's JSON
    │   └── StreamOrderError              events that cannot be put back in order
    ├── BudgetExceededError           a :class:`~streamkit.CostTracker` budget would be crossed
    ├── QueueFullError                a concurrency limiter's waiting queue is full
    └── StreamStateError              misuse: e.g. iterating a stream twice

Every error raised while a stream is being read carries ``partial``: the
:class:`~streamkit.StreamResult` assembled so far (``None`` when nothing was
received). Messages never contain the API key: request headers are not part of
any message, and body excerpts are passed through :func:`redact`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    "redact",
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
_extra_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` removes it from any text.

    The clients register their API key here, so a provider that echoes the key
    back in an error body cannot leak it through an exception message.
    """
    if secret and len(secret) >= 4:
        _extra_secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with anything that looks like an API key replaced by ``***``.

    Removes every key registered with :func:`register_secret` and common key
    shapes (``Bearer …``, ``sk-…``, ``sk-ant-…``, ``AIza…``).
    """
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
    return text


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = redact(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


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


class APIError(StreamkitError):
    """Something went wrong talking to the provider."""


class APIStatusError(APIError):
    """The provider answered with an HTTP status of 400 or more.

    Attributes:
        status_code: the HTTP status, e.g. ``429``.
        request_id: the provider's request id (``x-request-id``, ``request-id``
            or ``x-goog-request-id`` header), ``None`` when absent.
        body: up to 500 characters of the response body, with secrets redacted.
        headers: the response headers (lower-case names).
        retry_after: the delay the server asked for, in seconds, from
            ``retry-after-ms`` or ``Retry-After``; ``None`` when absent or invalid.
        should_retry: the ``x-should-retry`` header as a bool, ``None`` when absent.
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
        partial: StreamResult | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = _excerpt(body)
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.request_id = request_id
        self.retry_after = retry_after
        value = self.headers.get("x-should-retry")
        self.should_retry: bool | None = None if value is None else value.strip().lower() == "true"
        detail = f"HTTP {status_code}: {message}"
        if request_id:
            detail += f" (request id {request_id})"
        if self.body:
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

    Attributes:
        code: the provider's error code or type (e.g. ``"overloaded_error"``,
            ``"tool_use_failed"``, ``400``), ``None`` when absent.
        error_type: the provider's error ``type`` field, ``None`` when absent.
        raw: the raw data payload of the error event (secrets redacted).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | int | None = None,
        error_type: str | None = None,
        raw: str = "",
        partial: StreamResult | None = None,
    ) -> None:
        self.code = code
        self.error_type = error_type
        self.raw = _excerpt(raw, 4000)
        label = f" [{code}]" if code is not None else ""
        super().__init__(f"provider error{label}: {message}", partial=partial)


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
