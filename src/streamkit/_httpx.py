"""The one boundary between httpx (or httpx2) and streamkit: requests out, typed errors in.

httpx and httpx2 (pydantic's fork, which openai-python 3.x and anthropic-sdk-python
2.x use) have the same API in two namespaces. An :class:`HTTPFlavor` holds one of
the two modules; the executors use the flavor of the client they were given, so one
executor serves both. httpx2 is imported only when an httpx2 client is given.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx

from streamkit._head import ResponseHead
from streamkit._request import RequestSpec
from streamkit.config import Timeouts
from streamkit.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    ConnectError,
    StreamkitError,
    StreamStalledError,
    StreamStateError,
    redact,
)

__all__ = [
    "HTTPX",
    "HTTPFlavor",
    "abody_pieces",
    "body_pieces",
    "flavor_of",
    "head_of",
    "is_identity",
    "target_of",
]


class HTTPFlavor:
    """httpx or httpx2: how to build a request and how to read that library's errors.

    Args:
        module: the ``httpx`` or ``httpx2`` module.
        extra_errors: exceptions of a third-party transport under the client that
            escape it unmapped (``aiohttp.ClientError`` from httpx-aiohttp, whose
            ``AiohttpTransport`` lets e.g. a malformed response head through as
            ``aiohttp.ClientResponseError``); they become ``APIConnectionError``.
    """

    __slots__ = ("_config_errors", "_stalled", "_timeout_errors", "errors", "module", "name")

    def __init__(
        self, module: ModuleType, extra_errors: tuple[type[BaseException], ...] = ()
    ) -> None:
        self.module = module
        self.name: str = module.__name__
        #: every exception of the library that :meth:`map_error` translates
        self.errors: tuple[type[BaseException], ...] = (
            module.TransportError,
            module.DecodingError,
            module.TooManyRedirects,
            module.StreamError,
            module.InvalidURL,
            *extra_errors,
        )
        self._stalled = module.ReadTimeout
        self._timeout_errors = module.TimeoutException
        self._config_errors = (
            module.UnsupportedProtocol,
            module.InvalidURL,
            module.LocalProtocolError,
        )

    def timeout(self, timeouts: Timeouts) -> Any:
        """``connect`` bounds connect/write/pool; ``read_idle`` bounds each read (seconds)."""
        return self.module.Timeout(
            connect=timeouts.connect,
            read=timeouts.read_idle,
            write=timeouts.connect,
            pool=timeouts.connect,
        )

    def build_request(self, client: Any, spec: RequestSpec, timeouts: Timeouts) -> Any:
        """Turn a :class:`RequestSpec` into a request of this library on ``client``.

        Raises:
            ConfigurationError: the library refuses the URL or a header.
        """
        try:
            return client.build_request(
                spec.method,
                spec.url,
                headers=spec.headers,
                json=spec.json,
                timeout=self.timeout(timeouts),
            )
        except self.errors as exc:
            raise self.map_error(exc, timeouts, target_of(spec)) from None

    def map_error(self, exc: BaseException, timeouts: Timeouts, target: str) -> StreamkitError:
        """The streamkit error for one of :attr:`errors`, naming ``target`` (``host:port``).

        - ``ReadTimeout`` → :class:`~streamkit.errors.StreamStalledError` (no byte
          for ``Timeouts.read_idle`` s); other timeouts →
          :class:`~streamkit.errors.APITimeoutError`;
        - ``UnsupportedProtocol``, ``InvalidURL``, ``LocalProtocolError`` (a request
          that cannot be sent as built) → :class:`~streamkit.errors.ConfigurationError`,
          never retried, with no chained cause (h11 quotes the offending header value);
        - ``StreamError`` (the body was already read or closed: a programming error)
          → :class:`~streamkit.errors.StreamStateError`, never retried;
        - every other transport error (connect, read, a closed connection, malformed
          chunked framing, a decoding error) → :class:`~streamkit.errors.APIConnectionError`,
          or its subclass :class:`~streamkit.errors.ConnectError` when no connection
          could be made.

        Messages pass through :func:`~streamkit.errors.redact`.
        """
        detail = redact(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, self._stalled):
            idle = timeouts.read_idle
            err: StreamkitError = StreamStalledError(
                f"no data received from {target} for {idle} s (Timeouts.read_idle)", idle_s=idle
            )
        elif isinstance(exc, self._timeout_errors):
            err = APITimeoutError(f"{target}: {detail} (Timeouts.connect={timeouts.connect} s)")
        elif isinstance(exc, self._config_errors):
            err = ConfigurationError(f"the request to {target} cannot be sent as built: {detail}")
            err.__suppress_context__ = True
            return err
        elif isinstance(exc, self.module.StreamError):
            err = StreamStateError(
                f"{detail} (the response body was read or closed elsewhere; not retried)"
            )
        elif isinstance(exc, self.module.ConnectError):
            err = ConnectError(f"could not connect to {target}: {detail}")
        else:
            err = APIConnectionError(f"{detail} (from {target})")
        err.__cause__ = exc
        return err


HTTPX = HTTPFlavor(httpx)
"""The flavor of streamkit's default HTTP library."""

