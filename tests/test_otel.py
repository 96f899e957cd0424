"""OpenTelemetry bridge: spans and GenAI metrics, checked with the SDK's in-memory exporters."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip(
    "opentelemetry.sdk",
    reason="OpenTelemetry SDK not installed (pip install 'streamkit[otel]' opentelemetry-sdk)",
)

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from streamkit.errors import BudgetExceededError, StreamInterruptedError
from streamkit.events import ResumeEvent, RetryEvent
from streamkit.metrics import StreamMetrics
from streamkit.otel import OTelTracker, instrument, provider_name
from streamkit.result import ChoiceResult, StreamResult
from streamkit.tracker import CostTracker
from streamkit.usage import Usage, estimate_usage


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        found: list[Any] = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def metric(self, name: str) -> Any:
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return metric
        raise AssertionError(f"no metric {name}")

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Any:
    telemetry = Telemetry()
    yield telemetry
    telemetry.shutdown()


def _tracker(otel: Telemetry, **kwargs: Any) -> OTelTracker:
    return OTelTracker(
        tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, **kwargs
    )


def _result(usage: Usage, **kw: Any) -> StreamResult:
    fields: dict[str, Any] = {
        "choices": [
            ChoiceResult(index=0, text="Hi", finish_reason="stop"),
            ChoiceResult(index=1, text="Yo", finish_reason="length"),
        ],
        "model": "gpt-4.1-2025-04-14",
        "response_id": "chatcmpl-abc",
        "usage": usage,
        "metrics": StreamMetrics(time_to_first_token_s=0.25, duration_s=1.5, attempts=3),
        "attempts": 3,
        "complete": True,
    }
    fields.update(kw)
    return StreamResult(**fields)


def test_span_of_a_stream(otel: Telemetry) -> None:
    tracker = _tracker(otel)
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    assert otel.finished() == []  # the span is open until close()
    usage = Usage(
        input_tokens=1014,
        cache_read_tokens=1000,
        output_tokens=30,
        reasoning_tokens=10,
        total_tokens=1044,
    )
    account.record(usage)
    account.note(RetryEvent(attempt=1, delay_s=0.5, reason="RateLimitError: 429", status_code=429))
    account.note(ResumeEvent(attempt=3, strategy="prefill", resumed_after_chars=12))
    account.close(_result(usage))

    (span,) = otel.finished()
    assert span.name == "chat gpt-4.1"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert "gen_ai.system" not in attrs  # deprecated: gen_ai.provider.name replaces it
    assert attrs["gen_ai.request.model"] == "gpt-4.1"
    assert attrs["gen_ai.response.model"] == "gpt-4.1-2025-04-14"
    assert attrs["gen_ai.response.id"] == "chatcmpl-abc"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert attrs["gen_ai.usage.input_tokens"] == 1014
    assert attrs["gen_ai.usage.output_tokens"] == 30
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 10
    assert "gen_ai.usage.cache_creation.input_tokens" not in attrs  # unknown: not 0
    assert attrs["gen_ai.response.time_to_first_chunk"] == 0.25
    assert attrs["streamkit.cost_usd"] == str(account.cost)
    assert Decimal(str(attrs["streamkit.cost_usd"])) == Decimal("0.000768")  # 14*2+1000*.5+30*8
    assert attrs["streamkit.attempts"] == 3
    assert attrs["streamkit.provider"] == "openai-chat"
    assert attrs["streamkit.usage.estimated"] is False

    retry, resume = span.events
    assert retry.name == "streamkit.retry"
    assert dict(retry.attributes or {}) == {
        "streamkit.attempt": 1,
        "streamkit.delay_s": 0.5,
        "streamkit.reason": "RateLimitError: 429",
        "http.response.status_code": 429,
    }
    assert resume.name == "streamkit.resume"
    assert dict(resume.attributes or {})["streamkit.resume.strategy"] == "prefill"


def test_metrics_of_a_stream(otel: Telemetry) -> None:
    tracker = _tracker(otel)
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(Usage(input_tokens=14, output_tokens=30, total_tokens=44))
    account.close(_result(Usage(input_tokens=14, output_tokens=30, total_tokens=44)))

    tokens = {
        p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")
    }
    assert set(tokens) == {"input", "output"}
    assert tokens["input"].sum == 14
    assert tokens["output"].sum == 30
    assert tokens["input"].attributes["gen_ai.request.model"] == "gpt-4.1"
    assert tokens["input"].attributes["gen_ai.response.model"] == "gpt-4.1-2025-04-14"
    assert tokens["input"].attributes["gen_ai.provider.name"] == "openai"
    assert tokens["input"].attributes["gen_ai.operation.name"] == "chat"
    assert list(tokens["input"].explicit_bounds)[:3] == [1, 4, 16]

    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.sum == 1.5
    assert duration.count == 1
    assert "error.type" not in duration.attributes
    assert otel.metric("gen_ai.client.operation.duration").unit == "s"
    assert list(duration.explicit_bounds)[:2] == [0.01, 0.02]

    (ttfc,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.sum == 0.25

    (cost,) = otel.points("streamkit.client.cost")
    assert cost.value == pytest.approx(0.000268)
    assert otel.metric("streamkit.client.cost").unit == "USD"
    assert otel.metric("gen_ai.client.token.usage").unit == "{token}"


def test_failed_stream(otel: Telemetry) -> None:
    tracker = _tracker(otel)
    account = tracker.open_stream(model="claude-haiku-4-5", provider="anthropic-messages")
    account.record(estimate_usage(400, 40))
    err = StreamInterruptedError("the stream broke after 40 characters", attempts=2)
    account.close(error=err)

    (span,) = otel.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert "broke after 40" in (span.status.description or "")
    attrs = dict(span.attributes or {})
    assert attrs["error.type"] == "StreamInterruptedError"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["streamkit.usage.estimated"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 100
    assert any(e.name == "exception" for e in span.events)
    assert "gen_ai.response.time_to_first_chunk" not in attrs

    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "StreamInterruptedError"
    assert duration.sum >= 0
    assert otel.points("gen_ai.client.operation.time_to_first_chunk") == []


def test_budget_error_is_recorded(otel: Telemetry) -> None:
    tracker = _tracker(otel, budget_usd="0.0001")
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    with pytest.raises(BudgetExceededError) as info:
        account.record(Usage(input_tokens=0, output_tokens=100))
    account.close(error=info.value)
    (span,) = otel.finished()
    assert dict(span.attributes or {})["error.type"] == "BudgetExceededError"


def test_unknown_model_has_no_cost(otel: Telemetry) -> None:
    from streamkit.pricing import UnknownModelWarning

    tracker = _tracker(otel)
    with pytest.warns(UnknownModelWarning):
        account = tracker.open_stream(model="local-llama", provider="openai-chat")
    account.close()
    (span,) = otel.finished()
    attrs = dict(span.attributes or {})
    assert "streamkit.cost_usd" not in attrs
    assert "gen_ai.usage.input_tokens" not in attrs
    assert otel.points("streamkit.client.cost") == []
    assert otel.points("gen_ai.client.token.usage") == []


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        ("gpt-4.1", "openai-chat", "openai"),
        ("deepseek-chat", "openai-chat", "deepseek"),
        ("gemini-2.5-flash", "openai-chat", "gcp.gemini"),
        ("claude-sonnet-4.5", "anthropic-messages", "anthropic"),
        ("gpt-4.1", "openai-responses", "openai"),
        ("gemini-2.5-pro", "gemini", "gcp.gemini"),
        ("gpt-4.1", "my-dialect", "my-dialect"),
    ],
)
def test_provider_names(model: str, provider: str, expected: str) -> None:
    account = CostTracker().open_stream(model=model, provider=provider)
    assert provider_name(account) == expected


def test_instrument_an_existing_tracker(otel: Telemetry) -> None:
    tracker = CostTracker(budget_usd="10")
    assert (
        instrument(
            tracker, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider
        )
        is tracker
    )
    for model in ("gpt-4.1", "deepseek-chat"):
        account = tracker.open_stream(model=model, provider="openai-chat")
        account.record(Usage(input_tokens=1, output_tokens=1))
        account.close()
    assert [s.name for s in otel.finished()] == ["chat gpt-4.1", "chat deepseek-chat"]
    assert tracker.total_cost == Decimal("0.00001") + Decimal("0.0000007")


def test_otel_tracker_is_a_cost_tracker(otel: Telemetry) -> None:
    tracker = _tracker(otel, per_stream_budget_usd="1", currency="CNY", exchange_rate="7")
    assert isinstance(tracker, CostTracker)
    assert tracker.per_stream_budget_usd == 1
    assert tracker.currency == "CNY"


def test_missing_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"streamkit\[otel\]"):
        OTelTracker()
    with pytest.raises(ImportError, match=r"streamkit\[otel\]"):
        instrument(CostTracker())


def test_end_to_end_through_the_client(otel: Telemetry) -> None:
    """A real stream over LocalServer, broken once: one span with the retry and resume."""
    import streamkit as sk
    from streamkit.testing import Fault, LocalServer, demo_transcript

    tracker = OTelTracker(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    body = demo_transcript(model="gpt-4.1")
    with LocalServer(body, faults=[Fault.cut(after_bytes=len(body) // 2)], add_ids=True) as server:
        client = sk.StreamingClient(base_url=server.base_url, api_key="k", tracker=tracker)
        client._sleep = lambda _s: None  # type: ignore[method-assign,assignment,misc]
        with (
            client,
            client.stream(model="gpt-4.1", messages=[{"role": "user", "content": "x"}]) as s,
        ):
            text = "".join(e.text for e in s if isinstance(e, sk.TextDelta))
    assert text == s.result.text
    [span] = otel.finished()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.model"] == "gpt-4.1"
    assert attributes["gen_ai.usage.output_tokens"] == s.result.usage.output_tokens  # type: ignore[union-attr]
    assert [e.name for e in span.events] == ["streamkit.retry", "streamkit.resume"]
    assert tracker.total_cost == s.result.cost
    assert otel.points("gen_ai.client.token.usage")


def test_otel_tracker_forwards_every_cost_tracker_option(otel: Any) -> None:
    import inspect
    from typing import get_type_hints

    from streamkit.tracker import CostTrackerOptions

    params = inspect.signature(CostTracker).parameters
    keyword_only = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(get_type_hints(CostTrackerOptions)) == keyword_only
    tracker = OTelTracker(
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        budget_usd="2",
        per_stream_budget_usd="1",
        currency="CNY",
        exchange_rate="7.1",
        keep_streams=3,
    )
    assert (tracker.budget_usd, tracker.per_stream_budget_usd) == (Decimal(2), Decimal(1))
    assert (tracker.currency, tracker.exchange_rate) == ("CNY", Decimal("7.1"))


def test_time_per_output_chunk_and_cost_basis(otel: Telemetry) -> None:
    tracker = _tracker(otel)
    account = tracker.open_stream(model="grok-4", provider="openai-chat")
    usage = Usage(input_tokens=14, output_tokens=30, total_tokens=44)
    metrics = StreamMetrics(
        time_to_first_token_s=0.25,
        duration_s=1.5,
        time_per_output_chunk_mean_s=0.1,
        output_chunks=4,
    )
    account.close(_result(usage, model="grok-4-0709", metrics=metrics))

    (chunks,) = otel.points("gen_ai.client.operation.time_per_output_chunk")
    assert chunks.count == 3  # every chunk after the first
    assert chunks.sum == pytest.approx(0.3)
    assert chunks.attributes["gen_ai.provider.name"] == "x_ai"  # genai-prices' x-ai
    assert otel.metric("gen_ai.client.operation.time_per_output_chunk").unit == "s"
    (span,) = otel.finished()
    attrs = dict(span.attributes or {})
    assert attrs["streamkit.cost.model"] == "grok-4-0709"
    assert str(attrs["streamkit.cost.source"]).startswith("https://")
    assert "gen_ai.system" not in attrs
