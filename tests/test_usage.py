"""Usage normalization: provider usage objects -> Usage, on hand-written and real streams."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from streamkit.usage import CHARS_PER_TOKEN, Usage, estimate_usage

from conftest import manifest, real_dir

# ---------------------------------------------------------------------------- OpenAI


def test_openai_chat_plain() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 14,
            "completion_tokens": 30,
            "total_tokens": 44,
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
    )
    assert u == Usage(
        input_tokens=14, output_tokens=30, reasoning_tokens=0, total_tokens=44, estimated=False
    )


def test_openai_cached_tokens_are_part_of_prompt_tokens() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 339,
            "completion_tokens": 83,
            "total_tokens": 422,
            "prompt_tokens_details": {"cached_tokens": 320},
            "completion_tokens_details": {"reasoning_tokens": 39},
        }
    )
    assert u.input_tokens == 339  # not 339 + 320
    assert u.cache_read_tokens == 320
    assert u.output_tokens == 83  # reasoning included, not added
    assert u.reasoning_tokens == 39
    assert u.cache_write_tokens is None


def test_openai_deepseek_prompt_cache_hit_tokens() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 100,
            "completion_tokens": 5,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
        }
    )
    assert u.cache_read_tokens == 64
    assert u.total_tokens == 105  # computed when absent


def test_openai_details_take_precedence_over_deepseek_field() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 4},
            "prompt_cache_hit_tokens": 3,
        }
    )
    assert u.cache_read_tokens == 4


def test_openai_xai_reasoning_outside_completion_tokens() -> None:
    # xAI: total 303 = 12 prompt + 1 completion + 290 reasoning
    u = Usage.from_openai(
        {
            "prompt_tokens": 12,
            "completion_tokens": 1,
            "total_tokens": 303,
            "completion_tokens_details": {"reasoning_tokens": 290},
        }
    )
    assert u.output_tokens == 291
    assert u.reasoning_tokens == 290
    assert u.total_tokens == 303
    assert u.input_tokens is not None
    assert u.input_tokens + u.output_tokens == u.total_tokens


def test_openai_reasoning_above_completion_without_total() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 5,
            "completion_tokens": 2,
            "completion_tokens_details": {"reasoning_tokens": 7},
        }
    )
    assert u.output_tokens == 9
    assert u.total_tokens == 14


def test_openai_total_consistent_keeps_reported_counts() -> None:
    # OpenRouter reported reasoning 11 > completion 10 but total = prompt + completion:
    # the counts are kept as reported.
    u = Usage.from_openai(
        {
            "prompt_tokens": 43,
            "completion_tokens": 10,
            "total_tokens": 53,
            "completion_tokens_details": {"reasoning_tokens": 11},
        }
    )
    assert (u.output_tokens, u.reasoning_tokens, u.total_tokens) == (10, 11, 53)


def test_openai_responses_shape() -> None:
    u = Usage.from_openai(
        {
            "input_tokens": 13,
            "input_tokens_details": {"cached_tokens": 2},
            "output_tokens": 1680,
            "output_tokens_details": {"reasoning_tokens": 1408},
            "total_tokens": 1693,
        }
    )
    assert u == Usage(
        input_tokens=13,
        cache_read_tokens=2,
        output_tokens=1680,
        reasoning_tokens=1408,
        total_tokens=1693,
    )


def test_openai_nulls_and_junk_stay_unknown() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 40,
            "completion_tokens": None,
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
            "cost": 0.0001,
            "total_tokens": "42",
        }
    )
    assert u.input_tokens == 40
    assert u.output_tokens is None
    assert u.total_tokens is None
    assert u.cache_read_tokens is None


def test_openai_rejects_bool_and_negative() -> None:
    u = Usage.from_openai({"prompt_tokens": True, "completion_tokens": -1})
    assert u.is_empty


# ---------------------------------------------------------------------------- Anthropic


def test_anthropic_input_includes_cache_read_and_write() -> None:
    u = Usage.from_anthropic(
        {
            "input_tokens": 50,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 30,
        }
    )
    assert u.input_tokens == 1250
    assert u.cache_read_tokens == 1000
    assert u.cache_write_tokens == 200
    assert u.output_tokens == 30
    assert u.total_tokens == 1280


def test_anthropic_message_delta_is_cumulative() -> None:
    start = Usage.from_anthropic(
        {
            "input_tokens": 377,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        }
    )
    delta = Usage.from_anthropic({"output_tokens": 65})
    assert delta.input_tokens is None  # not 0: unknown in this report
    merged = start.updated(delta)
    assert merged.input_tokens == 377
    assert merged.output_tokens == 65  # replaced, not 66
    assert merged.total_tokens == 442


def test_anthropic_thinking_tokens() -> None:
    u = Usage.from_anthropic(
        {"input_tokens": 28, "output_tokens": 106, "output_tokens_details": {"thinking_tokens": 67}}
    )
    assert u.reasoning_tokens == 67
    assert u.output_tokens == 106


# ---------------------------------------------------------------------------- Gemini


def test_gemini_output_is_candidates_plus_thoughts() -> None:
    u = Usage.from_gemini(
        {
            "promptTokenCount": 5,
            "candidatesTokenCount": 1,
            "thoughtsTokenCount": 100,
            "totalTokenCount": 106,
        }
    )
    assert u.output_tokens == 101
    assert u.reasoning_tokens == 100
    assert u.total_tokens == 106


def test_gemini_tool_use_prompt_and_cache() -> None:
    u = Usage.from_gemini(
        {
            "promptTokenCount": 17,
            "cachedContentTokenCount": 8,
            "candidatesTokenCount": 41,
            "toolUsePromptTokenCount": 102,
            "thoughtsTokenCount": 412,
            "totalTokenCount": 572,
        }
    )
    assert u.input_tokens == 119
    assert u.cache_read_tokens == 8
    assert u.output_tokens == 453
    assert u.input_tokens + u.output_tokens == u.total_tokens


def test_gemini_without_counts_is_empty() -> None:
    assert Usage.from_gemini({"trafficType": "ON_DEMAND"}).is_empty


def test_gemini_prompt_only_leaves_output_unknown() -> None:
    u = Usage.from_gemini({"promptTokenCount": 15, "totalTokenCount": 15})
    assert u.input_tokens == 15
    assert u.output_tokens is None


# ---------------------------------------------------------------------------- estimates


@pytest.mark.parametrize(
    ("prompt_chars", "output_chars", "expected_in", "expected_out"),
    [(0, 0, 0, 0), (1, 1, 1, 1), (4, 8, 1, 2), (5, 9, 2, 3), (400, 1000, 100, 250)],
)
def test_estimate_usage_is_ceil_chars_over_4(
    prompt_chars: int, output_chars: int, expected_in: int, expected_out: int
) -> None:
    assert CHARS_PER_TOKEN == 4
    u = estimate_usage(prompt_chars, output_chars)
    assert (u.input_tokens, u.output_tokens) == (expected_in, expected_out)
    assert u.total_tokens == expected_in + expected_out
    assert u.estimated is True


def test_estimated_flag_survives_addition() -> None:
    reported = Usage(input_tokens=10, output_tokens=5, total_tokens=15)
    total = reported + estimate_usage(40, 40)
    assert total.estimated
    assert total.input_tokens == 20
    assert total.output_tokens == 15


# ---------------------------------------------------------------------------- real streams


def _sse_data(text: str) -> Iterator[str]:
    """The data of each event (a minimal reader: ``data:`` lines, blank-line framing)."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:
        yield "\n".join(lines)


