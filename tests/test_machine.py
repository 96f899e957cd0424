"""The step machine alone: scripted outcomes and a fake clock, no I/O at all.

Every retry/resume/drain decision the executors rely on is checked here, as the
actions the machine hands out for the outcomes it is given.
"""

from __future__ import annotations

from typing import Any

import pytest

import streamkit as sk
from streamkit._head import ResponseHead
from streamkit._request import RequestSpec
from streamkit.errors import APIConnectionError, StreamStalledError
from streamkit.providers import get
from streamkit.session import (
    CLOSE,
    DONE,
    EOF,
    READ,
    Deliver,
    Failed,
    Open,
    ReadBody,
    Sleep,
    StreamMachine,
    StreamSession,
)

SSE_HEAD = ResponseHead(200, "OK", {"content-type": "text/event-stream"}, wall_time=0.0)


def chunk(text: str, finish: str | None = None, event_id: str | None = None) -> bytes:
    finish_json = "null" if finish is None else f'"{finish}"'
    data = (
        f'{{"id":"c1","model":"gpt-4o","choices":[{{"index":0,"delta":{{"content":"{text}"}},'
        f'"finish_reason":{finish_json}}}]}}'
    )
    prefix = f"id: {event_id}\n" if event_id else ""
    return f"{prefix}data: {data}\n\n".encode()


DONE_BYTES = b"data: [DONE]\n\n"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def machine(**kwargs: Any) -> tuple[StreamMachine, Clock]:
    clock = Clock()
    session = StreamSession(
        dialect=get("openai-chat"),
        request=RequestSpec("POST", "https://api.test/v1/chat/completions", {}, {"model": "m"}),
        retry=kwargs.pop("retry", sk.RetryPolicy(jitter=0.0)),
        **kwargs,
    )
    return StreamMachine(session, clock=clock), clock


def texts(action: Any) -> list[str]:
    assert type(action) is Deliver, action
    return [e.text for e in action.events if isinstance(e, sk.TextDelta)]


def test_happy_path_reads_then_drains_then_closes() -> None:
    m, _ = machine()
    action = m.next(None)
    assert type(action) is Open
    assert action.spec.headers["Idempotency-Key"].startswith("streamkit-")
    assert m.next(SSE_HEAD) is READ
    assert texts(m.next(chunk("Hel"))) == ["Hel"]
    assert m.next(None) is READ
    assert m.next(b"") is READ  # a piece with no complete event delivers nothing
    finished = m.next(chunk("lo", finish="stop") + DONE_BYTES)
    assert texts(finished) == ["lo"]
    # the terminal event was seen: the machine drains to EOF (connection reuse), closes, ends
    assert m.next(None) is READ
    assert m.next(b"trailing bytes are ignored") is READ
    assert m.next(EOF) is CLOSE
    assert m.next(None) is DONE
    assert m.next(None) is DONE
    assert m.session.result is not None
    assert m.session.result.text == "Hello"


def test_error_status_reads_the_body_then_retries_after_the_delay() -> None:
    m, clock = machine()
    assert type(m.next(None)) is Open
    head = ResponseHead(503, "Unavailable", {"retry-after": "2"}, wall_time=0.0)
    action = m.next(head)
    assert type(action) is ReadBody
    assert action.limit == 64 * 1024
    assert m.next(b'{"error": {"message": "busy"}}') is CLOSE
    retry = m.next(None)
    assert type(retry) is Deliver
    [event] = retry.events
    assert isinstance(event, sk.RetryEvent)
    assert event.status_code == 503
    assert event.delay_s == 2.0
    sleep = m.next(None)
    assert sleep == Sleep(2.0)
    clock.now += 2.0
    assert type(m.next(None)) is Open  # the second attempt


def test_not_retryable_status_raises_after_close() -> None:
    m, _ = machine()
    m.next(None)
    assert type(m.next(ResponseHead(401, "Unauthorized", {}, 0.0))) is ReadBody
    assert m.next(b'{"error": {"code": "invalid_api_key", "message": "bad"}}') is CLOSE
    with pytest.raises(sk.AuthenticationError) as info:
        m.next(None)
    assert info.value.code == "invalid_api_key"
    assert m.next(None) is DONE


def test_wrong_content_type_is_an_error() -> None:
    m, _ = machine(retry=sk.RetryPolicy(max_attempts=1))
    m.next(None)
    head = ResponseHead(200, "OK", {"content-type": "application/json"}, 0.0)
    assert type(m.next(head)) is ReadBody
    assert m.next(b"{}") is CLOSE
    with pytest.raises(sk.UnexpectedContentTypeError):
        m.next(None)


