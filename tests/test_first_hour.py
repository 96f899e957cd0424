"""The mistakes people make in their first hour: each fails fast, typed, and says why.

Every case here raises before a request is sent (or, for the network ones, without a
retry), and no error path leaves the API key or a ``base_url`` password in a message, a
chained cause, a traceback frame local, a ``repr`` or a DEBUG log line.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import streamkit as sk

KEY = "sk-canary-first-hour-5f4e3d2c1b0a"
PASSWORD = "hunter2-canary"
MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "STREAMKIT_API_KEY",
        "STREAMKIT_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GEMINI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


CLIENTS = [sk.StreamingClient, sk.AsyncStreamingClient]


# ---- configuration: raised when the client is built --------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("base_url", "match"),
    [
        ("localhost:8000/v1", "did you mean 'https://localhost:8000/v1'"),
        ("ftp://example.test/v1", "must start with http:// or https://"),
        ("wss://api.openai.com/v1", "WebSocket"),
        ("https:///v1", "no host"),
        ("https://exa mple.test", "whitespace"),
        ("https://example.test:99999/v1", "not a valid URL"),
    ],
)
def test_bad_base_url(cls: Any, base_url: str, match: str) -> None:
    with pytest.raises(sk.ConfigurationError, match=match) as info:
        cls(base_url=base_url, api_key=KEY)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("cls", CLIENTS)
def test_unknown_provider_lists_the_known_ones(cls: Any) -> None:
    with pytest.raises(sk.ConfigurationError, match=r"'anthropic-messages'.*aliases"):
        cls(provider="anthropc", api_key=KEY)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("openai", "openai-chat"), ("anthropic", "anthropic-messages"), ("google", "gemini")],
)
def test_provider_aliases(alias: str, name: str) -> None:
    client = sk.StreamingClient(provider=alias, api_key=KEY)
    assert client._config.provider == name


@pytest.mark.parametrize("cls", CLIENTS)
def test_missing_key_names_the_variables(cls: Any) -> None:
    with pytest.raises(sk.ConfigurationError) as info:
        cls()
    message = str(info.value)
    assert "STREAMKIT_API_KEY" in message
    assert "OPENAI_API_KEY" in message
    assert "api_key=''" in message
    with pytest.raises(sk.ConfigurationError, match="ANTHROPIC_API_KEY"):
        cls(provider="anthropic")


def test_empty_key_opts_out_for_local_servers() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        body = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n'
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = sk.StreamingClient(base_url="http://vllm.local/v1", api_key="", http_client=http)
    with client, client.stream(model="m", messages=MESSAGES) as stream:
        list(stream)
    assert "authorization" not in captured[0].headers


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("key", [KEY + "\n", KEY + "\r\nX-Evil: 1", "sk-ké-123456789"])
def test_key_with_bad_characters(cls: Any, key: str) -> None:
    with pytest.raises(sk.ConfigurationError, match="key not shown") as info:
        cls(api_key=key)
    assert KEY not in str(info.value)
    assert "123456789" not in str(info.value)


@pytest.mark.parametrize("cls", CLIENTS)
def test_header_with_crlf(cls: Any) -> None:
    with pytest.raises(sk.ConfigurationError, match=r"'X-Team'.*value not shown"):
        cls(api_key=KEY, headers={"X-Team": "a\r\nX-Injected: 1"})
    with pytest.raises(sk.ConfigurationError, match="header name"):
        cls(api_key=KEY, headers={"Bad Name": "x"})


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (30, sk.Timeouts(total=30.0)),
        (2.5, sk.Timeouts(total=2.5)),
        (httpx.Timeout(30), sk.Timeouts(connect=30, read_idle=30, total=None)),
        (httpx.Timeout(5, read=60), sk.Timeouts(connect=5, read_idle=60, total=None)),
        (None, sk.Timeouts()),
        (sk.Timeouts(connect=1), sk.Timeouts(connect=1)),
    ],
)
def test_timeout_forms(timeout: Any, expected: sk.Timeouts) -> None:
    assert sk.StreamingClient(api_key=KEY, timeout=timeout)._config.timeout == expected


@pytest.mark.parametrize("timeout", ["30", True, -1, float("nan")])
def test_bad_timeout(timeout: Any) -> None:
    with pytest.raises(sk.ConfigurationError, match="timeout"):
        sk.StreamingClient(api_key=KEY, timeout=timeout)


def test_provider_base_url_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-env.test/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://anthropic-env.test")
    assert sk.StreamingClient(api_key=KEY)._config.base_url == "http://openai-env.test/v1"
    anthropic = sk.StreamingClient(api_key=KEY, provider="anthropic")
    assert anthropic._config.base_url == "http://anthropic-env.test"
    monkeypatch.setenv("STREAMKIT_BASE_URL", "http://streamkit-env.test/v1")
    assert sk.StreamingClient(api_key=KEY)._config.base_url == "http://streamkit-env.test/v1"


def test_header_names_are_sent_exactly_as_given() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        body = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n'
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = sk.StreamingClient(
        base_url="http://h.test/v1", api_key=KEY, http_client=http, headers={"X_Custom": "1"}
    )
    with client.stream(model="m", messages=MESSAGES) as stream:
        list(stream)
    raw_names = [name for name, _ in captured[0].headers.raw]
    assert b"X_Custom" in raw_names
    assert b"X-Custom" not in raw_names


# ---- requests: checked before they are sent -----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"messages": "hi"}, TypeError, "messages must be a list"),
        ({"messages": None}, TypeError, "messages must be a list"),
        ({"messages": [1]}, TypeError, r"messages\[0\] must be a mapping"),
        ({"messages": {"role": "user"}}, TypeError, "messages must be a list"),
        ({"model": 123}, TypeError, "model must be a non-empty string"),
        ({"model": ""}, TypeError, "model must be a non-empty string"),
        ({"model": "gpt\n4"}, TypeError, "model must be a non-empty string"),
        ({"stream": False}, TypeError, "streamkit always streams"),
        ({"stream_options": {"include_usage": False}}, TypeError, "stream_options"),
        ({"temperature": float("nan")}, ValueError, "temperature is nan"),
        ({"logit_bias": {"1": float("inf")}}, ValueError, "JSON cannot carry"),
    ],
)
@pytest.mark.parametrize("cls", CLIENTS)
def test_bad_request_arguments(cls: Any, kwargs: dict[str, Any], error: type, match: str) -> None:
    client = cls(base_url="http://127.0.0.1:9/v1", api_key=KEY)
    args: dict[str, Any] = {"model": "gpt-4.1", "messages": MESSAGES, **kwargs}
    with pytest.raises(error, match=match) as info:
        client.stream(**args)
    assert KEY not in str(info.value)
    assert not _key_in_traceback(info.value)


# ---- the network: typed, named, not retried when it cannot help ----------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_names_host_and_port() -> None:
    port = _free_port()
    client = sk.StreamingClient(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, retry=sk.RetryPolicy(max_attempts=1)
    )
    with (
        pytest.raises(sk.APIConnectionError) as info,
        client.stream(model="m", messages=MESSAGES) as stream,
    ):
        list(stream)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert KEY not in str(info.value)


def _key_in_traceback(error: BaseException) -> bool:
    """Whether the key (or the URL password) is in the error's traceback with captured locals.

    Walks the error and its chained causes and contexts; every frame but this test
    file's own (whose locals hold the key on purpose) is looked at, with the messages.
    """
    tb = traceback.TracebackException.from_exception(error, capture_locals=True)
    seen = 0
    pending: list[traceback.TracebackException | None] = [tb]
    while pending and seen < 20:
        current = pending.pop()
        if current is None:
            continue
        seen += 1
        texts = ["".join(current.format_exception_only())]
        for frame in current.stack:
            if frame.filename != __file__:
                texts.append(repr(frame.locals))
        if any(KEY in t or PASSWORD in t for t in texts):
            return True
        pending += [current.__cause__, current.__context__]
    return False


def _status_handler(status: int, body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return handler


def test_401_is_actionable_and_not_retried() -> None:
    body = (
        b'{"error": {"message": "Incorrect API key provided: sk-canary...0a.", '
        b'"type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}'
    )
    http = httpx.Client(transport=httpx.MockTransport(_status_handler(401, body)))
    client = sk.StreamingClient(base_url="https://api.test/v1", api_key=KEY, http_client=http)
    sleeps: list[float] = []
    client._sleep = sleeps.append  # type: ignore[method-assign,assignment]
    with (
        pytest.raises(sk.AuthenticationError) as info,
        client.stream(model="m", messages=MESSAGES) as stream,
    ):
        list(stream)
    err = info.value
    assert err.code == "invalid_api_key"
    assert err.type == "invalid_request_error"
    assert "Incorrect API key provided" in str(err)
    assert sleeps == []
    assert not _key_in_traceback(err)


def test_insufficient_quota_429_is_not_retried() -> None:
    body = (
        b'{"error": {"message": "You exceeded your current quota.", "type": '
        b'"insufficient_quota", "param": null, "code": "insufficient_quota"}}'
    )
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return _status_handler(429, body)(request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = sk.StreamingClient(base_url="https://api.test/v1", api_key=KEY, http_client=http)
    with (
        pytest.raises(sk.RateLimitError) as info,
        client.stream(model="m", messages=MESSAGES) as stream,
    ):
        list(stream)
    assert info.value.code == "insufficient_quota"
    assert calls == [1]


# ---- secrets: never in a repr, a message, a cause, a frame local or a log line --------------


def test_reprs_hide_key_and_url_password() -> None:
    for cls in CLIENTS:
        client = cls(base_url=f"http://user:{PASSWORD}@host.test/v1", api_key=KEY)
        text = repr(client)
        assert KEY not in text
        assert PASSWORD not in text
        assert "user:***@host.test" in text
    session = sk.StreamingClient(
        base_url=f"http://user:{PASSWORD}@host.test/v1", api_key=KEY
    )._config.new_session(model="m", messages=MESSAGES, resume=None, params={})
    spec = session.next_request(0.0)
    assert PASSWORD not in repr(spec)
    assert KEY not in repr(spec)
    assert KEY not in repr(spec.headers)  # the value itself prints as '***'


@pytest.mark.parametrize(
    "make",
    [
        lambda: sk.StreamingClient(api_key=KEY + "\n"),
        lambda: sk.StreamingClient(api_key=KEY, headers={"Authorization": "Bearer x\n"}),
        lambda: sk.StreamingClient(base_url="ftp://h.test", api_key=KEY),
        lambda: sk.StreamingClient(api_key=KEY).stream(model="m", messages=None),  # type: ignore[arg-type]
        lambda: sk.StreamingClient(api_key=KEY, provider="anthropic").stream(
            model="m",
            messages=[1],  # type: ignore[list-item]
        ),
    ],
)
def test_no_key_in_frame_locals_of_configuration_errors(make: Callable[[], Any]) -> None:
    with pytest.raises((sk.ConfigurationError, TypeError)) as info:
        make()
    assert not _key_in_traceback(info.value)


def test_no_key_in_network_error_paths(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and streamkit loggers
    port = _free_port()
    errors: list[BaseException] = []
    for base in (f"http://127.0.0.1:{port}/v1", f"http://user:{PASSWORD}@127.0.0.1:{port}/v1"):
        client = sk.StreamingClient(
            base_url=base, api_key=KEY, retry=sk.RetryPolicy(max_attempts=2, initial_delay=0)
        )
        client._sleep = lambda s: None  # type: ignore[method-assign,assignment,misc]
        try:
            with client.stream(model="m", messages=MESSAGES) as stream:
                list(stream)
        except sk.StreamkitError as err:
            errors.append(err)
    assert len(errors) == 2
    for err in errors:
        assert not _key_in_traceback(err)
        assert KEY not in str(err)
    assert KEY not in caplog.text
    assert PASSWORD not in caplog.text


def test_connection_refused_is_retried_briefly_by_default() -> None:
    port = _free_port()
    client = sk.StreamingClient(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY)
    sleeps: list[float] = []
    client._sleep = sleeps.append  # type: ignore[method-assign,assignment]
    with (
        pytest.raises(sk.ConnectError) as info,
        client.stream(model="m", messages=MESSAGES) as stream,
    ):
        list(stream)
    assert f"127.0.0.1:{port}" in str(info.value)
    # three attempts in all, after half the usual backoff: about 2 s, like openai-python
    assert len(sleeps) == 2
    assert sum(sleeps) <= 2.5
