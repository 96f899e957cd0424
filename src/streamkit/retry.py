"""Retry policy: which failures are retried and how long to wait, as pure decisions.

Built from tenacity's strategy objects (``wait_exponential_jitter``, a
``Retry-After``-aware wait in the style of ``wait_exception``,
``stop_after_attempt | stop_before_delay`` and ``retry_if_exception``), evaluated
against a :class:`tenacity.RetryCallState` that the session fills from its own
clock. streamkit never runs tenacity's ``Retrying`` loop around a generator: its
``AttemptManager.__exit__`` swallows ``GeneratorExit``.

Server-requested delays follow openai-python: ``retry-after-ms`` (milliseconds),
then ``Retry-After`` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import tenacity
from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    stop_never,
    wait_exponential_jitter,
)

from streamkit.errors import APIConnectionError, APIStatusError, ProviderError

__all__ = ["RETRYABLE_STATUS_CODES", "RetryPolicy", "is_retryable", "parse_retry_after"]

#: HTTP statuses retried by default (408 Request Timeout, 409 Conflict, 429 Too Many
#: Requests, 500, 502, 503, 504, and Anthropic's 529 Overloaded).
RETRYABLE_STATUS_CODES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

#: In-band error codes/types that mean "try again later" when no content was sent yet.
_RETRYABLE_PROVIDER_CODES = frozenset(
    {
        "overloaded_error",
        "overloaded",
        "rate_limit_error",
        "rate_limit_exceeded",
        "server_error",
        "api_error",
        "internal_server_error",
        "service_unavailable",
        429,
        500,
        502,
        503,
        529,
        "429",
        "500",
        "502",
        "503",
        "529",
    }
)

_MAX_HEADER_CHARS = 64


def _finite_nonneg(value: float) -> float | None:
    return value if math.isfinite(value) and value >= 0 else None


def parse_retry_after(headers: Mapping[str, str], *, now_wall: float | None = None) -> float | None:
    """Return the delay in seconds a response asks for, or ``None``.

    Reads ``retry-after-ms`` (milliseconds) first, then ``Retry-After`` as
    delay-seconds or an HTTP-date (relative to ``now_wall``, seconds since the
    epoch; a date needs it). Garbage (``inf``, ``nan``, negative, ``soon``,
    absurdly long numbers) gives ``None``, never an exception.

    Args:
        headers: response headers (any case).
        now_wall: the current wall-clock time, ``time.time()``, for HTTP-dates.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None and len(ms) <= _MAX_HEADER_CHARS:
        try:
            value = _finite_nonneg(float(ms) / 1000.0)
        except ValueError:
            value = None
        if value is not None:
            return value
    raw = lower.get("retry-after")
    if raw is None or len(raw) > _MAX_HEADER_CHARS:
        return None
    raw = raw.strip()
    try:
        return _finite_nonneg(float(raw))
    except ValueError:
        pass
    if now_wall is None:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_wall)


def is_retryable(err: BaseException, *, content_started: bool = False) -> bool:
    """Whether ``err`` is worth another attempt.

    Retried: connection errors, timeouts and stalls (``APIConnectionError`` and
    subclasses, including a body that ended early); statuses in
    :data:`RETRYABLE_STATUS_CODES`; any status with ``x-should-retry: true``; an
    in-band overloaded/rate-limit/server error that came before any content.
    Not retried: other statuses (400, 401, 403, 404, ...), ``x-should-retry: false``,
    protocol errors (malformed JSON, oversize lines), budget errors.
    """
    if isinstance(err, APIStatusError):
        if err.should_retry is not None:
            return err.should_retry
        return err.status_code in RETRYABLE_STATUS_CODES
    if isinstance(err, APIConnectionError):
        return True
    if isinstance(err, ProviderError):
        if content_started:
            return False
        return err.code in _RETRYABLE_PROVIDER_CODES or err.error_type in _RETRYABLE_PROVIDER_CODES
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed attempts are retried. All times are in seconds.

    Args:
        max_attempts: total HTTP attempts for one logical stream, the first included
            (``1`` disables retries).
        initial_delay: the first backoff delay; it doubles each attempt...
        max_delay: ...up to this cap.
        jitter: up to this many random seconds are added to each backoff delay.
        max_retry_after: the longest server-requested wait (``Retry-After``) honoured;
            a longer request gives up at once with the typed error (its ``retry_after``
            set) rather than retrying sooner than the server asked.

    The decision itself is :meth:`next_delay`; the client shells do the sleeping.
    """

    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("initial_delay", "max_delay", "jitter", "max_retry_after"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")

    def backoff(self, attempt: int) -> float:
        """The backoff delay after failed attempt number ``attempt`` (1-based), jitter included.

        ``min(initial_delay * 2 ** (attempt - 1) + uniform(0, jitter), max_delay)``
        (tenacity ``wait_exponential_jitter``).
        """
        wait = wait_exponential_jitter(
            multiplier=self.initial_delay, max=self.max_delay, jitter=self.jitter
        )
        return float(wait(_state(attempt, None, 0.0, 0.0)))

    def next_delay(
        self,
        err: BaseException,
        *,
        attempt: int,
        elapsed_s: float,
        total_s: float | None = None,
        content_started: bool = False,
    ) -> float | None:
        """Decide what happens after attempt number ``attempt`` failed with ``err``.

        Args:
            err: the failure.
            attempt: the number of the attempt that failed (1 = the first).
            elapsed_s: seconds since the logical stream started.
            total_s: the overall deadline in seconds (``Timeouts.total``), or ``None``.
            content_started: whether content was already delivered (in-band errors
                after content are not retried).

        Returns:
            The delay in seconds before the next attempt, or ``None`` to give up
            (not retryable, attempts used up, the deadline would pass, or the server
            asked for a wait longer than ``max_retry_after``).
        """
        retry = retry_if_exception(lambda e: is_retryable(e, content_started=content_started))
        requested = err.retry_after if isinstance(err, APIStatusError) else None
        if requested is not None and requested > self.max_retry_after:
            return None
        state = _state(attempt, err, elapsed_s, 0.0)
        if not retry(state):
            return None
        delay = requested if requested is not None else self.backoff(attempt)
        state.upcoming_sleep = delay
        stop = stop_after_attempt(self.max_attempts) | (
            stop_before_delay(total_s) if total_s is not None else stop_never
        )
        if stop(state):
            return None
        return delay


# RetryCallState wants its Retrying object; it is never run.
_RETRY_OBJECT = tenacity.Retrying()


def _state(
    attempt: int, err: BaseException | None, elapsed_s: float, sleep: float
) -> RetryCallState:
    state = RetryCallState(_RETRY_OBJECT, None, (), {})
    state.start_time = 0.0
    state.attempt_number = attempt
    state.outcome_timestamp = elapsed_s
    state.upcoming_sleep = sleep
    if err is not None:
        state.outcome = tenacity.Future.construct(attempt, err, has_exception=True)
    return state
