"""CostTracker and CostAccount: totals, breakdowns, budgets, estimates, threads, reports."""

from __future__ import annotations

import logging
import threading
import warnings
from decimal import Decimal
from typing import Any

import pytest

from streamkit._session import StreamAccount, StreamSession
from streamkit.errors import APIConnectionError, BudgetExceededError, StreamkitError
from streamkit.events import FinishEvent, ResumeEvent, RetryEvent, TextDelta
from streamkit.metrics import StreamMetrics
from streamkit.pricing import PriceTable, UnknownModelWarning
from streamkit.providers import get
from streamkit.result import ChoiceResult, StreamResult
from streamkit.retry import RetryPolicy
from streamkit.tracker import CostAccount, CostReport, CostTracker, ModelCost, StreamCost
from streamkit.usage import Usage, estimate_usage

from conftest import read_real

D = Decimal
GPT41_14_30 = D("0.000268")  # (14 * 2 + 30 * 8) / 1e6


def u(inp: int, out: int, **kw: Any) -> Usage:
    return Usage(input_tokens=inp, output_tokens=out, total_tokens=inp + out, **kw)


# ---------------------------------------------------------------------------- basics


def test_account_implements_the_session_protocol() -> None:
    account: StreamAccount = CostTracker().open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(u(14, 30))
    assert account.cost == GPT41_14_30


def test_record_replaces_not_adds() -> None:
    tracker = CostTracker()
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    assert account.cost == 0
    account.record(None)
    assert account.cost == 0
    account.record(u(14, 3))
    account.record(u(14, 30))
    account.record(u(14, 30))
    assert account.cost == GPT41_14_30
    assert tracker.total_cost == GPT41_14_30
    assert account.usage == u(14, 30)


def test_breakdowns_per_model_and_stream() -> None:
    tracker = CostTracker()
    a = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    b = tracker.open_stream(model="gpt-4.1-2025-04-14", provider="openai-chat")
    c = tracker.open_stream(model="claude-sonnet-4-5", provider="anthropic-messages")
    d = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    a.record(u(14, 30))
    b.record(u(14, 30, reasoning_tokens=10))
    c.record(
        Usage(
            input_tokens=10_000,
            cache_read_tokens=6000,
            cache_write_tokens=2000,
            output_tokens=500,
        )
    )
    d.record(u(1_000_000, 0))
    assert tracker.total_cost == 2 * GPT41_14_30 + D("0.0228") + D("2")
    costs = tracker.cost_by_model()
    assert costs == {
        "gpt-4.1": GPT41_14_30 + D("2"),
        "gpt-4.1-2025-04-14": GPT41_14_30,
        "claude-sonnet-4-5": D("0.0228"),
    }
    usage = tracker.usage_by_model()
    assert usage["gpt-4.1"] == Usage(
        input_tokens=1_000_014, output_tokens=30, total_tokens=1_000_044
    )
    assert usage["gpt-4.1-2025-04-14"].reasoning_tokens == 10
    assert usage["claude-sonnet-4-5"].cache_write_tokens == 2000
    assert usage["claude-sonnet-4-5"].total_tokens is None  # nobody reported one
    assert [s.stream_id for s in tracker.streams()] == [1, 2, 3, 4]
    assert [s.price_model for s in tracker.streams()] == [
        "gpt-4.1",
        "gpt-4.1",
        "claude-sonnet-4-5",
        "gpt-4.1",
    ]
    assert tracker.stream_count == 4
    assert [x.stream_id for x in tracker] == [1, 2, 3, 4]


def test_unknown_model_cost_is_none_and_excluded() -> None:
    tracker = CostTracker()
    with pytest.warns(UnknownModelWarning, match="my-local-llm"):
        account = tracker.open_stream(model="my-local-llm", provider="openai-chat")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per model per table
        again = tracker.open_stream(model="my-local-llm", provider="openai-chat")
        account.record(u(100, 100))
        again.record(u(1, 1), pending_output_chars=50)
    assert account.cost is None
    assert account.running_cost is None
    assert account.display_cost is None
    assert tracker.total_cost == 0
    report = tracker.report()
    assert report.unpriced_models == ["my-local-llm"]
    assert report.models[0].cost_usd is None
    assert report.models[0].usage.input_tokens == 101
    assert "unknown" in report.to_text()
    assert tracker.cost_by_model() == {"my-local-llm": None}


