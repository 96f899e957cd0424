"""The WebSocket core alone: the machine's websocket flow, ConnectionState, dialects, planner.

Scripted outcomes and a fake clock, no sockets: every decision the WebSocket executors
rely on (retire or keep a socket, replay, fallback to the full input, close codes,
rotation, lane routing) is checked here as data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import streamkit as sk
from streamkit._head import ResponseHead
from streamkit._ws_state import MAX_HISTORY, ConnectionState
from streamkit.errors import (
    AuthenticationError,
    ConfigurationError,
    InternalServerError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    StreamStalledError,
    StreamStateError,
    WebSocketClosedError,
)
from streamkit.offline import decode_stream
from streamkit.providers.ws import ChatRelay, RelayDecoder, ResponsesWebSocket, close_error
from streamkit.session import (
    CONNECTED,
    DONE,
    RECEIVE,
    Closed,
    Connect,
    Deliver,
    Failed,
    Release,
    Send,
    Sleep,
    StreamMachine,
    StreamSession,
)
from streamkit.testing import Fault
from streamkit.testing._planner import Abort, CloseSocket, Frame, Freeze, plan_frames
from streamkit.testing._transcripts import split_blocks

from conftest import files_of, read_real

URL = "wss://api.test/v1/responses"
KEY = "sk-canary-ws-1a2b3c4d5e6f"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def messages_of(raw: bytes) -> list[Any]:
    """The recording's events as the messages a WebSocket would carry."""
    out: list[Any] = []
    for block in split_blocks(raw):
        if block.is_event and block.data is not None:
            payload = block.payload
            out.append(payload if isinstance(payload, dict) else block.data)
    return out


def ws_machine(
    dialect: Any = None,
    *,
    params: dict[str, Any] | None = None,
    fallback: sk.StreamSession | None = None,
    retry: sk.RetryPolicy | None = None,
    messages: list[dict[str, Any]] | None = None,
) -> tuple[StreamMachine, Clock]:
    dialect = dialect or ResponsesWebSocket()
    spec = dialect.build_request(
        base_url=URL,
        api_key=KEY,
        model="gpt-5",
        messages=messages or [{"role": "user", "content": "Hi"}],
        params=params or {},
    )
    session = StreamSession(
        dialect=dialect, request=spec, retry=retry or sk.RetryPolicy(jitter=0.0)
    )
    clock = Clock()
    fb = None
    if fallback is not None:
        fb = fallback.request
    return StreamMachine(session, clock=clock, transport="websocket", fallback=fb), clock


class Script:
    """Answers the machine's actions: messages per attempt, then what ends each attempt."""

    def __init__(self, attempts: list[list[Any]], handshakes: list[Any] | None = None) -> None:
        self.attempts = attempts
        self.handshakes = list(handshakes or [])
        self.actions: list[Any] = []
        self.sent: list[dict[str, Any]] = []
        self.events: list[sk.DeltaEvent] = []
        self._queue: list[Any] = []

    def run(self, machine: StreamMachine) -> None:
        outcome: Any = None
        while True:
            action = machine.next(outcome)
            self.actions.append(action)
            outcome = self.answer(action)
            if action is DONE:
                return

    def answer(self, action: Any) -> Any:
        if type(action) is Connect:
            if self.handshakes:
                head = self.handshakes.pop(0)
                if head is not None:
                    return head
            self._queue = list(self.attempts.pop(0))
            return CONNECTED
        if type(action) is Send:
            self.sent.append(action.message)
            return None
        if action is RECEIVE:
            return self._queue.pop(0)
        if type(action) is Deliver:
            self.events.extend(action.events)
        return None

    def of(self, kind: type[Any]) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, sk.TextDelta))


RESPONSES = [f for f in files_of("openai-responses", "complete")]


# ---- the machine's websocket flow ----------------------------------------------------------


