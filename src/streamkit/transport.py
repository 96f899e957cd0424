"""Deprecated: ``sk.HTTPTransport`` / ``sk.AsyncHTTPTransport`` are httpx's own transports.

Up to 0.2 these wrapped httpx's network streams to fold the HTTP chunks of one read
into one before h11 parsed them. That second framing parser accepted bytes that
h11 rejects (issue #11), so it is gone: streamkit's clients use httpx's transports
unchanged, and these names remain only so that existing code keeps working. They
emit a :class:`DeprecationWarning` when built and will be removed in 0.4.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx

__all__ = ["AsyncHTTPTransport", "HTTPTransport"]

_MESSAGE = (
    "streamkit.{name} is deprecated and is now plain httpx.{name}; "
    "use httpx.{name} directly (it will be removed in streamkit 0.4)"
)


class HTTPTransport(httpx.HTTPTransport):
    """Deprecated alias of ``httpx.HTTPTransport`` (same arguments, same behaviour).

    Raises:
        DeprecationWarning: as a warning, when built.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(_MESSAGE.format(name="HTTPTransport"), DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class AsyncHTTPTransport(httpx.AsyncHTTPTransport):
    """Deprecated alias of ``httpx.AsyncHTTPTransport`` (same arguments, same behaviour).

    Raises:
        DeprecationWarning: as a warning, when built.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(_MESSAGE.format(name="AsyncHTTPTransport"), DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
