"""The transport users actually get: the clients streamkit builds itself, over TLS, on httpx.

A tiny socket server on 127.0.0.1 (plain or TLS with a trustme CA) writes each whole
response in one ``sendall``. The clients are built with no ``http_client=``, the path
every user takes. Malformed HTTP/1.1 framing must be judged exactly as plain httpx
judges it: the same bytes read on well-formed input, the same class of error (typed by
streamkit) on broken input, and never an untyped error.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamkit as sk
from streamkit.offline import decode_stream

from conftest import read_real

RAW_NAME = "openai-chat-text-include-usage.sse"
MESSAGES = [{"role": "user", "content": "Hi"}]
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunked(body: bytes) -> bytes:
    """``body`` as a chunked response, one HTTP chunk per SSE event (as providers flush)."""
    events = [e + b"\n\n" for e in body.split(b"\n\n") if e.strip()]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
    return HEAD + framed + b"0\r\n\r\n"


@contextmanager
def one_write_server(
    response: bytes, tls: ssl.SSLContext | None = None, *, close: bool = False
) -> Iterator[str]:
    """Serve ``response`` to every request, written in one ``sendall``.

    Keep-alive, or with ``close`` the connection is closed after each response.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def handle(conn: socket.socket) -> None:
        if tls is not None:
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                return
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
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
                try:
                    conn.sendall(response)
                except OSError:
                    return
                if close:
                    # a graceful close: no RST that could overtake the response bytes
                    conn.shutdown(socket.SHUT_WR)
                    conn.settimeout(5)
                    with contextlib.suppress(OSError):
                        while conn.recv(65536):
                            pass
                    return

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


def stream_sync(base: str, **kwargs: Any) -> tuple[list[sk.DeltaEvent], sk.StreamResult]:
    with (
        sk.StreamingClient(base_url=base, api_key="sk-test", **kwargs) as client,
        client.stream(model="gpt-4o", messages=MESSAGES) as stream,
    ):
        events = list(stream)
    return events, stream.result


async def stream_async(base: str, **kwargs: Any) -> tuple[list[sk.DeltaEvent], sk.StreamResult]:
    async with (
        sk.AsyncStreamingClient(base_url=base, api_key="sk-test", **kwargs) as client,
        client.stream(model="gpt-4o", messages=MESSAGES) as stream,
    ):
        events = [e async for e in stream]
    return events, stream.result


# ---- TLS through the default clients -------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust the test CA the way a user trusts a corporate CA: ``SSL_CERT_FILE``."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.mark.usefixtures("trusted")
def test_default_sync_client_streams_over_https(tls_server: ssl.SSLContext) -> None:
    raw = read_real(RAW_NAME)
    expected, result = decode_stream(raw)
    with one_write_server(chunked(raw), tls_server) as base:
        assert base.startswith("https://")
        events, got = stream_sync(base)
    assert events == expected
    assert got.text == result.text


@pytest.mark.anyio
@pytest.mark.usefixtures("trusted")
async def test_default_async_client_streams_over_https(tls_server: ssl.SSLContext) -> None:
    # streamkit <= 0.2 built this client's transport with httpx.Limits as the first
    # positional argument (`verify`): every HTTPS request failed (issue #11)
    raw = read_real(RAW_NAME)
    expected, result = decode_stream(raw)
    with one_write_server(chunked(raw), tls_server) as base:
        events, got = await stream_async(base)
    assert events == expected
    assert got.text == result.text


