"""streamkit.errors: provider error fields, messages, pickling and the secret registry."""

from __future__ import annotations

import copy
import json
import pickle
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest

from streamkit import errors
from streamkit.errors import (
    APIStatusError,
    AuthenticationError,
    ErrorDetails,
    ProviderError,
    RateLimitError,
    parse_error_body,
    redact,
    register_secret,
    status_error_class,
)
from streamkit.events import TextDelta, UsageEvent
from streamkit.result import StreamResult
from streamkit.sse import ServerSentEvent
from streamkit.usage import Usage

OPENAI_401 = {
    "error": {
        "message": "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
OPENAI_429_QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
OPENAI_404_MODEL = {
    "error": {
        "message": "The model `gpt-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
}
ANTHROPIC_401 = {
    "type": "error",
    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
}
GEMINI_400_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}
GEMINI_400_FIELD = {
    "error": {
        "code": 400,
        "message": "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "generation_config.temperature"}],
            }
        ],
    }
}
GEMINI_429 = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36s"},
        ],
    }
}


def status_error(status: int, body: Any, **kwargs: Any) -> APIStatusError:
    """Built exactly as streamkit._httpx.status_error builds it."""
    text = body if isinstance(body, str) else json.dumps(body)
    kwargs.setdefault("headers", {})
    kwargs.setdefault("request_id", None)
    kwargs.setdefault("retry_after", None)
    return status_error_class(status)("Reason", status_code=status, body=text, **kwargs)


# ---- provider error fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            OPENAI_401,
            ErrorDetails(
                code="invalid_api_key",
                type="invalid_request_error",
                message=OPENAI_401["error"]["message"],
            ),
        ),
        (
            OPENAI_404_MODEL,
            ErrorDetails(
                code="model_not_found",
                type="invalid_request_error",
                message=OPENAI_404_MODEL["error"]["message"],
                param="model",
            ),
        ),
        (
            ANTHROPIC_401,
            ErrorDetails(
                type="authentication_error",
                message="invalid x-api-key",
                request_id="req_011CSHoEeqs5C35K2UUqR7Fy",
            ),
        ),
        (
            GEMINI_400_KEY,
            ErrorDetails(
                code="API_KEY_INVALID",
                type="INVALID_ARGUMENT",
                message="API key not valid. Please pass a valid API key.",
            ),
        ),
        (
            [GEMINI_400_FIELD],  # Gemini without alt=sse answers a JSON array
            ErrorDetails(
                code="INVALID_ARGUMENT",
                type="INVALID_ARGUMENT",
                message=GEMINI_400_FIELD["error"]["message"],
                param="generation_config.temperature",
            ),
        ),
        (
            GEMINI_429,
            ErrorDetails(
                code="RESOURCE_EXHAUSTED",
                type="RESOURCE_EXHAUSTED",
                message=GEMINI_429["error"]["message"],
                retry_after=36.0,
            ),
        ),
        (
            {
                "object": "error",
                "message": "model x not found",
                "type": "NotFoundError",
                "code": 404,
            },
            ErrorDetails(code=404, type="NotFoundError", message="model x not found"),
        ),
        ({"error": "Unauthorized"}, ErrorDetails(message="Unauthorized")),
        ({"detail": "Not authenticated"}, ErrorDetails(message="Not authenticated")),
        (
            "upstream connect error  or\ndisconnect",
            ErrorDetails(message="upstream connect error or disconnect"),
        ),
        ("<html><body>502 Bad Gateway</body></html>", ErrorDetails()),
        ('{"error": {"message": "cut he', ErrorDetails()),  # truncated JSON
        ("", ErrorDetails()),
        ({"unrelated": True}, ErrorDetails()),
        (["not an object"], ErrorDetails()),
    ],
)
def test_parse_error_body_for_every_dialect(body: Any, expected: ErrorDetails) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    assert parse_error_body(text) == expected


def test_openai_401_reads_like_openai_python() -> None:
    err = status_error(401, OPENAI_401, request_id="req_abc123")
    assert isinstance(err, AuthenticationError)
    assert (err.code, err.type, err.param) == ("invalid_api_key", "invalid_request_error", None)
    assert err.message.startswith("Incorrect API key provided")
    assert str(err).startswith("HTTP 401 invalid_api_key: Incorrect API key provided")
    assert str(err).endswith("(request id req_abc123)")
    assert "body:" not in str(err)  # understood: the message says it all
    assert json.loads(err.body) == OPENAI_401  # the body is kept


