"""The wire formats: typed deltas → numbered wire events, framed as SSE or WebSocket messages.

The AI SDK parts are checked against the AI SDK 5 ``uiMessageChunkSchema`` (strict
objects), transcribed below as pydantic models with ``extra="forbid"``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

import streamkit as sk
from streamkit.errors import ConfigurationError
from streamkit.offline import decode_stream
from streamkit.relay import STREAMKIT_EVENTS, Entry
from streamkit.relay._wire import Outcome, get_wire

from conftest import files_of, read_real

STREAMKIT = get_wire("streamkit")
UI = get_wire("ui-message-stream")
USAGE = sk.Usage(input_tokens=3, output_tokens=5)


def encode_all(wire_name: str, events: list[Any], outcome: Outcome) -> list[tuple[str, str]]:
    encoder = get_wire(wire_name).encoder("s1")
    items = encoder.begin()
    for event in events:
        items += encoder.encode(event)
    return items + encoder.finish(outcome)


# --- the streamkit wire ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (sk.TextDelta(text="Hé\n"), ("text", '{"text":"Hé\\n"}')),
        (sk.TextDelta(text="b", index=1), ("text", '{"text":"b","index":1}')),
        (sk.ReasoningDelta(text="hm"), ("reasoning", '{"text":"hm"}')),
        (sk.RefusalDelta(text="no"), ("refusal", '{"text":"no"}')),
        (
            sk.ToolCallDelta(tool_index=0, id="call_1", name="get", arguments='{"a'),
            ("tool_call", '{"tool_index":0,"id":"call_1","name":"get","arguments":"{\\"a"}'),
        ),
        (
            sk.ToolCallDelta(tool_index=1, arguments="1}", index=2),
            ("tool_call", '{"tool_index":1,"arguments":"1}","index":2}'),
        ),
        (
            sk.UsageEvent(usage=USAGE),
            ("usage", '{"usage":{"input_tokens":3,"output_tokens":5,"estimated":false}}'),
        ),
        (
            sk.RetryEvent(attempt=1, delay_s=0.12345, reason="RateLimitError: k", status_code=429),
            ("notice", '{"kind":"retry","attempt":1,"delay_s":0.123,"status_code":429}'),
        ),
        (
            sk.ResumeEvent(attempt=2, strategy="last-event-id"),
            ("notice", '{"kind":"resume","attempt":2,"strategy":"last-event-id"}'),
        ),
    ],
)
def test_streamkit_wire_encodes_each_delta(event: Any, expected: tuple[str, str]) -> None:
    assert STREAMKIT.encoder("s").encode(event) == [expected]
    json.loads(expected[1])  # one line of JSON


def test_streamkit_wire_keeps_the_retry_reason_out() -> None:
    # the reason quotes the upstream's error text, which may quote a redacted key
    event = sk.RetryEvent(attempt=1, delay_s=1, reason="AuthenticationError: sk-***abcd")
    [(_, data)] = STREAMKIT.encoder("s").encode(event)
    assert "sk-" not in data and "reason" not in data


def test_streamkit_wire_terminal_events() -> None:
    encoder = STREAMKIT.encoder("s")
    assert encoder.encode(sk.FinishEvent(finish_reason="stop")) == []  # it goes into `done`
    done = encoder.finish(Outcome("done", "stop", USAGE, Decimal("0.00198400")))
    assert done == [
        (
            "done",
            '{"finish_reason":"stop","usage":{"input_tokens":3,"output_tokens":5,'
            '"estimated":false},"cost_usd":"0.00198400","stopped":false}',
        )
    ]
    stopped = encoder.finish(Outcome("stopped"))
    assert json.loads(stopped[0][1]) == {
        "finish_reason": None,
        "usage": None,
        "cost_usd": None,
        "stopped": True,
    }
    failed = encoder.finish(
        Outcome("failed", error="upstream", error_type="RateLimitError", status_code=429)
    )
    assert failed == [("failed", '{"error":"upstream","type":"RateLimitError","status_code":429}')]
    assert STREAMKIT.failure("interrupted") == [("failed", '{"error":"interrupted"}')]
    assert set(STREAMKIT_EVENTS) == {
        "text",
        "reasoning",
        "refusal",
        "tool_call",
        "usage",
        "notice",
        "done",
        "failed",
    }


def test_framing_as_sse_and_websocket_messages() -> None:
    entry = Entry(7, "text", '{"text":"a"}')
    assert STREAMKIT.sse(entry) == 'id: 7\nevent: text\ndata: {"text":"a"}\n\n'
    assert UI.sse(entry) == 'id: 7\ndata: {"text":"a"}\n\n'
    assert json.loads(STREAMKIT.message(entry)) == {"id": 7, "event": "text", "data": {"text": "a"}}
    assert STREAMKIT.unnumbered_sse(("failed", "{}")) == "event: failed\ndata: {}\n\n"
    assert UI.unnumbered_sse(("error", "{}")) == "data: {}\n\n"
    assert UI.sse_trailer == b"data: [DONE]\n\n" and STREAMKIT.sse_trailer == b""
    assert dict(UI.headers) == {"x-vercel-ai-ui-message-stream": "v1"}
    with pytest.raises(ConfigurationError, match="unknown wire format 'sse'"):
        get_wire("sse")


# --- the AI SDK UI message stream -----------------------------------------------------------


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Start(_Part):
    type: Literal["start"]
    messageId: str | None = None
    messageMetadata: Any = None


class Step(_Part):
    type: Literal["start-step", "finish-step"]


class Block(_Part):
    type: Literal["text-start", "text-end", "reasoning-start", "reasoning-end"]
    id: str


class Delta(_Part):
    type: Literal["text-delta", "reasoning-delta"]
    id: str
    delta: str


class ToolInputStart(_Part):
    type: Literal["tool-input-start"]
    toolCallId: str
    toolName: str


class ToolInputDelta(_Part):
    type: Literal["tool-input-delta"]
    toolCallId: str
    inputTextDelta: str


class ToolInputAvailable(_Part):
    type: Literal["tool-input-available"]
    toolCallId: str
    toolName: str
    input: Any


class ToolInputError(_Part):
    type: Literal["tool-input-error"]
    toolCallId: str
    toolName: str
    input: Any
    errorText: str


class Finish(_Part):
    type: Literal["finish"]
    messageMetadata: Any = None


class Abort(_Part):
    type: Literal["abort"]


class Error(_Part):
    type: Literal["error"]
    errorText: str


class DataNotice(_Part):
    type: Literal["data-notice"]
    data: Any
    id: str | None = None
    transient: bool | None = None


UIPart = TypeAdapter(
    Annotated[
        Start
        | Step
        | Block
        | Delta
        | ToolInputStart
        | ToolInputDelta
        | ToolInputAvailable
        | ToolInputError
        | Finish
        | Abort
        | Error
        | DataNotice,
        Field(discriminator="type"),
    ]
)


def check_ui_stream(items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Validate every part and the framing rules; return the parts."""
    parts = [json.loads(data) for _, data in items]
    for (event, _), part in zip(items, parts, strict=True):
        UIPart.validate_python(part)
        assert event == part["type"]
    assert parts[0]["type"] == "start" and parts[1]["type"] == "start-step"
    open_blocks: set[str] = set()
    for part in parts:
        kind = part["type"]
        if kind.endswith("-start") and "id" in part:
            assert part["id"] not in open_blocks
            open_blocks.add(part["id"])
        elif kind.endswith("-delta") and "id" in part:
            assert part["id"] in open_blocks, part
        elif kind.endswith("-end"):
            open_blocks.remove(part["id"])
    assert not open_blocks  # every block ended
    assert parts[-1]["type"] in ("finish", "abort", "error")
    return parts


