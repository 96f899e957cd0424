"""The clients' own httpx transports: rechunked under h11, same events, fewer pieces.

A tiny socket server on 127.0.0.1 writes each whole response in one ``sendall`` (one
HTTP chunk per SSE event, as providers flush), so the client reads many chunks at a
time: the case the rechunker is for.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpcore
import httpx
import pytest
import trustme

import streamkit as sk
from streamkit import _rechunk
from streamkit import transport as _transport
from streamkit.offline import decode_stream

from conftest import read_real

RAW_NAME = "openai-chat-text-include-usage.sse"
MESSAGES = [{"role": "user", "content": "Hi"}]


def _recording() -> tuple[bytes, list[sk.DeltaEvent], sk.StreamResult]:
    """(the real recording as a chunked response, its events, its result)."""
    raw = read_real(RAW_NAME)
    expected, result = decode_stream(raw)
    return _chunked(raw), expected, result


def _chunked(body: bytes) -> bytes:
    events = [e + b"\n\n" for e in body.split(b"\n\n") if e.strip()]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    return head + framed + b"0\r\n\r\n"


@contextmanager
def one_write_server(response: bytes, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``response`` to every request (keep-alive), written in one sendall."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def handle(conn: socket.socket) -> None:
        if tls is not None:
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                return
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                conn.sendall(response)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/v1"
    finally:
        listener.close()


@pytest.fixture
def rechunkers(monkeypatch: pytest.MonkeyPatch) -> list[_rechunk.Rechunker]:
    """Every Rechunker the transports create during the test."""
    made: list[_rechunk.Rechunker] = []

    class Recording(_rechunk.Rechunker):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(_transport, "Rechunker", Recording)
    return made


def test_sync_client_reads_through_the_rechunker(rechunkers: list[Any]) -> None:
    response, expected, expected_result = _recording()
    with (
        one_write_server(response) as base,
        sk.StreamingClient(base_url=base, api_key="sk-test") as client,
    ):
        assert _transport.is_rechunking(client._http._transport)
        for _ in range(2):  # the second stream reuses the kept-alive connection
            with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                events = list(stream)
            assert events == expected
            assert stream.result.text == expected_result.text
    assert len(rechunkers) == 1  # one connection, kept alive
    assert rechunkers[0].coalesced > 0


@pytest.mark.anyio
async def test_async_client_reads_through_the_rechunker(rechunkers: list[Any]) -> None:
    response, expected, _ = _recording()
    with one_write_server(response) as base:
        async with sk.AsyncStreamingClient(base_url=base, api_key="sk-test") as client:
            results: list[list[sk.DeltaEvent]] = []

            async def one() -> None:
                async with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                    results.append([e async for e in stream])

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(one)
            shards = client._http._shards
            assert shards and all(_transport.is_rechunking(c._transport) for c, _ in shards)
    assert results == [expected] * 3
    assert sum(r.coalesced for r in rechunkers) > 0


def test_a_given_http_client_is_left_alone() -> None:
    given = httpx.Client()
    client = sk.StreamingClient(base_url="http://127.0.0.1:9/v1", api_key="k", http_client=given)
    assert client._http is given
    assert not _transport.is_rechunking(given._transport)
    given.close()


def test_unknown_pool_is_left_unwrapped() -> None:
    """A transport without the pool we know (a proxy, a future httpx) still works."""
    transport = httpx.HTTPTransport(proxy="http://127.0.0.1:9")
    assert not _transport._wrap(transport, _transport._SyncBackend)
    assert not _transport.is_rechunking(transport)
    proxied = sk.HTTPTransport(proxy="http://127.0.0.1:9")
    assert isinstance(proxied, httpx.HTTPTransport)
    assert not _transport.is_rechunking(proxied)  # served by httpx's proxy pool as is


def test_public_transport_in_the_users_own_client(rechunkers: list[Any]) -> None:
    response, expected, _ = _recording()
    transport = sk.HTTPTransport(limits=httpx.Limits(max_connections=4))
    assert _transport.is_rechunking(transport)
    with one_write_server(response) as base, httpx.Client(transport=transport) as http:
        client = sk.StreamingClient(base_url=base, api_key="sk-test", http_client=http)
        with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
            assert list(stream) == expected
    assert rechunkers[0].coalesced > 0


@pytest.mark.anyio
async def test_public_async_transport_in_the_users_own_client(rechunkers: list[Any]) -> None:
    response, expected, _ = _recording()
    with one_write_server(response) as base:
        async with httpx.AsyncClient(transport=sk.AsyncHTTPTransport()) as http:
            client = sk.AsyncStreamingClient(base_url=base, api_key="sk-test", http_client=http)
            async with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                assert [e async for e in stream] == expected
    assert rechunkers[0].coalesced > 0


class _FakeAsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads
        self.written: list[bytes] = []
        self.tls: _FakeAsyncStream | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.reads.pop(0) if self.reads else b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.written.append(buffer)

    async def aclose(self) -> None:
        pass

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.tls = _FakeAsyncStream(self.reads)
        return self.tls


@pytest.mark.anyio
async def test_stream_wrapper_reads_again_while_nothing_is_ready_and_wraps_tls() -> None:
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    inner = _FakeAsyncStream([])
    stream = _transport._AsyncStream(inner)
    tls = await stream.start_tls(None)  # type: ignore[arg-type]
    assert isinstance(tls, _transport._AsyncStream)  # a fresh rechunker on the TLS stream
    assert inner.tls is not None
    inner.tls.reads += [head + b"3\r\nabc", b"\r", b"\n", b"4", b"\r\nwxyz\r\n", b""]
    await tls.write(b"POST /v1 HTTP/1.1\r\nhost: x\r\n\r\n")
    assert inner.tls.written == [b"POST /v1 HTTP/1.1\r\nhost: x\r\n\r\n"]
    assert await tls.read(65536) == head + b"3\r\nabc\r\n"
    # "\r", "\n" and "4" give nothing to hand over: the wrapper reads on, never b""
    assert await tls.read(65536) == b"4\r\nwxyz\r\n"
    assert await tls.read(65536) == b""  # EOF


@pytest.fixture(scope="module")
def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) from a throwaway CA (trustme)."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def test_tls_sync(rechunkers: list[Any], tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """Over TLS the rechunker sits on the decrypted stream (start_tls is wrapped)."""
    response, expected, _ = _recording()
    server_ctx, client_ctx = tls_pair
    with (
        one_write_server(response, tls=server_ctx) as base,
        httpx.Client(transport=sk.HTTPTransport(verify=client_ctx)) as http,
    ):
        client = sk.StreamingClient(base_url=base, api_key="sk-test", http_client=http)
        for _ in range(2):
            with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                assert list(stream) == expected
    assert len(rechunkers) == 2  # the TCP stream's, then the TLS stream's
    assert rechunkers[0].coalesced == 0  # (the TCP one only saw the TLS handshake)
    assert rechunkers[1].coalesced > 0


@pytest.mark.anyio
async def test_tls_async(
    rechunkers: list[Any], tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    response, expected, _ = _recording()
    server_ctx, client_ctx = tls_pair
    with one_write_server(response, tls=server_ctx) as base:
        transport = sk.AsyncHTTPTransport(verify=client_ctx)
        async with httpx.AsyncClient(transport=transport) as http:
            client = sk.AsyncStreamingClient(base_url=base, api_key="sk-test", http_client=http)
            async with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                assert [e async for e in stream] == expected
    assert rechunkers[-1].coalesced > 0