def test_custom_price_table() -> None:
    prices = PriceTable.default().with_prices({"my-local-llm": {"input": "0", "output": "1"}})
    tracker = CostTracker(prices)
    account = tracker.open_stream(model="my-local-llm", provider="openai-chat")
    account.record(u(100, 1_000_000))
    assert tracker.total_cost == D("1")
    assert tracker.prices is prices


# ---------------------------------------------------------------------------- budgets


def test_budget_stops_the_stream_that_crosses_it() -> None:
    tracker = CostTracker(budget_usd=D("0.001"))
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(u(14, 30))
    assert tracker.remaining_usd == D("0.001") - GPT41_14_30
    with pytest.raises(BudgetExceededError) as info:
        account.record(u(14, 200))  # (28 + 1600) / 1e6
    err = info.value
    assert err.budget_usd == D("0.001")
    assert err.spent_usd == D("0.001628")
    assert "budget_usd=$0.001" in str(err)
    # the usage was spent all the same
    assert tracker.total_cost == D("0.001628")
    assert tracker.remaining_usd == 0


def test_budget_equal_is_not_exceeded() -> None:
    tracker = CostTracker(budget_usd=GPT41_14_30)
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(u(14, 30))  # exactly the budget: fine
    assert tracker.remaining_usd == 0
    with pytest.raises(BudgetExceededError, match="used up"):
        tracker.open_stream(model="gpt-4.1", provider="openai-chat")


def test_budget_counts_pending_output_estimate() -> None:
    tracker = CostTracker(budget_usd="0.0005")
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat", prompt_chars=40)
    account.record(None, pending_output_chars=100)  # ~10 in + 25 out: (20 + 200) / 1e6
    assert account.cost == 0
    assert account.running_cost == D("0.00022")
    assert tracker.running_cost == D("0.00022")
    assert tracker.total_cost == 0
    with pytest.raises(BudgetExceededError) as info:
        account.record(None, pending_output_chars=400)  # 10 in + 100 out: (20 + 800) / 1e6
    assert info.value.spent_usd == D("0.00082")
    # the reported usage replaces the estimate
    account.record(u(10, 20))
    assert account.running_cost == account.cost == D("0.00018")


def test_pending_estimate_adds_to_earlier_attempts() -> None:
    tracker = CostTracker()
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat", prompt_chars=8)
    first = estimate_usage(8, 40)  # an attempt that broke: 2 in + 10 out
    account.record(first, pending_output_chars=4)  # plus 2 in + 1 out now
    assert account.cost == D("0.000084")  # (4 + 80) / 1e6
    assert account.running_cost == D("0.000096")  # (8 + 88) / 1e6


def test_budget_across_streams() -> None:
    tracker = CostTracker(budget_usd="0.001")
    a = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    b = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    a.record(u(0, 75))  # 0.0006
    with pytest.raises(BudgetExceededError) as info:
        b.record(u(0, 63))  # 0.000504: together 0.001104
    assert info.value.spent_usd == D("0.001104")
    with pytest.raises(BudgetExceededError):
        a.record(u(0, 76))  # the other stream already crossed it


def test_per_stream_budget() -> None:
    tracker = CostTracker(per_stream_budget_usd=D("0.0001"))
    a = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    b = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    a.record(u(0, 12))  # 0.000096
    b.record(u(0, 12))
    with pytest.raises(BudgetExceededError, match="per_stream_budget_usd") as info:
        a.record(u(0, 13))  # 0.000104
    assert info.value.budget_usd == D("0.0001")
    assert info.value.spent_usd == D("0.000104")
    assert tracker.total_cost == D("0.0002")


def test_unknown_model_does_not_count_against_budget() -> None:
    tracker = CostTracker(budget_usd="0.001")
    with pytest.warns(UnknownModelWarning):
        free = tracker.open_stream(model="free-model", provider="openai-chat")
    free.record(u(10**6, 10**6))  # unknown cost: never raises, never counts
    paid = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    paid.record(u(14, 30))
    assert tracker.total_cost == GPT41_14_30


