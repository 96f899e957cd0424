"""The openai-chat dialect on every real recorded OpenAI-compatible stream.

The oracle is openai-python's own ``ChatCompletionStreamState`` accumulation,
computed here from the same bytes; where it cannot run (a tool index starting at 1
crashes it) the expected values are checked by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamkit import (
    ChunkDecodeError,
    FinishEvent,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.offline import decode_stream
from streamkit.providers import get
from streamkit.sse import ServerSentEvent

from conftest import files_of, read_real

COMPLETE = files_of("openai-chat", "complete")
ERRORS = files_of("openai-chat", "provider_error")
BY_HAND = {"openai-compat-gateway-claude-tool-call-index1.sse"}


def _data_payloads(raw: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of a recording, split independently of streamkit's parser."""
    out = []
    for line in raw.decode("utf-8").splitlines():
        if not line.startswith("data:"):
            continue  # also drops " data:" (leading space), as the SSE spec does
        payload = line[5:]
        payload = payload[1:] if payload.startswith(" ") else payload
        if payload == "[DONE]":
            continue
        out.append(json.loads(payload))
    return out


def _oracle(raw: bytes) -> Any:
    import warnings

    from openai._models import construct_type
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state = ChatCompletionStreamState()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic serializer warnings on Mistral arrays
        for chunk in _data_payloads(raw):
            if "error" in chunk and not chunk.get("choices"):
                continue
            state.handle_chunk(construct_type(type_=ChatCompletionChunk, value=chunk))
        return state.current_completion_snapshot


def _hand_reasoning(raw: bytes) -> dict[int, str]:
    """Reasoning text per choice, joined straight from the JSON (independent check)."""
    out: dict[int, str] = {}
    for chunk in _data_payloads(raw):
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("reasoning_content") or delta.get("reasoning") or ""
            content = delta.get("content")
            if isinstance(content, list):
                for part in content:
                    if part.get("type") == "thinking":
                        piece += "".join(p.get("text", "") for p in part["thinking"])
            out[choice.get("index", 0)] = out.get(choice.get("index", 0), "") + piece
    return out


@pytest.mark.parametrize("name", [n for n in COMPLETE if n not in BY_HAND])
def test_complete_streams_match_openai_python(name: str) -> None:
    raw = read_real(name)
    events, result = decode_stream(raw)
    assert result.complete
    oracle = _oracle(raw)
    assert [c.index for c in result.choices] == sorted(c.index for c in oracle.choices)
    for ours, theirs in zip(
        result.choices, sorted(oracle.choices, key=lambda c: c.index), strict=True
    ):
        content = theirs.message.content
        if isinstance(content, str):
            assert ours.text == content
        else:  # Mistral arrays: the SDK keeps the last list; text parts are checked below
            assert (
                "".join(p.get("text", "") for p in (content or []) if p.get("type") == "text")
                in ours.text
            )
        assert ours.finish_reason == theirs.finish_reason or (
            theirs.finish_reason is None and ours.finish_reason is None
        )
        assert (ours.refusal or None) == (theirs.message.refusal or None)
        their_calls = theirs.message.tool_calls or []
        assert [(t.id, t.name, t.arguments) for t in ours.tool_calls] == [
            (c.id, c.function.name, c.function.arguments) for c in their_calls
        ]
    usage = oracle.usage
    reported = [c["usage"] for c in _data_payloads(raw) if c.get("usage")]
    if usage is None and reported:
        # openai-python lets a trailing `"usage": null` chunk erase the usage
        # (openai-chat-moderation-trailing-chunk.sse); the last real report counts
        from openai.types import CompletionUsage

        usage = CompletionUsage.model_validate(reported[-1])
    if usage is None:
        assert result.usage is None
    else:
        assert result.usage is not None
        assert result.usage.input_tokens == usage.prompt_tokens
        completion = usage.completion_tokens
        reasoning = (
            usage.completion_tokens_details or None
        ) and usage.completion_tokens_details.reasoning_tokens  # type: ignore[union-attr]
        if reasoning and usage.total_tokens == usage.prompt_tokens + completion + reasoning:
            # xAI reports reasoning tokens outside completion_tokens; streamkit's
            # output_tokens always counts every generated token
            completion += reasoning
        assert result.usage.output_tokens == completion
        assert result.usage.total_tokens == usage.total_tokens
        details = usage.prompt_tokens_details
        if details is not None and details.cached_tokens is not None:
            assert result.usage.cache_read_tokens == details.cached_tokens
        cdetails = usage.completion_tokens_details
        if cdetails is not None and cdetails.reasoning_tokens is not None:
            assert result.usage.reasoning_tokens == cdetails.reasoning_tokens
    # openai-python keeps the first chunk's model even when it is "" (Azure's prompt
    # filter chunk); streamkit reports the first non-empty one
    models = [c["model"] for c in _data_payloads(raw) if c.get("model")]
    assert result.model == (models[0] if models else None)
    assert oracle.model in ("", result.model)
    hand = _hand_reasoning(raw)
    for choice in result.choices:
        assert choice.reasoning == hand.get(choice.index, "")
    # the streamed deltas add up to the final result
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta) and e.index == 0)
    assert streamed == result.text