@pytest.mark.parametrize("name", RESPONSES)
def test_messages_decode_as_the_sse_stream_does(name: str) -> None:
    raw = read_real(name)
    expected_events, expected = decode_stream(raw, provider="openai-responses")
    m, _ = ws_machine()
    script = Script([messages_of(raw)])
    script.run(m)
    assert script.events == expected_events
    result = m.session.result
    assert result is not None
    assert result.text == expected.text
    assert result.tool_calls == expected.tool_calls
    assert result.usage == expected.usage
    assert result.finish_reason == expected.finish_reason
    assert [type(a).__name__ for a in script.actions[:2]] == ["Connect", "Send"]
    assert script.sent[0]["type"] == "response.create"
    assert "stream" not in script.sent[0]
    assert script.of(Release) == [Release(retire=False)]


def test_a_drop_replays_on_a_new_socket_and_skips_the_verified_prefix() -> None:
    raw = read_real("openai-responses-text.sse")
    full = messages_of(raw)
    cut = 5
    m, _ = ws_machine()
    script = Script([[*full[:cut], Closed(1006, "")], full])
    script.run(m)
    retry = [e for e in script.events if isinstance(e, sk.RetryEvent)]
    resume = [e for e in script.events if isinstance(e, sk.ResumeEvent)]
    assert len(retry) == 1 and "WebSocketClosedError" in retry[0].reason
    assert resume[0].strategy == "replay"
    assert script.of(Release) == [Release(retire=True), Release(retire=False)]
    assert script.sent[0] == script.sent[1]  # the same response.create again
    assert script.of(Sleep) == [Sleep(retry[0].delay_s)]
    assert script.text == decode_stream(raw, provider="openai-responses")[1].text


@pytest.mark.parametrize(
    "ending",
    [
        Closed(1011, "internal error"),
        Closed(1001, ""),
        Closed(1013, "try again later"),
        Closed(1000, ""),  # a normal close before response.completed is still a break
        Failed(StreamStalledError("no message for 30 s", idle_s=30.0)),
        {
            "type": "error",
            "status": 400,
            "error": {
                "type": "invalid_request_error",
                "code": "websocket_connection_limit_reached",
                "message": "Responses websocket connection limit reached (60 minutes).",
            },
        },
    ],
    ids=["1011", "1001", "1013", "1000-early", "stall", "connection-limit"],
)
def test_breaks_that_retry_on_a_new_socket(ending: Any) -> None:
    raw = read_real("openai-responses-function-call.sse")
    full = messages_of(raw)
    m, _ = ws_machine()
    script = Script([[*full[:5], ending], full])
    script.run(m)
    expected = decode_stream(raw, provider="openai-responses")[1]
    result = m.session.result
    assert result is not None
    assert result.tool_calls == expected.tool_calls
    assert script.of(Release)[0] == Release(retire=True)
    assert result.attempts == 2


def test_previous_response_not_found_falls_back_to_the_full_input() -> None:
    raw = read_real("openai-responses-text.sse")
    dialect = ResponsesWebSocket()
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    full_session = StreamSession(
        dialect=dialect,
        request=dialect.build_request(
            base_url=URL,
            api_key=KEY,
            model="gpt-5",
            messages=[*history, {"role": "user", "content": "More"}],
            params={},
        ),
    )
    m, _ = ws_machine(
        dialect,
        params={"previous_response_id": "resp_1"},
        messages=[{"role": "user", "content": "More"}],
        fallback=full_session,
    )
    not_found = {
        "type": "error",
        "status": 400,
        "error": {"type": "invalid_request_error", "code": "previous_response_not_found"},
    }
    script = Script([[not_found], messages_of(raw)])
    script.run(m)
    assert script.sent[0]["previous_response_id"] == "resp_1"
    assert "previous_response_id" not in script.sent[1]
    assert len(script.sent[1]["input"]) == 3
    assert script.of(Sleep) == []  # no backoff: nothing was wrong with the server
    assert not [e for e in script.events if isinstance(e, sk.RetryEvent)]
    assert script.of(Release) == [Release(retire=False), Release(retire=False)]
    assert m.session.result is not None


