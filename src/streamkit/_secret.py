"""Secrets that never show: the API key and credential header values.

Following pydantic's ``SecretStr`` and httpx's ``URL.__repr__`` (which masks the
password), a secret stays wrapped until the last line that needs its plain value,
so that no ``repr``, ``str``, log line or traceback frame local shows it: an error
reporter that captures locals (``traceback.TracebackException(capture_locals=True)``,
rich ``show_locals``, pytest ``--showlocals``, Sentry) sees ``'***'``.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit, urlunsplit

__all__ = ["SECRET_HEADERS", "RedactedStr", "RedactedURL", "Secret", "hide_arguments", "redact_url"]

_MASK = "***"

#: Header names (lower-case) whose values are credentials and never shown.
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization", "cookie"}
)


class RedactedStr(str):
    """A ``str`` whose ``repr`` is ``'***'``; its characters (and ``str()``) are the secret.

    Used for the API key and credential header values. ``repr`` is what a
    traceback's captured frame locals, a dict's ``repr`` and a debugger show, so
    those see ``'***'``; ``str()``, f-strings and ``str.encode`` (what httpx sends)
    keep the characters, so a dialect can build ``f"Bearer {api_key}"``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(_MASK)

    def reveal(self) -> str:
        """The plain characters, as an ordinary ``str`` (use at the last moment)."""
        return str.__str__(self)


class Secret:
    """An API key, never shown. ``Secret("")`` and ``Secret(None)`` are "no key"."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = RedactedStr(value) if value else None

    def __bool__(self) -> bool:
        return self._value is not None

    def redacted(self) -> RedactedStr | None:
        """The key as a :class:`RedactedStr` (a ``str`` that prints as ``'***'``), or ``None``."""
        return self._value

    def has_bad_characters(self) -> bool:
        """Whether the key holds CR, LF, another control character or a non-ASCII one.

        Such a key cannot be sent in an HTTP header (RFC 9110 §5.5).
        """
        value = self._value
        if value is None:
            return False
        return not (value.isascii() and value.isprintable())

    def __repr__(self) -> str:
        return repr(_MASK) if self._value else "None"

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[Secret], tuple[None]]:
        return (Secret, (None,))  # a secret is never pickled


class RedactedURL(str):
    """A URL ``str`` whose ``repr`` masks the password of its userinfo (see :func:`redact_url`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_url(str.__str__(self)))


def hide_arguments(
    api_key: object, base_url: object, headers: object
) -> tuple[object, object, object]:
    """Wrap a client's secret-bearing arguments so that no frame local shows them.

    The clients call this first, rebinding their parameters, so that an error raised
    while the options are checked has no plain key, URL password or credential header
    value among the frame locals of any streamkit frame. Values of unexpected types
    are returned unchanged (the checks that follow reject them).
    """
    if isinstance(api_key, str):
        api_key = Secret(api_key)
    if isinstance(base_url, str):
        base_url = RedactedURL(base_url)
    if isinstance(headers, dict | tuple | list) or hasattr(headers, "items"):
        with contextlib.suppress(TypeError, ValueError):
            headers = {
                k: (
                    RedactedStr(v) if isinstance(v, str) and str(k).lower() in SECRET_HEADERS else v
                )
                for k, v in dict(headers).items()  # type: ignore[call-overload]
            }
    return api_key, base_url, headers


def redact_url(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***`` (as httpx shows URLs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{host}"))