def test_zero_budget_refuses_every_stream() -> None:
    tracker = CostTracker(budget_usd=0)
    with pytest.raises(BudgetExceededError, match="used up") as info:
        tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    assert info.value.budget_usd == 0
    assert info.value.spent_usd == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget_usd": "-1"},
        {"per_stream_budget_usd": D("-0.01")},
        {"currency": "CNY"},
        {"currency": "CNY", "exchange_rate": "0"},
        {"currency": " "},
        {"keep_streams": -1},
    ],
)
def test_invalid_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CostTracker(**kwargs)


def test_negative_pending_is_refused() -> None:
    account = CostTracker().open_stream(model="gpt-4.1", provider="openai-chat")
    with pytest.raises(ValueError):
        account.record(None, pending_output_chars=-1)


# ---------------------------------------------------------------------------- close & note


def _result(usage: Usage | None, *, complete: bool = True, attempts: int = 1) -> StreamResult:
    return StreamResult(
        choices=[ChoiceResult(index=0, text="Hi", finish_reason="stop" if complete else None)],
        model="gpt-4.1-2025-04-14",
        response_id="chatcmpl-1",
        usage=usage,
        metrics=StreamMetrics(time_to_first_token_s=0.25, duration_s=1.5, attempts=attempts),
        attempts=attempts,
        complete=complete,
    )


def test_close_with_result() -> None:
    tracker = CostTracker()
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(u(14, 3), pending_output_chars=100)
    account.close(_result(u(14, 30)))
    assert account.status == "complete"
    assert account.cost == account.running_cost == GPT41_14_30
    assert tracker.running_cost == tracker.total_cost == GPT41_14_30
    row = account.report()
    assert row.response_model == "gpt-4.1-2025-04-14"
    assert row.response_id == "chatcmpl-1"
    assert row.finish_reason == "stop"
    assert row.metrics is not None
    assert row.metrics.time_to_first_token_s == 0.25
    # closed: later records and closes change nothing
    account.record(u(1000, 1000))
    account.close(error=RuntimeError("late"))
    assert account.cost == GPT41_14_30
    assert account.status == "complete"
    assert account.error is None
    assert account.result is not None


def test_close_statuses() -> None:
    tracker = CostTracker()
    failed = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    failed.record(estimate_usage(40, 40))
    err = APIConnectionError("peer closed connection")
    failed.close(error=err)
    assert failed.status == "failed"
    assert failed.error is err
    assert failed.cost == D("0.00010")  # 10 in + 10 out, estimated
    incomplete = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    incomplete.close(_result(None, complete=False))
    assert incomplete.status == "incomplete"
    bare = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    bare.close()
    assert bare.status == "complete"
    rows = {s.stream_id: s for s in tracker.streams()}
    assert rows[1].error == "APIConnectionError: peer closed connection"
    assert rows[1].estimated is True
    assert rows[2].status == "incomplete"


def test_note_counts_retries_and_resumes() -> None:
    tracker = CostTracker()
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.note(RetryEvent(attempt=1, delay_s=0.5, reason="RateLimitError: 429", status_code=429))
    account.note(RetryEvent(attempt=2, delay_s=1.0, reason="APIConnectionError: cut"))
    account.note(ResumeEvent(attempt=3, strategy="prefill", resumed_after_chars=10))
    account.note(TextDelta(index=0, text="ignored"))
    assert (account.retries, account.resumes) == (2, 1)
    assert account.report().attempts == 3
    account.close(_result(u(14, 30), attempts=3))
    assert account.report().attempts == 3


# ---------------------------------------------------------------------------- estimates


def test_estimated_attempts_show_in_report() -> None:
    tracker = CostTracker()
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    broken = estimate_usage(56, 120)  # 14 in + 30 out, estimated
    account.record(broken)
    account.record(broken + u(14, 30))  # then the retry reported its usage
    assert account.usage is not None
    assert account.usage.estimated
    assert account.cost == 2 * GPT41_14_30
    report = tracker.report()
    assert report.models[0].estimated_streams == 1
    assert report.streams[0].estimated
    assert "~$0.000536" in report.to_text()
    account.record(u(28, 60))  # a later, fully reported usage clears the flag
    assert tracker.report().models[0].estimated_streams == 0


# ---------------------------------------------------------------------------- threads


