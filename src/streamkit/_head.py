"""The head of an HTTP response (status, reason, headers) and the typed error it means.

Pure: the executors report the head they received as a :class:`ResponseHead`; the
core decides whether the body is the event stream or an error to read and raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamkit.errors import APIStatusError, UnexpectedContentTypeError, status_error_class
from streamkit.retry import parse_retry_after

__all__ = ["ERROR_BODY_LIMIT", "REQUEST_ID_HEADERS", "ResponseHead"]

#: Bytes of an error response body read for the error message (64 KiB: every
#: provider's JSON error body fits; a misrouted HTML page is cut).
ERROR_BODY_LIMIT = 64 * 1024

#: Response headers that carry the provider's request id, in order of preference.
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-goog-request-id",
    "openai-request-id",
    "cf-ray",
)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """What an executor received before the body: the outcome of an ``Open`` action.

    Attributes:
        status: the HTTP status code.
        reason: the reason phrase (``""`` for HTTP/2).
        headers: the response headers, names in lower case.
        wall_time: ``time.time()`` when the head arrived (for an HTTP-date ``Retry-After``).
    """

    status: int
    reason: str
    headers: Mapping[str, str]
    wall_time: float

    @property
    def is_event_stream(self) -> bool:
        """Whether the body is ``text/event-stream`` (or untyped: some relays omit it)."""
        content_type = self.headers.get("content-type")
        if content_type is None:
            return True
        return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"

    @property
    def needs_body(self) -> bool:
        """Whether the response is an error whose body is read for the message."""
        return self.status >= 300 or not self.is_event_stream

    def error(self, body: bytes) -> APIStatusError | UnexpectedContentTypeError | None:
        """The typed error this head means, given the start of its body; ``None`` if none.

        A status >= 300 gives the :class:`~streamkit.errors.APIStatusError` subclass of
        that status (redirects are never followed: their message names the location);
        a 2xx that is not an event stream gives
        :class:`~streamkit.errors.UnexpectedContentTypeError`.
        """
        text = body.decode("utf-8", errors="replace")
        headers = self.headers
        if self.status >= 300:
            message = self.reason or "error"
            if 300 <= self.status < 400:
                message = f"redirect to {headers.get('location', '?')} not followed"
            request_id = next((headers[h] for h in REQUEST_ID_HEADERS if h in headers), None)
            return status_error_class(self.status)(
                message,
                status_code=self.status,
                body=text,
                headers=dict(headers),
                request_id=request_id,
                retry_after=parse_retry_after(headers, now_wall=self.wall_time),
            )
        if not self.is_event_stream:
            return UnexpectedContentTypeError(
                status_code=self.status,
                content_type=headers.get("content-type", ""),
                body=text,
            )
        return None
