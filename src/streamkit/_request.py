"""RequestSpec: the HTTP request a dialect wants sent, as plain data (no httpx)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from streamkit._secret import SECRET_HEADERS, RedactedStr, redact_url

__all__ = ["SECRET_HEADERS", "RequestSpec"]


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """An HTTP request to make: method, absolute URL, headers and JSON body.

    ``repr``/``str`` show credential headers as ``'***'`` and mask a password in
    the URL's userinfo.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    def with_headers(self, headers: Mapping[str, str] | None = None, /, **more: str) -> RequestSpec:
        """Return a copy with ``headers`` (and ``more``) added, names sent exactly as given.

        A name that differs only in case from one already present replaces it
        (HTTP header names are case-insensitive, RFC 9110 §5.1).
        """
        merged = dict(self.headers)
        for name, value in (*(headers or {}).items(), *more.items()):
            lower = name.lower()
            for existing in [k for k in merged if k.lower() == lower]:
                del merged[existing]
            merged[name] = value
        return replace(self, headers=merged)

    def with_redacted_credentials(self) -> RequestSpec:
        """A copy whose credential header values print as ``'***'`` wherever they are held.

        The values keep their characters (see :class:`~streamkit._secret.RedactedStr`),
        so the request sent is the same; a ``repr`` of the headers dict, in a log or a
        traceback's frame locals, shows ``'***'``.
        """
        headers = {
            k: (RedactedStr(v) if k.lower() in SECRET_HEADERS and v else v)
            for k, v in self.headers.items()
        }
        return replace(self, headers=headers)

    def redacted_headers(self) -> dict[str, str]:
        """The headers with credential values replaced by ``'***'``."""
        return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()}

    def __repr__(self) -> str:
        """Show the request without credentials."""
        return (
            f"RequestSpec(method={self.method!r}, url={redact_url(self.url)!r}, "
            f"headers={self.redacted_headers()!r}, json={self.json!r})"
        )

    __str__ = __repr__
