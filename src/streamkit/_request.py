"""RequestSpec: the HTTP request a dialect wants sent, as plain data (no httpx)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["SECRET_HEADERS", "RequestSpec"]

#: Header names (lower-case) whose values are credentials and never shown.
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization", "cookie"}
)


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """An HTTP request to make: method, absolute URL, headers and JSON body.

    ``repr``/``str`` show credential headers as ``'***'``.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None

    def with_headers(self, **headers: str) -> RequestSpec:
        """Return a copy with ``headers`` added (names given with ``_`` become ``-``)."""
        merged = dict(self.headers)
        for name, value in headers.items():
            merged[name.replace("_", "-")] = value
        return replace(self, headers=merged)

    def redacted_headers(self) -> dict[str, str]:
        """The headers with credential values replaced by ``'***'``."""
        return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()}

    def __repr__(self) -> str:
        """Show the request without credentials."""
        return (
            f"RequestSpec(method={self.method!r}, url={self.url!r}, "
            f"headers={self.redacted_headers()!r}, json={self.json!r})"
        )

    __str__ = __repr__
