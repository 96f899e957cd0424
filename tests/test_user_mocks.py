"""The mocks users write in their own tests: they must just work, sync and async.

``httpx.MockTransport`` with ``Response(content=...)``/``Response(text=...)`` (the
content is already in memory: httpx has read it), pytest-httpx and respx; each streamed
twice from the same client. The same for httpx2's own ``MockTransport``. A body that
was consumed elsewhere is a misuse: ``StreamStateError`` at once, never retried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from pytest_httpx import HTTPXMock

import streamkit as sk
from streamkit.offline import decode_stream

from conftest import read_real

RAW_NAME = "openai-chat-text-include-usage.sse"
MESSAGES = [{"role": "user", "content": "What's the weather?"}]
SSE = {"content-type": "text/event-stream"}
URL = "https://api.example.test/v1/chat/completions"


def expected_text() -> str:
    return decode_stream(read_real(RAW_NAME))[1].text


def stream_twice_sync(http: Any) -> list[str]:
    texts = []
    with sk.StreamingClient(
        base_url="https://api.example.test/v1", api_key="sk-test", http_client=http
    ) as client:
        for _ in range(2):
            with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                events = list(stream)
            assert not [e for e in events if isinstance(e, sk.RetryEvent)]
            texts.append(stream.result.text)
    return texts


async def stream_twice_async(http: Any) -> list[str]:
    texts = []
    async with sk.AsyncStreamingClient(
        base_url="https://api.example.test/v1", api_key="sk-test", http_client=http
    ) as client:
        for _ in range(2):
            async with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                events = [e async for e in stream]
            assert not [e for e in events if isinstance(e, sk.RetryEvent)]
            texts.append(stream.result.text)
    return texts


def responders() -> dict[str, Callable[[Any], Any]]:
    raw = read_real(RAW_NAME)
    return {
        "content": lambda module: lambda request: module.Response(200, content=raw, headers=SSE),
        "text": lambda module: lambda request: module.Response(200, text=raw.decode(), headers=SSE),
    }


@pytest.mark.parametrize("how", ["content", "text"])
def test_mock_transport_sync(how: str) -> None:
    handler = responders()[how](httpx)
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        assert stream_twice_sync(http) == [expected_text()] * 2


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["content", "text"])
async def test_mock_transport_async(how: str) -> None:
    handler = responders()[how](httpx)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        assert await stream_twice_async(http) == [expected_text()] * 2


@pytest.mark.parametrize("how", ["content", "text"])
def test_httpx2_mock_transport_sync(how: str) -> None:
    httpx2 = pytest.importorskip("httpx2")
    handler = responders()[how](httpx2)
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as http:
        assert stream_twice_sync(http) == [expected_text()] * 2


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["content", "text"])
async def test_httpx2_mock_transport_async(how: str) -> None:
    httpx2 = pytest.importorskip("httpx2")
    handler = responders()[how](httpx2)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        assert await stream_twice_async(http) == [expected_text()] * 2


def test_pytest_httpx_sync(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=read_real(RAW_NAME), headers=SSE, is_reusable=True)
    with httpx.Client() as http:
        assert stream_twice_sync(http) == [expected_text()] * 2


@pytest.mark.anyio
async def test_pytest_httpx_async(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=read_real(RAW_NAME), headers=SSE, is_reusable=True)
    async with httpx.AsyncClient() as http:
        assert await stream_twice_async(http) == [expected_text()] * 2


def test_pytest_httpx_default_client(httpx_mock: HTTPXMock) -> None:
    # the client streamkit builds itself is intercepted too
    httpx_mock.add_response(url=URL, content=read_real(RAW_NAME), headers=SSE, is_reusable=True)
    assert stream_twice_sync(None) == [expected_text()] * 2


@respx.mock
def test_respx_sync() -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, content=read_real(RAW_NAME), headers=SSE))
    with httpx.Client() as http:
        assert stream_twice_sync(http) == [expected_text()] * 2
    assert respx.calls.call_count == 2


@pytest.mark.anyio
async def test_respx_async() -> None:
    async with respx.mock:
        respx.post(URL).mock(
            return_value=httpx.Response(200, content=read_real(RAW_NAME), headers=SSE)
        )
        assert await stream_twice_async(None) == [expected_text()] * 2


class _Consumed(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body already read elsewhere: iterating it raises httpx.StreamConsumed."""

    def __iter__(self) -> Iterator[bytes]:
        raise httpx.StreamConsumed()

    async def __aiter__(self) -> Any:
        raise httpx.StreamConsumed()
        yield b""  # pragma: no cover - makes this an async generator


def test_consumed_body_is_a_misuse_raised_at_once_sync() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, headers=SSE, stream=_Consumed())

    sleeps: list[float] = []
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = sk.StreamingClient(base_url="https://x.test/v1", api_key="k", http_client=http)
        client._sleep = sleeps.append  # type: ignore[method-assign,assignment]
        with (
            pytest.raises(sk.StreamStateError) as info,
            client.stream(model="m", messages=MESSAGES) as stream,
        ):
            list(stream)
    assert "StreamConsumed" in str(info.value)
    assert len(calls) == 1  # not retried
    assert sleeps == []


@pytest.mark.anyio
async def test_consumed_body_is_a_misuse_raised_at_once_async() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, headers=SSE, stream=_Consumed())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = sk.AsyncStreamingClient(
            base_url="https://x.test/v1", api_key="k", http_client=http
        )
        with pytest.raises(sk.StreamStateError):
            async with client.stream(model="m", messages=MESSAGES) as stream:
                [e async for e in stream]
    assert len(calls) == 1


def test_wrong_kind_of_http_client_fails_at_construction() -> None:
    with pytest.raises(sk.ConfigurationError, match=r"httpx\.Client"):
        sk.StreamingClient(api_key="k", http_client=httpx.AsyncClient())
    with pytest.raises(sk.ConfigurationError, match="AsyncClient"):
        sk.AsyncStreamingClient(api_key="k", http_client=httpx.Client())
    with pytest.raises(sk.ConfigurationError, match="httpx"):
        sk.StreamingClient(api_key="k", http_client=object())
