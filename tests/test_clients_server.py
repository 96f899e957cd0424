"""Both client shells against streamkit.testing.LocalServer with injected faults.

Every fault x sync/async (asyncio and trio): attempts made, sleeps taken (recorded,
not slept), events delivered exactly once, typed errors and their attributes.
"""

from __future__ import annotations

import io
import logging
import tracemalloc
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

import streamkit as sk
from streamkit.offline import decode_stream
from streamkit.testing import Fault, LocalServer, demo_transcript

from conftest import read_real

pytestmark = pytest.mark.anyio

KEY = "sk-canary-0e1d2c3b4a59687f"
RAW_NAME = "openai-chat-text-include-usage.sse"
MESSAGES = [{"role": "user", "content": "What's the weather in San Francisco?"}]


@dataclass
class Outcome:
    events: list[sk.DeltaEvent] = field(default_factory=list)
    result: sk.StreamResult | None = None
    error: sk.StreamkitError | None = None
    sleeps: list[float] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, sk.TextDelta) and e.index == 0)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture(params=["sync", "async", "sync-httpx2", "async-httpx2"])
def mode(request: pytest.FixtureRequest) -> str:
    """sync/async clients, on their own httpx clients or given an httpx2 client."""
    return str(request.param)


async def run(
    mode: str,
    server: LocalServer,
    *,
    retry: sk.RetryPolicy | None = None,
    timeout: sk.Timeouts | None = None,
    resume: sk.ResumeMode = "auto",
    tracker: sk.CostTracker | None = None,
    provider: str = "openai-chat",
    **params: Any,
) -> Outcome:
    """Stream once through the sync or async client; sleeps are recorded, not slept."""
    out = Outcome()
    kwargs: dict[str, Any] = {
        "base_url": server.base_url,
        "api_key": KEY,
        "retry": retry or sk.RetryPolicy(jitter=0.0),
        "timeout": timeout,
        "resume": resume,
        "tracker": tracker,
        "provider": provider,
    }
    if mode.endswith("-httpx2"):
        import httpx2

        kwargs["http_client"] = (httpx2.Client if mode == "sync-httpx2" else httpx2.AsyncClient)()
    try:
        if mode.startswith("sync"):
            client = sk.StreamingClient(**kwargs)
            client._sleep = out.sleeps.append  # type: ignore[method-assign,assignment]
            with client, client.stream(model="gpt-4o", messages=MESSAGES, **params) as stream:
                for event in stream:
                    out.events.append(event)
            out.result = stream.result
        else:
            aclient = sk.AsyncStreamingClient(**kwargs)

            async def sleep(delay: float) -> None:
                out.sleeps.append(delay)

            aclient._sleep = sleep  # type: ignore[method-assign,assignment]
            async with aclient, aclient.stream(model="gpt-4o", messages=MESSAGES, **params) as s:
                async for event in s:
                    out.events.append(event)
            out.result = s.result
    except sk.StreamkitError as err:
        out.error = err
    finally:
        given = kwargs.get("http_client")
        if given is not None:
            if mode.startswith("sync"):
                given.close()
            else:
                await given.aclose()
    return out


def serve(faults: Sequence[Fault | None] = (), *, name: str = RAW_NAME, **kw: Any) -> LocalServer:
    return LocalServer(read_real(name), faults=faults, **kw)


def uncut(name: str = RAW_NAME) -> sk.StreamResult:
    return decode_stream(read_real(name))[1]


async def test_plain_stream(mode: str) -> None:
    with serve() as server:
        out = await run(mode, server)
    assert out.error is None
    assert out.result is not None
    assert out.result.choices == uncut().choices
    assert out.text == out.result.text
    assert out.sleeps == []
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("after", [1, 900, 4000, 8000])
async def test_cut_is_resumed_by_verified_replay(mode: str, after: int) -> None:
    with serve([Fault.cut(after_bytes=after)]) as server:
        out = await run(mode, server)
    assert out.error is None, out.error
    assert out.result is not None
    assert out.result.text == uncut().text
    assert out.text == out.result.text  # nothing twice, nothing lost
    assert out.sleeps == [1.0]
    assert server.attempts == 2
    keys = {r.headers["idempotency-key"] for r in server.requests}
    assert len(keys) == 1
    strategies = [e.strategy for e in out.of(sk.ResumeEvent)]
    assert strategies in ([], ["replay"])  # [] when cut before any content
    assert out.result.attempts == 2
    if strategies:  # a replay is a second generation: both attempts are billed
        full = uncut().usage
        assert out.result.usage is not None
        assert full is not None
        assert out.result.usage.estimated
        assert out.result.usage.output_tokens > full.output_tokens  # type: ignore[operator]


