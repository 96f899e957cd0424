"""RetryPolicy: pure retry decisions and Retry-After parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from streamkit import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ChunkDecodeError,
    InternalServerError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    RetryPolicy,
    StreamStalledError,
)
from streamkit.errors import APIStatusError, status_error_class
from streamkit.retry import is_permanent, is_retryable, parse_retry_after

NOW = 1_800_000_000.0


def status(code: int, **headers: str) -> APIStatusError:
    return status_error_class(code)(
        "x",
        status_code=code,
        headers=headers,
        retry_after=parse_retry_after(headers, now_wall=NOW),
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After-Ms": "1500", "Retry-After": "9"}, 1.5),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after": format_datetime(datetime.fromtimestamp(NOW + 7, UTC), usegmt=True)}, 7.0),
        ({"retry-after": format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True)}, 0.0),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "9" * 5000}, None),
        ({"retry-after-ms": "nan", "retry-after": "4"}, 4.0),
        ({"retry-after-ms": "-1"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    got = parse_retry_after(headers, now_wall=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-6)


def test_http_date_needs_a_wall_clock() -> None:
    date = format_datetime(datetime.fromtimestamp(NOW + 7, UTC), usegmt=True)
    assert parse_retry_after({"retry-after": date}) is None


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(code: int) -> None:
    assert is_retryable(status(code))


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_not_retryable_statuses(code: int) -> None:
    assert not is_retryable(status(code))


def test_x_should_retry_overrides_status() -> None:
    assert is_retryable(status(400, **{"x-should-retry": "true"}))
    assert not is_retryable(status(503, **{"x-should-retry": "false"}))


def test_connection_errors_and_stalls_are_retryable() -> None:
    assert is_retryable(APIConnectionError("reset"))
    assert is_retryable(StreamStalledError("stalled", idle_s=1.0))
    assert not is_retryable(ChunkDecodeError("bad", raw="{"))


def test_in_band_overload_is_retried_only_before_content() -> None:
    err = ProviderError("Overloaded", code=None, error_type="overloaded_error")
    assert is_retryable(err, content_started=False)
    assert not is_retryable(err, content_started=True)
    assert not is_retryable(ProviderError("bad", code="tool_use_failed"))


def test_backoff_doubles_with_jitter_and_cap() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=30.0, jitter=1.0)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0)]:
        for _ in range(20):
            delay = policy.backoff(attempt)
            assert base <= delay <= base + 1.0
    assert policy.backoff(10) == 30.0
    assert policy.backoff(10_000) == 30.0  # no OverflowError
    assert RetryPolicy(jitter=0.0).backoff(3) == 4.0


def test_retry_after_is_honoured_exactly() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(status(429, **{"retry-after": "2"}), attempt=1, elapsed_s=0) == 2.0
    assert (
        policy.next_delay(status(503, **{"retry-after-ms": "200"}), attempt=1, elapsed_s=0) == 0.2
    )


def test_retry_after_over_the_cap_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    err = status(429, **{"retry-after": "61"})
    assert policy.next_delay(err, attempt=1, elapsed_s=0) is None
    assert err.retry_after == 61.0


def test_garbage_retry_after_falls_back_to_backoff() -> None:
    policy = RetryPolicy(jitter=0.0)
    for value in ["inf", "nan", "-5", "soon", "9" * 5000]:
        assert (
            policy.next_delay(status(429, **{"retry-after": value}), attempt=2, elapsed_s=0) == 2.0
        )


def test_attempts_run_out() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=0.0)
    err = status(500)
    assert policy.next_delay(err, attempt=1, elapsed_s=0) == 1.0
    assert policy.next_delay(err, attempt=2, elapsed_s=0) == 2.0
    assert policy.next_delay(err, attempt=3, elapsed_s=0) is None


def test_total_deadline_spans_attempts_and_sleeps() -> None:
    policy = RetryPolicy(jitter=0.0)
    err = APIConnectionError("reset")
    assert policy.next_delay(err, attempt=1, elapsed_s=5.0, total_s=10.0) == 1.0
    # 9.5 s elapsed + 2 s of sleep would pass the 10 s deadline
    assert policy.next_delay(err, attempt=2, elapsed_s=9.5, total_s=10.0) is None


def test_non_retryable_errors() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(status(401), attempt=1, elapsed_s=0) is None
    assert policy.next_delay(status(400), attempt=1, elapsed_s=0) is None


@pytest.mark.parametrize(
    "bad", [{"max_attempts": 0}, {"initial_delay": -1.0}, {"max_delay": float("inf")}]
)
def test_policy_validates(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_status_error_classes() -> None:
    assert status_error_class(401) is AuthenticationError
    assert status_error_class(400) is BadRequestError
    assert status_error_class(429) is RateLimitError
    assert status_error_class(529) is OverloadedError
    assert status_error_class(502) is InternalServerError


# ---- permanent errors are never retried ------------------------------------------------------


def body_error(code: int, body: object, **headers: str) -> APIStatusError:
    """Built as streamkit._httpx builds it: the body is parsed by the error itself."""
    return status_error_class(code)(
        "Reason",
        status_code=code,
        body=json.dumps(body),
        headers=headers,
        request_id=None,
        retry_after=parse_retry_after(headers, now_wall=NOW),
    )


def openai_body(code: str, kind: str = "invalid_request_error") -> dict[str, object]:
    return {"error": {"message": "m", "type": kind, "param": None, "code": code}}


def anthropic_body(kind: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": "m"}}


def gemini_body(status: int, name: str, message: str = "m", reason: str | None = None) -> object:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    error = {"code": status, "message": message, "status": name}
    if reason:
        error["details"] = details
    return {"error": error}


QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)


@pytest.mark.parametrize(
    ("status_code", "body"),
    [
        (429, openai_body("insufficient_quota", "insufficient_quota")),
        (401, openai_body("invalid_api_key")),
        (404, openai_body("model_not_found")),
        (429, openai_body("billing_hard_limit_reached", "requests")),
        (403, openai_body("account_deactivated", "access_terminated")),
        (503, openai_body("invalid_api_key")),  # whatever the status
        (500, openai_body("insufficient_quota", "insufficient_quota")),
        (401, anthropic_body("authentication_error")),
        (403, anthropic_body("permission_error")),
        (404, anthropic_body("not_found_error")),
        (400, anthropic_body("invalid_request_error")),
        (503, anthropic_body("authentication_error")),
        (401, gemini_body(401, "UNAUTHENTICATED")),
        (403, gemini_body(403, "PERMISSION_DENIED")),
        (400, gemini_body(400, "INVALID_ARGUMENT", reason="API_KEY_INVALID")),
        (404, gemini_body(404, "NOT_FOUND")),
        (400, gemini_body(400, "FAILED_PRECONDITION", "User location is not supported")),
        (429, gemini_body(429, "RESOURCE_EXHAUSTED", "Your prepayment credits are depleted.")),
        (429, gemini_body(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE + " limit: 0, model: x")),
    ],
)
def test_permanent_errors_are_never_retried(status_code: int, body: object) -> None:
    err = body_error(status_code, body, **{"retry-after": "1"})
    assert is_permanent(err)
    assert not is_retryable(err)
    assert RetryPolicy().next_delay(err, attempt=1, elapsed_s=0) is None


def test_permanent_code_wins_over_x_should_retry() -> None:
    err = body_error(429, openai_body("insufficient_quota"), **{"x-should-retry": "true"})
    assert not is_retryable(err)


@pytest.mark.parametrize(
    ("status_code", "body"),
    [
        (429, openai_body("rate_limit_exceeded", "requests")),
        (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "m"}}),
        (529, anthropic_body("overloaded_error")),
        (500, anthropic_body("api_error")),
        (429, gemini_body(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE)),  # a per-minute limit
        (503, gemini_body(503, "UNAVAILABLE", "The model is overloaded.")),
        (500, {"error": {"message": "m", "type": "server_error", "param": None, "code": None}}),
    ],
)
def test_transient_provider_errors_are_retried(status_code: int, body: object) -> None:
    err = body_error(status_code, body)
    assert not is_permanent(err)
    assert is_retryable(err)


def test_permanent_in_band_errors() -> None:
    quota = ProviderError("quota", code="insufficient_quota", error_type="insufficient_quota")
    assert is_permanent(quota)
    assert not is_retryable(quota, content_started=False)
    billing = ProviderError("Your prepayment credits are depleted", code="RESOURCE_EXHAUSTED")
    assert not is_retryable(billing)
    limited = ProviderError(
        QUOTA_MESSAGE, code="RESOURCE_EXHAUSTED", error_type="RESOURCE_EXHAUSTED"
    )
    assert is_retryable(limited)  # Gemini's in-band rate limit, before any content
    assert not is_retryable(limited, content_started=True)
    assert is_retryable(ProviderError("busy", code="UNAVAILABLE"))
    assert not is_permanent(APIConnectionError("reset"))
    assert not is_permanent(ValueError("x"))


def test_gemini_retry_info_is_the_delay() -> None:
    body = gemini_body(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE)
    body["error"]["details"] = [  # type: ignore[index]
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    ]
    assert RetryPolicy().next_delay(body_error(429, body), attempt=1, elapsed_s=0) == 7.0
    body["error"]["details"][0]["retryDelay"] = "3600s"  # type: ignore[index]
    assert RetryPolicy().next_delay(body_error(429, body), attempt=1, elapsed_s=0) is None
