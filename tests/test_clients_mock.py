"""Both client shells over httpx.MockTransport: HTTP errors, cuts, secrets.

One test body runs the sync and the async client (the latter on asyncio and trio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

import streamkit as sk

from conftest import read_real

KEY = "sk-canary-7f3a9c1e5b2d4f6a8c0e"
RAW_NAME = "openai-chat-text-include-usage.sse"
MESSAGES = [{"role": "user", "content": "Hi"}]

pytestmark = pytest.mark.anyio


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that yields pieces, then optionally breaks the connection."""

    def __init__(self, pieces: list[bytes], *, cut: bool = False) -> None:
        self.pieces = pieces
        self.cut = cut
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.cut:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if self.closed:
                raise httpx.StreamClosed()
            yield piece
        if self.cut:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def sse_response(pieces: list[bytes], *, cut: bool = False, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, headers={"content-type": "text/event-stream"}, stream=Body(pieces, cut=cut)
    )


Handler = Callable[[httpx.Request], httpx.Response]


async def consume(
    mode: str, handler: Handler, **client_kwargs: Any
) -> tuple[list[sk.DeltaEvent], sk.StreamResult | None, list[float]]:
    """Stream once with the sync or async client; return events, result, sleeps."""
    transport = httpx.MockTransport(handler)
    sleeps: list[float] = []
    client_kwargs.setdefault("base_url", "http://mock.test/v1")
    client_kwargs.setdefault("api_key", KEY)
    if mode == "sync":
        client = sk.StreamingClient(http_client=httpx.Client(transport=transport), **client_kwargs)
        client._sleep = sleeps.append  # type: ignore[method-assign,assignment]
        with client, client.stream(model="gpt-4o", messages=MESSAGES) as stream:
            events = list(stream)
        return events, stream.result, sleeps
    aclient = sk.AsyncStreamingClient(
        http_client=httpx.AsyncClient(transport=transport), **client_kwargs
    )

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    aclient._sleep = fake_sleep  # type: ignore[method-assign,assignment]
    async with aclient, aclient.stream(model="gpt-4o", messages=MESSAGES) as astream:
        events = [e async for e in astream]
    return events, astream.result, sleeps


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_stream_and_result(mode: str) -> None:
    raw = read_real(RAW_NAME)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse_response([raw[i : i + 100] for i in range(0, len(raw), 100)])

    events, result, sleeps = await consume(mode, handler)
    assert result is not None
    assert result.text.startswith("I'm unable to provide real-time weather")
    assert "".join(e.text for e in events if isinstance(e, sk.TextDelta)) == result.text
    assert result.usage == sk.Usage(
        input_tokens=14, output_tokens=30, total_tokens=44, reasoning_tokens=0
    )
    assert result.metrics.time_to_first_token_s is not None
    assert result.metrics.bytes_received == len(raw)
    [request] = seen
    assert request.url == "http://mock.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, sk.BadRequestError),
        (401, sk.AuthenticationError),
        (403, sk.PermissionDeniedError),
        (404, sk.NotFoundError),
    ],
)
async def test_non_retryable_statuses(mode: str, status: int, error: type[Exception]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            status,
            headers={"x-request-id": "req_123"},
            json={"error": {"message": f"bad key {KEY}", "type": "invalid_request_error"}},
        )

    with pytest.raises(error) as info:
        await consume(mode, handler)
    err = info.value
    assert isinstance(err, sk.APIStatusError)
    assert err.status_code == status
    assert err.request_id == "req_123"
    assert "invalid_request_error" in err.body
    assert KEY not in str(err) and KEY not in err.body and KEY not in repr(err)
    assert calls == [1]


