"""The one boundary between httpx and streamkit: requests out, typed errors in."""

from __future__ import annotations

import time
from types import TracebackType

import httpx

from streamkit._request import RequestSpec
from streamkit.config import Timeouts
from streamkit.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    StreamStalledError,
    UnexpectedContentTypeError,
    status_error_class,
)
from streamkit.retry import parse_retry_after

__all__ = [
    "ERROR_BODY_LIMIT",
    "build_request",
    "is_identity",
    "check_response",
    "httpx_timeout",
    "map_httpx_errors",
    "status_error",
]

#: Bytes of an error response body read for the error message.
ERROR_BODY_LIMIT = 64 * 1024

_REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-goog-request-id",
    "openai-request-id",
    "cf-ray",
)


def httpx_timeout(timeouts: Timeouts) -> httpx.Timeout:
    """``connect`` bounds connect/write/pool; ``read_idle`` bounds each read."""
    return httpx.Timeout(
        connect=timeouts.connect,
        read=timeouts.read_idle,
        write=timeouts.connect,
        pool=timeouts.connect,
    )


def build_request(
    client: httpx.Client | httpx.AsyncClient, spec: RequestSpec, timeouts: Timeouts
) -> httpx.Request:
    """Turn a :class:`RequestSpec` into an ``httpx.Request`` on ``client``."""
    return client.build_request(
        spec.method, spec.url, headers=spec.headers, json=spec.json, timeout=httpx_timeout(timeouts)
    )


class map_httpx_errors:
    """Translate httpx's exceptions into streamkit's, with ``raise ... from``.

    ``ReadTimeout`` becomes :class:`StreamStalledError` (no byte for ``read_idle`` s);
    other timeouts :class:`APITimeoutError`; every other transport error
    (connect, read, a closed connection, an incomplete chunked body, a decoding
    error, too many redirects) :class:`APIConnectionError`.

    A class rather than ``@contextmanager``: it wraps every chunk read, and a plain
    ``__enter__``/``__exit__`` pair costs a fraction of a generator-based one.
    """

    __slots__ = ("_timeouts",)

    def __init__(self, timeouts: Timeouts) -> None:
        self._timeouts = timeouts

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, _HTTPX_ERRORS):
            return
        if isinstance(exc, httpx.ReadTimeout):
            idle = self._timeouts.read_idle
            raise StreamStalledError(
                f"no data received for {idle} s (Timeouts.read_idle)", idle_s=idle
            ) from exc
        if isinstance(exc, httpx.TimeoutException):
            raise APITimeoutError(f"{type(exc).__name__}: {exc}") from exc
        raise APIConnectionError(f"{type(exc).__name__}: {exc}") from exc


_HTTPX_ERRORS = (
    httpx.TransportError,
    httpx.DecodingError,
    httpx.TooManyRedirects,
    httpx.StreamError,
)


def status_error(response: httpx.Response, body: bytes) -> APIStatusError:
    """The typed error for a response with status >= 300 (redirects are not followed)."""
    headers = dict(response.headers.items())
    request_id = next(
        (response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None
    )
    text = body.decode("utf-8", errors="replace")
    status = response.status_code
    message = response.reason_phrase or "error"
    if 300 <= status < 400:
        message = f"redirect to {response.headers.get('location', '?')} not followed"
    cls = status_error_class(status)
    return cls(
        message,
        status_code=status,
        body=text,
        headers=headers,
        request_id=request_id,
        retry_after=parse_retry_after(headers, now_wall=time.time()),
    )


def check_response(
    response: httpx.Response, body: bytes | None
) -> APIStatusError | UnexpectedContentTypeError | None:
    """Return the error a response's status or content type means, else ``None``.

    ``body`` is the (start of the) body, read by the caller when
    :func:`needs_body` says so.
    """
    if response.status_code >= 300:
        return status_error(response, body or b"")
    if not _is_event_stream(response):
        return UnexpectedContentTypeError(
            status_code=response.status_code,
            content_type=response.headers.get("content-type", ""),
            body=(body or b"").decode("utf-8", errors="replace"),
        )
    return None


def is_identity(response: httpx.Response) -> bool:
    """Whether the body has no content coding, so the raw bytes are the content.

    The shells then read ``iter_raw``/``aiter_raw``, one generator level less per
    chunk than ``iter_bytes`` (which runs an identity decoder and a chunker).
    """
    coding = response.headers.get("content-encoding")
    return coding is None or coding.strip().lower() in ("", "identity")


def needs_body(response: httpx.Response) -> bool:
    """Whether the response is an error whose body should be read for the message."""
    return response.status_code >= 300 or not _is_event_stream(response)


def _is_event_stream(response: httpx.Response) -> bool:
    content_type: str | None = response.headers.get("content-type")
    if content_type is None:
        return True  # lenient: some relays omit it
    return bool(content_type.split(";", 1)[0].strip().lower() == "text/event-stream")