def test_anthropic_error_uses_its_type_and_body_request_id() -> None:
    err = status_error(401, ANTHROPIC_401)
    assert err.code is None
    assert err.type == "authentication_error"
    assert err.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert str(err) == (
        "HTTP 401 authentication_error: invalid x-api-key (request id req_011CSHoEeqs5C35K2UUqR7Fy)"
    )
    # a header's request id wins over the body's
    assert status_error(401, ANTHROPIC_401, request_id="req_h").request_id == "req_h"


def test_gemini_error_reason_and_retry_info() -> None:
    err = status_error(400, GEMINI_400_KEY)
    assert str(err) == "HTTP 400 API_KEY_INVALID: API key not valid. Please pass a valid API key."
    limited = status_error(429, GEMINI_429)
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 36.0  # RetryInfo, when no Retry-After header came
    assert status_error(429, GEMINI_429, retry_after=2.0).retry_after == 2.0


def test_explicit_fields_win_over_the_body() -> None:
    err = APIStatusError(
        "Nope", status_code=403, body=json.dumps(OPENAI_401), code="c", type="t", param="p"
    )
    assert (err.code, err.type, err.param) == ("c", "t", "p")
    plain = APIStatusError("Incorrect API key", status_code=401, code="invalid_api_key")
    assert str(plain) == "HTTP 401 invalid_api_key: Incorrect API key"
    assert plain.message == "Incorrect API key"


def test_body_not_understood_is_quoted_and_redacted() -> None:
    err = status_error(502, "<html>bad gateway for sk-abcdefghijkl1234</html>")
    assert err.code is None
    assert err.message == "Reason"
    assert str(err).startswith("HTTP 502: Reason — body: <html>bad gateway for sk")
    assert "abcdefghijkl1234" not in str(err)
    assert "***" in str(err)


def test_provider_message_is_redacted() -> None:
    body = {"error": {"message": "bad key sk-abcdefghijkl1234", "code": "invalid_api_key"}}
    err = status_error(401, body)
    assert "sk-abcdefghijkl1234" not in err.message
    assert "sk-abcdefghijkl1234" not in str(err)
    assert "sk-abcdefghijkl1234" not in err.body


def test_provider_error_fields_from_the_event() -> None:
    raw = json.dumps(
        {
            "error": {
                "message": "bad tools",
                "type": "invalid_request_error",
                "param": "tools",
                "code": "tool_use_failed",
            }
        }
    )
    err = ProviderError("bad tools", raw=raw)
    assert (err.code, err.type, err.error_type, err.param) == (
        "tool_use_failed",
        "invalid_request_error",
        "invalid_request_error",
        "tools",
    )
    assert err.message == "bad tools"
    assert str(err) == "provider error [tool_use_failed]: bad tools"
    typed = ProviderError("Overloaded", error_type="overloaded_error")
    assert str(typed) == "provider error [overloaded_error]: Overloaded"
    assert typed.code is None
    assert str(ProviderError("boom")) == "provider error: boom"


def test_provider_error_carries_its_events() -> None:
    usage = UsageEvent(usage=Usage(input_tokens=3, output_tokens=1))
    err = ProviderError("boom", events=(usage,))
    assert err.events == [usage]
    assert ProviderError("boom").events == []


# ---- pickling -------------------------------------------------------------------------------

PARTIAL = StreamResult.model_validate({"choices": [{"index": 0, "text": "Hello"}], "attempts": 2})

#: One instance per public exception, with every attribute set (partial included).
EXAMPLES: dict[str, Any] = {
    "StreamkitError": lambda cls: cls("boom", partial=PARTIAL),
    "APIStatusError": lambda cls: cls(
        "Reason",
        status_code=418,
        body=json.dumps(OPENAI_404_MODEL),
        headers={"X-Should-Retry": "false", "x-request-id": "req_1"},
        request_id="req_1",
        retry_after=1.5,
        partial=PARTIAL,
    ),
    "APIConnectionError": lambda cls: cls("connection refused (127.0.0.1:9)", partial=PARTIAL),
    "StreamStalledError": lambda cls: cls("stalled", idle_s=3.0, partial=PARTIAL),
    "UnexpectedContentTypeError": lambda cls: cls(
        status_code=200, content_type="application/json", body='{"a": 1}', partial=PARTIAL
    ),
    "ProviderError": lambda cls: cls(
        "Overloaded",
        code="overloaded_error",
        error_type="overloaded_error",
        param="p",
        raw='{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
        events=[TextDelta(text="x")],
        partial=PARTIAL,
    ),
    "StreamInterruptedError": lambda cls: cls("broke", attempts=3, partial=PARTIAL),
    "SSEError": lambda cls: cls(
        "line too long", events=[ServerSentEvent(data="a", id="1", retry=5)], partial=PARTIAL
    ),
    "ChunkDecodeError": lambda cls: cls("not JSON", raw="{bad", event="delta", partial=PARTIAL),
    "BudgetExceededError": lambda cls: cls(
        "over budget", budget_usd=Decimal("0.01"), spent_usd=Decimal("0.02"), partial=PARTIAL
    ),
}