def test_concurrent_threads_exact_total() -> None:
    tracker = CostTracker(budget_usd="1000")
    threads, per_thread = 8, 100
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                model = "gpt-4.1" if (n + i) % 2 else "deepseek-chat"
                account = tracker.open_stream(model=model, provider="openai-chat", prompt_chars=56)
                account.record(None, pending_output_chars=40)
                account.record(u(14, 10), pending_output_chars=80)
                account.record(u(14, 30))
                account.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    deepseek = D("0.00001652")  # (14 * 0.28 + 30 * 0.42) / 1e6
    half = threads * per_thread // 2
    assert tracker.total_cost == half * GPT41_14_30 + half * deepseek
    assert tracker.running_cost == tracker.total_cost
    assert tracker.stream_count == threads * per_thread
    usage = tracker.usage_by_model()
    assert usage["gpt-4.1"] == u(14 * half, 30 * half)
    assert usage["deepseek-chat"] == u(14 * half, 30 * half)
    assert sum(m.streams for m in tracker.report().models) == threads * per_thread


# ---------------------------------------------------------------------------- reports


def test_report_json_round_trip() -> None:
    tracker = CostTracker(budget_usd="5", per_stream_budget_usd="1")
    a = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    a.record(u(14, 30))
    a.note(RetryEvent(attempt=1, delay_s=0.5, reason="x"))
    a.close(_result(u(14, 30), attempts=2))
    b = tracker.open_stream(model="claude-haiku-4.5", provider="anthropic-messages")
    b.record(estimate_usage(100, 100), pending_output_chars=10)
    report = tracker.report()
    text = report.to_json()
    again = CostReport.model_validate_json(text)
    assert again == report
    assert again.total_cost_usd == GPT41_14_30 + D("0.00015")  # + (25 + 25 * 5) / 1e6
    assert isinstance(again.total_cost_usd, Decimal)
    assert again.streams[0].metrics == StreamMetrics(
        time_to_first_token_s=0.25, duration_s=1.5, attempts=2
    )
    assert again.budget_usd == D("5")
    assert again.remaining_usd == D("5") - again.running_cost_usd
    assert '"total_cost_usd": "0.000418"' in text  # money as exact decimal strings
    assert isinstance(again.models[0], ModelCost)
    assert isinstance(again.streams[1], StreamCost)


def test_report_text_and_display_currency() -> None:
    tracker = CostTracker(currency="cny", exchange_rate=D("7.2"))
    assert tracker.currency == "CNY"
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(u(0, 1_000_000))
    assert account.display_cost == D("57.6")
    assert tracker.display_total == D("57.6")
    assert tracker.to_display(None) is None
    report = tracker.report()
    assert report.display_cost == D("57.6")
    assert report.streams[0].display_cost == D("57.6")
    text = str(report)
    assert "cost (CNY)" in text
    assert "57.60 CNY" in text
    assert "$8.00" in text
    assert text.splitlines()[0].startswith("model")


def test_relay_billing_one_to_one() -> None:
    tracker = CostTracker(currency="CNY", exchange_rate=D("1"))
    account = tracker.open_stream(model="deepseek-chat", provider="openai-chat")
    account.record(u(0, 10_000_000))
    assert account.display_cost == D("4.2")
    assert tracker.exchange_rate == 1


def test_report_summary_line() -> None:
    tracker = CostTracker(budget_usd="1", per_stream_budget_usd="0.5")
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(u(14, 30), pending_output_chars=4)
    summary = tracker.report().to_text().splitlines()[-1]
    assert "spent $0.000268" in summary
    assert "running $0.000276" in summary
    assert "budget $1.00" in summary
    assert "per-stream budget $0.50" in summary


def test_report_rich_table() -> None:
    from rich.console import Console

    tracker = CostTracker()
    tracker.open_stream(model="gpt-4.1", provider="openai-chat").record(u(14, 30))
    console = Console(record=True, width=200)
    console.print(tracker.report().to_rich_table())
    assert "$0.000268" in console.export_text()


def test_keep_streams_bounds_the_stream_list() -> None:
    tracker = CostTracker(keep_streams=3)
    for _ in range(5):
        tracker.open_stream(model="gpt-4.1", provider="openai-chat").record(u(14, 30))
    report = tracker.report()
    assert [s.stream_id for s in report.streams] == [3, 4, 5]
    assert report.stream_count == 5
    assert report.models[0].streams == 5
    assert report.total_cost_usd == 5 * GPT41_14_30
    assert CostTracker(keep_streams=0).report().streams == []


