"""httpx transports for the clients streamkit creates itself: httpx + httpcore, rechunked.

The transports are httpx's own ``HTTPTransport``/``AsyncHTTPTransport`` (pooling,
TLS, timeouts and proxies unchanged); only their network streams are wrapped so that
the bytes read from the socket pass through a :class:`~streamkit._rechunk.Rechunker`
before h11 parses them: one body piece per network read instead of one per SSE
event. The wrapping is the only part that reaches into httpx (``transport._pool``)
and httpcore (``pool._network_backend``); if a future version renames those, the
transport is returned as is, unwrapped, and everything works, only slower
(``tests/test_transport.py`` pins the wrapping on the versions we support).

A client passed in by the user (``http_client=``) is never modified.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from streamkit._rechunk import Rechunker

# ruff: noqa: ASYNC109 - httpcore's network-stream interface takes `timeout` arguments

__all__ = ["AsyncHTTPTransport", "HTTPTransport", "is_rechunking"]

_SocketOption = Any


class _AsyncStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner", "_rechunker")

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._rechunker = Rechunker()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        rechunker = self._rechunker
        while True:
            data = await self._inner.read(max_bytes, timeout)
            out = rechunker.received(data)
            if out or not data:
                return out
            # only part of a chunk-size line arrived: nothing to hand over yet

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._rechunker.sent(buffer)
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _AsyncStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _AsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _SyncStream(httpcore.NetworkStream):
    __slots__ = ("_inner", "_rechunker")

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._rechunker = Rechunker()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        rechunker = self._rechunker
        while True:
            data = self._inner.read(max_bytes, timeout)
            out = rechunker.received(data)
            if out or not data:
                return out

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._rechunker.sent(buffer)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _SyncStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _SyncBackend(httpcore.NetworkBackend):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _SyncStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, timeout, socket_options)
        return _SyncStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _wrap(transport: httpx.BaseTransport | httpx.AsyncBaseTransport, wrapper: type) -> bool:
    pool = getattr(transport, "_pool", None)
    if type(pool) not in (httpcore.ConnectionPool, httpcore.AsyncConnectionPool):
        return False  # a proxy, or an httpx/httpcore version we do not know
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        return False
    pool._network_backend = wrapper(backend)  # type: ignore[union-attr]
    return True


class HTTPTransport(httpx.HTTPTransport):
    """httpx's ``HTTPTransport``, reading responses through streamkit's rechunker.

    Takes exactly httpx's arguments (``verify``, ``cert``, ``limits``, ``http2``,
    ``proxy``, ``retries``, ...). A streamed response arrives as one HTTP chunk per
    SSE event; httpx's HTTP/1.1 layer (h11 in httpcore) hands each chunk up on its own,
    which costs more than decoding the event. This transport rewrites the chunks that
    arrive in one network read into one chunk before h11 sees them (chunk boundaries
    carry no meaning in HTTP/1.1, RFC 9112 §7.1), so the body bytes are identical and
    a fast stream costs one body piece per read instead of one per event: measured
    in ``benchmarks/RESULTS.md``. Anything it does not follow is passed through
    untouched for h11 to judge. HTTP/2 connections and proxied requests are served as
    by httpx alone.

    Raises exactly what ``httpx.HTTPTransport`` raises (``httpx.ConnectError``,
    ``httpx.ReadTimeout``, ``httpx.RemoteProtocolError`` for a malformed chunk, ...);
    streamkit's clients turn those into :mod:`streamkit.errors` types.

    streamkit's clients use it for the ``httpx.Client`` they create; use it yourself
    to keep the speed with your own client::

        http = httpx.Client(transport=sk.HTTPTransport(limits=httpx.Limits(...)))
        client = sk.StreamingClient(http_client=http)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _wrap(self, _SyncBackend)


class AsyncHTTPTransport(httpx.AsyncHTTPTransport):
    """httpx's ``AsyncHTTPTransport``, reading through the rechunker (see :class:`HTTPTransport`).

    ``httpx.AsyncClient(transport=sk.AsyncHTTPTransport(...))``; asyncio and trio.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _wrap(self, _AsyncBackend)


def is_rechunking(transport: object) -> bool:
    """Whether ``transport`` is one of ours with the rechunker in place."""
    backend = getattr(getattr(transport, "_pool", None), "_network_backend", None)
    return isinstance(backend, (_AsyncBackend, _SyncBackend))
