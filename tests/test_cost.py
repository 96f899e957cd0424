"""Cost you can bill by (#16): real streams priced like genai-prices, the answering model,
1-hour cache writes, reservations that hold under concurrency, estimates by script."""

from __future__ import annotations

import json
import math
import warnings
from decimal import Decimal
from typing import Any

import anyio
import genai_prices
import pytest

import streamkit as sk
from streamkit.errors import ConfigurationError
from streamkit.estimation import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD_TOKENS,
    OutputEstimate,
    estimate_prompt_tokens,
    estimate_tokens,
)
from streamkit.metrics import MetricsRecorder, StreamMetrics
from streamkit.pricing import ModelPrice, PriceTable, UnknownModelWarning
from streamkit.testing import Fault, LocalServer
from streamkit.testing._transcripts import (
    demo_anthropic_transcript,
    demo_transcript,
    tokenize,
)
from streamkit.tracker import CostTracker
from streamkit.usage import Usage

D = Decimal
KEY = "sk-test"
MESSAGES = [{"role": "user", "content": "Hi"}]


def genai_cost(usage: Usage, model: str, at: Any) -> Decimal:
    """What genai-prices says the usage costs, computed here independently."""
    values = {
        "input_tokens": usage.input_tokens or 0,
        "output_tokens": usage.output_tokens or 0,
    }
    if usage.cache_read_tokens:
        values["cache_read_tokens"] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        values["cache_write_tokens"] = usage.cache_write_tokens
    if usage.cache_write_1h_tokens:
        values["cache_write_1h_tokens"] = usage.cache_write_1h_tokens
    calc = genai_prices.calc_price(genai_prices.Usage(**values), model, genai_request_timestamp=at)
    return calc.total_price


