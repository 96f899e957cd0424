"""providers.detect: the dialect of a recorded stream from its content."""

from __future__ import annotations

import pytest

from streamkit.providers import detect, names

from ._fixtures import fixtures_dir, manifest, read

ENTRIES = manifest() or [{"file": "<recordings missing>", "dialect": "openai-chat"}]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_detects_the_manifest_dialect(entry: dict[str, str]) -> None:
    assert detect(read(entry["file"])) == entry["dialect"]


def test_all_recordings_are_covered() -> None:
    fixtures_dir()  # skips (or fails under CI=true) when the recordings are absent
    entries = manifest()
    assert len(entries) == 51
    assert {e["dialect"] for e in entries} <= set(names())


@pytest.mark.parametrize(
    ("body", "dialect"),
    [
        (
            b'event: message_start\ndata: {"type": "message_start", "message": {}}\n\n',
            "anthropic-messages",
        ),
        # ping and error decide nothing; the next event does
        (
            b'event: ping\ndata: {"type": "ping"}\n\n'
            b'data: {"type":"content_block_delta","index":0}\n\n',
            "anthropic-messages",
        ),
        # only an event line (the data is not JSON): the event name decides
        (b"event: message_start\r\ndata: {\r\n\r\n", "anthropic-messages"),
        (b'data: {"type":"response.created","response":{}}\n\n', "openai-responses"),
        (
            b'data: {"type":"error","code":"x"}\n\ndata: {"type":"response.failed"}\n\n',
            "openai-responses",
        ),
        (
            b'data: {"candidates": [{"content": {"parts": [{"text": "candidates"}]}}]}\r\n\r\n',
            "gemini",
        ),
        (b'data: {"promptFeedback": {"blockReason": "SAFETY"}}\n\n', "gemini"),
        (
            b'data: {"id":"x","choices":[{"delta":{"content":"\\"candidates\\""}}]}\n\n',
            "openai-chat",
        ),
        (b'data: {"object":"chat.completion.chunk"}\n\n', "openai-chat"),
        (b": comment only\n\n", "openai-chat"),
        (b"data: [DONE]\n\n", "openai-chat"),
        (b'data: [1, 2]\n\ndata: "candidates"\n\n', "openai-chat"),
        (b"", "openai-chat"),
        (b"data: " + b"x" * 100 + b"\n\n", "openai-chat"),
    ],
)
def test_detects_synthetic_bodies(body: bytes, dialect: str) -> None:
    assert detect(body) == dialect


def test_never_raises_on_oversize_input() -> None:
    from streamkit.sse import DEFAULT_MAX_LINE_SIZE

    assert detect(b"data: " + b"x" * (DEFAULT_MAX_LINE_SIZE + 10)) == "openai-chat"


def test_only_the_start_is_read() -> None:
    head = b'data: {"type":"response.created","response":{}}\n\n'
    assert detect(head + b"data: {}\n\n" * 200_000) == "openai-responses"
