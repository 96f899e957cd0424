"""Stream timing: time to first token, time per output chunk and throughput.

Pure bookkeeping from timestamps it is given (seconds from ``time.monotonic``,
passed in by the client shells); it never reads a clock itself.

Every delta of one network read gets the same timestamp, so the gaps measured are
between *chunks* of output, not tokens: OpenTelemetry's GenAI conventions call this
"time per output chunk" (``gen_ai.client.operation.time_per_output_chunk``). The
``inter_token_latency_*`` names are deprecated aliases.
"""

from __future__ import annotations

import math
import warnings
from array import array
from dataclasses import dataclass

__all__ = ["MetricsRecorder", "StreamMetrics"]


@dataclass(frozen=True, slots=True)
class StreamMetrics:
    """Timing of one logical stream (all attempts). Times are in seconds.

    ``None`` means "not measurable" (e.g. no token arrived), never 0.
    """

    time_to_first_token_s: float | None = None
    """From the start of the first request to the first text, reasoning or tool delta."""
    duration_s: float | None = None
    """From the start of the first request to the end of the stream (or the error)."""
    output_tokens_per_s: float | None = None
    """Output tokens (reported, or estimated while the stream runs) divided by the time
    from the first token to the end; ``None`` with fewer than 2 tokens' worth of time."""
    time_per_output_chunk_mean_s: float | None = None
    """Mean gap between consecutive output chunks (the content deltas of one read are
    one chunk); ``None`` with fewer than two chunks."""
    time_per_output_chunk_p50_s: float | None = None
    """Median gap between consecutive output chunks."""
    time_per_output_chunk_p95_s: float | None = None
    """95th percentile gap between consecutive output chunks."""
    attempts: int = 1
    """HTTP attempts made (1 = no retry)."""
    bytes_received: int = 0
    """Response body bytes received over all attempts (after content decoding)."""
    content_deltas: int = 0
    """Number of text/reasoning/refusal/tool-call deltas delivered."""
    output_chunks: int = 0
    """Number of output chunks: reads that delivered at least one content delta."""

    @property
    def inter_token_latency_mean_s(self) -> float | None:
        """Deprecated: :attr:`time_per_output_chunk_mean_s` (the gaps are between chunks)."""
        _renamed("inter_token_latency_mean_s", "time_per_output_chunk_mean_s")
        return self.time_per_output_chunk_mean_s

    @property
    def inter_token_latency_p50_s(self) -> float | None:
        """Deprecated: :attr:`time_per_output_chunk_p50_s`."""
        _renamed("inter_token_latency_p50_s", "time_per_output_chunk_p50_s")
        return self.time_per_output_chunk_p50_s

    @property
    def inter_token_latency_p95_s(self) -> float | None:
        """Deprecated: :attr:`time_per_output_chunk_p95_s`."""
        _renamed("inter_token_latency_p95_s", "time_per_output_chunk_p95_s")
        return self.time_per_output_chunk_p95_s


def _renamed(old: str, new: str) -> None:
    warnings.warn(
        f"StreamMetrics.{old} is deprecated: use {new} (every delta of one read has the "
        "same timestamp, so the gaps are per output chunk, as OpenTelemetry names them)",
        DeprecationWarning,
        stacklevel=3,
    )


def _percentile(sorted_values: list[float], q: float) -> float:
    # nearest-rank percentile
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


class MetricsRecorder:
    """Collects timestamps of a stream and turns them into :class:`StreamMetrics`.

    Call :meth:`start` once when the first request starts, :meth:`content` at each
    content delta, :meth:`received` for body bytes and :meth:`end` at the end.
    """

    __slots__ = (
        "_attempts",
        "_bytes",
        "_chunks",
        "_count",
        "_end",
        "_first",
        "_gaps",
        "_last",
        "_start",
    )

    def __init__(self) -> None:
        self._start: float | None = None
        self._first: float | None = None
        self._last: float | None = None
        self._end: float | None = None
        self._gaps = array("d")
        self._count = 0
        self._chunks = 0
        self._bytes = 0
        self._attempts = 0

    def start(self, now: float) -> None:
        """Record the start of the first request (later calls are ignored)."""
        if self._start is None:
            self._start = now

    def attempt(self) -> None:
        """Count one HTTP attempt."""
        self._attempts += 1

    def received(self, nbytes: int) -> None:
        """Count ``nbytes`` body bytes."""
        self._bytes += nbytes

    def content(self, now: float) -> None:
        """Record a content delta (text, reasoning, refusal or tool call) at ``now``.

        Deltas with the same ``now`` (one read) are one output chunk: only the gaps
        between chunks are timed.
        """
        if self._first is None:
            self._first = now
            self._chunks = 1
        elif self._last is not None and now != self._last:
            self._gaps.append(now - self._last)
            self._chunks += 1
        self._last = now
        self._count += 1

    def end(self, now: float) -> None:
        """Record the end of the stream (the last call wins)."""
        self._end = now

    @property
    def first_token_at(self) -> float | None:
        """The timestamp of the first content delta, if any."""
        return self._first

    def snapshot(
        self, output_tokens: int | None = None, now: float | None = None, *, extra_bytes: int = 0
    ) -> StreamMetrics:
        """Return the metrics so far.

        Args:
            output_tokens: output tokens to compute the rate from (reported usage, or an
                estimate); ``None`` leaves ``output_tokens_per_s`` unknown.
            now: the time to measure an unfinished stream's duration to.
            extra_bytes: bytes of the attempt in progress, not yet :meth:`received`.
        """
        end = self._end if self._end is not None else now
        ttft = None
        if self._start is not None and self._first is not None:
            ttft = self._first - self._start
        duration = None
        if self._start is not None and end is not None:
            duration = end - self._start
        rate = None
        if output_tokens and self._first is not None and end is not None and end > self._first:
            rate = output_tokens / (end - self._first)
        mean = p50 = p95 = None
        if self._gaps:
            gaps = sorted(self._gaps)
            mean = math.fsum(gaps) / len(gaps)
            p50 = _percentile(gaps, 0.5)
            p95 = _percentile(gaps, 0.95)
        return StreamMetrics(
            time_to_first_token_s=ttft,
            duration_s=duration,
            output_tokens_per_s=rate,
            time_per_output_chunk_mean_s=mean,
            time_per_output_chunk_p50_s=p50,
            time_per_output_chunk_p95_s=p95,
            attempts=max(self._attempts, 1),
            bytes_received=self._bytes + extra_bytes,
            content_deltas=self._count,
            output_chunks=self._chunks,
        )