def gemini_transcript(model: str = "gemini-2.5-pro", text: str = "Hello from Gemini.") -> bytes:
    """A Gemini ``streamGenerateContent?alt=sse`` body: cumulative usage on every chunk."""
    pieces = tokenize(text)
    chunks = []
    for n, piece in enumerate(pieces, 1):
        chunk: dict[str, Any] = {
            "candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}}],
            "usageMetadata": {
                "promptTokenCount": 11,
                "candidatesTokenCount": n,
                "thoughtsTokenCount": 40,
                "totalTokenCount": 11 + n + 40,
            },
            "modelVersion": model,
            "responseId": "gemini-resp-1",
        }
        if n == len(pieces):
            chunk["candidates"][0]["finishReason"] = "STOP"
        chunks.append(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
    return b"".join(chunks)


def stream_once(
    server: LocalServer, provider: str, model: str, tracker: CostTracker | None = None
) -> sk.StreamResult:
    with (
        sk.StreamingClient(
            base_url=server.base_url, api_key=KEY, provider=provider, tracker=tracker
        ) as client,
        client.stream(model=model, messages=MESSAGES, max_tokens=1000) as stream,
    ):
        for _ in stream:
            pass
    return stream.result


# ---- done when: every model priced as genai-prices prices it (or the override says so) -----

CASES = [
    ("openai-chat", "gpt-5", demo_transcript(model="gpt-5-2025-08-07"), "gpt-5"),
    ("openai-chat", "o4-mini", demo_transcript(model="o4-mini-2025-04-16"), "o4-mini"),
    (
        "anthropic-messages",
        "claude-sonnet-4-5",
        demo_anthropic_transcript(model="claude-sonnet-4-5-20250929"),
        "claude-sonnet-4-5",
    ),
    ("gemini", "gemini-2.5-pro", gemini_transcript(), "gemini-2.5-pro"),
    ("openai-chat", "grok-4", demo_transcript(model="grok-4-0709"), "grok-4-0709"),
]


@pytest.mark.parametrize("tracked", [False, True], ids=["no-tracker", "tracker"])
@pytest.mark.parametrize(("provider", "model", "body", "priced"), CASES, ids=[c[1] for c in CASES])
def test_stream_costs_what_genai_prices_says(
    provider: str, model: str, body: bytes, priced: str, tracked: bool
) -> None:
    tracker = CostTracker() if tracked else None
    with LocalServer(body, dialect=provider) as server:  # type: ignore[arg-type]
        result = stream_once(server, provider, model, tracker)
    assert result.usage is not None and not result.usage.estimated
    basis = result.cost_basis
    assert basis is not None
    assert (basis.model, basis.data) == (priced, "genai-prices")
    assert basis.from_response  # the response named the model (a dated snapshot here)
    assert basis.looked_up == result.model
    assert basis.data_version == f"genai-prices {genai_prices.__version__}"
    assert result.cost is not None and result.cost > 0
    assert result.cost == genai_cost(result.usage, model, basis.priced_at)
    if tracker is not None:
        assert tracker.total_cost == result.cost
        assert tracker.streams()[0].cost_basis == basis


def test_deepseek_chat_costs_the_sourced_override_and_says_so() -> None:
    with LocalServer(demo_transcript(model="deepseek-chat")) as server:
        result = stream_once(server, "openai-chat", "deepseek-chat")
    basis = result.cost_basis
    assert basis is not None
    assert basis.data == "override"
    assert basis.model == "deepseek-v3.2"
    assert basis.source == "https://api-docs.deepseek.com/quick_start/pricing"
    assert basis.data_version == "2026-11-21"
    usage = result.usage
    assert usage is not None and usage.input_tokens == 24
    # 24 * 0.28 + 242 * 0.42 per 1M tokens (DeepSeek-V3.2's flat price)
    assert result.cost == (24 * D("0.28") + usage.output_tokens * D("0.42")) / 1_000_000  # type: ignore[operator]
    assert genai_cost(usage, "deepseek-chat", basis.priced_at) != result.cost  # the override wins


def test_requested_gpt41_answered_as_gpt4o_is_priced_as_gpt4o() -> None:
    tracker = CostTracker()
    with LocalServer(demo_transcript(model="gpt-4o-2024-08-06")) as server:
        result = stream_once(server, "openai-chat", "gpt-4.1", tracker)
    basis = result.cost_basis
    assert basis is not None
    assert (basis.model, basis.provider, basis.from_response) == ("gpt-4o", "openai", True)
    assert basis.looked_up == "gpt-4o-2024-08-06"
    assert result.usage is not None
    assert result.cost == genai_cost(result.usage, "gpt-4o", basis.priced_at)
    assert result.cost != genai_cost(result.usage, "gpt-4.1", basis.priced_at)
    row = tracker.report().models[0]
    assert (row.model, row.price_model, row.cost_usd) == ("gpt-4.1", "gpt-4o", result.cost)


def test_unknown_response_model_keeps_the_requested_price() -> None:
    with LocalServer(demo_transcript(model="relay-internal-name-7")) as server:
        result = stream_once(server, "openai-chat", "gpt-4.1")
    assert result.cost_basis is not None
    assert (result.cost_basis.model, result.cost_basis.from_response) == ("gpt-4.1", False)


def test_unknown_model_without_tracker_costs_none_silently() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with LocalServer(demo_transcript(model="my-local-llm")) as server:
            result = stream_once(server, "openai-chat", "my-local-llm")
    assert (result.cost, result.cost_basis) == (None, None)


# ---- Anthropic 1-hour cache writes -------------------------------------------------------

SONNET_1H_USAGE = {
    "input_tokens": 0,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000},
    "output_tokens": 0,
}


def test_anthropic_1h_cache_write_is_twice_the_input_price() -> None:
    usage = Usage.from_anthropic(SONNET_1H_USAGE)
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (1000, 1000)
    table = PriceTable.default()
    # claude-sonnet-4-5: $3 input, $3.75 5-minute write, $6 1-hour write per 1M tokens
    assert table.cost("claude-sonnet-4-5", usage) == 2 * 1000 * D(3) / 1_000_000
    five_minutes = Usage.from_anthropic({**SONNET_1H_USAGE, "cache_creation": {}})
    assert table.cost("claude-sonnet-4-5", five_minutes) == 1000 * D("3.75") / 1_000_000
    mixed = Usage.from_anthropic(
        {
            **SONNET_1H_USAGE,
            "cache_creation_input_tokens": 3000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 2000,
                "ephemeral_1h_input_tokens": 1000,
            },
        }
    )
    assert table.cost("claude-sonnet-4-5", mixed) == (2000 * D("3.75") + 1000 * D(6)) / 1_000_000