def test_break_after_content_resumes_with_last_event_id() -> None:
    m, _ = machine()
    m.next(None)
    m.next(SSE_HEAD)
    assert texts(m.next(chunk("Hel", event_id="1"))) == ["Hel"]
    assert m.next(None) is READ
    assert m.next(Failed(APIConnectionError("reset"))) is CLOSE
    retry = m.next(None)
    assert type(retry) is Deliver
    assert isinstance(retry.events[0], sk.RetryEvent)
    assert type(m.next(None)) is Sleep
    reopen = m.next(None)
    assert type(reopen) is Open
    assert reopen.spec.headers["Last-Event-ID"] == "1"
    resumed = m.next(SSE_HEAD)
    assert type(resumed) is Deliver
    assert isinstance(resumed.events[0], sk.ResumeEvent)
    assert m.next(None) is READ
    # the server continues after event 1 (and repeats it: deduplicated by id)
    out = m.next(chunk("Hel", event_id="1") + chunk("lo", "stop", event_id="2") + DONE_BYTES)
    assert texts(out) == ["lo"]


def test_a_failure_behind_delivered_events_is_raised_after_them() -> None:
    m, _ = machine(retry=sk.RetryPolicy(max_attempts=1))
    m.next(None)
    m.next(SSE_HEAD)
    out = m.next(chunk("ok") + b"data: {not json\n\n")
    assert texts(out) == ["ok"]  # delivered first
    assert m.next(None) is CLOSE  # then the malformed chunk ends the stream
    with pytest.raises(sk.ChunkDecodeError) as info:
        m.next(None)
    assert info.value.partial is not None
    assert info.value.partial.text == "ok"


def test_eof_before_the_end_is_a_break() -> None:
    m, _ = machine(retry=sk.RetryPolicy(max_attempts=1))
    m.next(None)
    m.next(SSE_HEAD)
    m.next(chunk("partial"))
    m.next(None)
    assert m.next(EOF) is CLOSE
    with pytest.raises(sk.StreamInterruptedError) as info:
        m.next(None)
    assert info.value.partial is not None
    assert info.value.partial.text == "partial"


def test_stall_before_content_is_retried_and_the_deadline_is_the_clock() -> None:
    m, clock = machine(timeouts=sk.Timeouts(total=5.0))
    m.next(None)
    assert m.next(Failed(StreamStalledError("idle", idle_s=1.0))) is CLOSE
    assert type(m.next(None)) is Deliver
    assert type(m.next(None)) is Sleep
    clock.now += 10.0  # past Timeouts.total
    assert type(m.next(None)) is Open
    assert m.next(SSE_HEAD) is READ
    assert m.next(chunk("late")) is CLOSE  # the deadline passed: no more attempts
    with pytest.raises(sk.APITimeoutError, match=r"Timeouts\.total"):
        m.next(None)


def test_a_failure_while_draining_after_the_end_does_not_matter() -> None:
    m, _ = machine()
    m.next(None)
    m.next(SSE_HEAD)
    m.next(chunk("done", "stop") + DONE_BYTES)
    assert m.next(None) is READ
    assert m.next(Failed(APIConnectionError("reset after the end"))) is CLOSE
    assert m.next(None) is DONE
    assert m.session.result is not None


def test_close_stops_the_machine() -> None:
    m, _ = machine()
    m.next(None)
    m.close()
    assert m.over
    assert m.next(None) is DONE


def test_an_unexpected_outcome_is_a_state_error() -> None:
    m, _ = machine(retry=sk.RetryPolicy(max_attempts=1))
    m.next(None)
    assert m.next(b"bytes where a head was expected") is CLOSE
    with pytest.raises(sk.StreamStateError, match="executor bug"):
        m.next(None)


def test_an_id_only_block_moves_the_last_event_id() -> None:
    # WHATWG: an `id` field with no data still sets the last event ID string at dispatch
    m, _ = machine()
    m.next(None)
    m.next(SSE_HEAD)
    m.next(chunk("Hel", event_id="1"))
    m.next(None)
    assert m.next(b"id: 7\n\n") is READ
    assert m.next(Failed(APIConnectionError("reset"))) is CLOSE
    m.next(None)  # the RetryEvent
    m.next(None)  # the sleep
    reopen = m.next(None)
    assert type(reopen) is Open
    assert reopen.spec.headers["Last-Event-ID"] == "7"
