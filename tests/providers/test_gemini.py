"""The gemini dialect on every real Gemini recording, against values checked by hand.

Each expected value below was read off the recording itself (the parts' texts, the
last ``usageMetadata``, the ``finishReason``), not produced by streamkit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamkit.errors import ChunkDecodeError, ProviderError
from streamkit.events import FinishEvent, ReasoningDelta, TextDelta, ToolCallDelta, UsageEvent
from streamkit.providers import get
from streamkit.providers._gemini_partial_args import PartialArgsWriter, parse_json_path
from streamkit.providers.gemini import GeminiDecoder, GeminiDialect, _PartialArg, gemini_contents
from streamkit.usage import Usage

from ._fixtures import decode, files_of, fixtures_dir, read, sse

DIALECT = "gemini"
FILES = files_of(DIALECT)

#: file -> (text, reasoning, tool calls [(name, args)], finish, raw finish, usage, model,
#: response id, signature kinds)
EXPECTED: dict[str, dict[str, Any]] = {
    "gemini-native-text-crlf.sse": {
        "text": "The capital of France is Paris.\n",
        "reasoning": "",
        "tools": [],
        "finish": ("stop", "STOP"),
        # promptTokenCount 13, candidatesTokenCount 8, totalTokenCount 21
        "usage": Usage(input_tokens=13, output_tokens=8, total_tokens=21),
        "model": "gemini-2.0-flash-exp",
        "id": "w1peaMz6INOvnvgPgYfPiQY",
        "signatures": [],
    },
    "gemini-native-thinking.sse": {
        "text_len": 1938,
        "text_start": "This is a great question! Safely crossing the street",
        "text_end": "Always assume a driver might not see you.",
        "reasoning_len": 1575,
        "reasoning_start": "**Clarifying User Goals**\n\nI'm currently focused",
        "reasoning_end": "regardless of specific circumstances or locations.\n\n\n",
        "tools": [],
        "finish": ("stop", "STOP"),
        # prompt 34; candidates 469 + thoughts 787 = 1256; total 1290
        "usage": Usage(
            input_tokens=34, output_tokens=1256, reasoning_tokens=787, total_tokens=1290
        ),
        "model": "gemini-2.5-pro",
        "id": "beHBaJfEMIi-qtsP3769-Q8",
        "signatures": [("text", None)],
    },
    "gemini-native-tool-call-thought-signature.sse": {
        "text": "",
        "reasoning": "",
        "tools": [("get_country", {})],
        "finish": ("tool_calls", "STOP"),
        # prompt 29; candidates 10 + thoughts 202 = 212; total 241
        "usage": Usage(input_tokens=29, output_tokens=212, reasoning_tokens=202, total_tokens=241),
        "model": "gemini-3-pro-preview",
        "id": "QUVVadTSNJ6_qtsPvN7J8Q0",
        "signatures": [("function_call", 0)],
    },
    "gemini-vertex-single-chunk-flex.sse": {
        "text": "OK",
        "reasoning": "",
        "tools": [],
        "finish": ("stop", "STOP"),
        # prompt 5; candidates 1 + thoughts 100 = 101; total 106
        "usage": Usage(input_tokens=5, output_tokens=101, reasoning_tokens=100, total_tokens=106),
        "model": "gemini-3-flash-preview",
        "id": "a9--aa6MOKL4vdIPz7X2iQ4",
        "signatures": [("text", None)],
    },
    "gemini-native-web-search-grounding.sse": {
        "text_len": 926,
        "text_start": "### Weather in San Francisco is Mild and Partly Cloudy Today",
        "text_end": "The chance of rain remains low throughout the day.",
        "reasoning": "",
        "tools": [],
        "finish": ("stop", "STOP"),
        # prompt 17 + toolUsePrompt 102 = 119; candidates 241 + thoughts 412 = 653; total 772
        "usage": Usage(input_tokens=119, output_tokens=653, reasoning_tokens=412, total_tokens=772),
        "model": "gemini-2.5-pro",
        "id": "ftnJaMmAMcm-qtsPwvCCoAo",
        "signatures": [],
    },
    "gemini-vertex-streamed-function-call-args.sse": {
        "text": "",
        "reasoning": "",
        # two streamed calls: $.location "Boston" + "" / "San Francisco" + ""
        "tools": [
            ("getWeather", {"location": "Boston"}),
            ("getWeather", {"location": "San Francisco"}),
        ],
        "finish": ("tool_calls", "STOP"),
        # prompt 26; candidates 23 + thoughts 132 = 155; total 181
        "usage": Usage(input_tokens=26, output_tokens=155, reasoning_tokens=132, total_tokens=181),
        "model": "gemini-3.1-pro-preview",
        "id": "dqHOab6xGLzWodAPkPuViA4",
        "signatures": [("function_call", 0)],
    },
}


def test_every_gemini_recording_has_expectations() -> None:
    fixtures_dir()  # skips (or fails under CI=true) when the recordings are absent
    assert sorted(FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("name", FILES)
def test_recording(name: str) -> None:
    got = decode(DIALECT, read(name))
    want = EXPECTED[name]
    result = got.result
    assert got.complete
    if "text" in want:
        assert result.text == want["text"]
    else:
        assert len(result.text) == want["text_len"]
        assert result.text.startswith(want["text_start"])
        assert result.text.endswith(want["text_end"])
    if "reasoning" in want:
        assert result.reasoning == want["reasoning"]
    else:
        assert len(result.reasoning) == want["reasoning_len"]
        assert result.reasoning.startswith(want["reasoning_start"])
        assert result.reasoning.endswith(want["reasoning_end"])
    assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == want["tools"]
    assert [c.index for c in result.tool_calls] == list(range(len(want["tools"])))
    assert (result.finish_reason, result.choices[0].raw_finish_reason) == want["finish"]
    assert result.usage == want["usage"]
    assert (result.model, result.response_id) == (want["model"], want["id"])
    assert [(s.kind, s.tool_index) for s in got.extras.signatures] == want["signatures"]
    assert got.extras.incomplete_tool_calls == []
    assert got.extras.raw_usage is not None


@pytest.mark.parametrize("name", FILES)
def test_one_byte_at_a_time_gives_the_same_events(name: str) -> None:
    raw = read(name)
    whole = decode(DIALECT, raw)
    drip = decode(DIALECT, raw, chunk_size=1)
    assert drip.raw_events == whole.raw_events
    assert drip.events == whole.events
    assert drip.result == whole.result
    assert drip.extras == whole.extras


def test_streamed_function_call_fragments() -> None:
    got = decode(DIALECT, read("gemini-vertex-streamed-function-call-args.sse"))
    calls = [e for e in got.events if isinstance(e, ToolCallDelta)]
    assert calls == [
        ToolCallDelta(tool_index=0, name="getWeather"),
        ToolCallDelta(tool_index=0, arguments='{"location":"Boston'),
        ToolCallDelta(tool_index=0, arguments='"'),
        ToolCallDelta(tool_index=0, arguments="}"),
        ToolCallDelta(tool_index=1, name="getWeather"),
        ToolCallDelta(tool_index=1, arguments='{"location":"San Francisco'),
        ToolCallDelta(tool_index=1, arguments='"'),
        ToolCallDelta(tool_index=1, arguments="}"),
    ]
    # usage: the early chunks carry only {"trafficType": "ON_DEMAND"}: no usage event
    assert [e for e in got.events if isinstance(e, UsageEvent)] == [
        UsageEvent(usage=EXPECTED["gemini-vertex-streamed-function-call-args.sse"]["usage"])
    ]


def test_crlf_framing_and_usage_only_when_changed() -> None:
    raw = read("gemini-native-text-crlf.sse")
    assert b"\r\n\r\n" in raw
    got = decode(DIALECT, raw)
    usage_events = [e for e in got.events if isinstance(e, UsageEvent)]
    assert len(usage_events) == 2  # chunks 1 and 2 repeat the same usageMetadata
    assert got.events[-1] == FinishEvent(finish_reason="stop", raw_finish_reason="STOP")


def test_grounding_metadata_is_kept() -> None:
    got = decode(DIALECT, read("gemini-native-web-search-grounding.sse"))
    grounding = got.extras.grounding
    assert grounding is not None
    assert grounding["webSearchQueries"] == ["weather in San Francisco today"]
    assert grounding["groundingChunks"]
    assert grounding["groundingSupports"]


def test_thought_parts_are_reasoning() -> None:
    got = decode(DIALECT, read("gemini-native-thinking.sse"))
    first = next(e for e in got.events if isinstance(e, (TextDelta, ReasoningDelta)))
    assert isinstance(first, ReasoningDelta)


# ---- partialArgs → JSON text --------------------------------------------------------------


def _write(*args: dict[str, Any]) -> list[str]:
    writer = PartialArgsWriter()
    pieces = [writer.add(_PartialArg(**a)) for a in args]
    pieces.append(writer.close())
    return pieces


def test_partial_args_nested_paths_and_values() -> None:
    pieces = _write(
        {"jsonPath": "$.query", "stringValue": "wea", "willContinue": True},
        {"jsonPath": "$.query", "stringValue": 'ther "SF"\n'},
        {"jsonPath": "$.limit", "numberValue": 5.0},
        {"jsonPath": "$.ratio", "numberValue": 0.25},
        {"jsonPath": "$.filters.safe", "boolValue": True},
        {"jsonPath": "$.filters.lang", "nullValue": "NULL_VALUE"},
        {"jsonPath": "$.tags[0]", "stringValue": "a"},
        {"jsonPath": "$.tags[1]", "stringValue": "b", "willContinue": True},
        {"jsonPath": "$.points[0].x", "numberValue": 1},
        {"jsonPath": "$.points[0].y", "numberValue": 2},
        {"jsonPath": "$.points[1].x", "numberValue": 3},
        {"jsonPath": "$['odd key']", "stringValue": "é"},
        {"jsonPath": "$.nothing"},
        {"jsonPath": "not a path", "stringValue": "x"},
    )
    text = "".join(pieces)
    assert json.loads(text) == {
        "query": 'weather "SF"\n',
        "limit": 5,
        "ratio": 0.25,
        "filters": {"safe": True, "lang": None},
        "tags": ["a", "b"],
        "points": [{"x": 1, "y": 2}, {"x": 3}],
        "odd key": "é",
    }
    assert pieces[0] == '{"query":"wea'


def test_partial_args_edge_cases() -> None:
    assert "".join(_write()) == "{}"
    assert json.loads("".join(_write({"jsonPath": "$[0]", "stringValue": "x"}))) == ["x"]
    inf = "".join(_write({"jsonPath": "$.a", "numberValue": float("inf")}))
    assert json.loads(inf) == {"a": None}
    # a string still open at the end is closed
    assert json.loads(
        "".join(_write({"jsonPath": "$.a", "stringValue": "x", "willContinue": True}))
    ) == {"a": "x"}


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("$", []),
        ("$.foo.bar[0].data", ["foo", "bar", 0, "data"]),
        ("$['a.b']", ["a.b"]),
        ('$["q\\"x"]', ['q"x']),
        ("$['it\\'s']", ["it's"]),
        ("$['say \"hi\"']", ['say "hi"']),
        ("$['bad \\q']", ["bad \\q"]),
        ("foo", None),
        ("$.a[", None),
    ],
)
def test_parse_json_path(path: str, tokens: list[Any] | None) -> None:
    assert parse_json_path(path) == tokens


# ---- synthetic chunks ---------------------------------------------------------------------


def _chunk(**fields: Any) -> str:
    return json.dumps(fields)


def test_finish_reasons() -> None:
    for raw, finish in [
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "MALFORMED_FUNCTION_CALL"),
    ]:
        decoder = GeminiDecoder()
        events = decoder.decode(
            sse(_chunk(candidates=[{"content": {"parts": [{"text": "x"}]}, "finishReason": raw}]))
        )
        assert events == [
            TextDelta(text="x"),
            FinishEvent(finish_reason=finish, raw_finish_reason=raw),
        ]
        assert decoder.complete_at_eof()


def test_finish_message_and_safety_ratings_go_to_extras() -> None:
    decoder = GeminiDecoder()
    decoder.decode(
        sse(
            _chunk(
                candidates=[
                    {
                        "finishReason": "SAFETY",
                        "finishMessage": "blocked",
                        "safetyRatings": [{"category": "X", "probability": "HIGH"}],
                    }
                ]
            )
        )
    )
    assert decoder.extras().stop_details == {
        "finishMessage": "blocked",
        "safetyRatings": [{"category": "X", "probability": "HIGH"}],
    }


def test_blocked_prompt() -> None:
    decoder = GeminiDecoder()
    events = decoder.decode(
        sse(
            _chunk(
                promptFeedback={"blockReason": "PROHIBITED_CONTENT"},
                usageMetadata={"promptTokenCount": 7, "totalTokenCount": 7},
            )
        )
    )
    assert events == [
        UsageEvent(usage=Usage(input_tokens=7, total_tokens=7)),
        FinishEvent(finish_reason="content_filter", raw_finish_reason="PROHIBITED_CONTENT"),
    ]
    assert decoder.complete_at_eof()
    assert decoder.extras().stop_details == {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}
    }


def test_error_chunk_raises() -> None:
    decoder = GeminiDecoder()
    payload = _chunk(
        error={"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    )
    with pytest.raises(ProviderError) as info:
        decoder.decode(sse(payload))
    assert info.value.code == "UNAVAILABLE"
    assert "overloaded" in str(info.value)


def test_bad_json_raises_chunk_decode_error() -> None:
    with pytest.raises(ChunkDecodeError):
        GeminiDecoder().decode(sse("[DONE]"))


def test_multiple_candidates_and_ids() -> None:
    decoder = GeminiDecoder()
    events = decoder.decode(
        sse(
            _chunk(
                candidates=[
                    {"index": 0, "content": {"parts": [{"text": "a"}]}},
                    {
                        "index": 1,
                        "content": {
                            "parts": [
                                {"functionCall": {"id": "fc_1", "name": "f", "args": {"x": 1}}}
                            ]
                        },
                    },
                ]
            )
        )
    )
    assert events == [
        TextDelta(text="a"),
        ToolCallDelta(index=1, tool_index=0, id="fc_1", name="f", arguments='{"x": 1}'),
    ]
    decoder.decode(sse(_chunk(candidates=[{"index": 0, "finishReason": "STOP"}])))
    assert not decoder.complete_at_eof()  # candidate 1 has not finished
    (finish,) = decoder.decode(sse(_chunk(candidates=[{"index": 1, "finishReason": "STOP"}])))
    assert finish == FinishEvent(index=1, finish_reason="tool_calls", raw_finish_reason="STOP")
    assert decoder.complete_at_eof()
    assert not decoder.done
    assert decoder.sequence_number(sse("{}")) is None


def test_streamed_call_cut_by_finish_is_incomplete() -> None:
    decoder = GeminiDecoder()
    decoder.decode(
        sse(
            _chunk(
                candidates=[
                    {"content": {"parts": [{"functionCall": {"name": "f", "willContinue": True}}]}}
                ]
            )
        )
    )
    decoder.decode(
        sse(
            _chunk(
                candidates=[
                    {
                        "content": {
                            "parts": [
                                {
                                    "functionCall": {
                                        "partialArgs": [
                                            {
                                                "jsonPath": "$.a",
                                                "stringValue": "x",
                                                "willContinue": True,
                                            }
                                        ],
                                        "willContinue": True,
                                    }
                                }
                            ]
                        }
                    }
                ]
            )
        )
    )
    assert decoder.extras().incomplete_tool_calls == [0]  # still open
    decoder.decode(sse(_chunk(candidates=[{"finishReason": "MAX_TOKENS"}])))
    assert decoder.extras().incomplete_tool_calls == [0]


def test_a_new_call_closes_an_open_one_and_whole_args_after_a_streamed_start() -> None:
    decoder = GeminiDecoder()
    parts = [
        {"functionCall": {"name": "f", "willContinue": True}},
        {"functionCall": {"name": "g", "willContinue": True}},
        {"functionCall": {"args": {"k": "v"}}},
        {"functionCall": {}},
    ]
    events = decoder.decode(sse(_chunk(candidates=[{"content": {"parts": parts}}])))
    assert events == [
        ToolCallDelta(tool_index=0, name="f"),
        ToolCallDelta(tool_index=0, arguments="{}"),
        ToolCallDelta(tool_index=1, name="g"),
        ToolCallDelta(tool_index=1, arguments='{"k": "v"}'),
    ]
    assert decoder.extras().incomplete_tool_calls == []


def test_thought_signature_kinds() -> None:
    decoder = GeminiDecoder()
    decoder.decode(
        sse(
            _chunk(
                candidates=[
                    {
                        "content": {
                            "parts": [
                                {"text": "hmm", "thought": True, "thoughtSignature": "s1"},
                                {"text": "", "thoughtSignature": "s2"},
                            ]
                        }
                    }
                ]
            )
        )
    )
    assert [(s.kind, s.signature) for s in decoder.extras().signatures] == [
        ("thought", "s1"),
        ("text", "s2"),
    ]


def test_citation_metadata() -> None:
    decoder = GeminiDecoder()
    chunk = _chunk(
        candidates=[
            {
                "content": {"parts": [{"text": "x"}]},
                "citationMetadata": {
                    "citationSources": [
                        {"startIndex": 0, "endIndex": 1, "uri": "https://s.example"}
                    ]
                },
            }
        ]
    )
    decoder.decode(sse(chunk))
    decoder.decode(sse(chunk))  # repeated on a later chunk: kept once
    (citation,) = decoder.extras().citations
    assert citation.url == "https://s.example"
    assert citation.raw["startIndex"] == 0


# ---- request building ---------------------------------------------------------------------


def test_build_request() -> None:
    spec = get(DIALECT).build_request(
        base_url="https://generativelanguage.googleapis.com/v1beta/",
        api_key="AIzaTest",
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "Again"}]},
        ],
        params={
            "generationConfig": {"thinkingConfig": {"includeThoughts": True}, "temperature": 0.1},
            "temperature": 0.7,
            "max_tokens": 100,
            "stop": "END",
            "tools": [{"googleSearch": {}}],
        },
    )
    assert spec.method == "POST"
    assert spec.url == (
        "https://generativelanguage.googleapis.com/v1beta/models/"
        "gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert spec.headers["x-goog-api-key"] == "AIzaTest"
    assert spec.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Again"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.1,
            "maxOutputTokens": 100,
            "stopSequences": ["END"],
            "thinkingConfig": {"includeThoughts": True},
        },
        "tools": [{"googleSearch": {}}],
    }


def test_build_request_tool_round_trip_and_images() -> None:
    spec = GeminiDialect().build_request(
        base_url="http://x",
        api_key=None,
        model="models/gemini-2.5-pro",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": "gs://bucket/cat.png"},
                    {"inlineData": {"mimeType": "text/plain", "data": "eA=="}},
                    "plain",
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": '{"a": 1}'}}],
            },
            {"role": "tool", "name": "f", "tool_call_id": "1", "content": '{"ok": true}'},
            {"role": "tool", "name": "f", "content": "plain result"},
            {"role": "model", "parts": [{"text": "native"}]},
        ],
        params={},
    )
    assert "x-goog-api-key" not in spec.headers
    assert spec.url == "http://x/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert spec.json is not None
    assert spec.json["contents"] == [
        {
            "role": "user",
            "parts": [
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                {"fileData": {"fileUri": "gs://bucket/cat.png"}},
                {"inlineData": {"mimeType": "text/plain", "data": "eA=="}},
                {"text": "plain"},
            ],
        },
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "f", "response": {"result": "plain result"}}}],
        },
        {"role": "model", "parts": [{"text": "native"}]},
    ]
    assert "generationConfig" not in spec.json
    assert "systemInstruction" not in spec.json


def test_dialect_attributes() -> None:
    dialect = get(DIALECT)
    assert dialect.name == DIALECT
    assert dialect.resume_strategies == ("replay",)
    assert dialect.api_key_env == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert dialect.default_base_url == "https://generativelanguage.googleapis.com/v1beta"
    assert (
        dialect.build_prefill_request(
            dialect.build_request(
                base_url="http://x", api_key=None, model="m", messages=[], params={}
            ),
            "Hello",
        )
        is None
    )
    assert isinstance(dialect.new_decoder(), GeminiDecoder)


def test_chunks_with_missing_fields_are_harmless() -> None:
    decoder = GeminiDecoder()
    stream = [
        _chunk(candidates=[{}]),
        _chunk(candidates=[{"content": {}}]),
        _chunk(candidates=[{"content": {"parts": [{"functionCall": {}}]}}]),
        _chunk(candidates=[{"citationMetadata": {"citationSources": ["x"]}}]),
        _chunk(candidates=[{"index": 2, "groundingMetadata": {"x": 1}}]),
        _chunk(promptFeedback={}),
        _chunk(usageMetadata={"trafficType": "ON_DEMAND"}),
    ]
    events = [e for data in stream for e in decoder.decode(sse(data))]
    assert events == []
    extras = decoder.extras()
    assert extras.grounding is None  # only candidate 0's is kept
    assert extras.citations == []
    assert extras.stop_details == {"promptFeedback": {}}
    assert GeminiDecoder().extras().is_empty


def test_blocked_prompt_after_a_finished_candidate_and_finish_details_merge() -> None:
    decoder = GeminiDecoder()
    decoder.decode(sse(_chunk(candidates=[{"finishReason": "SAFETY", "finishMessage": "m"}])))
    decoder.decode(
        sse(_chunk(candidates=[{"index": 1, "finishReason": "SAFETY", "safetyRatings": []}]))
    )
    assert decoder.decode(sse(_chunk(promptFeedback={"blockReason": "SAFETY"}))) == []
    assert decoder.extras().stop_details == {
        "finishMessage": "m",
        "safetyRatings": [],
        "promptFeedback": {"blockReason": "SAFETY"},
    }


def test_partial_args_string_interrupted_by_another_path() -> None:
    pieces = _write(
        {"jsonPath": "$.a", "stringValue": "x", "willContinue": True},
        {"jsonPath": "$.b", "numberValue": 1},
        {"jsonPath": "$.b", "stringValue": "y", "willContinue": True},
        {"jsonPath": "$.b", "boolValue": False},
    )
    assert pieces[1] == '","b":1'
    assert "".join(pieces).startswith('{"a":"x","b":1,"b":"y","b":false}')


def test_tool_message_with_non_json_arguments_and_mapping_content() -> None:
    contents, system = gemini_contents(
        [
            {"role": "system", "content": {"text": "sys"}},
            {"role": "tool", "name": "f", "content": [1, 2]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "f", "arguments": "{broken"}},
                    {"function": {"name": "g", "arguments": {"k": 1}}},
                ],
            },
        ]
    )
    assert system == [{"text": "sys"}]
    assert contents == [
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "f", "response": {"result": [1, 2]}}}],
        },
        {
            "role": "model",
            "parts": [
                {"text": ""},
                {"functionCall": {"name": "f", "args": {}}},
                {"functionCall": {"name": "g", "args": {"k": 1}}},
            ],
        },
    ]


def test_string_split_over_three_records_and_valueless_records() -> None:
    pieces = _write(
        {"jsonPath": "$.s", "stringValue": "a", "willContinue": True},
        {"jsonPath": "$.s", "stringValue": "b", "willContinue": True},
        {"jsonPath": "$.s", "stringValue": "c"},
    )
    assert pieces == ['{"s":"a', "b", 'c"', "}"]
    decoder = GeminiDecoder()
    events = decoder.decode(
        sse(
            _chunk(
                candidates=[
                    {
                        "content": {
                            "parts": [
                                {
                                    "functionCall": {
                                        "name": "f",
                                        "partialArgs": [{"jsonPath": "$.x"}],
                                    }
                                }
                            ]
                        }
                    }
                ]
            )
        )
    )
    assert events == [
        ToolCallDelta(tool_index=0, name="f"),
        ToolCallDelta(tool_index=0, arguments="{}"),
    ]


def test_unknown_content_items_are_skipped() -> None:
    contents, _ = gemini_contents([{"role": "user", "content": [None, "x"]}])
    assert contents == [{"role": "user", "parts": [{"text": "x"}]}]


def test_code_execution_parts_are_kept() -> None:
    decoder = GeminiDecoder()
    parts = [
        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}},
        {"text": "It prints 1."},
    ]
    events = decoder.decode(sse(_chunk(candidates=[{"content": {"parts": parts}}])))
    assert events == [TextDelta(text="It prints 1.")]
    assert decoder.extras().server_tool_results == [
        {"index": 0, "executableCode": {"language": "PYTHON", "code": "print(1)"}},
        {"index": 0, "codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}},
    ]