def _usage_objects(node: Any, out: list[Mapping[str, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("usage", "usageMetadata") and isinstance(value, dict):
                out.append(value)
            else:
                _usage_objects(value, out)
    elif isinstance(node, list):
        for item in node:
            _usage_objects(item, out)


def _real_usage_objects(name: str) -> list[Mapping[str, Any]]:
    text = (real_dir() / name).read_text(encoding="utf-8")
    found: list[Mapping[str, Any]] = []
    for data in _sse_data(text):
        try:
            payload = json.loads(data)
        except ValueError:
            continue  # [DONE]
        _usage_objects(payload, found)
    return found


_NORMALIZE: dict[str, Callable[[Mapping[str, Any]], Usage]] = {
    "openai-chat": Usage.from_openai,
    "openai-responses": Usage.from_openai,
    "anthropic-messages": Usage.from_anthropic,
    "gemini": Usage.from_gemini,
}

# Final usage of every real stream that carries one, hand-computed from the files:
# (input, cached, cache_write, output, reasoning, total).
_EXPECTED: dict[str, tuple[int | None, ...]] = {
    # Anthropic: input = input + cache_read + cache_creation; message_delta replaces
    "anthropic-messages-max-tokens-mid-tool-json.sse": (450, 0, 0, 124, None, 574),
    "anthropic-messages-redacted-thinking.sse": (92, 0, 0, 189, None, 281),
    "anthropic-messages-refusal-stop-details.sse": (28, 0, 0, 106, 67, 134),
    "anthropic-messages-text-json-output.sse": (135, 0, 0, 10, None, 145),
    "anthropic-messages-text.sse": (20, 0, 0, 5, None, 25),
    "anthropic-messages-thinking-long.sse": (43, 0, 0, 282, None, 325),
    "anthropic-messages-thinking-signature.sse": (46, 0, 0, 133, None, 179),
    "anthropic-messages-tool-use-empty-input.sse": (543, 0, 0, 40, None, 583),
    "anthropic-messages-tool-use.sse": (377, 0, 0, 65, None, 442),
    # message_start said 2039 input, the final message_delta 10423 (after the search)
    "anthropic-messages-web-search-server-tool.sse": (10423, 0, 0, 341, None, 10764),
    # OpenAI-compatible chat
    "azure-openai-chat-model-router.sse": (15, 0, None, 78, 64, 93),
    "crusoe-vllm-chat.sse": (46, 0, None, 14, None, 60),
    "deepseek-chat-reasoner-tool-call.sse": (339, 320, None, 83, 39, 422),
    "deepseek-chat-reasoner.sse": (6, 0, None, 212, 198, 218),
    "groq-chat-tool-call-x-groq-usage.sse": (304, None, None, 49, 23, 353),
    "huggingface-router-novita-chat.sse": (40, None, None, 2, None, 42),
    "mistral-chat-magistral-content-array.sse": (10, None, None, 232, None, 242),
    "openai-chat-finish-length.sse": (79, None, None, 1, 0, 80),
    "openai-chat-logprobs-content.sse": (9, None, None, 2, 0, 11),
    "openai-chat-logprobs-refusal.sse": (79, None, None, 12, 0, 91),
    "openai-chat-moderation-trailing-chunk.sse": (13, 0, None, 11, 0, 24),
    "openai-chat-n3-choices.sse": (79, None, None, 42, 0, 121),
    "openai-chat-refusal.sse": (79, None, None, 11, 0, 90),
    "openai-chat-text-include-usage.sse": (14, None, None, 30, 0, 44),
    "openai-chat-text-long-json-content.sse": (19, None, None, 177, 0, 196),
    "openai-chat-text-obfuscation.sse": (78, 0, None, 9, 0, 87),
    "openai-chat-tool-call-single.sse": (76, None, None, 24, 0, 100),
    "openai-chat-tool-calls-parallel-obfuscation.sse": (364, 0, None, 40, 0, 404),
    "openai-chat-tool-calls-parallel.sse": (149, None, None, 60, 0, 209),
    # OpenRouter reports reasoning 11 > completion 10 with total = 43 + 10: kept as is
    "openrouter-chat-error-midstream.sse": (43, 0, None, 10, 11, 53),
    "openrouter-chat-reasoning-details.sse": (43, 0, None, 36, 13, 79),
    "openrouter-kimi-tool-call-leading-space.sse": (56, 0, None, 12, 0, 68),
    "snowflake-cortex-chat-claude.sse": (22, 0, None, 5, 0, 27),
    # xAI: completion_tokens 1 excludes the 290 reasoning tokens (total 303)
    "xai-chat-grok-reasoning.sse": (12, 11, None, 291, 290, 303),
    "zai-chat-glm-reasoning.sse": (13, 0, None, 564, 561, 577),
    # OpenAI Responses shape
    "deepseek-responses-text-reasoning.sse": (90, 0, None, 15, 7, 105),
    "openai-responses-background-resume.sse": (15, 0, None, 9, 0, 24),
    "openai-responses-function-call.sse": (58, 0, None, 23, 0, 81),
    "openai-responses-logprobs.sse": (25, 0, None, 10, 0, 35),
    "openai-responses-reasoning-summary.sse": (13, 0, None, 1680, 1408, 1693),
    "openai-responses-text.sse": (11, 0, None, 5, 0, 16),
    "openrouter-responses-reasoning-done-marker.sse": (78, 0, None, 37, 22, 115),
    # Gemini: output = candidates + thoughts; input = prompt + tool-use prompt; cumulative
    "gemini-native-text-crlf.sse": (13, None, None, 8, None, 21),
    "gemini-native-thinking.sse": (34, None, None, 469 + 787, 787, 1290),
    "gemini-native-tool-call-thought-signature.sse": (29, None, None, 212, 202, 241),
    "gemini-native-web-search-grounding.sse": (17 + 102, None, None, 241 + 412, 412, 772),
    "gemini-vertex-single-chunk-flex.sse": (5, None, None, 101, 100, 106),
    "gemini-vertex-streamed-function-call-args.sse": (26, None, None, 155, 132, 181),
}

_FIELDS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)


def _real_files() -> list[tuple[str, str]]:
    entries = manifest()
    if not entries:
        return [("<fixtures missing>", "openai-chat")]
    return [(e["file"], e["dialect"]) for e in entries]


@pytest.mark.parametrize(("name", "dialect"), _real_files())
def test_real_stream_usage(name: str, dialect: str) -> None:
    real_dir()  # skips (or fails under CI=true) when the fixtures are absent
    objects = _real_usage_objects(name)
    if not objects:
        assert name not in _EXPECTED
        return
    assert name in _EXPECTED, f"new real stream with usage: add {name} to _EXPECTED"
    normalize = _NORMALIZE[dialect]
    final = Usage()
    for obj in objects:
        u = normalize(obj)
        # every report on its own obeys the inclusion rules
        assert not u.estimated
        if u.input_tokens is not None and u.cache_read_tokens is not None:
            assert u.cache_read_tokens <= u.input_tokens
        if u.input_tokens is not None and u.cache_write_tokens is not None:
            assert (u.cache_read_tokens or 0) + u.cache_write_tokens <= u.input_tokens
        if (
            u.total_tokens is not None
            and u.input_tokens is not None
            and u.output_tokens is not None
            and dialect != "anthropic-messages"
        ):
            assert u.total_tokens == u.input_tokens + u.output_tokens
        final = final.updated(normalize(obj))  # cumulative reports replace
    assert tuple(getattr(final, f) for f in _FIELDS) == _EXPECTED[name]


def test_every_expected_stream_exists() -> None:
    names = {e["file"] for e in manifest()}
    if not names:
        real_dir()
    assert set(_EXPECTED) <= names


# ---- buckets that change the price (#16) -----------------------------------------------------


def test_openai_audio_and_image_details() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 40, "image_tokens": 7},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 30},
        }
    )
    assert (u.input_audio_tokens, u.input_image_tokens, u.output_audio_tokens) == (40, 7, 30)
    assert u.cache_read_tokens == 0  # reported zero stays zero
    zero = Usage.from_openai(
        {"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": {"audio_tokens": 0}}
    )
    assert zero.input_audio_tokens is None  # a priced sub-bucket: None when zero


