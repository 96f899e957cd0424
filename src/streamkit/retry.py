"""Retry policy: which failures are retried and how long to wait, as pure decisions.

Built from tenacity's strategy objects (``wait_exponential_jitter``, a
``Retry-After``-aware wait in the style of ``wait_exception``,
``stop_after_attempt | stop_before_delay`` and ``retry_if_exception``), evaluated
against a :class:`tenacity.RetryCallState` that the session fills from its own
clock. streamkit never runs tenacity's ``Retrying`` loop around a generator: its
``AttemptManager.__exit__`` swallows ``GeneratorExit``.

Server-requested delays follow openai-python: ``retry-after-ms`` (milliseconds),
then ``Retry-After`` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

Permanent errors are never retried, whatever their status: a provider error code
or type in :data:`PERMANENT_ERROR_CODES` (a wrong key, no quota or credit left, an
unknown model, a malformed request), and a Gemini ``RESOURCE_EXHAUSTED`` whose
message says the billing quota is used up (see :func:`is_permanent`). The full table
is in ``docs/resilience.md``.

Only tenacity APIs present in its declared floor (9.0) are used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from streamkit.errors import APIConnectionError, APIStatusError, ConnectError, ProviderError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = [
    "PERMANENT_ERROR_CODES",
    "RETRYABLE_STATUS_CODES",
    "RetryPolicy",
    "is_permanent",
    "is_retryable",
    "parse_retry_after",
]

#: HTTP statuses retried by default (408 Request Timeout, 409 Conflict, 429 Too Many
#: Requests, 500, 502, 503, 504, and Anthropic's 529 Overloaded).
RETRYABLE_STATUS_CODES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

#: Provider error codes and types that no retry can fix; never retried, whatever the
#: HTTP status (a 429 ``insufficient_quota`` included) or ``x-should-retry`` says.
#: Matched against ``code`` and ``type`` of :class:`~streamkit.errors.APIStatusError`
#: and :class:`~streamkit.errors.ProviderError`.
PERMANENT_ERROR_CODES = frozenset(
    {
        # OpenAI and compatible (error.code / error.type)
        "insufficient_quota",
        "invalid_api_key",
        "model_not_found",
        "billing_hard_limit_reached",
        "billing_not_active",
        "account_deactivated",
        "access_terminated",
        "organization_deactivated",
        "invalid_organization",
        "unsupported_country_region_territory",
        "context_length_exceeded",
        "invalid_request_error",
        # Anthropic (error.type)
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "billing_error",
        # Gemini / Google (error.status, ErrorInfo.reason)
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "FAILED_PRECONDITION",
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "SERVICE_DISABLED",
        "BILLING_DISABLED",
        "CONSUMER_SUSPENDED",
    }
)

# A Gemini RESOURCE_EXHAUSTED (429) is a rate limit (retried, after its RetryInfo
# delay) unless its message says the money ran out or the model has no quota at all:
# prepaid credits depleted, a spending cap reached, billing disabled, or a quota
# "limit: 0" (a model the tier may not use). "check your plan and billing details"
# is in every quota message, per-minute ones included, so it does not count.
_BILLING_EXHAUSTED = re.compile(
    r"(?i)credits? (?:are|is|have been|has been) (?:depleted|exhausted|used up)"
    r"|prepay(?:ment)? (?:credits?|balance)"
    r"|spending (?:cap|limit)"
    r"|billing (?:account )?(?:is )?(?:not enabled|disabled|inactive|suspended)"
    r"|\blimit: 0\b"
)

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
        "RESOURCE_EXHAUSTED",
        "UNAVAILABLE",
        "INTERNAL",
        "DEADLINE_EXCEEDED",
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


def is_permanent(err: BaseException) -> bool:
    """Whether ``err`` is a provider error that no retry can fix.

    True for an :class:`~streamkit.errors.APIStatusError` or
    :class:`~streamkit.errors.ProviderError` whose ``code`` or ``type`` is in
    :data:`PERMANENT_ERROR_CODES` (``insufficient_quota``, ``invalid_api_key``,
    ``model_not_found``, Anthropic ``authentication_error``, Gemini
    ``PERMISSION_DENIED``, ...), whatever the HTTP status; and for a Gemini
    ``RESOURCE_EXHAUSTED`` whose message says the billing quota is exhausted
    (credits depleted, spending cap, billing disabled, ``limit: 0``). False for
    anything else, including every other exception type.
    """
    if not isinstance(err, APIStatusError | ProviderError):
        return False
    code, kind = err.code, err.type
    if code in PERMANENT_ERROR_CODES or kind in PERMANENT_ERROR_CODES:
        return True
    if "RESOURCE_EXHAUSTED" in (code, kind):
        return _BILLING_EXHAUSTED.search(err.message) is not None
    return False


def is_retryable(err: BaseException, *, content_started: bool = False) -> bool:
    """Whether ``err`` is worth another attempt.

    Retried: connection errors, timeouts and stalls (``APIConnectionError`` and
    subclasses, including a body that ended early); statuses in
    :data:`RETRYABLE_STATUS_CODES`; any status with ``x-should-retry: true``; an
    in-band overloaded/rate-limit/server error that came before any content.
    Not retried: permanent provider errors (:func:`is_permanent`, checked first,
    so whatever the status or ``x-should-retry``), other statuses (400, 401, 403,
    404, ...), ``x-should-retry: false``, protocol errors (malformed JSON,
    oversize lines), budget errors, configuration errors.
    """
    if is_permanent(err):
        return False
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
        max_connect_attempts: attempts in all while no connection can be made
            (:class:`~streamkit.errors.ConnectError`: refused, DNS, TLS), each after
            half the usual backoff: nothing was sent, and a host that refuses is
            usually down or the URL is wrong (about 2 s in all by default, as
            openai-python). Never more than ``max_attempts``.

    The decision itself is :meth:`next_delay`; the client shells do the sleeping.
    """

    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 60.0
    max_connect_attempts: int = 3

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_connect_attempts < 1:
            raise ValueError("max_attempts and max_connect_attempts must be at least 1")
        for name in ("initial_delay", "max_delay", "jitter", "max_retry_after"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")

    def backoff(self, attempt: int) -> float:
        """The backoff delay after failed attempt number ``attempt`` (1-based), jitter included.

        ``min(initial_delay * 2 ** (attempt - 1) + uniform(0, jitter), max_delay)``,
        the formula of tenacity's ``wait_exponential_jitter``, built from
        ``wait_exponential + wait_random`` (whose arguments are the same in every
        tenacity version streamkit allows; ``wait_exponential_jitter`` renamed
        ``initial`` to ``multiplier`` in 9.2).
        """
        t = _tenacity()
        wait = t.wait_exponential(multiplier=self.initial_delay) + t.wait_random(0, self.jitter)
        return min(float(wait(_state(attempt, None, 0.0, 0.0))), self.max_delay)

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
        t = _tenacity()
        retry = t.retry_if_exception(lambda e: is_retryable(e, content_started=content_started))
        requested = err.retry_after if isinstance(err, APIStatusError) else None
        if requested is not None and requested > self.max_retry_after:
            return None
        state = _state(attempt, err, elapsed_s, 0.0)
        if not retry(state):
            return None
        delay = requested if requested is not None else self.backoff(attempt)
        attempts = self.max_attempts
        if isinstance(err, ConnectError):
            delay /= 2
            attempts = min(attempts, self.max_connect_attempts)
        state.upcoming_sleep = delay
        stop = t.stop_after_attempt(attempts) | (
            t.stop_before_delay(total_s) if total_s is not None else t.stop_never
        )
        if stop(state):
            return None
        return delay


@cache
def _tenacity() -> ModuleType:
    """tenacity, imported at the first retry decision, not with streamkit.

    ``import tenacity`` also imports tornado when it is installed (for
    ``tenacity.tornadoweb``), about 0.1 s that no stream without a failure needs.
    """
    import tenacity

    return tenacity


@cache
def _retrying() -> object:
    # RetryCallState wants its Retrying object; it is never run.
    return _tenacity().Retrying()


def _state(
    attempt: int, err: BaseException | None, elapsed_s: float, sleep: float
) -> RetryCallState:
    tenacity = _tenacity()
    state: RetryCallState = tenacity.RetryCallState(_retrying(), None, (), {})
    state.start_time = 0.0
    state.attempt_number = attempt
    state.outcome_timestamp = elapsed_s
    state.upcoming_sleep = sleep
    if err is not None:
        state.outcome = tenacity.Future.construct(attempt, err, has_exception=True)
    return state
