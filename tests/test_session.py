"""The sans-I/O session: scripted bodies, cuts and failures with a fake clock."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamkit import (
    APIConnectionError,
    AuthenticationError,
    DeltaEvent,
    RateLimitError,
    ResumeEvent,
    RetryEvent,
    RetryPolicy,
    StreamInterruptedError,
    StreamkitError,
    TextDelta,
    Timeouts,
    ToolCallDelta,
)
from streamkit._request import RequestSpec
from streamkit._session import ResumeMode, StreamSession
from streamkit.errors import status_error_class
from streamkit.offline import decode_stream
from streamkit.providers import get

from conftest import read_real

Serve = Callable[[int, RequestSpec], "list[bytes] | StreamkitError"]


class Cut(Exception):
    """Marker in a script: the connection breaks here."""


def run(
    serve: Callable[[int, RequestSpec], Any],
    *,
    resume: ResumeMode = "auto",
    policy: RetryPolicy | None = None,
    timeouts: Timeouts | None = None,
) -> tuple[list[DeltaEvent], StreamSession, list[float], list[RequestSpec]]:
    """Drive a session like the client shells do, with a fake clock and no sleeping.

    ``serve(attempt, spec)`` returns a StreamkitError (a status answer) or a list of
    body chunks, where a ``Cut`` instance in the list breaks the connection there.
    """
    dialect = get("openai-chat")
    spec = dialect.build_request(
        base_url="http://test/v1",
        api_key="sk-test-0123456789",
        model="gpt-4o",
        messages=[{"role": "user", "content": "Say something"}],
        params={},
    )
    session = StreamSession(
        dialect=dialect,
        request=spec,
        retry=policy or RetryPolicy(jitter=0.0),
        timeouts=timeouts,
        resume=resume,
        prompt_chars=13,
    )
    now = 0.0
    events: list[DeltaEvent] = []
    sleeps: list[float] = []
    requests: list[RequestSpec] = []
    while True:
        req = session.next_request(now)
        requests.append(req)
        try:
            answer = serve(session.attempt, req)
            if isinstance(answer, StreamkitError):
                raise answer
            events.extend(session.opened(now))
            for chunk in answer:
                now += 0.01
                session.take_failure()  # as the shells do before reading on
                if isinstance(chunk, Cut):
                    raise APIConnectionError("peer closed connection")
                events.extend(session.feed(chunk, now))
                if session.stream_done:
                    break
            events.extend(session.end(now))
            return events, session, sleeps, requests
        except StreamkitError as err:
            plan = session.fail(err, now)
            events.extend(plan.events)
            sleeps.append(plan.delay_s)
            now += plan.delay_s


def text_of(events: list[DeltaEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.index == 0)


def with_ids(raw: bytes) -> bytes:
    """The recording with an ``id: n`` line added to every event (a derived copy)."""
    blocks = [b for b in raw.split(b"\n\n") if b.strip()]
    return b"".join(b"id: %d\n" % (i + 1) + b + b"\n\n" for i, b in enumerate(blocks))


def after_id(raw_with_ids: bytes, last_id: str) -> bytes:
    blocks = [b for b in raw_with_ids.split(b"\n\n") if b.strip()]
    keep = [b for b in blocks if int(re.match(rb"id: (\d+)", b).group(1)) > int(last_id)]  # type: ignore[union-attr]
    return b"".join(b + b"\n\n" for b in keep)


RAW_NAME = "openai-chat-text-include-usage.sse"


def test_uncut_stream() -> None:
    raw = read_real(RAW_NAME)
    events, session, sleeps, requests = run(lambda attempt, spec: [raw])
    expected, result = decode_stream(raw)
    assert session.result is not None
    assert session.result.text == result.text
    assert sleeps == []
    assert len(requests) == 1
    assert requests[0].headers["Idempotency-Key"].startswith("streamkit-")


def _cut_serve(raw: bytes, offset: int, second: Callable[[RequestSpec], bytes]) -> Any:
    def serve(attempt: int, spec: RequestSpec) -> Any:
        if attempt == 1:
            return [raw[:offset], Cut()]
        return [second(spec)]

    return serve


def cut_offsets(body: bytes, *, near: int = 2, sample: int = 64, seed: int = 0) -> list[int]:
    """Where to cut ``body``: each line end ±``near`` bytes, plus a seeded random sample.

    Every line end is a candidate boundary: the blank line that ends an event, the end
    of a ``data:``/``id:`` field, CR/LF pairs. Cutting just before, on, and just after
    each one covers the cases where the resume seam falls on a boundary; the seeded
    sample covers cuts inside payloads (mid-JSON, mid-character). Sorted, unique, all
    in ``range(len(body))``.
    """
    rng = random.Random(seed)
    ends = [i + 1 for i, byte in enumerate(body) if byte in b"\r\n"]
    offsets = {0, len(body) - 1}
    offsets.update(e + d for e in ends for d in range(-near, near + 1))
    offsets.update(rng.randrange(len(body)) for _ in range(sample))
    return sorted(o for o in offsets if 0 <= o < len(body))


def test_cut_offsets_cover_every_event_boundary() -> None:
    body = b"data: a\n\ndata: b\r\n\r\nid: 1\ndata: \xc3\xa9\n\n" + b"x" * 200
    offsets = cut_offsets(body, sample=5)
    boundaries = [i + 2 for i in range(len(body) - 1) if body[i : i + 2] == b"\n\n"]
    boundaries += [i + 4 for i in range(len(body) - 3) if body[i : i + 4] == b"\r\n\r\n"]
    for end in boundaries:
        assert set(range(end - 2, end + 3)) <= set(offsets), end
    assert offsets == sorted(set(offsets))
    assert offsets[0] == 0
    assert offsets[-1] == len(body) - 1
    assert len(offsets) < len(body) // 2  # a sample, not every byte
    assert cut_offsets(body, sample=5) == offsets  # seeded: the same cuts every run


@pytest.mark.parametrize("strategy", ["replay", "last-event-id"])
def test_cut_near_every_boundary_resumes_exactly(strategy: str) -> None:
    raw = read_real(RAW_NAME)
    _, uncut = decode_stream(raw)
    body = with_ids(raw) if strategy == "last-event-id" else raw
    for offset in cut_offsets(body):

        def second(spec: RequestSpec) -> bytes:
            last = spec.headers.get("Last-Event-ID")
            return after_id(body, last) if last else body

        events, session, sleeps, requests = run(_cut_serve(body, offset, second))
        result = session.result
        assert result is not None
        assert text_of(events) == result.text == uncut.text, offset
        assert result.usage is not None
        assert result.finish_reason == "stop"
        resumes = [e for e in events if isinstance(e, ResumeEvent)]
        retries = [e for e in events if isinstance(e, RetryEvent)]
        assert len(retries) == 1
        assert sleeps == [1.0]
        assert requests[0].headers["Idempotency-Key"] == requests[1].headers["Idempotency-Key"]
        if resumes:
            assert resumes[0].strategy == strategy
            assert resumes[0].attempt == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_random_cuts_any_strategy(data: st.DataObject) -> None:
    name = data.draw(
        st.sampled_from(
            [
                "openai-chat-tool-calls-parallel.sse",
                "deepseek-chat-reasoner.sse",
                "openai-chat-n3-choices.sse",
                "openai-chat-refusal.sse",
            ]
        )
    )
    raw = read_real(name)
    _, uncut = decode_stream(raw)
    use_ids = data.draw(st.booleans())
    honour = data.draw(st.booleans())
    body = with_ids(raw) if use_ids else raw
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body) - 1), min_size=1, max_size=3)))

    def serve(attempt: int, spec: RequestSpec) -> Any:
        last = spec.headers.get("Last-Event-ID")
        full = after_id(body, last) if (last and honour) else body
        if attempt <= len(cuts):
            # cut the attempt a little further into the stream each time
            return [full[: max(0, cuts[attempt - 1] - (len(body) - len(full)))], Cut()]
        return [full]

    events, session, _, _ = run(serve)
    result = session.result
    assert result is not None
    assert result.choices == uncut.choices
    streamed: dict[tuple[str, int, int], str] = {}
    for e in events:
        if isinstance(e, TextDelta):
            key = ("text", e.index, -1)
            streamed[key] = streamed.get(key, "") + e.text
        elif isinstance(e, ToolCallDelta):
            key = ("tool", e.index, e.tool_index)
            streamed[key] = streamed.get(key, "") + e.arguments
    for choice in uncut.choices:
        assert streamed.get(("text", choice.index, -1), "") == choice.text
        for call in choice.tool_calls:
            assert streamed[("tool", choice.index, call.index)] == call.arguments


def test_diverging_replay_raises_with_partial() -> None:
    raw = read_real(RAW_NAME)
    different = raw.replace(b"weather", b"WEATHER")

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:4000], Cut()] if attempt == 1 else [different]

    with pytest.raises(StreamInterruptedError) as info:
        run(serve)
    err = info.value
    assert err.partial is not None
    assert "weather" in err.partial.text
    assert "WEATHER" not in err.partial.text
    assert not err.partial.complete
    assert "diverged" in str(err)


def test_shorter_replay_is_divergence() -> None:
    raw = read_real(RAW_NAME)
    short = decode_stream(raw)[1].text[:10]
    assert short
    # the replay finishes ("stop") before reproducing what was delivered
    replay = (
        b'data: {"choices":[{"index":0,"delta":{"content":"I\'m"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:4000], Cut()] if attempt == 1 else [replay]

    with pytest.raises(StreamInterruptedError):
        run(serve)


def test_resume_off_raises_interrupted() -> None:
    raw = read_real(RAW_NAME)

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:3000], Cut()]

    with pytest.raises(StreamInterruptedError) as info:
        run(serve, resume="off")
    assert info.value.partial is not None
    assert info.value.partial.text
    assert isinstance(info.value.__cause__, APIConnectionError)


def test_attempts_used_up_after_content() -> None:
    raw = read_real(RAW_NAME)

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:3000], Cut()]

    with pytest.raises(StreamInterruptedError) as info:
        run(serve, policy=RetryPolicy(max_attempts=3, jitter=0.0))
    assert info.value.attempts == 3
    partial = info.value.partial
    assert partial is not None
    assert partial.attempts == 3
    # every broken attempt is accounted with an estimated usage
    assert partial.usage is not None
    assert partial.usage.estimated
    assert partial.usage.output_tokens and partial.usage.output_tokens > 0


def test_cut_before_content_is_a_plain_retry() -> None:
    raw = read_real(RAW_NAME)

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:20], Cut()] if attempt == 1 else [raw]

    events, session, sleeps, requests = run(serve)
    assert not [e for e in events if isinstance(e, ResumeEvent)]
    assert [type(e) for e in events if isinstance(e, RetryEvent)] == [RetryEvent]
    assert "Last-Event-ID" not in requests[1].headers


def test_status_errors_retry_with_retry_after_then_succeed() -> None:
    raw = read_real(RAW_NAME)
    answers: list[Any] = [
        status_error_class(429)("rate", status_code=429, retry_after=2.0),
        status_error_class(503)("busy", status_code=503, retry_after=0.2),
        [raw],
    ]
    events, session, sleeps, _ = run(lambda attempt, spec: answers[attempt - 1])
    assert sleeps == [2.0, 0.2]
    retries = [e for e in events if isinstance(e, RetryEvent)]
    assert [r.status_code for r in retries] == [429, 503]
    assert session.result is not None
    assert session.result.attempts == 3


def test_over_cap_retry_after_raises_at_once() -> None:
    err = status_error_class(429)("rate", status_code=429, retry_after=120.0)
    with pytest.raises(RateLimitError) as info:
        run(lambda attempt, spec: err)
    assert info.value.retry_after == 120.0
    assert info.value.partial is not None


def test_401_is_not_retried() -> None:
    calls = []

    def serve(attempt: int, spec: RequestSpec) -> Any:
        calls.append(attempt)
        return status_error_class(401)("no", status_code=401)

    with pytest.raises(AuthenticationError):
        run(serve)
    assert calls == [1]


def test_total_deadline() -> None:
    raw = read_real(RAW_NAME)

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:3000], Cut()]

    with pytest.raises(StreamInterruptedError):
        run(serve, timeouts=Timeouts(total=2.5), policy=RetryPolicy(max_attempts=100, jitter=0.0))


def test_prefill_resume_sends_the_partial_turn() -> None:
    raw = read_real(RAW_NAME)
    _, uncut = decode_stream(raw)
    full = uncut.text

    def continuation(prefix: str) -> bytes:
        rest = full[len(prefix) :]
        chunk = {"choices": [{"index": 0, "delta": {"content": rest}, "finish_reason": "stop"}]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"

    seen: list[dict[str, Any]] = []

    def serve(attempt: int, spec: RequestSpec) -> Any:
        if attempt == 1:
            return [raw[:4000], Cut()]
        assert spec.json is not None
        last = spec.json["messages"][-1]
        seen.append(last)
        return [continuation(last["content"])]

    events, session, _, _ = run(serve, resume="prefill")
    assert seen[0]["role"] == "assistant"
    assert full.startswith(seen[0]["content"])
    assert text_of(events) == full
    assert [e.strategy for e in events if isinstance(e, ResumeEvent)] == ["prefill"]


def test_last_event_id_server_ignoring_header_replays_with_ids() -> None:
    raw = with_ids(read_real(RAW_NAME))
    _, uncut = decode_stream(raw)

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:5000], Cut()] if attempt == 1 else [raw]  # ignores Last-Event-ID

    events, session, _, requests = run(serve)
    assert requests[1].headers["Last-Event-ID"]
    assert text_of(events) == uncut.text


def test_last_event_id_server_replaying_a_different_generation_is_caught() -> None:
    raw = with_ids(read_real(RAW_NAME))
    other = raw.replace(b"unable", b"UNABLE")

    def serve(attempt: int, spec: RequestSpec) -> Any:
        return [raw[:5000], Cut()] if attempt == 1 else [other]

    with pytest.raises(StreamInterruptedError):
        run(serve)


@pytest.mark.parametrize("bad", [b"data: {not json\n\n", b"event: error\ndata: {}\n\n"])
@pytest.mark.parametrize("whole", [True, False])
def test_failure_mid_piece_delivers_the_events_before_it(bad: bytes, whole: bool) -> None:
    """One read can hold many events: those before a bad one reach the user first."""
    raw = read_real(RAW_NAME)
    blocks = raw.split(b"\n\n")
    body = b"\n\n".join(blocks[:6]) + b"\n\n" + bad + b"\n\n".join(blocks[6:])
    before = "".join(json.loads(b[6:])["choices"][0]["delta"]["content"] for b in blocks[:6])
    assert before

    def serve(attempt: int, spec: RequestSpec) -> list[bytes]:
        return [body] if whole else [body[:10], body[10:]]

    with pytest.raises(StreamkitError) as info:
        run(lambda a, s: serve(a, s), policy=RetryPolicy(max_attempts=1))
    assert info.value.partial is not None
    assert info.value.partial.text == before
    # the events were returned by feed() (not only kept in the partial result)
    session = StreamSession(dialect=get("openai-chat"), request=_spec())
    session.next_request(0.0)
    session.opened(0.0)
    delivered = session.feed(body, 0.1)
    assert text_of(delivered) == before
    with pytest.raises(StreamkitError):
        session.take_failure()
    session.take_failure()  # raised once; nothing waits any more


def _spec() -> RequestSpec:
    return get("openai-chat").build_request(
        base_url="http://test/v1",
        api_key="sk-test-0123456789",
        model="gpt-4o",
        messages=[{"role": "user", "content": "Say something"}],
        params={},
    )


def test_deferred_failure_outranks_the_end() -> None:
    raw = read_real(RAW_NAME)
    session = StreamSession(dialect=get("openai-chat"), request=_spec())
    session.next_request(0.0)
    session.opened(0.0)
    first = raw.split(b"\n\n")[1] + b"\n\n"
    assert session.feed(first + b"data: [broken\n\n", 0.1)
    with pytest.raises(StreamkitError):
        session.end(0.2)