def test_previous_response_not_found_without_a_fallback_is_the_error() -> None:
    m, _ = ws_machine(params={"previous_response_id": "resp_elsewhere"})
    not_found = {"type": "error", "error": {"code": "previous_response_not_found"}}
    script = Script([[not_found]])
    with pytest.raises(ProviderError) as info:
        script.run(m)
    assert info.value.code == "previous_response_not_found"
    assert script.of(Release) == [Release(retire=True)]


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (ResponseHead(401, "Unauthorized", {}, 0.0), AuthenticationError),
        (ResponseHead(403, "Forbidden", {}, 0.0), PermissionDeniedError),
        (ResponseHead(200, "OK", {"content-type": "text/html"}, 0.0), sk.APIStatusError),
    ],
)
def test_a_refused_handshake_is_typed_and_not_retried(head: ResponseHead, error: type) -> None:
    m, _ = ws_machine()
    script = Script([], handshakes=[head])
    with pytest.raises(error) as info:
        script.run(m)
    assert len(script.of(Connect)) == 1
    if head.status == 200:
        assert "101" in str(info.value)


def test_a_handshake_503_is_retried() -> None:
    raw = read_real("openai-responses-text.sse")
    m, _ = ws_machine()
    script = Script([messages_of(raw)], handshakes=[ResponseHead(503, "", {}, 0.0), None])
    script.run(m)
    assert len(script.of(Connect)) == 2
    assert m.session.result is not None


@pytest.mark.parametrize(
    ("code", "kind", "retried"),
    [
        (4401, AuthenticationError, False),
        (4403, PermissionDeniedError, False),
        (4429, RateLimitError, True),
        (4503, InternalServerError, True),
        (1008, ProviderError, False),
        (1009, ProviderError, False),
        (4000, ProviderError, False),
        (1012, WebSocketClosedError, True),
        (1015, WebSocketClosedError, True),
        (1005, WebSocketClosedError, True),
    ],
)
def test_close_codes_are_typed(code: int, kind: type, retried: bool) -> None:
    err = close_error(code, "because")
    assert type(err) is kind
    assert "because" in str(err)
    assert sk.RetryPolicy().next_delay(err, attempt=1, elapsed_s=0.0) is not None or not retried
    if not retried:
        assert sk.RetryPolicy().next_delay(err, attempt=1, elapsed_s=0.0) is None


def test_the_http_dialect_cannot_run_the_websocket_flow() -> None:
    plain = StreamSession(
        dialect=sk.providers.get("openai-chat"),
        request=ResponsesWebSocket().build_request(
            base_url=URL, api_key=None, model="m", messages=[], params={}
        ),
    )
    with pytest.raises(StreamStateError, match="WebSocket"):
        StreamMachine(plain, clock=Clock(), transport="websocket")


# ---- the chat relay dialect ----------------------------------------------------------------