def test_tool_index_starting_at_1() -> None:
    _, result = decode_stream(read_real("openai-compat-gateway-claude-tool-call-index1.sse"))
    assert result.complete  # ends "data: [DONE]\n" (unterminated) but every choice finished
    assert result.finish_reason == "tool_calls"
    assert result.text == "Reading it."
    [call] = result.tool_calls
    assert call.index == 1
    assert call.id == "toolu_sanitized"
    assert call.name == "read_file"
    assert call.parsed_arguments() == {"path": "a.txt"}
    assert result.usage is None


def test_leading_space_data_line_is_dropped_per_spec() -> None:
    # " data: {...}" has the field name " data": the first chunk (the role chunk) is
    # not an event; the tool call that follows is intact
    from streamkit.sse import SSEDecoder

    raw = read_real("openrouter-kimi-tool-call-leading-space.sse")
    sse_events = SSEDecoder().feed(raw)
    assert len(sse_events) == raw.count(b"data:") - 1
    _, result = decode_stream(raw)
    [call] = result.tool_calls
    assert (call.id, call.name, call.arguments) == ("llm_version:0", "llm_version", "{}")


@pytest.mark.parametrize("name", ERRORS)
def test_in_band_errors_raise_provider_error_with_partial(name: str) -> None:
    raw = read_real(name)
    with pytest.raises(ProviderError) as info:
        decode_stream(raw)
    err = info.value
    assert err.partial is not None
    assert not err.partial.complete
    assert err.partial.reasoning  # both streams reasoned before failing
    if name.startswith("groq"):
        assert err.code == "tool_use_failed"
        assert err.error_type == "invalid_request_error"
    else:
        assert err.code == 400
        assert "Token limit reached" in str(err)
        assert err.partial.usage is not None  # the error chunk's usage is kept
        assert err.partial.usage.output_tokens == 10


@pytest.mark.parametrize("name", COMPLETE)
@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_any_chunking_gives_the_same_events(name: str, chunk_size: int) -> None:
    raw = read_real(name)
    whole, result = decode_stream(raw)
    pieces, result2 = decode_stream(raw, chunk_size=chunk_size)
    assert pieces == whole
    assert result2.choices == result.choices
    assert result2.usage == result.usage


def test_events_are_typed() -> None:
    events, _ = decode_stream(read_real("deepseek-chat-reasoner-tool-call.sse"))
    kinds = {type(e) for e in events}
    assert {ReasoningDelta, ToolCallDelta, FinishEvent, UsageEvent} <= kinds


def test_malformed_json_raises_chunk_decode_error_with_raw_text() -> None:
    decoder = get("openai-chat").new_decoder()
    with pytest.raises(ChunkDecodeError) as info:
        decoder.decode(ServerSentEvent(data='{"choices": ['))
    assert info.value.raw == '{"choices": ['
    assert '{"choices": [' in str(info.value)