def test_ui_message_stream_text_reasoning_tools_and_finish() -> None:
    events = [
        sk.ReasoningDelta(text="Let me "),
        sk.ReasoningDelta(text="think."),
        sk.TextDelta(text="Hello"),
        sk.TextDelta(text=" there", index=1),  # another choice: not in the message
        sk.TextDelta(text="!"),
        sk.ResumeEvent(attempt=2, strategy="prefill"),
        sk.ToolCallDelta(tool_index=0, id="call_a", name="get_weather", arguments='{"city":'),
        sk.ToolCallDelta(tool_index=0, arguments='"Paris"}'),
        sk.ToolCallDelta(tool_index=1, name="broken", arguments='{"x"'),
        sk.UsageEvent(usage=USAGE),
        sk.FinishEvent(finish_reason="tool_calls"),
    ]
    outcome = Outcome("done", "tool_calls", USAGE, Decimal("0.5"))
    parts = check_ui_stream(encode_all("ui-message-stream", events, outcome))
    kinds = [p["type"] for p in parts]
    assert kinds == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-delta",
        "data-notice",
        "text-end",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-delta",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-input-error",
        "finish-step",
        "finish",
    ]
    assert parts[0] == {"type": "start", "messageId": "msg_s1"}
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == "Hello!"
    assert parts[9] == {
        "type": "data-notice",
        "data": {"kind": "resume", "attempt": 2, "strategy": "prefill"},
        "transient": True,
    }
    assert parts[16]["input"] == {"city": "Paris"} and parts[16]["toolCallId"] == "call_a"
    assert parts[17]["toolName"] == "broken" and parts[17]["input"] == '{"x"'
    assert parts[-1]["messageMetadata"] == {
        "finishReason": "tool_calls",
        "usage": {"input_tokens": 3, "output_tokens": 5, "estimated": False},
        "costUsd": "0.5",
    }