async def test_429_then_500_then_success(mode: str) -> None:
    raw = read_real(RAW_NAME)
    answers = [
        httpx.Response(429, headers={"retry-after": "2"}, json={"error": {"message": "slow"}}),
        httpx.Response(500, json={"error": {"message": "oops"}}),
        sse_response([raw]),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    events, result, sleeps = await consume(mode, handler, retry=sk.RetryPolicy(jitter=0.0))
    assert sleeps == [2.0, 2.0]  # Retry-After exactly, then backoff 1 * 2 ** 1
    assert [e.status_code for e in events if isinstance(e, sk.RetryEvent)] == [429, 500]
    assert result is not None and result.attempts == 3


async def test_429_over_cap_raises_at_once(mode: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": "3600"})

    with pytest.raises(sk.RateLimitError) as info:
        await consume(mode, handler)
    assert info.value.retry_after == 3600.0


async def test_cut_mid_stream_is_resumed_by_replay(mode: str) -> None:
    raw = read_real(RAW_NAME)
    answers = [sse_response([raw[:3000]], cut=True), sse_response([raw])]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    events, result, sleeps = await consume(mode, handler, retry=sk.RetryPolicy(jitter=0.0))
    assert result is not None
    streamed = "".join(e.text for e in events if isinstance(e, sk.TextDelta))
    assert streamed == result.text
    assert result.text.endswith("weather app.")
    assert [e.strategy for e in events if isinstance(e, sk.ResumeEvent)] == ["replay"]
    assert sleeps == [1.0]


async def test_non_sse_content_type(mode: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "chatcmpl-1", "choices": []})

    with pytest.raises(sk.UnexpectedContentTypeError) as info:
        await consume(mode, handler)
    assert "application/json" in str(info.value)
    assert "chatcmpl-1" in str(info.value)


async def test_malformed_json_raises_chunk_decode_error_with_partial(mode: str) -> None:
    raw = read_real(RAW_NAME)
    first_events = raw[: raw.index(b"\n\n", 2000) + 2]

    def handler(request: httpx.Request) -> httpx.Response:
        return sse_response([first_events, b'data: {"choices": [\n\n'])

    with pytest.raises(sk.ChunkDecodeError) as info:
        await consume(mode, handler)
    assert info.value.raw == '{"choices": ['
    assert info.value.partial is not None
    assert info.value.partial.text


async def test_connection_refused_is_api_connection_error(mode: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(sk.APIConnectionError):
        await consume(mode, handler, retry=sk.RetryPolicy(max_attempts=2, jitter=0.0))


def test_stream_returns_at_once_and_result_needs_the_end() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return sse_response([read_real(RAW_NAME)])

    client = sk.StreamingClient(
        base_url="http://mock.test/v1",
        api_key=KEY,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    stream = client.stream(model="gpt-4o", messages=MESSAGES)
    assert calls == []
    with pytest.raises(sk.StreamStateError):
        _ = stream.result
    assert stream.snapshot().text == ""
    text = "".join(stream.text_stream)
    assert calls == [1]
    assert stream.result.text == text


def test_repr_never_shows_the_key() -> None:
    client = sk.StreamingClient(api_key=KEY)
    aclient = sk.AsyncStreamingClient(api_key=KEY)
    for obj in (client, aclient, client._config):
        assert KEY not in repr(obj)
        assert KEY not in str(obj)
    spec = client._config.new_session(model="m", messages=MESSAGES, resume=None, params={})
    assert KEY not in repr(spec._base_request)
    client.close()


def test_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMKIT_BASE_URL", "http://env.test/v9/")
    monkeypatch.delenv("STREAMKIT_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456789")
    client = sk.StreamingClient()
    assert client._config.base_url == "http://env.test/v9"
    assert client._config._api_key.redacted() == "sk-from-env-123456789"
    monkeypatch.setenv("STREAMKIT_API_KEY", "sk-streamkit-123456789")
    assert sk.StreamingClient()._config._api_key.redacted() == "sk-streamkit-123456789"
    with pytest.raises(ValueError, match="unknown provider"):
        sk.StreamingClient(provider="nope")
    with pytest.raises(ValueError, match="resume"):
        sk.StreamingClient(resume="sometimes")  # type: ignore[arg-type]


async def test_redirects_are_not_followed(mode: str) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(307, headers={"location": "http://elsewhere.test/steal"})

    with pytest.raises(sk.APIStatusError) as info:
        await consume(mode, handler)
    assert info.value.status_code == 307
    assert "not followed" in str(info.value)
    assert calls == ["http://mock.test/v1/chat/completions"]  # the key never went elsewhere


async def test_gzip_encoded_stream_is_decoded(mode: str) -> None:
    import gzip

    raw = read_real(RAW_NAME)
    packed = gzip.compress(raw)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
            stream=Body([packed[i : i + 500] for i in range(0, len(packed), 500)]),
        )

    events, result, _ = await consume(mode, handler)
    assert result is not None
    assert result.text.endswith("weather app.")
    assert "".join(e.text for e in events if isinstance(e, sk.TextDelta)) == result.text