def test_untrusted_certificate_is_a_typed_error_naming_the_host(
    tls_server: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    raw = read_real(RAW_NAME)
    with one_write_server(chunked(raw), tls_server) as base:
        port = base.rsplit(":", 1)[1].split("/")[0]
        with pytest.raises(sk.APIConnectionError) as info:
            stream_sync(base, retry=sk.RetryPolicy(max_attempts=1))
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


@pytest.mark.anyio
async def test_untrusted_certificate_async(
    tls_server: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    raw = read_real(RAW_NAME)
    with (
        one_write_server(chunked(raw), tls_server) as base,
        pytest.raises(sk.APIConnectionError) as info,
    ):
        await stream_async(base, retry=sk.RetryPolicy(max_attempts=1))
    assert "127.0.0.1:" in str(info.value)


def test_keep_alive_connection_is_reused_and_no_transport_is_wrapped() -> None:
    raw = read_real(RAW_NAME)
    expected, _ = decode_stream(raw)
    with (
        one_write_server(chunked(raw)) as base,
        sk.StreamingClient(base_url=base, api_key="sk-test") as client,
    ):
        for _ in range(2):
            with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
                assert list(stream) == expected
        http = client._pool.acquire()
        assert type(http) is httpx.Client
        assert type(http._transport) is httpx.HTTPTransport  # httpx's own transport


def test_deprecated_transport_names_are_plain_httpx() -> None:
    with pytest.warns(DeprecationWarning, match="httpx.HTTPTransport"):
        transport = sk.HTTPTransport()
    assert isinstance(transport, httpx.HTTPTransport)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert isinstance(sk.AsyncHTTPTransport(), httpx.AsyncHTTPTransport)


# ---- malformed framing: exactly what httpx judges ----------------------------------------------

EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'


def _plain_httpx(base: str) -> tuple[bytes, type[BaseException] | None]:
    """(the body bytes plain httpx reads, the class of the error it raises, if any)."""
    body = b""
    try:
        with (
            httpx.Client() as http,
            http.stream("POST", base + "/chat/completions", json={}) as response,
        ):
            for piece in response.iter_raw():
                body += piece
    except Exception as exc:
        return body, type(exc)
    return body, None


def _causes(error: BaseException) -> list[type[BaseException]]:
    """The classes of ``error`` and of its chained causes."""
    seen: list[type[BaseException]] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 10:
        seen.append(type(current))
        current = current.__cause__
    return seen


def _offline(body: bytes) -> tuple[list[sk.DeltaEvent] | None, str]:
    """What decoding ``body`` offline gives: (events or None on error, the text)."""
    try:
        events, result = decode_stream(body)
    except sk.StreamkitError as err:
        return None, err.partial.text if err.partial is not None else ""
    return events, result.text


def _streamkit(base: str) -> tuple[list[sk.DeltaEvent], BaseException | None]:
    events: list[sk.DeltaEvent] = []
    try:
        with (
            sk.StreamingClient(
                base_url=base, api_key="sk-test", retry=sk.RetryPolicy(max_attempts=1)
            ) as client,
            client.stream(model="gpt-4o", messages=MESSAGES) as stream,
        ):
            events.extend(stream)
    except Exception as exc:
        return events, exc
    return events, None


MALFORMED = {
    # the CRLF after the chunk data is missing (h11 0.16, CVE-2025-43859)
    "missing-chunk-crlf": HEAD
    + b"%x\r\n%sXX%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT, 3, b"abc"),
    # a chunk extension with a bare LF
    "bare-lf-extension": HEAD + b"%x;ext\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT),
    # an obs-folded header line
    "obs-fold": (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-note: a\r\n"
        b" transfer-encoding: chunked\r\ncontent-length: %d\r\n\r\n%s" % (len(EVENT), EVENT)
    ),
    # 2000 interim 103 responses in one read
    "many-103": b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" * 2000
    + HEAD
    + b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT),
    # a chunk size that is not hex
    "bad-size": HEAD + b"zz\r\n" + EVENT + b"\r\n0\r\n\r\n",
    # the body ends inside a chunk
    "truncated": HEAD + b"%x\r\n%s" % (len(EVENT) + 10, EVENT),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_framing_is_judged_as_httpx_judges_it(case: str) -> None:
    with one_write_server(MALFORMED[case], close=True) as base:
        body, plain_error = _plain_httpx(base)
        events, error = _streamkit(base)
    assert not isinstance(error, RecursionError)
    if plain_error is None:
        # httpx read the body: streamkit delivers exactly its events (and judges the SSE
        # content as decoding it offline does)
        expected, text = _offline(body)
        assert "".join(e.text for e in events if isinstance(e, sk.TextDelta)) == text
        if expected is None:
            assert isinstance(error, sk.StreamkitError), error
        else:
            assert error is None
            assert events == expected
    else:
        # httpx refused the framing: streamkit raises a typed error with the partial result
        assert isinstance(error, sk.APIConnectionError | sk.StreamInterruptedError), error
        assert plain_error in _causes(error), (plain_error, error)


def test_missing_chunk_crlf_is_rejected_as_h11_does() -> None:
    with one_write_server(MALFORMED["missing-chunk-crlf"], close=True) as base:
        _, plain_error = _plain_httpx(base)
        _, error = _streamkit(base)
    assert plain_error is httpx.RemoteProtocolError
    assert isinstance(error, sk.StreamkitError)
    assert "RemoteProtocolError" in str(error)


_framing = st.lists(
    st.tuples(
        st.binary(min_size=0, max_size=40),  # chunk data
        st.sampled_from([b"\r\n", b"\n", b"", b"\r", b"XX\r\n"]),  # after the data
        st.sampled_from(["exact", "short", "long"]),  # the size line vs the data
        st.sampled_from([b"", b";a=b", b";\n", b" "]),  # extension / junk on the size line
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40,
    derandomize=True,  # the same examples every run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_framing, st.booleans())
def test_broken_chunked_bodies_read_as_httpx_reads_them(chunks: Any, terminate: bool) -> None:
    body = HEAD
    for data, after, size_kind, extension in chunks:
        size = len(data) + {"exact": 0, "short": -1, "long": 1}[size_kind]
        body += b"%x%s\r\n%s%s" % (max(size, 0), extension, data, after)
    if terminate:
        body += b"0\r\n\r\n"
    with one_write_server(body, close=True) as base:
        plain_body, plain_error = _plain_httpx(base)
        events, error = _streamkit(base)
    assert not isinstance(error, RecursionError)
    if error is not None:
        assert isinstance(error, sk.StreamkitError), repr(error)
    if plain_error is not None:
        # httpx refused the body: streamkit must not have read it as complete
        assert error is not None
    else:
        # httpx read these bytes: streamkit delivered exactly their events and judged the
        # SSE content as decoding it offline does
        expected, text = _offline(plain_body)
        assert "".join(e.text for e in events if isinstance(e, sk.TextDelta)) == text
        assert (expected is None) == (error is not None)
        if expected is not None:
            assert events == expected


# ---- a user-supplied httpx-aiohttp client (aiohttp's C parser under httpx's API) ----------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # aiohttp runs on asyncio only
@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_httpx_aiohttp_client_errors_are_typed(case: str) -> None:
    httpx_aiohttp = pytest.importorskip("httpx_aiohttp")
    error: BaseException | None = None
    with one_write_server(MALFORMED[case], close=True) as base:
        try:
            async with (
                httpx_aiohttp.HttpxAiohttpClient() as http,
                sk.AsyncStreamingClient(
                    base_url=base,
                    api_key="sk-test",
                    http_client=http,
                    retry=sk.RetryPolicy(max_attempts=1),
                ) as client,
                client.stream(model="gpt-4o", messages=MESSAGES) as stream,
            ):
                [e async for e in stream]
        except Exception as exc:
            error = exc
    assert error is None or isinstance(error, sk.StreamkitError), repr(error)  # ...a typed error
