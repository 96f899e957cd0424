"""Client configuration values: timeouts (seconds)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Timeouts"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits of a stream, in seconds (``None`` = no limit).

    Args:
        connect: to establish the connection (and write the request).
        read_idle: longest wait for the next body byte; SSE comments (keep-alives)
            count as bytes. Exceeded → :class:`~streamkit.errors.StreamStalledError`,
            which is retried/resumed like a broken connection.
        total: the whole logical stream, every attempt and retry sleep included.
    """

    connect: float | None = 10.0
    read_idle: float | None = 30.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read_idle", "total"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"{name} must be a positive number of seconds or None, got {value!r}"
                )
