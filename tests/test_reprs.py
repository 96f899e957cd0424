"""Notebook reprs show what a person wants, never the key."""

from __future__ import annotations

import streamkit as sk
from streamkit._display import LiveView
from streamkit.offline import decode_stream

from conftest import read_real


def test_result_markdown() -> None:
    _, result = decode_stream(read_real("deepseek-chat-reasoner-tool-call.sse"))
    md = result._repr_markdown_()
    assert "<details><summary>reasoning</summary>" in md
    assert result.tool_calls[0].name in md
    assert "complete" in md
    assert "tokens" in md


def test_usage_markdown() -> None:
    md = sk.Usage(input_tokens=1200, output_tokens=30, estimated=True)._repr_markdown_()
    assert "1,200" in md
    assert "estimated" in md
    assert "n/a" in md  # unknown buckets are not shown as 0


def test_tracker_markdown() -> None:
    tracker = sk.CostTracker()
    account = tracker.open_stream(model="gpt-4.1", provider="openai-chat")
    account.record(sk.Usage(input_tokens=14, output_tokens=30, total_tokens=44))
    md = tracker._repr_markdown_()
    assert "gpt-4.1" in md
    assert "$0.000268" in md


def test_event_markdown() -> None:
    assert sk.TextDelta(text="hi")._repr_markdown_() == "`TextDelta(text='hi', index=0)`"


def test_live_view_throttles_and_notes() -> None:
    view = LiveView(throttle_s=0.1)
    assert view.on_event(sk.TextDelta(text="a"), 0.0)
    view.drawn(0.0)
    assert not view.on_event(sk.TextDelta(text="b"), 0.05)  # within the throttle
    assert view.on_event(sk.TextDelta(text="c"), 0.11)
    view.drawn(0.11)
    assert view.on_event(sk.ResumeEvent(attempt=2, strategy="replay"), 0.12)  # notes draw at once
    md = view.markdown(sk.StreamResult(), final=True)
    assert md.startswith("abc")
    assert "resumed (replay)" in md
    assert "▌" not in md


def test_display_outside_ipython_prints_the_final_view(capsys) -> None:  # type: ignore[no-untyped-def]
    from streamkit.testing import LocalServer, demo_transcript

    with LocalServer(demo_transcript()) as server:
        client = sk.StreamingClient(base_url=server.base_url, api_key="k")
        result = client.stream(model="gpt-4.1", messages=[]).display()
        client.close()
    out = capsys.readouterr().out
    assert result.text
    assert result.text in out
    assert "tokens" in out