def test_openai_service_tier_when_the_object_carries_it() -> None:
    base = {"prompt_tokens": 1, "completion_tokens": 1}
    assert Usage.from_openai({**base, "service_tier": "flex"}).service_tier == "flex"
    assert Usage.from_openai({**base, "service_tier": "default"}).service_tier is None
    assert Usage.from_openai(base).service_tier is None


def test_anthropic_1h_writes_web_searches_and_tier() -> None:
    u = Usage.from_anthropic(
        {
            "input_tokens": 10,
            "cache_creation_input_tokens": 300,
            "cache_read_input_tokens": 5,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
            "output_tokens": 7,
            "server_tool_use": {"web_search_requests": 3},
            "service_tier": "priority",
        }
    )
    assert (u.input_tokens, u.cache_write_tokens, u.cache_write_1h_tokens) == (315, 300, 200)
    assert (u.web_searches, u.service_tier) == (3, "priority")


def test_gemini_modalities() -> None:
    u = Usage.from_gemini(
        {
            "promptTokenCount": 1300,
            "candidatesTokenCount": 1290,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 42},
                {"modality": "IMAGE", "tokenCount": 1258},
            ],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}],
        }
    )
    assert (u.input_image_tokens, u.output_image_tokens, u.input_audio_tokens) == (1258, 1290, None)


def test_new_buckets_sum_and_merge() -> None:
    a = Usage(input_tokens=10, cache_write_tokens=4, cache_write_1h_tokens=4, web_searches=1)
    b = Usage(input_tokens=5, web_searches=2, service_tier="flex")
    total = a + b
    assert (total.input_tokens, total.cache_write_1h_tokens, total.web_searches) == (15, 4, 3)
    assert total.service_tier == "flex"
    assert a.updated(b).web_searches == 2
    assert not Usage(web_searches=1).is_empty
    assert "web searches" in Usage(web_searches=1)._repr_markdown_()