def test_repr() -> None:
    tracker = CostTracker()
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    assert "gpt-4.1" in repr(account)
    assert "CostTracker(" in repr(tracker)


# ---------------------------------------------------------------------------- observers


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def stream_opened(self, account: CostAccount) -> None:
        self.calls.append(("opened", account.stream_id))

    def stream_noted(self, account: CostAccount, event: RetryEvent | ResumeEvent) -> None:
        self.calls.append((event.type, account.stream_id))

    def stream_closed(
        self, account: CostAccount, result: StreamResult | None, error: BaseException | None
    ) -> None:
        self.calls.append(("closed", account.stream_id))


class Broken(Recorder):
    def stream_opened(self, account: CostAccount) -> None:
        raise RuntimeError("observer bug")


def test_observers_and_their_failures(caplog: pytest.LogCaptureFixture) -> None:
    tracker = CostTracker()
    recorder = Recorder()
    tracker.add_observer(Broken())
    tracker.add_observer(recorder)
    with caplog.at_level(logging.ERROR, logger="streamkit"):
        account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    assert "observer bug" in caplog.text
    account.note(RetryEvent(attempt=1, delay_s=0.1, reason="x"))
    account.close()
    account.close()
    assert recorder.calls == [("opened", 1), ("retry", 1), ("closed", 1)]


# ---------------------------------------------------------------------------- with the session


def _drive(session: StreamSession, bodies: list[list[bytes | None]]) -> list[Any]:
    """Run the session like a shell; ``None`` in a body cuts the connection."""
    now = 0.0
    events: list[Any] = []
    for body in bodies:
        session.next_request(now)
        try:
            events.extend(session.opened(now))
            for chunk in body:
                now += 0.01
                if chunk is None:
                    raise APIConnectionError("peer closed connection")
                events.extend(session.feed(chunk, now))
            events.extend(session.end(now))
            return events
        except StreamkitError as err:
            plan = session.fail(err, now)
            events.extend(plan.events)
            now += plan.delay_s
    return events


def _session(tracker: CostTracker, model: str = "gpt-4o") -> StreamSession:
    dialect = get("openai-chat")
    messages = [{"role": "user", "content": "Say something"}]
    spec = dialect.build_request(
        base_url="http://test/v1", api_key=None, model=model, messages=messages, params={}
    )
    return StreamSession(
        dialect=dialect,
        request=spec,
        retry=RetryPolicy(jitter=0.0),
        resume="replay",
        prompt_chars=13,
        account=tracker.open_stream(model=model, provider="openai-chat", prompt_chars=13),
    )


def test_session_uncut_stream_cost() -> None:
    raw = read_real("openai-chat-text-include-usage.sse")  # gpt-4o-2024-08-06, 14 in / 30 out
    tracker = CostTracker()
    session = _session(tracker)
    _drive(session, [[raw]])
    assert session.result is not None
    assert session.result.cost == D("0.000335")  # (14 * 2.50 + 30 * 10) / 1e6
    assert tracker.total_cost == D("0.000335")


def test_session_broken_attempt_is_accounted() -> None:
    raw = read_real("openai-chat-text-include-usage.sse")
    tracker = CostTracker()
    session = _session(tracker)
    cut = raw.index(b"\n\n", len(raw) // 2) + 2
    events = _drive(session, [[raw[:cut], None], [raw]])
    assert any(isinstance(e, RetryEvent) for e in events)
    assert any(isinstance(e, FinishEvent) for e in events)
    assert session.result is not None
    usage = session.result.usage
    assert usage is not None
    assert usage.estimated  # attempt 1 broke before its usage arrived
    assert session.result.cost is not None
    assert session.result.cost > D("0.000335")
    assert tracker.total_cost == session.result.cost


def test_session_budget_stop() -> None:
    raw = read_real("openai-chat-text-include-usage.sse")
    tracker = CostTracker(budget_usd="0.00001")  # crossed by the text estimate
    session = _session(tracker)
    with pytest.raises(BudgetExceededError) as info:
        _drive(session, [[raw[i : i + 64] for i in range(0, len(raw), 64)]])
    assert info.value.budget_usd == D("0.00001")
    assert isinstance(info.value.spent_usd, Decimal)
    assert info.value.spent_usd > D("0.00001")