def chunk(text: str | None = None, finish: str | None = None, usage: bool = False) -> dict:
    choices = []
    if text is not None or finish is not None:
        choices = [{"index": 0, "delta": {"content": text or ""}, "finish_reason": finish}]
    out: dict[str, Any] = {"id": "c1", "model": "m", "choices": choices}
    if usage:
        out["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return out


@pytest.mark.parametrize(
    ("ends", "tail", "done_after"),
    [
        ({"[DONE]"}, ["[DONE]"], 4),
        ({"done"}, [{"type": "done"}], 4),
        ({"finish_reason"}, [], 3),  # after the usage chunk that include_usage asks for
        ({"done", "[DONE]"}, ["[DONE]"], 4),
    ],
)
def test_relay_end_of_stream_signals(ends: set[str], tail: list[Any], done_after: int) -> None:
    decoder = RelayDecoder(ends)  # type: ignore[arg-type]
    messages = [chunk("He"), chunk("llo", "stop"), chunk(usage=True), *tail]
    for position, message in enumerate(messages, 1):
        decoder.decode_payload(message)
        assert decoder.done == (position >= done_after), position


def test_relay_finish_reason_without_waiting_for_usage() -> None:
    decoder = RelayDecoder({"finish_reason"}, wait_for_usage=False)
    decoder.decode_payload(chunk("Hi", "stop"))
    assert decoder.done


def test_relay_signals_not_configured_are_ignored() -> None:
    decoder = RelayDecoder({"close"})
    for message in [chunk("Hi", "stop"), chunk(usage=True), "[DONE]", {"type": "done"}]:
        decoder.decode_payload(message)
    assert not decoder.done
    relay = ChatRelay(end_of_stream={"close"})
    assert relay.close_error(1000, "", decoder) is None  # complete: every choice finished
    assert isinstance(relay.close_error(1000, "", RelayDecoder({"close"})), WebSocketClosedError)


def test_relay_close_1000_ends_the_stream_in_the_machine() -> None:
    relay = ChatRelay(end_of_stream={"close"})
    m, _ = ws_machine(relay)
    script = Script([[chunk("Hel"), chunk("lo", "stop"), chunk(usage=True), Closed(1000, "")]])
    script.run(m)
    assert m.session.result is not None and m.session.result.text == "Hello"
    assert m.session.result.usage is not None and m.session.result.usage.output_tokens == 2


def test_relay_prefill_resume() -> None:
    relay = ChatRelay(prefill=True)
    m, _ = ws_machine(relay)
    script = Script(
        [[chunk("Hel"), Closed(1006, "")], [chunk("lo", "stop"), chunk(usage=True), "[DONE]"]]
    )
    script.run(m)
    assert m.session.result is not None and m.session.result.text == "Hello"
    resumed = script.sent[1]["messages"][-1]
    assert resumed == {"role": "assistant", "content": "Hel", "prefix": True}


def test_relay_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        ChatRelay(end_of_stream=())
    with pytest.raises(ConfigurationError):
        ChatRelay(end_of_stream={"eof"})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        ChatRelay(key_in="cookie")  # type: ignore[arg-type]


def test_the_key_in_a_query_string_never_shows() -> None:
    spec = ChatRelay(key_in="query", key_param="token").build_request(
        base_url="wss://relay.test/ws?room=1", api_key=KEY, model="m", messages=[], params={}
    )
    sk.errors.register_secret(KEY)
    assert f"token={KEY}" in str.__str__(spec.url)
    assert "room=1" in spec.url
    assert KEY not in repr(spec.url) and KEY not in repr(spec)
    assert "authorization" not in spec.headers
    header = ChatRelay().build_request(
        base_url="wss://relay.test/ws", api_key=KEY, model="m", messages=[], params={}
    )
    assert KEY not in repr(header) and KEY not in repr(header.headers)
    assert KEY not in header.url


def test_responses_message_shape() -> None:
    spec = ResponsesWebSocket().build_request(
        base_url=URL,
        api_key=KEY,
        model="gpt-5",
        messages=[{"role": "user", "content": "Hi"}],
        params={"stream_id": "a", "store": False, "generate": False},
    )
    assert spec.json == {
        "type": "response.create",
        "model": "gpt-5",
        "input": [{"role": "user", "content": "Hi"}],
        "stream_id": "a",
        "store": False,
        "generate": False,
    }
    assert KEY not in repr(spec)
    for name in ("stream", "background"):
        with pytest.raises(TypeError, match=name):
            ResponsesWebSocket().build_request(
                base_url=URL, api_key=None, model="m", messages=[], params={name: True}
            )
    assert ResponsesWebSocket().default_url("https://api.x.ai/v1") == "wss://api.x.ai/v1/responses"
    assert ResponsesWebSocket().default_connection_limit_s("wss://api.x.ai/v1/responses") == 1500
    assert ResponsesWebSocket().default_connection_limit_s(URL) == 3600
    assert ChatRelay().default_url("http://127.0.0.1:8/v1") == "ws://127.0.0.1:8/v1/chat/completions"


def test_response_done_ends_only_its_own_response() -> None:
    raw = read_real("openai-responses-text.sse")
    full = messages_of(raw)
    created = full[0]
    done_other = {"type": "response.done", "response": {"id": "resp_other", "status": "completed"}}
    completed = next(m for m in full if m.get("type") == "response.completed")
    done_mine = {**completed, "type": "response.done"}
    decoder = ResponsesWebSocket().new_decoder()
    decoder.decode_payload(created)
    decoder.decode_payload(done_other)
    assert not decoder.done
    decoder.decode_payload(done_mine)
    assert decoder.done
    assert decoder.output_items()


# ---- ConnectionState ----------------------------------------------------------------------


def state(**kw: Any) -> ConnectionState:
    return ConnectionState(ResponsesWebSocket(), rotate_after_s=kw.pop("rotate_after_s", None), **kw)


def text(lane: str | None, **extra: Any) -> str:
    payload = {"type": "response.output_text.delta", "delta": "x", **extra}
    if lane is not None:
        payload["stream_id"] = lane
    return json.dumps(payload)


def test_messages_go_to_their_lane_and_strays_are_dropped() -> None:
    s = state()
    assert s.attach("a", 0.0) == (None, [])
    sid = s.opened("a", 0.0)
    assert s.attach("b", 1.0) == (sid, [])
    s.feed(sid, text("b", n=1))
    s.feed(sid, text("a", n=2))
    s.feed(sid, text("zzz", n=3))  # a lane with no stream here
    s.feed(sid, text(None, n=4))  # the default lane: nobody on it
    assert s.take(sid, "a")["n"] == 2
    assert s.take(sid, "b")["n"] == 1
    assert s.take(sid, "a") is None and s.waiting(sid, "a")
    s.feed(sid, "[DONE]")  # names no lane: every lane gets it
    assert s.take(sid, "a") == "[DONE]" and s.take(sid, "b") == "[DONE]"


def test_a_dead_socket_reaches_every_lane_after_their_queues() -> None:
    s = state()
    s.attach("a", 0.0)
    sid = s.opened("a", 0.0)
    s.attach("b", 0.0)
    s.feed(sid, text("a", n=1))
    s.broken(sid, Closed(1006, "gone"))
    assert s.take(sid, "a")["n"] == 1
    assert s.take(sid, "a") == Closed(1006, "gone")
    assert s.take(sid, "b") == Closed(1006, "gone")
    assert not s.waiting(sid, "a")
    assert s.attach("c", 0.0) == (None, [])  # a dead socket takes no new stream
    assert s.detach(sid, "a") == []
    assert s.detach(sid, "b") == [sid]


def test_rotation_is_make_before_break() -> None:
    s = state(rotate_after_s=50.0)
    s.attach("a", 0.0)
    first = s.opened("a", 0.0)
    s.attach("b", 10.0)
    assert s.detach(first, "b") == []
    assert s.attach("b", 60.0) == (None, [])  # too old: a new socket for the new stream
    second = s.opened("b", 60.0)
    assert s.socket_ids == [first, second]
    s.feed(first, text("a", n=1))  # the old socket still serves lane a
    assert s.take(first, "a")["n"] == 1
    assert s.detach(first, "a") == [first]  # its last stream ended: close it
    assert s.socket_ids == [second]
    assert s.sockets_opened == 2


def test_a_retired_socket_closes_when_its_last_lane_is_done() -> None:
    s = state()
    s.attach("a", 0.0)
    sid = s.opened("a", 0.0)
    s.attach("b", 0.0)
    assert s.detach(sid, "a", retire=True) == []
    assert s.attach("c", 0.0) == (None, [])
    assert s.detach(sid, "b") == [sid]


def test_an_abandoned_lane_drains_until_its_terminal_event() -> None:
    s = state()
    s.attach("a", 0.0)
    sid = s.opened("a", 0.0)
    assert s.detach(sid, "a", abandoned=True) == []  # the socket stays: it holds state
    assert s.attach("a", 1.0) == (sid, [])  # the lane takes a new stream at once
    s.feed(sid, text("a", n=1))  # the old response: dropped
    s.feed(sid, json.dumps({"type": "response.completed", "stream_id": "a"}))
    s.feed(sid, text("a", n=2))  # the new response
    assert s.take(sid, "a")["n"] == 2
    relay = ConnectionState(ChatRelay(), rotate_after_s=None)
    relay.attach(None, 0.0)
    rid = relay.opened(None, 0.0)
    assert relay.detach(rid, None, abandoned=True) == [rid]  # no lanes: retire instead


def test_one_open_stream_per_lane() -> None:
    s = state()
    s.claim("a")
    s.claim(None)
    with pytest.raises(StreamStateError, match="lane 'a'"):
        s.claim("a")
    s.unclaim("a")
    s.claim("a")
    with pytest.raises(ConfigurationError, match="no lanes"):
        ConnectionState(ChatRelay(), rotate_after_s=None).claim("x")


def test_a_lane_nobody_reads_stops_growing() -> None:
    s = state(max_queued=3)
    s.attach("a", 0.0)
    sid = s.opened("a", 0.0)
    for n in range(10):
        s.feed(sid, text("a", n=n))
    got = [s.take(sid, "a") for _ in range(4)]
    assert [g["n"] for g in got[:3]] == [0, 1, 2]
    assert isinstance(got[3], Failed) and isinstance(got[3].error, StreamStateError)
    assert s.take(sid, "a") is None


def test_history_rebuilds_the_full_input() -> None:
    s = state()
    s.remember("r1", previous=None, input_items=[{"u": 1}], output_items=[{"a": 1}])
    s.remember("r2", previous="r1", input_items=[{"u": 2}], output_items=[{"a": 2}])
    assert s.full_input("r2", [{"u": 3}]) == [{"u": 1}, {"a": 1}, {"u": 2}, {"a": 2}, {"u": 3}]
    assert s.full_input("unknown", []) is None
    s.remember("r3", previous="gone", input_items=[], output_items=[])
    assert s.full_input("r3", []) is None
    for n in range(MAX_HISTORY + 5):
        s.remember(f"x{n}", previous=None, input_items=[], output_items=[])
    assert s.full_input("r1", []) is None  # the oldest are forgotten first


# ---- the test server's planner ------------------------------------------------------------


def plan(fault: Any, **kw: Any) -> list[Any]:
    blocks = split_blocks(read_real("openai-responses-text.sse"))
    return plan_frames(fault, blocks, dialect="openai-responses", **kw)


def frames(steps: list[Any]) -> int:
    return sum(isinstance(s, Frame) for s in steps)


def test_planner_faults_become_socket_steps() -> None:
    whole = plan(None)
    assert all(isinstance(s, Frame) for s in whole)
    steps = plan(Fault.close(1011, after_events=4, reason="boom"))
    assert frames(steps) == 4 and steps[-1] == CloseSocket(1011, "boom")
    assert plan(Fault.close(1006, after_events=2))[-1] == Abort()
    assert plan(Fault.cut(after_events=3))[-1] == Abort()
    limit = plan(Fault.connection_limit(after_events=2))
    assert json.loads(limit[2].text)["error"]["code"] == "websocket_connection_limit_reached"
    assert limit[3] == CloseSocket(1000, "connection limit reached")
    frozen = plan(Fault.stall(after_events=1, seconds=0.5, pongs=False))
    assert frozen[1] == Freeze(0.5) and frames(frozen) == frames(whole)
    assert json.loads(plan(Fault.status(429))[0].text)["status"] == 429
    missing = plan(Fault.previous_response_not_found(), previous_response_id="resp_9")
    assert "resp_9" in missing[0].text
    dup = plan(Fault.duplicate(5))
    assert frames(dup) == frames(whole) + 1
    with pytest.raises(ValueError, match="HTTP"):
        plan(Fault.huge_line(100))
    with pytest.raises(ValueError, match="1000"):
        Fault.close(999)


@pytest.mark.parametrize("end", ["[DONE]", "done", "close", "none"])
def test_planner_relay_ends(end: str) -> None:
    blocks = split_blocks(read_real("openai-chat-text-include-usage.sse"))
    steps = plan_frames(None, blocks, dialect="openai-chat", relay_end=end)  # type: ignore[arg-type]
    last = steps[-1]
    expected: dict[str, Callable[[Any], bool]] = {
        "[DONE]": lambda s: isinstance(s, Frame) and s.text == "[DONE]",
        "done": lambda s: isinstance(s, Frame) and s.text == '{"type":"done"}',
        "close": lambda s: s == CloseSocket(1000),
        "none": lambda s: isinstance(s, Frame) and "usage" in s.text,
    }
    assert expected[end](last)