async def test_cut_with_ids_resumes_by_last_event_id(mode: str) -> None:
    with serve([Fault.cut(after_bytes=4000)], add_ids=True) as server:
        out = await run(mode, server)
    assert out.error is None
    assert out.result is not None
    assert out.text == out.result.text == uncut().text
    assert [e.strategy for e in out.of(sk.ResumeEvent)] == ["last-event-id"]
    # the same generation continued: its usage report covers the broken attempt too
    assert out.result.usage == uncut().usage
    last = server.requests[1].headers["last-event-id"]
    assert int(last) > 1


async def test_prefill_resume(mode: str) -> None:
    with serve([Fault.cut(after_bytes=4000)]) as server:
        out = await run(mode, server, resume="prefill")
    assert out.error is None, out.error
    assert out.result is not None
    assert out.text == out.result.text == uncut().text
    message = server.requests[1].json["messages"][-1]
    assert message["role"] == "assistant"
    assert uncut().text.startswith(message["content"])
    assert [e.strategy for e in out.of(sk.ResumeEvent)] == ["prefill"]


async def test_diverging_replay_is_never_spliced(mode: str) -> None:
    with serve([Fault.cut(after_bytes=4000), Fault.diverge(after_events=0)]) as server:
        out = await run(mode, server)
    assert isinstance(out.error, sk.StreamInterruptedError)
    partial = out.error.partial
    assert partial is not None
    assert partial.text == out.text
    assert uncut().text.startswith(partial.text)
    assert not partial.complete


async def test_resume_off(mode: str) -> None:
    with serve([Fault.cut(after_bytes=4000)]) as server:
        out = await run(mode, server, resume="off")
    assert isinstance(out.error, sk.StreamInterruptedError)
    assert out.error.partial is not None
    assert out.error.partial.text
    assert server.attempts == 1


async def test_stall_is_detected_and_resumed(mode: str) -> None:
    with serve([Fault.stall(after_bytes=3000, seconds=30.0)]) as server:
        out = await run(mode, server, timeout=sk.Timeouts(read_idle=0.3))
    assert out.error is None, out.error
    assert out.result is not None
    assert out.text == out.result.text == uncut().text
    [retry] = out.of(sk.RetryEvent)
    assert "StreamStalledError" in retry.reason


async def test_stall_without_retries_raises_stalled(mode: str) -> None:
    with serve([Fault.stall(after_bytes=10, seconds=30.0)]) as server:
        out = await run(
            mode, server, timeout=sk.Timeouts(read_idle=0.2), retry=sk.RetryPolicy(max_attempts=1)
        )
    assert isinstance(out.error, sk.StreamStalledError)


@pytest.mark.parametrize(
    ("fault", "sleep"),
    [
        (Fault.status(429, {"Retry-After": "1"}), 1.0),
        (Fault.status(503, {"retry-after-ms": "200"}), 0.2),
        (Fault.status(529), 1.0),
        (Fault.status(500), 1.0),
    ],
)
async def test_retried_statuses(mode: str, fault: Fault, sleep: float) -> None:
    with serve([fault]) as server:
        out = await run(mode, server)
    assert out.error is None
    assert out.sleeps == [sleep]
    [retry] = out.of(sk.RetryEvent)
    assert retry.status_code is not None
    assert out.result is not None
    assert out.result.text == uncut().text
    assert server.attempts == 2


async def test_over_cap_retry_after_raises_rate_limit_at_once(mode: str) -> None:
    with serve([Fault.status(429, {"Retry-After": "600"})]) as server:
        out = await run(mode, server)
    assert isinstance(out.error, sk.RateLimitError)
    assert out.error.retry_after == 600.0
    assert out.error.request_id
    assert server.attempts == 1
    assert out.sleeps == []


async def test_401_is_not_retried(mode: str) -> None:
    with serve([Fault.status(401)]) as server:
        out = await run(mode, server)
    assert isinstance(out.error, sk.AuthenticationError)
    assert out.error.status_code == 401
    assert server.attempts == 1
    assert KEY not in str(out.error)


async def test_attempts_run_out_on_status(mode: str) -> None:
    with serve([Fault.status(503)] * 3) as server:
        out = await run(mode, server, retry=sk.RetryPolicy(max_attempts=3, jitter=0.0))
    assert isinstance(out.error, sk.InternalServerError)
    assert out.sleeps == [1.0, 2.0]
    assert server.attempts == 3


async def test_duplicate_event_with_ids_is_dropped(mode: str) -> None:
    with serve([Fault.duplicate(5)], add_ids=True) as server:
        out = await run(mode, server)
    assert out.error is None
    assert out.result is not None
    assert out.text == out.result.text == uncut().text


async def test_reordered_ids_raise_order_error(mode: str) -> None:
    with serve([Fault.reorder(5, 6)], add_ids=True) as server:
        out = await run(mode, server)
    assert isinstance(out.error, sk.StreamOrderError)
    assert out.error.partial is not None


