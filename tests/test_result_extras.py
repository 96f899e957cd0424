"""Provider extras reach StreamResult, across dialects and attempts."""

from __future__ import annotations

from streamkit.offline import decode_stream

from conftest import read_real


def test_truncated_anthropic_tool_call_is_marked_incomplete() -> None:
    raw = read_real("anthropic-messages-max-tokens-mid-tool-json.sse")
    _, result = decode_stream(raw, provider="anthropic-messages")
    assert result.complete
    assert result.finish_reason == "length"
    [call] = result.tool_calls
    assert call.complete is False
    assert call.arguments.startswith('{"filename": "taxes.txt"')
    assert result.extras.incomplete_tool_calls == [call.index]


def test_complete_anthropic_tool_call_is_complete() -> None:
    _, result = decode_stream(
        read_real("anthropic-messages-tool-use.sse"), provider="anthropic-messages"
    )
    assert result.tool_calls
    assert all(call.complete for call in result.tool_calls)
    assert result.finish_reason == "tool_calls"


def test_citations_and_signatures_are_kept() -> None:
    _, result = decode_stream(
        read_real("anthropic-messages-web-search-server-tool.sse"), provider="anthropic-messages"
    )
    assert result.extras.citations
    _, thinking = decode_stream(
        read_real("anthropic-messages-thinking-signature.sse"), provider="anthropic-messages"
    )
    assert thinking.extras.signatures
    assert thinking.reasoning


def test_gemini_grounding_is_kept() -> None:
    _, result = decode_stream(
        read_real("gemini-native-web-search-grounding.sse"), provider="gemini"
    )
    assert result.extras.grounding is not None
    assert result.text