def test_override_entries_price_1h_writes_too() -> None:
    price = ModelPrice(
        model="my-claude",
        input=D(3),
        cache_write=D("3.75"),
        cache_write_1h=D(6),
        output=D(15),
    )
    usage = Usage(input_tokens=3000, cache_write_tokens=3000, cache_write_1h_tokens=1000)
    assert price.cost(usage) == (2000 * D("3.75") + 1000 * D(6)) / 1_000_000
    # without a 1-hour price the 1-hour writes cost the (5-minute) write price
    plain = price.model_copy(update={"cache_write_1h": None})
    assert plain.cost(usage) == 3000 * D("3.75") / 1_000_000


def test_a_streamed_1h_cache_write_is_billed_at_2x() -> None:
    body = demo_anthropic_transcript(model="claude-sonnet-4-5-20250929")
    old = b'"cache_creation_input_tokens":0'
    assert old in body
    body = body.replace(
        old,
        b'"cache_creation_input_tokens":1000,'
        b'"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":1000}',
    )
    with LocalServer(body, dialect="anthropic-messages") as server:
        result = stream_once(server, "anthropic-messages", "claude-sonnet-4-5")
    usage = result.usage
    assert usage is not None and usage.cache_write_1h_tokens == 1000
    assert result.cost_basis is not None
    assert result.cost == genai_cost(usage, "claude-sonnet-4-5", result.cost_basis.priced_at)
    plain = usage.model_copy(update={"cache_write_1h_tokens": None})
    at_5m = PriceTable.default().cost("claude-sonnet-4-5", plain)
    assert result.cost - at_5m == 1000 * (D(6) - D("3.75")) / 1_000_000  # type: ignore[operator]


# ---- budgets that hold ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_twenty_concurrent_streams_never_spend_more_than_the_budget() -> None:
    budget = D("0.01")  # a gpt-4.1 demo answer costs $0.001984; a reservation $0.002408
    tracker = CostTracker(budget_usd=budget, reserve=True)
    outcomes: list[str] = []
    with LocalServer(demo_transcript(), delay_s=0.0005) as server:
        async with sk.AsyncStreamingClient(
            base_url=server.base_url, api_key=KEY, tracker=tracker
        ) as client:

            async def one() -> None:
                try:
                    async with client.stream(
                        model="gpt-4.1", messages=MESSAGES, max_tokens=300
                    ) as stream:
                        async for _ in stream:
                            pass
                except sk.BudgetExceededError as err:
                    # refused before anything was sent
                    refused = err.partial is None and "would be crossed" in str(err)
                    outcomes.append("refused" if refused else f"stopped: {err}")
                else:
                    outcomes.append("complete")

            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(one)
    assert len(outcomes) == 20
    assert outcomes.count("complete") >= 1 and outcomes.count("refused") >= 1
    assert tracker.total_cost <= budget
    assert tracker.reserved_usd == 0  # every reservation was released
    assert tracker.total_cost == outcomes.count("complete") * D("0.001984")
    assert server.attempts == outcomes.count("complete")


def test_reservations_are_atomic_and_released() -> None:
    tracker = CostTracker(budget_usd="0.01", reserve=True)
    params = {"max_tokens": 1000}
    opened = []
    refused = 0
    for _ in range(20):
        try:
            opened.append(
                tracker.open_stream("gpt-4.1", "openai-chat", messages=MESSAGES, params=params)
            )
        except sk.BudgetExceededError:
            refused += 1
    # each reserves 4 prompt tokens at $2 + 1000 output tokens at $8 = $0.008008
    assert [a.reservation_usd for a in opened] == [D("0.008008")]
    assert refused == 19
    assert tracker.remaining_usd == D("0.01") - D("0.008008")
    opened[0].close(None)
    assert tracker.reserved_usd == 0 and tracker.remaining_usd == D("0.01")
    with pytest.raises(ConfigurationError, match="max_tokens"):
        tracker.open_stream("gpt-4.1", "openai-chat", messages=MESSAGES)
    with pytest.raises(ValueError, match="reserve=True needs"):
        CostTracker(reserve=True)
    small = CostTracker(per_stream_budget_usd="0.001", reserve=True)
    with pytest.raises(sk.BudgetExceededError, match="per_stream_budget_usd"):
        small.open_stream("gpt-4.1", "openai-chat", messages=MESSAGES, params=params)