async def test_malformed_json(mode: str) -> None:
    with serve([Fault.malformed_json(5)]) as server:
        out = await run(mode, server)
    assert isinstance(out.error, sk.ChunkDecodeError)
    assert out.error.raw == '{"choices": ['
    assert out.error.partial is not None
    assert out.error.partial.text == out.text
    assert out.text
    assert server.attempts == 1  # not retried


async def test_invalid_utf8_becomes_replacement_characters(mode: str) -> None:
    with serve([Fault.invalid_utf8(5)]) as server:
        out = await run(mode, server)
    assert out.error is None
    assert out.result is not None
    assert "\ufffd" in out.result.text
    assert out.result.text.replace("\ufffd", "") == uncut().text


async def test_huge_line_raises_sse_error_with_bounded_memory(mode: str) -> None:
    tracemalloc.start()
    try:
        with serve([Fault.huge_line(20 * 1024 * 1024, after_events=3)]) as server:
            out = await run(mode, server)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(out.error, sk.SSEError)
    assert "max_line_size" in str(out.error) or "line" in str(out.error)
    assert server.attempts == 1
    # the 16 MiB line limit plus one read buffer, not the 20 MB line
    assert peak < 40 * 1024 * 1024


async def test_error_event_mid_stream(mode: str) -> None:
    with serve([Fault.error_event(10)]) as server:
        out = await run(mode, server)
    assert isinstance(out.error, sk.ProviderError)
    assert out.error.partial is not None
    assert out.error.partial.text == out.text
    assert out.text
    assert server.attempts == 1  # after content: not retried


async def test_overload_before_content_is_retried(mode: str) -> None:
    with serve([Fault.error_event(0)]) as server:
        out = await run(mode, server)
    assert out.error is None, out.error
    assert out.result is not None
    assert out.result.text == uncut().text
    assert server.attempts == 2


async def test_non_sse_content_type(mode: str) -> None:
    with serve(
        [Fault.content_type("application/json", body=b'{"id": "x", "choices": []}')]
    ) as server:
        out = await run(mode, server)
    assert isinstance(out.error, sk.UnexpectedContentTypeError)
    assert '"choices"' in str(out.error)


