"""The openai-responses dialect on every real Responses recording.

The oracle is the server's own final snapshot in the same recording: the
``response`` object of ``response.completed`` (output text, reasoning, function
calls, usage).
"""

from __future__ import annotations

from typing import Any

import pytest

from streamkit.errors import ChunkDecodeError, ProviderError
from streamkit.events import (
    FinishEvent,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.providers import get
from streamkit.providers.openai_responses import (
    REASONING_SEPARATOR,
    OpenAIResponsesDecoder,
    OpenAIResponsesDialect,
    input_items,
)
from streamkit.reassembly import Reassembler
from streamkit.usage import Usage

from ._fixtures import decode, files_of, payloads, read, sse

DIALECT = "openai-responses"
COMPLETE = files_of(DIALECT, "complete")


def _final_response(raw: bytes) -> dict[str, Any]:
    finals = [obj for _, obj in payloads(raw) if obj.get("type") == "response.completed"]
    assert len(finals) == 1
    response: dict[str, Any] = finals[0]["response"]
    return response


@pytest.mark.parametrize("name", COMPLETE)
def test_matches_the_completed_snapshot(name: str) -> None:
    raw = read(name)
    got = decode(DIALECT, raw)
    final = _final_response(raw)
    result = got.result
    assert got.complete

    output = final["output"]
    text = "".join(
        part["text"]
        for item in output
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    assert result.text == text
    reasoning = REASONING_SEPARATOR.join(
        [s["text"] for item in output if item["type"] == "reasoning" for s in item["summary"]]
        + [
            c["text"]
            for item in output
            if item["type"] == "reasoning"
            for c in item.get("content") or ()
        ]
    )
    assert result.reasoning == reasoning

    calls = [(i, item) for i, item in enumerate(output) if item["type"] == "function_call"]
    assert [(c.index, c.id, c.name, c.arguments) for c in result.tool_calls] == [
        (i, item["call_id"], item["name"], item["arguments"]) for i, item in calls
    ]
    assert result.finish_reason == ("tool_calls" if calls else "stop")
    assert result.choices[0].raw_finish_reason == "completed"

    usage = final["usage"]
    assert result.usage == Usage(
        input_tokens=usage["input_tokens"],
        cache_read_tokens=usage["input_tokens_details"]["cached_tokens"],
        output_tokens=usage["output_tokens"],
        reasoning_tokens=usage["output_tokens_details"]["reasoning_tokens"],
        total_tokens=usage["total_tokens"],
    )
    assert result.model == final["model"]
    assert result.response_id == final["id"]
    assert got.extras.raw_usage == usage
    assert got.extras.incomplete_tool_calls == []


@pytest.mark.parametrize("name", COMPLETE)
def test_one_byte_at_a_time_gives_the_same_events(name: str) -> None:
    raw = read(name)
    whole = decode(DIALECT, raw)
    drip = decode(DIALECT, raw, chunk_size=1)
    assert drip.raw_events == whole.raw_events
    assert drip.events == whole.events
    assert drip.result == whole.result
    assert drip.extras == whole.extras


@pytest.mark.parametrize("name", files_of(DIALECT, "provider_error"))
@pytest.mark.parametrize("chunk_size", [None, 1])
def test_error_recordings_raise_however_they_are_split(name: str, chunk_size: int | None) -> None:
    with pytest.raises(ProviderError, match="insufficient_quota"):
        decode(DIALECT, read(name), chunk_size=chunk_size)


@pytest.mark.parametrize("name", COMPLETE)
def test_sequence_numbers_restore_the_order(name: str) -> None:
    raw = read(name)
    whole = decode(DIALECT, raw)
    swapped = decode(DIALECT, raw, reorder=True)
    assert whole.sequences[0] is not None
    assert swapped.events == whole.events
    assert swapped.result == whole.result


def test_insufficient_quota_error_event() -> None:
    raw = read("openai-responses-error-insufficient-quota.sse")
    with pytest.raises(ProviderError) as info:
        decode(DIALECT, raw)
    assert info.value.code == "insufficient_quota"
    assert info.value.error_type == "insufficient_quota"
    assert "exceeded your current quota" in str(info.value)


def test_resumed_background_stream_starts_with_queued() -> None:
    raw = read("openai-responses-background-resume.sse")
    got = decode(DIALECT, raw)
    assert got.sequences[0] == 1
    assert got.result.text == "2 + 2 equals 4."


def test_openrouter_stream_without_event_lines_and_with_done() -> None:
    raw = read("openrouter-responses-reasoning-done-marker.sse")
    assert b"\nevent:" not in raw
    assert raw.rstrip().endswith(b"data: [DONE]")
    got = decode(DIALECT, raw)
    assert got.result.reasoning.startswith("The user asks")
    assert got.result.text == "4"


def test_logprobs_are_kept() -> None:
    raw = read("openai-responses-logprobs.sse")
    got = decode(DIALECT, raw)
    logprobs = got.extras.logprobs
    assert logprobs is not None
    assert "".join(lp.token for lp in logprobs) == got.result.text
    assert logprobs[0].token == "The"
    assert logprobs[0].bytes == [84, 104, 101]
    assert all(lp.logprob <= 0 for lp in logprobs)
    assert decode(DIALECT, read("openai-responses-text.sse")).extras.logprobs is None


def test_reasoning_summary_parts_and_encrypted_content() -> None:
    raw = read("openai-responses-reasoning-summary.sse")
    got = decode(DIALECT, raw)
    separators = [e for e in got.events if e == ReasoningDelta(text=REASONING_SEPARATOR)]
    assert len(separators) == 3  # four summary parts
    (signature,) = got.extras.signatures
    assert signature.kind == "encrypted_reasoning"
    assert signature.signature.startswith("gAAAAA")
    assert signature.block_index == 0
    assert signature.item_id == "rs_68c42d1d0878819d8266007cd3d1402c08fbf9b1584184ff"


def test_function_call_events() -> None:
    got = decode(DIALECT, read("openai-responses-function-call.sse"))
    tool_events = [e for e in got.events if isinstance(e, ToolCallDelta)]
    assert tool_events[0] == ToolCallDelta(
        tool_index=0, id="call_sVidsfFJ6zlzRpelrPkTPlpd", name="multiply"
    )
    assert len(tool_events) > 2
    assert got.events[-1] == FinishEvent(finish_reason="tool_calls", raw_finish_reason="completed")


# ---- synthetic events ---------------------------------------------------------------------


def _event(**fields: Any) -> str:
    import json

    return json.dumps(fields)


def test_error_event_with_top_level_code() -> None:
    decoder = OpenAIResponsesDecoder()
    payload = _event(
        type="error", code="server_error", message="The server had an error", sequence_number=7
    )
    with pytest.raises(ProviderError) as info:
        decoder.decode(sse(payload, event="error"))
    assert info.value.code == "server_error"
    assert "The server had an error" in str(info.value)
    with pytest.raises(ProviderError, match="boom"):
        decoder.decode(sse("boom", event="error"))


def test_failed_response_raises_with_its_usage() -> None:
    decoder = OpenAIResponsesDecoder()
    payload = _event(
        type="response.failed",
        sequence_number=9,
        response={
            "id": "resp_1",
            "status": "failed",
            "error": {"code": "server_error", "message": "oops"},
            "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        },
    )
    with pytest.raises(ProviderError) as info:
        decoder.decode(sse(payload))
    assert info.value.code == "server_error"
    assert info.value.events == [
        UsageEvent(usage=Usage(input_tokens=3, output_tokens=2, total_tokens=5))
    ]
    assert decoder.response_id == "resp_1"
    with pytest.raises(ProviderError, match="response failed"):
        OpenAIResponsesDecoder().decode(sse(_event(type="response.failed", response={})))


def test_incomplete_response_maps_the_reason_and_open_calls() -> None:
    decoder = OpenAIResponsesDecoder()
    decoder.decode(
        sse(
            _event(
                type="response.output_item.added",
                output_index=1,
                item={"type": "function_call", "call_id": "c1", "name": "f", "arguments": ""},
                sequence_number=1,
            )
        )
    )
    decoder.decode(
        sse(
            _event(
                type="response.function_call_arguments.delta",
                output_index=1,
                delta='{"a"',
                sequence_number=2,
            )
        )
    )
    events = decoder.decode(
        sse(
            _event(
                type="response.incomplete",
                sequence_number=3,
                response={
                    "status": "incomplete",
                    "incomplete_details": {"reason": "max_output_tokens"},
                },
            )
        )
    )
    assert events == [FinishEvent(finish_reason="length", raw_finish_reason="max_output_tokens")]
    assert decoder.done
    extras = decoder.extras()
    assert extras.incomplete_tool_calls == [1]
    assert extras.stop_details == {"reason": "max_output_tokens"}
    other = OpenAIResponsesDecoder()
    (finish,) = other.decode(
        sse(
            _event(
                type="response.incomplete",
                response={"incomplete_details": {"reason": "content_filter"}},
            )
        )
    )
    assert finish == FinishEvent(finish_reason="content_filter", raw_finish_reason="content_filter")


def test_arguments_from_done_only_when_no_delta_came() -> None:
    decoder = OpenAIResponsesDecoder()
    added = _event(
        type="response.output_item.added",
        output_index=0,
        item={"type": "function_call", "call_id": "c1", "name": "f"},
    )
    assert decoder.decode(sse(added)) == [ToolCallDelta(tool_index=0, id="c1", name="f")]
    done = _event(type="response.function_call_arguments.done", output_index=0, arguments="{}")
    assert decoder.decode(sse(done)) == [ToolCallDelta(tool_index=0, arguments="{}")]
    item_done = _event(
        type="response.output_item.done",
        output_index=0,
        item={"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    )
    assert decoder.decode(sse(item_done)) == []
    # a resumed stream (no output_item.added seen) never re-sends the arguments
    resumed = OpenAIResponsesDecoder()
    assert resumed.decode(sse(done)) == []
    assert resumed.decode(sse(item_done)) == []
    assert resumed.extras().incomplete_tool_calls == []


def test_custom_tool_call_refusal_and_annotations() -> None:
    decoder = OpenAIResponsesDecoder()
    events = decoder.decode(
        sse(
            _event(
                type="response.output_item.added",
                output_index=0,
                item={"type": "custom_tool_call", "call_id": "c9", "name": "grammar", "input": ""},
            )
        )
    )
    events += decoder.decode(
        sse(_event(type="response.custom_tool_call_input.delta", output_index=0, delta="x=1"))
    )
    assert events == [
        ToolCallDelta(tool_index=0, id="c9", name="grammar"),
        ToolCallDelta(tool_index=0, arguments="x=1"),
    ]
    assert decoder.decode(sse(_event(type="response.refusal.delta", delta="No."))) == [
        RefusalDelta(text="No.")
    ]
    decoder.decode(sse(_event(type="response.content_part.added", output_index=1, content_index=0)))
    decoder.decode(
        sse(
            _event(
                type="response.output_text.delta", output_index=1, content_index=0, delta="See X."
            )
        )
    )
    decoder.decode(
        sse(
            _event(
                type="response.output_text.annotation.added",
                output_index=1,
                content_index=0,
                annotation={
                    "type": "url_citation",
                    "url": "https://x.example",
                    "title": "X",
                    "start_index": 4,
                    "end_index": 5,
                },
            )
        )
    )
    decoder.decode(
        sse(
            _event(
                type="response.output_item.done",
                output_index=2,
                item={"type": "web_search_call", "id": "ws_1", "status": "completed"},
            )
        )
    )
    extras = decoder.extras()
    (citation,) = extras.citations
    assert (citation.type, citation.url, citation.title) == (
        "url_citation",
        "https://x.example",
        "X",
    )
    assert (citation.start_index, citation.end_index) == (4, 5)
    assert extras.server_tool_results == [
        {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    ]


def test_reasoning_separators() -> None:
    decoder = OpenAIResponsesDecoder()
    stream = [
        _event(type="response.output_item.added", output_index=0, item={"type": "reasoning"}),
        _event(type="response.reasoning_summary_part.added", output_index=0, summary_index=0),
        _event(type="response.reasoning_summary_text.delta", output_index=0, delta="a"),
        _event(type="response.reasoning_summary_part.added", output_index=0, summary_index=1),
        _event(type="response.reasoning_summary_text.delta", output_index=0, delta="b"),
        _event(type="response.output_item.added", output_index=1, item={"type": "reasoning"}),
        _event(
            type="response.content_part.added",
            output_index=1,
            content_index=0,
            part={"type": "reasoning_text"},
        ),
        _event(type="response.reasoning_text.delta", output_index=1, delta="c"),
        _event(
            type="response.content_part.added",
            output_index=1,
            content_index=1,
            part={"type": "reasoning_text"},
        ),
        _event(type="response.reasoning_text.delta", output_index=1, delta="d"),
        _event(type="response.reasoning_text.delta", output_index=1, delta=""),
    ]
    out = [e for data in stream for e in decoder.decode(sse(data))]
    assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == "a\n\nb\n\nc\n\nd"


def test_sequence_number_without_decoding() -> None:
    decoder = OpenAIResponsesDecoder()
    assert decoder.sequence_number(sse('{"type":"x","sequence_number":42}')) == 42
    assert decoder.sequence_number(sse("[DONE]")) is None
    assert decoder.sequence_number(sse("not json")) is None
    event = sse('{"type":"response.in_progress","sequence_number":3}')
    decoder.decode(event)
    assert decoder.sequence_number(event) == 3


def test_bad_json_and_unknown_events() -> None:
    decoder = OpenAIResponsesDecoder()
    with pytest.raises(ChunkDecodeError):
        decoder.decode(sse("{oops"))
    assert decoder.decode(sse(_event(type="response.web_search_call.searching"))) == []
    assert decoder.decode(sse(_event(type="response.output_item.added", output_index=0))) == []
    assert not decoder.complete_at_eof()
    assert decoder.decode(sse("[DONE]")) == []
    assert decoder.done
    assert decoder.complete_at_eof()


def test_text_delta_event() -> None:
    decoder = OpenAIResponsesDecoder()
    assert decoder.decode(
        sse(_event(type="response.output_text.delta", delta="Hi", sequence_number=4))
    ) == [TextDelta(text="Hi")]


def test_duplicate_sequence_numbers_are_dropped() -> None:
    raw = read("openai-responses-text.sse")
    decoder = OpenAIResponsesDecoder()
    reassembler = Reassembler()
    reassembler.begin_attempt()
    from streamkit.sse import SSEDecoder

    events = SSEDecoder().feed(raw)
    delivered = []
    for event in events[:5] + events[:5] + events[5:]:
        delivered += reassembler.push(
            decoder.decode(event), sequence=decoder.sequence_number(event)
        )
    assert [e for e in delivered if isinstance(e, TextDelta)] == [TextDelta(text="pong")]


# ---- request building ---------------------------------------------------------------------


def test_build_request() -> None:
    spec = get(DIALECT).build_request(
        base_url="https://api.openai.com/v1/",
        api_key="sk-test-123456789",
        model="gpt-5",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        params={"reasoning": {"effort": "low"}},
    )
    assert spec.method == "POST"
    assert spec.url == "https://api.openai.com/v1/responses"
    assert spec.headers["authorization"] == "Bearer sk-test-123456789"
    assert spec.headers["accept"] == "text/event-stream"
    assert spec.json == {
        "model": "gpt-5",
        "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "reasoning": {"effort": "low"},
    }


def test_input_items_conversion() -> None:
    items = input_items(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": {"ok": True}},
            {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
            {"type": "item_reference", "id": "rs_1"},
        ]
    )
    assert items == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
            ],
        },
        {"role": "assistant", "content": "Let me check."},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"ok": true}'},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
        {"type": "item_reference", "id": "rs_1"},
    ]


def test_starting_after_request() -> None:
    dialect = OpenAIResponsesDialect()
    spec = dialect.build_request(
        base_url="https://example.openai.azure.com/openai/v1",
        api_key="k-123456789",
        model="gpt-5",
        messages=[{"role": "user", "content": "Hi"}],
        params={"background": True},
    )
    spec = spec.__class__(spec.method, spec.url + "?api-version=preview", spec.headers, spec.json)
    resumed = dialect.build_starting_after_request(spec, "resp_abc", 41)
    assert resumed is not None
    assert resumed.method == "GET"
    assert resumed.json is None
    assert resumed.url == (
        "https://example.openai.azure.com/openai/v1/responses/resp_abc"
        "?api-version=preview&stream=true&starting_after=41"
    )
    assert resumed.headers["authorization"] == "Bearer k-123456789"
    assert "content-type" not in resumed.headers


def test_starting_after_needs_a_background_response() -> None:
    dialect = OpenAIResponsesDialect()
    spec = dialect.build_request(
        base_url="https://api.openai.com/v1",
        api_key=None,
        model="gpt-5",
        messages=[{"role": "user", "content": "Hi"}],
        params={},
    )
    assert "authorization" not in spec.headers
    assert dialect.build_starting_after_request(spec, "resp_abc", 3) is None
    assert dialect.build_prefill_request(spec, "Hello") is None


def test_dialect_attributes() -> None:
    dialect = get(DIALECT)
    assert dialect.name == DIALECT
    assert dialect.resume_strategies == ("starting-after", "replay")
    assert dialect.api_key_env == ("OPENAI_API_KEY",)
    assert isinstance(dialect.new_decoder(), OpenAIResponsesDecoder)


def test_events_with_missing_fields_are_harmless() -> None:
    decoder = OpenAIResponsesDecoder()
    stream = [
        _event(type="response.created"),
        _event(
            type="response.output_text.delta",
            delta="",
            logprobs=[
                {"token": "a"},
                {"token": "b", "logprob": -1.0, "top_logprobs": [{"token": "c"}]},
            ],
        ),
        _event(type="response.function_call_arguments.delta", delta="{"),
        _event(type="response.function_call_arguments.done", arguments="{}"),
        _event(type="response.output_item.done"),
        _event(type="response.output_item.done", item={"type": "function_call"}),
        _event(type="response.output_item.done", output_index=0, item={"type": "reasoning"}),
        _event(type="response.output_item.done", output_index=0, item={"type": "message"}),
        _event(type="response.output_item.done", output_index=0, item={}),
        _event(type="response.output_text.annotation.added"),
        _event(type="response.output_text.annotation.added", annotation={"type": "file_citation"}),
        _event(type="response.content_part.added", output_index=0, content_index=0),
    ]
    events = [e for data in stream for e in decoder.decode(sse(data))]
    assert events == []
    extras = decoder.extras()
    assert extras.logprobs is not None
    assert [(lp.token, lp.top_logprobs) for lp in extras.logprobs] == [("b", [])]
    (citation,) = extras.citations
    assert citation.type == "file_citation"
    assert (citation.start_index, citation.end_index, citation.url) == (None, None, None)
    assert extras.server_tool_results == []
    (finish,) = decoder.decode(sse(_event(type="response.completed")))
    assert finish == FinishEvent(finish_reason="stop", raw_finish_reason="completed")
    (finish,) = OpenAIResponsesDecoder().decode(sse(_event(type="response.incomplete")))
    assert finish == FinishEvent(finish_reason="incomplete", raw_finish_reason="incomplete")


def test_tool_item_added_with_arguments_and_incomplete_status() -> None:
    decoder = OpenAIResponsesDecoder()
    added = _event(
        type="response.output_item.added",
        output_index=3,
        item={"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
    )
    assert decoder.decode(sse(added)) == [
        ToolCallDelta(tool_index=3, id="c", name="f", arguments="{}")
    ]
    done = _event(
        type="response.output_item.done",
        output_index=3,
        item={"type": "function_call", "arguments": "{}", "status": "incomplete"},
    )
    assert decoder.decode(sse(done)) == []
    assert decoder.extras().incomplete_tool_calls == [3]


def test_nested_error_without_message_uses_the_top_level_one() -> None:
    payload = _event(type="error", error={"type": "server_error"}, message="try again", code=500)
    with pytest.raises(ProviderError, match="try again") as info:
        OpenAIResponsesDecoder().decode(sse(payload))
    assert info.value.code == 500
    assert info.value.error_type == "server_error"


def test_odd_content_parts() -> None:
    assert input_items(
        [
            {"role": "user", "content": ["raw", {"type": "input_file", "file_id": "f1"}]},
            {"role": "user", "content": [{"type": "image_url", "image_url": "https://x/a.png"}]},
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]},
            {"role": "user", "name": "bob"},
        ]
    ) == [
        {"role": "user", "content": ["raw", {"type": "input_file", "file_id": "f1"}]},
        {"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": ""},
        {"role": "user", "content": ""},
    ]


def test_incomplete_response_keeps_closed_calls_complete() -> None:
    decoder = OpenAIResponsesDecoder()
    for data in [
        _event(
            type="response.output_item.added",
            output_index=0,
            item={"type": "function_call", "call_id": "a", "name": "f"},
        ),
        _event(type="response.function_call_arguments.done", output_index=0, arguments="{}"),
        _event(
            type="response.output_item.added",
            output_index=1,
            item={"type": "function_call", "call_id": "b", "name": "f"},
        ),
        _event(type="response.incomplete", response={"incomplete_details": {"reason": "x"}}),
    ]:
        decoder.decode(sse(data))
    assert decoder.extras().incomplete_tool_calls == [1]