@pytest.mark.parametrize(
    ("outcome", "last"),
    [
        (Outcome("stopped"), {"type": "abort"}),
        (
            Outcome("failed", error="upstream", error_type="APIConnectionError"),
            {"type": "error", "errorText": "APIConnectionError"},
        ),
    ],
)
def test_ui_message_stream_ends_with_abort_or_error(outcome: Outcome, last: dict[str, Any]) -> None:
    events = [sk.TextDelta(text="Hi"), sk.RetryEvent(attempt=1, delay_s=0.5, reason="x")]
    parts = check_ui_stream(encode_all("ui-message-stream", events, outcome))
    assert parts[-1] == last
    assert UI.failure("interrupted") == [("error", '{"type":"error","errorText":"interrupted"}')]


@pytest.mark.parametrize(
    "name", files_of("openai-chat", "complete") + files_of("anthropic-messages", "complete")
)
def test_real_recordings_relay_their_exact_text(name: str) -> None:
    """Every recorded stream, encoded in both wires, carries the result's text and calls."""
    dialect = "anthropic-messages" if name.startswith("anthropic") else "openai-chat"
    events, result = decode_stream(read_real(name), provider=dialect)
    outcome = Outcome("done", result.finish_reason, result.usage, result.cost)
    plain = [(e, json.loads(d)) for e, d in encode_all("streamkit", events, outcome)]
    assert "".join(d["text"] for e, d in plain if e == "text" and "index" not in d) == result.text
    for call in result.tool_calls:
        fragments = [d for e, d in plain if e == "tool_call" and d["tool_index"] == call.index]
        assert "".join(d["arguments"] for d in fragments if "index" not in d) == call.arguments
    assert plain[-1][0] == "done" and plain[-1][1]["finish_reason"] == result.finish_reason
    parts = check_ui_stream(encode_all("ui-message-stream", events, outcome))
    ui_text = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
    assert ui_text == result.text + (result.refusal or "")  # a refusal is text in a UI message
    assert "".join(p["delta"] for p in parts if p["type"] == "reasoning-delta") == result.reasoning