def test_non_object_json_is_a_chunk_decode_error() -> None:
    decoder = get("openai-chat").new_decoder()
    with pytest.raises(ChunkDecodeError):
        decoder.decode(ServerSentEvent(data="[1, 2]"))


def test_build_request_shape() -> None:
    spec = get("openai-chat").build_request(
        base_url="https://example.invalid/v1/",
        api_key="sk-test-abcdefghijkl",
        model="gpt-4.1",
        messages=[{"role": "user", "content": "Hi"}],
        params={"temperature": 0.2},
    )
    assert spec.method == "POST"
    assert spec.url == "https://example.invalid/v1/chat/completions"
    assert spec.json == {
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
    }
    assert spec.headers["authorization"] == "Bearer sk-test-abcdefghijkl"
    assert spec.headers["accept"] == "text/event-stream"
    assert "sk-test" not in repr(spec)


def test_logprobs_are_kept_in_extras() -> None:
    _, result = decode_stream(read_real("openai-chat-logprobs-content.sse"))
    logprobs = result.extras.logprobs
    assert logprobs is not None
    assert "".join(t.token for t in logprobs) == result.text
    assert all(t.logprob <= 0 for t in logprobs)
    assert result.extras.raw_usage is not None
    assert result.extras.raw_usage["total_tokens"] == result.usage.total_tokens  # type: ignore[union-attr]


def test_refusal_logprobs() -> None:
    _, result = decode_stream(read_real("openai-chat-logprobs-refusal.sse"))
    assert result.refusal
    assert result.extras.logprobs is not None
    assert "".join(t.token for t in result.extras.logprobs) == result.refusal


@pytest.mark.parametrize("name", COMPLETE + ERRORS)
def test_fast_path_equals_validating_path(name: str) -> None:
    """The hot text-delta fast path gives exactly what the validating path gives."""
    from streamkit.providers.openai_chat import OpenAIChatDecoder
    from streamkit.sse import SSEDecoder

    fast, slow = OpenAIChatDecoder(), OpenAIChatDecoder()
    slow.fast = False
    hot = 0
    for sse in SSEDecoder().feed(read_real(name)):
        try:
            expected: Any = slow.decode(sse)
        except ProviderError as err:
            expected = ("error", str(err))
        try:
            got: Any = fast.decode(sse)
        except ProviderError as err:
            got = ("error", str(err))
        assert got == expected
        hot += fast._hot_text(_maybe_json(sse.data)) is not None
    for attr in ("model", "response_id", "_done", "_seen_choices", "_finished", "_usage_only_seen"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert fast.extras() == slow.extras()
    if name == "openai-chat-text-include-usage.sse":
        assert hot >= 25  # the fast path really carries the text chunks


def _maybe_json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


@pytest.mark.parametrize(
    "data",
    [
        '{"choices":[{"index":0,"delta":{"content":"hi","reasoning_content":"x"}}]}',
        '{"choices":[{"index":0,"delta":{"content":"hi","tool_calls":[]}}]}',
        '{"choices":[{"index":0,"delta":{"content":"hi","refusal":""}}],"model":"m","id":"c"}',
        '{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}',
        '{"choices":[{"index":"0","delta":{"content":"hi"}}]}',
        '{"choices":[{"index":0,"delta":{"content":"hi"}}],"model":7}',
        '{"choices":[{"index":0,"delta":{"content":""}}]}',
        '{"choices":[{"delta":{"content":"hi"}}]}',
        '{"choices":[{"index":0,"delta":{"content":"hi","tool_calls":{}}}]}',
    ],
)
def test_fast_path_edge_shapes(data: str) -> None:
    from streamkit.providers.openai_chat import OpenAIChatDecoder

    fast, slow = OpenAIChatDecoder(), OpenAIChatDecoder()
    slow.fast = False
    outcomes = []
    for decoder in (fast, slow):
        try:
            outcomes.append(decoder.decode(ServerSentEvent(data=data)))
        except ChunkDecodeError as err:
            outcomes.append(type(err))
    assert outcomes[0] == outcomes[1]
    assert fast.model == slow.model


def test_the_fast_path_carries_tool_call_pieces() -> None:
    from streamkit.providers.openai_chat import OpenAIChatDecoder
    from streamkit.sse import SSEDecoder

    decoder = OpenAIChatDecoder()
    events = SSEDecoder().feed(read_real("openai-chat-tool-call-single.sse"))
    hot = [
        e
        for sse in events
        for e in (decoder._hot_text(_maybe_json(sse.data)) or [])
        if isinstance(e, ToolCallDelta)
    ]
    assert len(hot) >= 5  # the argument pieces take the fast path


_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 3),
    st.floats(0, 2),
    st.text(max_size=4),
    st.just([]),
    st.just({}),
)
#: Where a generated tool-call chunk may be changed: (path to the container, key).
_PLACES = [
    ((), "id"),
    ((), "model"),
    ((), "usage"),
    (("choices", 0), "index"),
    (("choices", 0), "finish_reason"),
    (("choices", 0, "delta"), "content"),
    (("choices", 0, "delta"), "reasoning_content"),
    (("choices", 0, "delta"), "tool_calls"),
    (("choices", 0, "delta", "tool_calls", 0), "index"),
    (("choices", 0, "delta", "tool_calls", 0), "id"),
    (("choices", 0, "delta", "tool_calls", 0), "function"),
    (("choices", 0, "delta", "tool_calls", 0, "function"), "name"),
    (("choices", 0, "delta", "tool_calls", 0, "function"), "arguments"),
]