def test_a_stream_over_its_reservation_is_stopped_once_the_budget_is_crossed() -> None:
    tracker = CostTracker(budget_usd="0.001", reserve=True)
    account = tracker.open_stream(
        "gpt-4.1", "openai-chat", messages=MESSAGES, params={"max_tokens": 10}
    )
    account.record(Usage(input_tokens=10, output_tokens=10))  # within the reservation
    with pytest.raises(sk.BudgetExceededError, match=r"budget_usd=\$0.001 crossed"):
        account.record(Usage(input_tokens=10, output_tokens=200))  # the provider ignored it


def test_the_exceeded_message_says_crossed_once_crossed() -> None:
    tracker = CostTracker(budget_usd="0.0001")
    account = tracker.open_stream("gpt-4.1", "openai-chat")
    with pytest.raises(sk.BudgetExceededError) as info:
        account.record(Usage(input_tokens=14, output_tokens=30))  # $0.000268
    assert "crossed:" in str(info.value) and "would" not in str(info.value)
    assert info.value.spent_usd == D("0.000268")
    with pytest.raises(sk.BudgetExceededError, match="used up"):
        tracker.open_stream("gpt-4.1", "openai-chat")


@pytest.mark.parametrize("mode", ["warn", "raise", "ignore"])
def test_on_unknown_price(mode: str) -> None:
    tracker = CostTracker(budget_usd="1", on_unknown_price=mode)  # type: ignore[arg-type]
    if mode == "raise":
        with pytest.raises(ConfigurationError, match="no price for model 'my-llm'"):
            tracker.open_stream("my-llm", "openai-chat")
        assert tracker.stream_count == 0
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        account = tracker.open_stream("my-llm", "openai-chat")
    assert [w.category for w in caught] == ([UnknownModelWarning] if mode == "warn" else [])
    account.record(Usage(input_tokens=10**9, output_tokens=10**9))
    assert account.cost is None and tracker.total_cost == 0  # outside the budget
    with pytest.raises(ValueError, match="on_unknown_price"):
        CostTracker(on_unknown_price="sometimes")  # type: ignore[arg-type]


# ---- estimates ------------------------------------------------------------------------------

CJK_TEXT = (
    "流式传输让用户在模型生成答案的同时看到文字。连接中断时\uff0c客户端应当从断点继续\uff0c"
    "既不丢失也不重复任何内容。每一次尝试都要计算令牌和费用。"
)


def test_default_estimator_weights_wide_scripts_per_character() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("こんにちは") == 5
    assert estimate_tokens("안녕하세요") == 5
    assert estimate_tokens("Привет") == 3  # other non-ASCII: 0.5 per character
    assert estimate_tokens("café") == 0.75 + 0.5


def test_prompt_estimate_counts_system_prompt_tools_and_images() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "abcd" * 5}, {"type": "image_url"}]},
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
    ]
    params = {"system": "abcd" * 25, "tools": tools}
    schema = json.dumps(tools, separators=(",", ":"))
    texts = 5 + 25 + len(schema) / 4 + (1 + 2) / 4
    expected = math.ceil(texts) + 2 * MESSAGE_OVERHEAD_TOKENS + IMAGE_TOKENS
    assert estimate_prompt_tokens(messages, params) == expected
    assert estimate_prompt_tokens(messages, params) > estimate_prompt_tokens(messages)


def test_output_estimate_counts_each_piece_once() -> None:
    calls: list[str] = []

    def counting(text: str) -> float:
        calls.append(text)
        return 1.0

    estimate = OutputEstimate(counting)
    pieces: list[str] = []
    for n in range(100):
        pieces.append(f"p{n}")
        assert estimate.tokens(pieces) == n + 1
    assert len(calls) == 100  # linear, not quadratic
    assert estimate.tokens(["new", "list"]) == 2  # a new attempt's list starts over


def test_cut_cjk_stream_is_estimated_per_character_not_per_four() -> None:
    body = demo_transcript(text=CJK_TEXT)
    tracker = CostTracker()
    with (
        LocalServer(body, faults=[Fault.cut(after_events=40)]) as server,
        sk.StreamingClient(
            base_url=server.base_url, api_key=KEY, tracker=tracker, resume="off"
        ) as client,
        pytest.raises(sk.StreamInterruptedError) as info,
        client.stream(model="gpt-4.1", messages=MESSAGES) as stream,
    ):
        for _ in stream:
            pass
    partial = info.value.partial
    assert partial is not None and partial.usage is not None
    usage = partial.usage
    assert usage.estimated
    received = len(partial.text)
    reported = len(tokenize(partial.text))  # what the transcript's usage would say
    assert received == reported == 39  # one CJK character per piece, 39 content events
    assert usage.output_tokens == received  # 1 token per character, not ceil(39 / 4) = 10
    assert partial.cost is not None and partial.cost > 0
    assert tracker.streams()[0].estimated