async def test_drip(mode: str) -> None:
    raw = read_real(RAW_NAME)
    with serve([Fault.drip(len(raw) // 20 + 1, 0.005)]) as server:
        out = await run(mode, server)
    assert out.result is not None
    assert out.result.text == uncut().text


async def test_cost_and_budget(mode: str) -> None:
    tracker = sk.CostTracker()
    with serve() as server:
        out = await run(mode, server, tracker=tracker)
    assert out.result is not None
    assert out.result.cost is not None
    assert tracker.total_cost == out.result.cost
    tight = sk.CostTracker(budget_usd=0.00002)
    with LocalServer(demo_transcript(model="gpt-4o")) as server:
        out = await run(mode, server, tracker=tight)
    assert isinstance(out.error, sk.BudgetExceededError)
    assert out.error.partial is not None
    assert out.error.partial.text
    assert not out.error.partial.complete


async def test_estimated_usage_after_a_cut_with_no_retries(mode: str) -> None:
    tracker = sk.CostTracker()
    with serve([Fault.cut(after_bytes=5000)]) as server:
        out = await run(mode, server, tracker=tracker, retry=sk.RetryPolicy(max_attempts=1))
    assert isinstance(out.error, sk.StreamInterruptedError)
    partial = out.error.partial
    assert partial is not None
    assert partial.usage is not None
    assert partial.usage.estimated
    assert partial.cost is not None
    assert partial.cost > 0
    assert tracker.total_cost == partial.cost


async def test_no_canary_key_anywhere(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    buffer = io.StringIO()
    faults = [
        Fault.status(429, {"Retry-After": "0"}),
        Fault.cut(after_bytes=3000),
        Fault.status(401),
    ]
    with redirect_stdout(buffer), redirect_stderr(buffer), serve(faults) as server:
        out = await run(mode, server)
    texts = [buffer.getvalue(), caplog.text, repr(out.events), repr(out.result)]
    assert out.error is not None
    texts += [str(out.error), repr(out.error), repr(out.error.partial)]
    import traceback

    texts.append("".join(traceback.format_exception(out.error)))
    for text in texts:
        assert KEY not in text
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_cancellation_closes_the_response(anyio_backend: str) -> None:
    # The server holds the stream after two events; the task is cancelled while it waits
    # for more. A pool of ONE connection shows the cancellation released it: the second
    # stream can only run if the first response was closed.
    import httpx

    limits = httpx.Limits(max_connections=1)
    with serve([Fault.stall(after_events=2, seconds=60.0)]) as server:
        async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(10.0, pool=5.0)) as http:
            client = sk.AsyncStreamingClient(
                base_url=server.base_url, api_key=KEY, http_client=http
            )
            stream = client.stream(model="gpt-4o", messages=MESSAGES)
            got: list[sk.DeltaEvent] = []
            with anyio.CancelScope() as scope:
                async for event in stream:
                    got.append(event)
                    scope.cancel()  # delivered at the stream's next wait for bytes
            assert scope.cancelled_caught
            assert got
            assert not stream.snapshot().complete
            again = client.stream(model="gpt-4o", messages=MESSAGES)
            text = "".join([e.text async for e in again if isinstance(e, sk.TextDelta)])
            assert text == uncut().text
            await stream.aclose()
            await client.aclose()


def test_break_inside_with_closes_the_response() -> None:
    # The server sends two events, then holds the rest back (until the client leaves or
    # the server stops), so the break always happens mid-stream, whatever the read sizes.
    # A pool of ONE connection makes "the connection was released" observable: the
    # second stream can only get a connection if leaving the ``with`` closed the first.
    import httpx

    stall = Fault.stall(after_events=2, seconds=60.0)
    limits = httpx.Limits(max_connections=1)
    with (
        serve([stall]) as server,
        httpx.Client(limits=limits, timeout=httpx.Timeout(10.0, pool=5.0)) as http,
        sk.StreamingClient(base_url=server.base_url, api_key=KEY, http_client=http) as client,
    ):
        with client.stream(model="gpt-4o", messages=MESSAGES) as stream:
            for _event in stream:
                break
            assert not stream.snapshot().complete
        # the only pooled connection is free again: this stream runs to the end
        again = client.stream(model="gpt-4o", messages=MESSAGES)
        assert "".join(again.text_stream) == uncut().text
        assert server.attempts == 2
        assert list(stream) == []  # closed: iteration stops
        assert not stream.snapshot().complete


def test_sync_client_inside_a_running_event_loop() -> None:
    # Jupyter runs cells inside a loop: the sync client must not start its own
    async def inside() -> str:
        with serve() as server, sk.StreamingClient(base_url=server.base_url, api_key=KEY) as c:
            return "".join(c.stream(model="gpt-4o", messages=MESSAGES).text_stream)

    assert anyio.run(inside) == uncut().text


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("anthropic-messages-thinking-signature.sse", "anthropic-messages"),
        ("anthropic-messages-tool-use.sse", "anthropic-messages"),
        ("openai-responses-function-call.sse", "openai-responses"),
        ("openai-responses-reasoning-summary.sse", "openai-responses"),
        ("gemini-native-text-crlf.sse", "gemini"),
        ("gemini-vertex-streamed-function-call-args.sse", "gemini"),
    ],
)
async def test_every_dialect_through_the_clients(mode: str, name: str, provider: str) -> None:
    expected = decode_stream(read_real(name), provider=provider)[1]
    with LocalServer(read_real(name), dialect=provider) as server:  # type: ignore[arg-type]
        out = await run(mode, server, provider=provider)
    assert out.error is None, out.error
    assert out.result is not None
    assert out.result.choices == expected.choices
    assert out.result.usage == expected.usage
    assert out.result.complete


async def test_anthropic_cut_resumes_by_prefill(mode: str) -> None:
    from streamkit.testing import demo_anthropic_transcript

    body = demo_anthropic_transcript()
    expected = decode_stream(body, provider="anthropic-messages")[1]
    with LocalServer(
        body, dialect="anthropic-messages", faults=[Fault.cut(after_bytes=len(body) // 2)]
    ) as server:
        out = await run(mode, server, provider="anthropic-messages")
    assert out.error is None, out.error
    assert out.result is not None
    assert out.text == out.result.text == expected.text
    assert [e.strategy for e in out.of(sk.ResumeEvent)] == ["prefill"]
    request = server.requests[1]
    assert request.path == "/v1/messages"
    assert request.json["messages"][-1]["role"] == "assistant"
    assert request.headers["x-api-key"] == KEY


async def test_responses_background_cut_resumes_with_starting_after(mode: str) -> None:
    from streamkit.testing import demo_responses_transcript

    body = demo_responses_transcript()
    expected = decode_stream(body, provider="openai-responses")[1]
    with LocalServer(
        body, dialect="openai-responses", faults=[Fault.cut(after_bytes=len(body) // 2)]
    ) as server:
        out = await run(mode, server, provider="openai-responses", background=True)
    assert out.error is None, out.error
    assert out.result is not None
    assert out.text == out.result.text == expected.text
    assert [e.strategy for e in out.of(sk.ResumeEvent)] == ["starting-after"]
    second = server.requests[1]
    assert second.method == "GET"
    assert "starting_after=" in second.query
