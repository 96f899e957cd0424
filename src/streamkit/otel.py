"""OpenTelemetry for streams: one span per logical stream, GenAI metrics.

Optional: ``pip install 'streamkit[otel]'`` (``opentelemetry-api``; add
``opentelemetry-sdk`` and an exporter to send the data somewhere). OpenTelemetry
is imported only when an :class:`OTelTracker` is made or :func:`instrument` is
called, so importing this module never fails.

Follows the OpenTelemetry GenAI semantic conventions (status: development),
https://github.com/open-telemetry/semantic-conventions-genai:

Span ``chat {model}`` (kind CLIENT), from ``open_stream`` to ``close``, covering
every attempt of the stream:

- ``gen_ai.operation.name`` = ``"chat"``; ``gen_ai.provider.name`` (``openai``,
  ``anthropic``, ``gcp.gemini``, ``deepseek``, ``x_ai``, ...; it replaces the
  deprecated ``gen_ai.system``, which streamkit no longer emits);
  ``gen_ai.request.model``; ``gen_ai.response.model``; ``gen_ai.response.id``;
  ``gen_ai.response.finish_reasons``;
- ``gen_ai.usage.input_tokens`` (cached included), ``gen_ai.usage.output_tokens``
  (reasoning included), ``gen_ai.usage.cache_read.input_tokens``,
  ``gen_ai.usage.cache_creation.input_tokens``,
  ``gen_ai.usage.reasoning.output_tokens``;
- ``gen_ai.response.time_to_first_chunk`` (s);
- streamkit's own: ``streamkit.provider`` (the dialect), ``streamkit.attempts``,
  ``streamkit.usage.estimated``, ``streamkit.cost_usd`` (exact decimal string),
  ``streamkit.cost.model`` and ``streamkit.cost.source`` (which price was used,
  :class:`~streamkit.pricing.CostBasis`);
- span events ``streamkit.retry`` and ``streamkit.resume``;
- on failure: status ERROR, ``error.type`` (the exception class) and the exception
  recorded as an event.

Metrics (histograms with the conventions' bucket boundaries):
``gen_ai.client.token.usage`` (``{token}``, ``gen_ai.token.type`` = input/output),
``gen_ai.client.operation.duration`` (s), ``gen_ai.client.operation.time_to_first_chunk``
(s), ``gen_ai.client.operation.time_per_output_chunk`` (s; one measurement per chunk
after the first, each at the stream's mean gap, since streamkit keeps the mean and
percentiles rather than every gap) and the counter ``streamkit.client.cost``
(``USD``; a float, as OpenTelemetry has no decimal type: use the tracker's report
for exact money).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Unpack

from streamkit.events import ResumeEvent, RetryEvent
from streamkit.pricing import PriceTable
from streamkit.tracker import CostAccount, CostTracker, CostTrackerOptions

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from streamkit.result import StreamResult

__all__ = ["OTelTracker", "instrument"]

_SCOPE = "streamkit"
_TOKEN_BUCKETS = [4**i for i in range(14)]  # 1, 4, 16, ..., 67108864 (semconv advice)
_SECONDS_BUCKETS = [
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
]

#: streamkit dialect -> ``gen_ai.provider.name`` well-known value.
DIALECT_PROVIDERS = {
    "openai-chat": "openai",
    "openai-responses": "openai",
    "anthropic-messages": "anthropic",
    "gemini": "gcp.gemini",
}

#: price ``provider`` (genai-prices' provider ids) -> ``gen_ai.provider.name``
#: well-known value (used for OpenAI-compatible dialects, which many vendors speak);
#: other providers keep their id.
_PRICE_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gcp.gemini",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "x-ai": "x_ai",
    "xai": "x_ai",
    "moonshotai": "moonshot_ai",
    "moonshot": "moonshot_ai",
    "azure": "azure.ai.openai",
    "aws": "aws.bedrock",
    "cohere": "cohere",
    "perplexity": "perplexity",
}

#: At most this many ``time_per_output_chunk`` measurements per stream.
_MAX_CHUNK_RECORDS = 10_000


def _import_error(exc: ImportError) -> ImportError:
    return ImportError(
        "streamkit.otel needs OpenTelemetry: pip install 'streamkit[otel]' "
        f"(opentelemetry-api; add opentelemetry-sdk to export). Import failed: {exc}"
    )


def provider_name(account: CostAccount) -> str:
    """The ``gen_ai.provider.name`` of a stream.

    The dialect decides (``anthropic-messages`` -> ``anthropic``), except for the
    OpenAI-compatible chat dialect, spoken by many vendors, where the provider
    of the priced model wins (``deepseek-chat`` -> ``deepseek``, ``grok-4`` ->
    ``x_ai``).
    """
    price = account.price
    if account.provider == "openai-chat" and price is not None and price.provider:
        return _PRICE_PROVIDERS.get(price.provider, price.provider)
    return DIALECT_PROVIDERS.get(account.provider, account.provider)


class _OTelObserver:
    """A :class:`~streamkit.tracker.StreamObserver` that emits spans and metrics."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError as exc:
            raise _import_error(exc) from exc
        from streamkit._version import __version__

        self._trace = trace
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self._token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk of a streaming response.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._tpoc = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            unit="s",
            description="Time per output chunk after the first one in a streaming response.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._cost = meter.create_counter(
            "streamkit.client.cost",
            unit="USD",
            description="Cost of the streams in USD (priced models only).",
        )
        # account -> (its span, time.monotonic() at open); weak, so that an account
        # dropped without close() does not leak (its span is then never exported)
        self._spans: weakref.WeakKeyDictionary[CostAccount, tuple[Span, float]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    # ---- StreamObserver -------------------------------------------------------------------

    def stream_opened(self, account: CostAccount) -> None:
        provider = provider_name(account)
        span = self._tracer.start_span(
            f"chat {account.model}",
            kind=self._trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": account.model,
                "streamkit.provider": account.provider,
            },
        )
        with self._lock:
            self._spans[account] = (span, time.monotonic())

    def stream_noted(self, account: CostAccount, event: RetryEvent | ResumeEvent) -> None:
        with self._lock:
            entry = self._spans.get(account)
        if entry is None:
            return
        span = entry[0]
        if isinstance(event, RetryEvent):
            attributes: dict[str, Any] = {
                "streamkit.attempt": event.attempt,
                "streamkit.delay_s": event.delay_s,
                "streamkit.reason": event.reason,
            }
            if event.status_code is not None:
                attributes["http.response.status_code"] = event.status_code
            span.add_event("streamkit.retry", attributes)
        else:
            span.add_event(
                "streamkit.resume",
                {
                    "streamkit.attempt": event.attempt,
                    "streamkit.resume.strategy": event.strategy,
                    "streamkit.resume.after_chars": event.resumed_after_chars,
                },
            )

    def stream_closed(
        self,
        account: CostAccount,
        result: StreamResult | None,
        error: BaseException | None,
    ) -> None:
        with self._lock:
            entry = self._spans.pop(account, None)
        if entry is None:
            return
        span, opened_at = entry
        provider = provider_name(account)
        common: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": account.model,
        }
        span_attrs: dict[str, Any] = {}
        ttfc: float | None = None
        chunk_gap: float | None = None
        chunk_gaps = 0
        duration = time.monotonic() - opened_at
        attempts = 1 + account.retries
        if result is not None:
            attempts = result.attempts
            if result.model:
                common["gen_ai.response.model"] = result.model
            if result.response_id:
                span_attrs["gen_ai.response.id"] = result.response_id
            reasons = [c.finish_reason for c in result.choices if c.finish_reason]
            if reasons:
                span_attrs["gen_ai.response.finish_reasons"] = reasons
            ttfc = result.metrics.time_to_first_token_s
            chunk_gap = result.metrics.time_per_output_chunk_mean_s
            chunk_gaps = max(result.metrics.output_chunks - 1, 0)
            if result.metrics.duration_s is not None:
                duration = result.metrics.duration_s
        if ttfc is not None:
            span_attrs["gen_ai.response.time_to_first_chunk"] = ttfc
        usage = account.usage
        if usage is not None:
            counts = {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
                "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
                "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens,
            }
            span_attrs.update({k: v for k, v in counts.items() if v is not None})
            span_attrs["streamkit.usage.estimated"] = usage.estimated
        cost = account.cost
        if cost is not None:
            span_attrs["streamkit.cost_usd"] = str(cost)
        basis = account.cost_basis
        if basis is not None:
            span_attrs["streamkit.cost.model"] = basis.model
            span_attrs["streamkit.cost.source"] = basis.source
        span_attrs["streamkit.attempts"] = attempts
        span_attrs["streamkit.provider"] = account.provider
        span.set_attributes({**common, **span_attrs})
        if error is not None:
            error_type = type(error).__qualname__
            span.set_attribute("error.type", error_type)
            span.record_exception(error)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)[:500]))
        span.end()

        if usage is not None:
            for token_type, count in (
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
            ):
                if count is not None:
                    self._token_usage.record(count, {**common, "gen_ai.token.type": token_type})
        duration_attrs = dict(common)
        if error is not None:
            duration_attrs["error.type"] = type(error).__qualname__
        self._duration.record(duration, duration_attrs)
        if ttfc is not None:
            self._ttfc.record(ttfc, common)
        if chunk_gap is not None:
            for _ in range(min(chunk_gaps, _MAX_CHUNK_RECORDS)):
                self._tpoc.record(chunk_gap, common)
        if cost is not None and cost > 0:
            self._cost.add(float(cost), common)