@st.composite
def _tool_chunks(draw: st.DrawFn) -> dict[str, Any]:
    """A tool-call piece as providers send it, then up to two fields changed or dropped."""
    function: dict[str, Any] = {"arguments": draw(st.text(max_size=8))}
    if draw(st.booleans()):
        function["name"] = draw(st.one_of(st.none(), st.text(max_size=5)))
    call: dict[str, Any] = {"index": draw(st.integers(0, 3)), "function": function}
    if draw(st.booleans()):
        call.update(id=draw(st.one_of(st.none(), st.text(max_size=5))), type="function")
    chunk: dict[str, Any] = {
        "id": "c1",
        "model": draw(st.sampled_from(["m", "", None])),
        "choices": [{"index": draw(st.integers(0, 2)), "delta": {"tool_calls": [call]}}],
    }
    if draw(st.booleans()):
        chunk["choices"][0]["delta"].update(role="assistant", content=None)
    for _ in range(draw(st.integers(0, 2))):
        path, key = draw(st.sampled_from(_PLACES))
        target: Any = chunk
        for step in path:
            try:
                target = target[step]
            except (KeyError, IndexError, TypeError):
                target = None
                break
        if not isinstance(target, dict):
            continue
        action = draw(st.sampled_from(["junk", "drop", "second call", "text"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "second call" and key == "tool_calls":
            calls = target.get(key) or []
            target[key] = [*calls, {"index": 1, "function": {"arguments": "x"}}]
        elif action == "text" and key == "content":
            target[key] = draw(st.text(max_size=3))
        else:
            target[key] = draw(_JUNK)
    return chunk


@settings(max_examples=500, deadline=None)
@given(chunks=st.lists(_tool_chunks(), min_size=1, max_size=6))
def test_fast_path_equals_validating_path_on_generated_tool_call_chunks(
    chunks: list[dict[str, Any]],
) -> None:
    from streamkit.errors import ChunkDecodeError
    from streamkit.providers.openai_chat import OpenAIChatDecoder

    fast, slow = OpenAIChatDecoder(), OpenAIChatDecoder()
    slow.fast = False
    for chunk in chunks:
        sse = ServerSentEvent(data=json.dumps(chunk))
        outcomes = []
        for decoder in (slow, fast):
            try:
                outcomes.append(decoder.decode(sse))
            except ChunkDecodeError as err:
                outcomes.append(("invalid", str(err)))
        assert outcomes[1] == outcomes[0]
    for attr in ("model", "response_id", "_seen_choices", "_finished"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