def test_token_estimator_is_pluggable() -> None:
    tracker = CostTracker(token_estimator=lambda text: 10.0 * len(text))
    account = tracker.open_stream("gpt-4.1", "openai-chat", messages=MESSAGES)
    assert account.prompt_tokens == 20 + MESSAGE_OVERHEAD_TOKENS
    assert account.estimate(["ab", "c"]).output_tokens == 30
    account.record(None, pending_output=["ab", "c"])
    assert account.cost == 0
    assert account.running_cost == (23 * D(2) + 30 * D(8)) / 1_000_000


def test_reported_usage_replaces_the_estimate() -> None:
    tracker = CostTracker()
    account = tracker.open_stream("gpt-4.1", "openai-chat", messages=MESSAGES)
    account.record(None, pending_output=["x" * 400])
    assert account.running_cost is not None and account.running_cost > 0
    account.record(Usage(input_tokens=14, output_tokens=30))
    assert account.running_cost == account.cost == D("0.000268")


# ---- names ----------------------------------------------------------------------------------


def test_cached_input_tokens_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="cache_read_tokens"):
        usage = Usage(input_tokens=10, cached_input_tokens=4)  # type: ignore[call-arg]
    assert usage.cache_read_tokens == 4
    with pytest.warns(DeprecationWarning, match="cache_read_tokens"):
        assert usage.cached_input_tokens == 4
    with (
        pytest.warns(DeprecationWarning, match="cache_read_tokens"),
        pytest.raises(ValueError, match="old name"),
    ):
        Usage(cache_read_tokens=1, cached_input_tokens=2)  # type: ignore[call-arg]
    assert "cached_input_tokens" not in usage.model_dump()


def test_time_per_output_chunk_and_its_deprecated_alias() -> None:
    recorder = MetricsRecorder()
    recorder.start(0.0)
    for now in (1.0, 1.0, 1.0, 1.5, 2.5):  # three deltas of one read are one chunk
        recorder.content(now)
    metrics = recorder.snapshot(now=3.0)
    assert metrics.output_chunks == 3
    assert metrics.content_deltas == 5
    assert metrics.time_per_output_chunk_mean_s == 0.75
    assert metrics.time_per_output_chunk_p95_s == 1.0
    with pytest.warns(DeprecationWarning, match="time_per_output_chunk_mean_s"):
        assert metrics.inter_token_latency_mean_s == 0.75
    with pytest.warns(DeprecationWarning, match="time_per_output_chunk_p50_s"):
        assert metrics.inter_token_latency_p50_s == 0.5
    with pytest.warns(DeprecationWarning, match="time_per_output_chunk_p95_s"):
        assert metrics.inter_token_latency_p95_s == 1.0
    assert StreamMetrics().time_per_output_chunk_mean_s is None


def test_service_tier_prices_the_variant() -> None:
    flex = Usage(input_tokens=1_000_000, output_tokens=1_000_000, service_tier="flex")
    table = PriceTable.default()
    match = table.match("gpt-5")
    assert match is not None
    standard = match.cost(flex.model_copy(update={"service_tier": None}))
    assert match.cost(flex) < standard  # flex is half price where genai-prices knows it
    assert (
        Usage.from_anthropic({"input_tokens": 1, "service_tier": "standard"}).service_tier is None
    )
    assert (
        Usage.from_anthropic({"input_tokens": 1, "service_tier": "batch"}).service_tier == "batch"
    )


def test_web_searches_are_billed() -> None:
    usage = Usage.from_anthropic(
        {"input_tokens": 10, "output_tokens": 10, "server_tool_use": {"web_search_requests": 2}}
    )
    assert usage.web_searches == 2
    table = PriceTable.default()
    without = table.cost("claude-sonnet-4-5", usage.model_copy(update={"web_searches": None}))
    assert table.cost("claude-sonnet-4-5", usage) == without + 2 * D(10) / 1000  # type: ignore[operator]