def _example(cls: type[BaseException]) -> BaseException:
    for klass in cls.__mro__:
        if klass.__name__ in EXAMPLES:
            built: BaseException = EXAMPLES[klass.__name__](cls)
            return built
    raise AssertionError(f"no example for {cls.__name__}: add one to EXAMPLES")


PUBLIC_EXCEPTIONS = [
    getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), BaseException)
]


def test_every_public_exception_is_covered() -> None:
    assert len(PUBLIC_EXCEPTIONS) >= 20
    assert all(issubclass(cls, errors.StreamkitError) for cls in PUBLIC_EXCEPTIONS)


@pytest.mark.parametrize("cls", PUBLIC_EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_every_public_exception_pickles(cls: type[BaseException]) -> None:
    err = _example(cls)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls
    assert str(again) == str(err)
    assert again.args == err.args
    assert vars(again) == vars(err)
    if isinstance(err, errors.StreamkitError):
        assert err.partial == PARTIAL
        assert again.partial == PARTIAL  # type: ignore[attr-defined]
    assert str(copy.copy(err)) == str(err)


def test_provider_error_does_not_grow_a_second_prefix() -> None:
    err = ProviderError("msg")
    assert str(pickle.loads(pickle.dumps(err))) == "provider error: msg"
    status = status_error(401, OPENAI_401)
    assert str(pickle.loads(pickle.dumps(status))) == str(status)
    assert pickle.loads(pickle.dumps(status)).code == "invalid_api_key"


# ---- the secret registry --------------------------------------------------------------------


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "_secrets", OrderedDict())
    monkeypatch.setattr(errors, "_secrets_snapshot", ())


@pytest.mark.usefixtures("fresh_registry")
def test_registry_is_bounded_and_keeps_the_most_recent() -> None:
    limit = errors.MAX_REGISTERED_SECRETS
    keys = [f"tenant-key-{i:05d}-zz" for i in range(limit + 10)]
    for key in keys:
        register_secret(key)
    assert len(errors._secrets) == limit
    assert redact(keys[0]) == keys[0]  # dropped: the least recently registered
    assert redact(keys[-1]) == "***"
    assert redact(keys[10]) == "***"  # the oldest kept
    register_secret(keys[10])  # registering again makes it the most recent...
    register_secret("tenant-key-new-zz")  # ...so this drops keys[11] instead
    assert redact(keys[10]) == "***"
    assert redact(keys[11]) == keys[11]


@pytest.mark.usefixtures("fresh_registry")
def test_registry_ignores_short_or_missing_values() -> None:
    register_secret(None)
    register_secret("")
    register_secret("abc")
    assert len(errors._secrets) == 0
    assert redact("abc") == "abc"


@pytest.mark.usefixtures("fresh_registry")
def test_a_key_containing_another_is_removed_whole() -> None:
    register_secret("abcd")
    register_secret("xxabcdyy")
    assert redact("key=xxabcdyy") == "key=***"


@pytest.mark.usefixtures("fresh_registry")
def test_redact_while_another_thread_registers() -> None:
    # A registration that lands while redact() walks the registry (another thread,
    # made deterministic here: the text's substring test registers a key) must not
    # break the walk ("Set changed size during iteration").
    register_secret("first-secret-1")
    register_secret("second-secret-2")

    class Text(str):
        def __contains__(self, item: object) -> bool:
            register_secret(f"late-{item}-secret")
            return str.__contains__(self, item)  # type: ignore[operator]

    assert redact(Text("a first-secret-1 b")) == "a *** b"
    assert len(errors._secrets) == 4