def instrument(
    tracker: CostTracker,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> CostTracker:
    """Add OpenTelemetry spans and metrics to an existing tracker's streams.

    Applies to streams opened after the call. Returns ``tracker``.

    Args:
        tracker: the tracker to instrument.
        tracer_provider: where spans go (default: the global provider).
        meter_provider: where metrics go (default: the global provider).

    Raises:
        ImportError: OpenTelemetry is not installed (``pip install 'streamkit[otel]'``).
    """
    tracker.add_observer(_OTelObserver(tracer_provider, meter_provider))
    return tracker


class OTelTracker(CostTracker):
    """A :class:`~streamkit.tracker.CostTracker` that also emits OpenTelemetry data.

    One span per logical stream (all attempts), retries and resumes as span
    events, GenAI client metrics; see the module docstring for every name.

    Args:
        prices: the price table (default :meth:`PriceTable.default`).
        tracer_provider: where spans go (default: the global provider).
        meter_provider: where metrics go (default: the global provider).
        **options: every keyword of :class:`~streamkit.tracker.CostTracker`
            (``budget_usd``, ``per_stream_budget_usd``, ``currency``, ...;
            :class:`~streamkit.tracker.CostTrackerOptions`).

    Raises:
        ImportError: OpenTelemetry is not installed (``pip install 'streamkit[otel]'``).
        ValueError: as :class:`~streamkit.tracker.CostTracker` raises.
    """

    def __init__(
        self,
        prices: PriceTable | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        **options: Unpack[CostTrackerOptions],
    ) -> None:
        observer = _OTelObserver(tracer_provider, meter_provider)
        super().__init__(prices, **options)
        self.add_observer(observer)
