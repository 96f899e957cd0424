"""The anthropic-messages dialect on every real Anthropic recording.

The oracle is anthropic-sdk-python's own stream accumulation
(``anthropic.lib.streaming._messages.accumulate_event``) over the same bytes, split
into events without streamkit's parser.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jiter import from_json

from streamkit.errors import ChunkDecodeError, ProviderError
from streamkit.events import FinishEvent, ReasoningDelta, TextDelta, ToolCallDelta, UsageEvent
from streamkit.providers import get
from streamkit.providers.anthropic_messages import (
    ANTHROPIC_VERSION,
    DEFAULT_MAX_TOKENS,
    AnthropicMessagesDecoder,
    AnthropicMessagesDialect,
)
from streamkit.usage import Usage

from ._fixtures import decode, files_of, payloads, read, sse

DIALECT = "anthropic-messages"
FILES = files_of(DIALECT)


def _oracle(raw: bytes) -> Any:
    from anthropic.lib.streaming._messages import accumulate_event

    snapshot = None
    # anthropic >= 2 keeps the partial tool JSON in a dict the caller passes; older
    # releases (the ones `make test-lowest` installs next to httpx 0.27) keep it
    # on the block itself
    extra: dict[str, Any] = {}
    if "json_bufs" in inspect.signature(accumulate_event).parameters:
        extra["json_bufs"] = {}
    for event, obj in payloads(raw):
        if event == "ping":
            continue  # the SDK's Stream skips pings before accumulating
        snapshot = accumulate_event(event=obj, current_snapshot=snapshot, **extra)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot


@pytest.mark.parametrize("name", FILES)
def test_matches_sdk_accumulation(name: str) -> None:
    raw = read(name)
    got = decode(DIALECT, raw)
    want = _oracle(raw)
    result = got.result

    assert got.complete
    blocks = want.content
    assert result.text == "".join(b.text for b in blocks if b.type == "text")
    assert result.reasoning == "".join(b.thinking for b in blocks if b.type == "thinking")
    assert result.model == want.model
    assert result.response_id == want.id
    assert result.choices[0].raw_finish_reason == want.stop_reason

    tools = {i: b for i, b in enumerate(blocks) if b.type in ("tool_use", "server_tool_use")}
    assert [t.index for t in result.tool_calls] == sorted(tools)
    for call in result.tool_calls:
        block = tools[call.index]
        assert (call.id, call.name) == (block.id, block.name)
        assert call.arguments  # "{}" for a tool called without arguments, as on the wire
        assert from_json(call.arguments.encode(), partial_mode=True) == block.input

    u = want.usage
    cache_read = u.cache_read_input_tokens
    cache_write = u.cache_creation_input_tokens
    assert result.usage == Usage(
        input_tokens=u.input_tokens + (cache_read or 0) + (cache_write or 0),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=u.output_tokens,
        reasoning_tokens=(
            u.output_tokens_details.thinking_tokens if u.output_tokens_details else None
        ),
        total_tokens=u.input_tokens + (cache_read or 0) + (cache_write or 0) + u.output_tokens,
        web_searches=(u.server_tool_use.web_search_requests if u.server_tool_use else None) or None,
    )

    extras = got.extras
    thinking = [(i, b) for i, b in enumerate(blocks) if b.type == "thinking" and b.signature]
    assert [(s.block_index, s.signature, s.content, s.kind) for s in extras.signatures] == [
        (i, b.signature, b.thinking, "thinking") for i, b in thinking
    ]
    assert extras.redacted_thinking == [b.data for b in blocks if b.type == "redacted_thinking"]
    sdk_citations = [
        c.model_dump(mode="json")
        for b in blocks
        if b.type == "text" and b.citations
        for c in b.citations
    ]
    assert [c.raw for c in extras.citations] == sdk_citations
    results = [(i, b) for i, b in enumerate(blocks) if b.type.endswith("_tool_result")]
    assert [(r["index"], r["type"], r["tool_use_id"]) for r in extras.server_tool_results] == [
        (i, b.type, b.tool_use_id) for i, b in results
    ]
    assert extras.server_tool_calls == [
        i for i, b in enumerate(blocks) if b.type == "server_tool_use"
    ]
    if want.stop_details is not None:
        assert extras.stop_details is not None
        assert extras.stop_details.items() >= want.stop_details.model_dump().items()


@pytest.mark.parametrize("name", FILES)
def test_one_byte_at_a_time_gives_the_same_events(name: str) -> None:
    raw = read(name)
    whole = decode(DIALECT, raw)
    drip = decode(DIALECT, raw, chunk_size=1)
    assert drip.raw_events == whole.raw_events
    assert drip.events == whole.events
    assert drip.result == whole.result
    assert drip.extras == whole.extras


def test_text_stream_events_in_order() -> None:
    got = decode(DIALECT, read("anthropic-messages-text.sse"))
    assert got.events == [
        UsageEvent(
            usage=Usage(
                input_tokens=20,
                cache_read_tokens=0,
                cache_write_tokens=0,
                output_tokens=1,
                total_tokens=21,
            )
        ),
        TextDelta(text="2"),
        UsageEvent(
            usage=Usage(
                input_tokens=20,
                cache_read_tokens=0,
                cache_write_tokens=0,
                output_tokens=5,
                total_tokens=25,
            )
        ),
        FinishEvent(finish_reason="stop", raw_finish_reason="end_turn"),
    ]


def test_tool_use_fragments_and_unterminated_message_stop() -> None:
    raw = read("anthropic-messages-tool-use.sse")
    assert not raw.endswith(b"\n\n")  # the final message_stop is never dispatched
    got = decode(DIALECT, raw)
    assert got.complete  # message_delta carried the stop reason
    tool_events = [e for e in got.events if isinstance(e, ToolCallDelta)]
    assert tool_events[0] == ToolCallDelta(
        tool_index=1, id="toolu_01NRLabsLyVHZPKxbKvkfSMn", name="get_weather"
    )
    assert "".join(e.arguments for e in tool_events) == '{"location": "Paris"}'
    assert got.result.finish_reason == "tool_calls"
    assert got.result.tool_calls[0].parsed_arguments() == {"location": "Paris"}


def test_max_tokens_inside_tool_json_keeps_raw_text_and_marks_it_incomplete() -> None:
    got = decode(DIALECT, read("anthropic-messages-max-tokens-mid-tool-json.sse"))
    assert got.complete
    assert got.result.finish_reason == "length"
    (call,) = got.result.tool_calls
    assert call.name == "make_file"
    assert call.arguments.endswith('"\\n\\"Filing taxes') or call.arguments.endswith(
        '\n"Filing taxes'
    )
    with pytest.raises(json.JSONDecodeError):
        call.parsed_arguments()
    assert got.extras.incomplete_tool_calls == [1]


def test_web_search_citations_have_spans_in_the_text() -> None:
    got = decode(DIALECT, read("anthropic-messages-web-search-server-tool.sse"))
    text = got.result.text
    assert len(got.extras.citations) == 5
    for citation in got.extras.citations:
        assert citation.type == "web_search_result_location"
        assert citation.url
        assert citation.url.startswith("https://")
        assert citation.start_index is not None
        assert citation.end_index is not None
        assert 0 <= citation.start_index < citation.end_index <= len(text)
    assert got.extras.server_tool_calls == [0]
    assert got.extras.raw_usage is not None
    assert got.extras.raw_usage["server_tool_use"] == {"web_search_requests": 1}


def test_refusal_stop_reason_and_details() -> None:
    got = decode(DIALECT, read("anthropic-messages-refusal-stop-details.sse"))
    assert got.result.finish_reason == "refusal"
    assert got.result.usage is not None
    assert got.result.usage.reasoning_tokens == 67
    assert got.extras.stop_details is not None
    assert got.extras.stop_details["type"] == "refusal"


# ---- synthetic events ---------------------------------------------------------------------


def test_overloaded_error_event_raises_provider_error() -> None:
    decoder = AnthropicMessagesDecoder()
    payload = (
        '{"type":"error","error":{"details":null,"type":"overloaded_error",'
        '"message":"Overloaded"},"request_id":"req_011CV"}              '
    )
    with pytest.raises(ProviderError) as info:
        decoder.decode(sse(payload, event="error"))
    assert info.value.code == "overloaded_error"
    assert info.value.error_type == "overloaded_error"
    assert "Overloaded" in str(info.value)
    assert not decoder.complete_at_eof()


def test_error_event_with_unexpected_payload() -> None:
    with pytest.raises(ProviderError, match="upstream failure"):
        AnthropicMessagesDecoder().decode(sse("upstream failure", event="error"))
    with pytest.raises(ProviderError, match="bad"):
        AnthropicMessagesDecoder().decode(sse('{"type":"error","error":"bad"}'))


def test_bad_json_raises_chunk_decode_error() -> None:
    with pytest.raises(ChunkDecodeError):
        AnthropicMessagesDecoder().decode(sse("{not json", event="content_block_delta"))


def test_unknown_events_and_deltas_are_ignored() -> None:
    decoder = AnthropicMessagesDecoder()
    assert decoder.decode(sse('{"type":"future_event","x":1}')) == []
    assert (
        decoder.decode(sse('{"type":"content_block_delta","index":0,"delta":{"type":"x"}}')) == []
    )
    assert decoder.decode(sse('{"type":"content_block_stop","index":7}')) == []
    assert decoder.sequence_number(sse("{}")) is None


def test_eof_before_stop_reason_is_a_break() -> None:
    decoder = AnthropicMessagesDecoder()
    decoder.decode(sse('{"type":"message_start","message":{"id":"msg_1","model":"m"}}'))
    decoder.decode(
        sse('{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}')
    )
    assert not decoder.complete_at_eof()
    decoder.decode(
        sse(
            '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}'
        )
    )
    assert decoder.complete_at_eof()
    assert not decoder.done
    decoder.decode(sse('{"type":"message_stop"}'))
    assert decoder.done


def test_tool_block_with_whole_input_and_no_deltas() -> None:
    decoder = AnthropicMessagesDecoder()
    start = decoder.decode(
        sse(
            '{"type":"content_block_start","index":0,"content_block":{"type":"tool_use",'
            '"id":"toolu_1","name":"f","input":{"a":1}}}'
        )
    )
    assert start == [ToolCallDelta(tool_index=0, id="toolu_1", name="f")]
    assert decoder.decode(sse('{"type":"content_block_stop","index":0}')) == [
        ToolCallDelta(tool_index=0, arguments='{"a": 1}')
    ]
    assert decoder.extras().incomplete_tool_calls == []


def test_initial_block_content_and_stop_sequence() -> None:
    decoder = AnthropicMessagesDecoder()
    assert decoder.decode(
        sse(
            '{"type":"content_block_start","index":0,"content_block":{"type":"thinking",'
            '"thinking":"hm","signature":"sig"}}'
        )
    ) == [ReasoningDelta(text="hm")]
    assert decoder.decode(
        sse(
            '{"type":"content_block_start","index":1,"content_block":{"type":"text",'
            '"text":"Hi","citations":[{"type":"char_location","cited_text":"x",'
            '"document_title":"Doc"}]}}'
        )
    ) == [TextDelta(text="Hi")]
    decoder.decode(sse('{"type":"content_block_stop","index":1}'))
    decoder.decode(
        sse('{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"##"}}')
    )
    extras = decoder.extras()
    assert extras.signatures[0].signature == "sig"
    assert extras.signatures[0].content == "hm"
    assert extras.citations[0].title == "Doc"
    assert (extras.citations[0].start_index, extras.citations[0].end_index) == (0, 2)
    assert extras.stop_details == {"stop_sequence": "##"}


def test_cumulative_usage_with_cache_tokens() -> None:
    decoder = AnthropicMessagesDecoder()
    (first,) = decoder.decode(
        sse(
            '{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":5,'
            '"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":1}}}'
        )
    )
    assert isinstance(first, UsageEvent)
    assert first.usage == Usage(
        input_tokens=125,
        cache_read_tokens=100,
        cache_write_tokens=20,
        output_tokens=1,
        total_tokens=126,
    )
    events = decoder.decode(
        sse(
            '{"type":"message_delta","delta":{"stop_reason":"max_tokens"},'
            '"usage":{"output_tokens":50,"cache_read_input_tokens":null}}'
        )
    )
    assert events == [
        UsageEvent(
            usage=Usage(
                input_tokens=125,
                cache_read_tokens=100,
                cache_write_tokens=20,
                output_tokens=50,
                total_tokens=175,
            )
        ),
        FinishEvent(finish_reason="length", raw_finish_reason="max_tokens"),
    ]


# ---- request building ---------------------------------------------------------------------


def test_build_request() -> None:
    dialect = get(DIALECT)
    spec = dialect.build_request(
        base_url="https://api.anthropic.com/v1/",
        api_key="sk-ant-test",
        model="claude-sonnet-4-5",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        params={"temperature": 0.2},
    )
    assert spec.method == "POST"
    assert spec.url == "https://api.anthropic.com/v1/messages"
    assert spec.headers["x-api-key"] == "sk-ant-test"
    assert spec.headers["anthropic-version"] == ANTHROPIC_VERSION == "2023-06-01"
    assert spec.headers["accept"] == "text/event-stream"
    assert spec.json == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": DEFAULT_MAX_TOKENS,
        "stream": True,
        "system": "Be brief.",
        "temperature": 0.2,
    }


def test_build_request_caller_values_win_and_several_system_messages() -> None:
    spec = AnthropicMessagesDialect().build_request(
        base_url="http://x",
        api_key=None,
        model="m",
        messages=[
            {"role": "system", "content": "A"},
            {"role": "developer", "content": [{"type": "text", "text": "B"}]},
            {"role": "user", "content": "Hi"},
        ],
        params={"max_tokens": 10},
    )
    assert "x-api-key" not in spec.headers
    assert spec.json is not None
    assert spec.json["max_tokens"] == 10
    assert spec.json["system"] == [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]


def _spec(**params: Any) -> Any:
    return AnthropicMessagesDialect().build_request(
        base_url="http://x",
        api_key="k",
        model="m",
        messages=[{"role": "user", "content": "Hi"}],
        params=params,
    )


def test_prefill_appends_an_assistant_turn() -> None:
    spec = _spec()
    resumed = AnthropicMessagesDialect().build_prefill_request(spec, "Hello, wor")
    assert resumed is not None
    assert resumed.url == spec.url
    assert resumed.headers == spec.headers
    assert resumed.json is not None
    assert resumed.json["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello, wor"},
    ]
    assert spec.json is not None
    assert len(spec.json["messages"]) == 1


def test_prefill_extends_the_callers_own_prefill() -> None:
    dialect = AnthropicMessagesDialect()
    for content, expected in [
        ("{", "{" + '"a": 1'),
        (
            [{"type": "text", "text": "{"}],
            [{"type": "text", "text": "{"}, {"type": "text", "text": '"a": 1'}],
        ),
    ]:
        spec = dialect.build_request(
            base_url="http://x",
            api_key="k",
            model="m",
            messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": content}],
            params={},
        )
        resumed = dialect.build_prefill_request(spec, '"a": 1')
        assert resumed is not None
        assert resumed.json is not None
        assert resumed.json["messages"][-1] == {"role": "assistant", "content": expected}


@pytest.mark.parametrize("prefix", ["", "Hello ", "Hello\n", "Hi\t"])
def test_prefill_refuses_trailing_whitespace(prefix: str) -> None:
    assert AnthropicMessagesDialect().build_prefill_request(_spec(), prefix) is None


def test_prefill_refused_with_extended_thinking() -> None:
    dialect = AnthropicMessagesDialect()
    spec = _spec(thinking={"type": "enabled", "budget_tokens": 1024})
    assert dialect.build_prefill_request(spec, "Hello") is None
    spec = _spec(thinking={"type": "disabled"})
    assert dialect.build_prefill_request(spec, "Hello") is not None


def test_dialect_attributes() -> None:
    dialect = get(DIALECT)
    assert dialect.name == DIALECT
    assert dialect.resume_strategies == ("prefill", "replay")
    assert dialect.api_key_env == ("ANTHROPIC_API_KEY",)
    assert dialect.default_base_url == "https://api.anthropic.com/v1"
    assert isinstance(dialect.new_decoder(), AnthropicMessagesDecoder)


# ---- ProviderExtras -----------------------------------------------------------------------


def test_extras_merge_of_a_continuation() -> None:
    from streamkit.extras import Citation, ProviderExtras, Signature, TokenLogprob

    first = ProviderExtras(
        citations=[Citation(type="a")],
        signatures=[Signature(signature="s1", kind="thinking")],
        redacted_thinking=["r1"],
        server_tool_calls=[0],
        server_tool_results=[{"index": 1}],
        incomplete_tool_calls=[2],
        logprobs=[TokenLogprob(token="a", logprob=-0.1)],
        grounding={"g": 1},
        raw_usage={"output_tokens": 1},
    )
    later = ProviderExtras(
        citations=[Citation(type="b")],
        server_tool_calls=[0, 3],
        logprobs=[TokenLogprob(token="b", logprob=-0.2)],
        stop_details={"reason": "x"},
        raw_usage={"output_tokens": 9},
    )
    merged = first.merged(later)
    assert [c.type for c in merged.citations] == ["a", "b"]
    assert [s.signature for s in merged.signatures] == ["s1"]
    assert merged.redacted_thinking == ["r1"]
    assert merged.server_tool_calls == [0, 3]
    assert merged.server_tool_results == [{"index": 1}]
    assert merged.incomplete_tool_calls == []
    assert merged.logprobs is not None
    assert [lp.token for lp in merged.logprobs] == ["a", "b"]
    assert merged.grounding == {"g": 1}
    assert merged.stop_details == {"reason": "x"}
    assert merged.raw_usage == {"output_tokens": 9}
    assert ProviderExtras().merged(later).logprobs == later.logprobs
    assert first.merged(ProviderExtras()).logprobs == first.logprobs
    assert ProviderExtras().is_empty
    assert not first.is_empty


def test_events_with_missing_fields_are_harmless() -> None:
    decoder = AnthropicMessagesDecoder()
    stream = [
        '{"type":"message_start"}',
        '{"type":"message_start","message":{"id":"msg_1"}}',
        '{"type":"message_start","message":{"id":"msg_2","model":"m"}}',
        '{"type":"content_block_start","index":0}',
        '{"type":"content_block_delta","index":0}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}',
        '{"type":"content_block_delta","index":5,"delta":{"type":"thinking_delta","thinking":"t"}}',
        '{"type":"content_block_delta","index":5,"delta":{"type":"thinking_delta","thinking":""}}',
        '{"type":"content_block_delta","index":5,"delta":{"type":"signature_delta","signature":"s"}}',
        '{"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":"{"}}',
        '{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking"}}',
        '{"type":"content_block_start","index":2,"content_block":{"type":"image"}}',
        '{"type":"content_block_stop"}',
        '{"type":"message_delta"}',
        '{"type":"message_delta","delta":{}}',
    ]
    events = [e for data in stream for e in decoder.decode(sse(data))]
    assert events == [ReasoningDelta(text="t"), ToolCallDelta(tool_index=5, arguments="{")]
    assert (decoder.response_id, decoder.model) == ("msg_1", "m")
    assert not decoder.complete_at_eof()
    assert decoder.extras().is_empty


def test_system_blocks_and_odd_prefill_targets() -> None:
    dialect = AnthropicMessagesDialect()
    spec = dialect.build_request(
        base_url="http://x",
        api_key="k",
        model="m",
        messages=[
            {"role": "system", "content": {"type": "text", "text": "A", "cache_control": {}}},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": None},
        ],
        params={},
    )
    assert spec.json is not None
    assert spec.json["system"] == [{"type": "text", "text": "A", "cache_control": {}}]
    resumed = dialect.build_prefill_request(spec, "Hey")
    assert resumed is not None
    assert resumed.json is not None
    assert resumed.json["messages"][-1] == {"role": "assistant", "content": "Hey"}
    assert len(resumed.json["messages"]) == 3
    no_body = spec.__class__("POST", "http://x/messages")
    assert dialect.build_prefill_request(no_body, "Hey") is None


def test_system_message_without_content_is_skipped() -> None:
    spec = AnthropicMessagesDialect().build_request(
        base_url="http://x",
        api_key="k",
        model="m",
        messages=[{"role": "system", "content": None}, {"role": "system", "content": "B"}],
        params={},
    )
    assert spec.json is not None
    assert spec.json["system"] == [{"type": "text", "text": "B"}]


@pytest.mark.parametrize(
    ("start_input", "pieces", "arguments"),
    [
        ({}, None, "{}"),  # no input_json_delta at all: the wire's input {}
        ({}, [""], "{}"),  # what the API sends for a tool without arguments
        (None, None, "{}"),  # no input field: still a call without arguments
        ({"city": "Paris"}, None, '{"city": "Paris"}'),  # the input came whole
        ({}, ['{"city"', ': "Paris"}'], '{"city": "Paris"}'),  # streamed as usual
    ],
)
def test_tool_arguments_match_the_wire_input(
    start_input: Any, pieces: list[str] | None, arguments: str
) -> None:
    decoder = AnthropicMessagesDecoder()
    block: dict[str, Any] = {"type": "tool_use", "id": "toolu_1", "name": "weather"}
    if start_input is not None:
        block["input"] = start_input
    events = decoder.decode(
        sse(json.dumps({"type": "content_block_start", "index": 0, "content_block": block}))
    )
    for piece in pieces or []:
        delta = {"type": "input_json_delta", "partial_json": piece}
        events += decoder.decode(
            sse(json.dumps({"type": "content_block_delta", "index": 0, "delta": delta}))
        )
    events += decoder.decode(sse('{"type": "content_block_stop", "index": 0}'))
    got = "".join(e.arguments or "" for e in events if isinstance(e, ToolCallDelta))
    assert got == arguments


# ---- the fast path for text and tool-argument deltas ---------------------------------------


def _both(events: list[Any]) -> tuple[AnthropicMessagesDecoder, AnthropicMessagesDecoder]:
    """Feed the same SSE events to a fast and a validating decoder; outcomes must match."""
    fast, slow = AnthropicMessagesDecoder(), AnthropicMessagesDecoder()
    slow.fast = False
    for event in events:
        outcomes = []
        for decoder in (slow, fast):
            try:
                outcomes.append(decoder.decode(event))
            except (ChunkDecodeError, ProviderError) as err:
                outcomes.append((type(err).__name__, str(err)))
        assert outcomes[1] == outcomes[0], event
    assert fast.extras() == slow.extras()
    assert fast.complete_at_eof() == slow.complete_at_eof()
    assert fast._text_chars == slow._text_chars
    return fast, slow


@pytest.mark.parametrize("name", FILES)
def test_fast_path_equals_validating_path_on_recordings(name: str) -> None:
    from streamkit.sse import SSEDecoder

    events = SSEDecoder().feed(read(name))
    fast, _ = _both(events)
    hot = sum(
        fast._hot_delta(json.loads(e.data)) is not None
        for e in events
        if '"content_block_delta"' in e.data
    )
    if any('"text_delta"' in e.data for e in events):
        assert hot > 0  # the fast path really carries the deltas


_JUNK = st.one_of(st.none(), st.booleans(), st.integers(-1, 2), st.text(max_size=3), st.just({}))


@st.composite
def _delta_events(draw: st.DrawFn) -> Any:
    """A block start or a text/JSON delta as the API sends it, then a field changed."""
    from streamkit.sse import ServerSentEvent

    index = draw(st.integers(0, 2))
    kind = draw(st.sampled_from(["text_delta", "input_json_delta", "thinking_delta", "start"]))
    if kind == "start":
        block = draw(
            st.sampled_from(
                [
                    {"type": "text", "text": ""},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                ]
            )
        )
        obj: dict[str, Any] = {
            "type": "content_block_start",
            "index": index,
            "content_block": block,
        }
    else:
        field = {"text_delta": "text", "input_json_delta": "partial_json"}.get(kind, "thinking")
        delta = {"type": kind, field: draw(st.text(max_size=4))}
        obj = {"type": "content_block_delta", "index": index, "delta": delta}
        if draw(st.booleans()):
            target = draw(st.sampled_from([obj, delta]))
            key = draw(
                st.sampled_from(
                    ["type", "index", "delta", "text", "partial_json", "x", "usage", "message"]
                )
            )
            if draw(st.booleans()):
                target.pop(key, None)
            else:
                target[key] = draw(_JUNK)
    name = obj.get("type") if isinstance(obj.get("type"), str) else "content_block_delta"
    return ServerSentEvent(event=name, data=json.dumps(obj))


@settings(max_examples=400, deadline=None)
@given(events=st.lists(_delta_events(), max_size=8))
def test_fast_path_equals_validating_path_on_generated_deltas(events: list[Any]) -> None:
    _both(events)