_flavors: dict[str, HTTPFlavor] = {"httpx": HTTPX}


def flavor_of(client: object, *, asynchronous: bool) -> HTTPFlavor:
    """The flavor of an ``http_client=`` argument (``httpx`` or ``httpx2``).

    Raises:
        ConfigurationError: ``client`` is neither an httpx nor an httpx2 client, or
            is sync where an async one is needed (or the reverse).
    """
    wanted = "AsyncClient" if asynchronous else "Client"
    for cls in type(client).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in ("httpx", "httpx2") and cls.__name__ in ("Client", "AsyncClient"):
            if cls.__name__ != wanted:
                raise ConfigurationError(
                    f"http_client must be an {root}.{wanted} for this client, got "
                    f"{root}.{cls.__name__}"
                )
            # an httpx-aiohttp transport (user-supplied) can let aiohttp's own errors out
            aiohttp = sys.modules.get("aiohttp")
            key = f"{root}+aiohttp" if aiohttp is not None else root
            flavor = _flavors.get(key)
            if flavor is None:
                extra = (aiohttp.ClientError,) if aiohttp is not None else ()
                flavor = _flavors[key] = HTTPFlavor(importlib.import_module(root), extra)
            return flavor
    raise ConfigurationError(
        f"http_client must be an httpx.{wanted} or an httpx2.{wanted}, got {type(client).__name__}"
    )


def target_of(spec: RequestSpec) -> str:
    """``host:port`` of a request (what connection errors name; never userinfo)."""
    try:
        parts = urlsplit(spec.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "?"
    return f"{parts.hostname}:{port}"


def head_of(response: Any) -> ResponseHead:
    """The :class:`ResponseHead` of an httpx/httpx2 response."""
    return ResponseHead(
        status=response.status_code,
        reason=response.reason_phrase or "",
        headers=dict(response.headers.items()),
        wall_time=time.time(),
    )


def is_identity(response: Any) -> bool:
    """Whether the body has no content coding and is still unread: read it raw.

    ``iter_raw``/``aiter_raw`` are then one generator level less per piece than
    ``iter_bytes``. A response whose content is already in memory (a mock built
    with ``content=``, or a body read before) is read with ``iter_bytes``, which
    serves the held content.
    """
    if response.is_stream_consumed:
        return False
    coding = response.headers.get("content-encoding")
    return coding is None or coding.strip().lower() in ("", "identity")


def body_pieces(response: Any) -> Iterator[bytes]:
    """The response's body pieces for the sync executor (raw when possible)."""
    pieces: Iterator[bytes] = (
        response.iter_raw() if is_identity(response) else response.iter_bytes()
    )
    return pieces


def abody_pieces(response: Any) -> AsyncIterator[bytes]:
    """The response's body pieces for the async executor (raw when possible)."""
    pieces: AsyncIterator[bytes] = (
        response.aiter_raw() if is_identity(response) else response.aiter_bytes()
    )
    return pieces
