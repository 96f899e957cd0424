"""Notebook reprs show what a person wants, never the key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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


# ---- the live view: plain text, failures, the cursor, shown once ------------------------------

CURSOR = "▌"


class Recorder:
    """A display target that keeps every update (markdown, plain, final)."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str | None, bool]] = []
        self.shown_results: list[sk.StreamResult] = []

    def update(self, markdown: str, *, final: bool = False, plain: str | None = None) -> None:
        self.updates.append((markdown, plain, final))

    def shown(self, result: sk.StreamResult) -> None:
        self.shown_results.append(result)


def live_display(stream: sk.Stream, target: Recorder) -> sk.StreamResult:
    """What Stream.display() does (see streamkit._notebook), with a recording target."""
    from streamkit._notebook import LiveDisplay

    with LiveDisplay(stream.snapshot, throttle_s=0.0, target=target) as live:
        for event in stream:
            live.on_event(event, 0.0)
        return live.finish(stream.result)


def test_plain_text_twin_is_the_text() -> None:
    view = LiveView(throttle_s=0.0)
    view.on_event(sk.TextDelta(text="Hello "), 0.0)
    view.on_event(sk.TextDelta(text="world"), 0.0)
    result = sk.StreamResult()
    assert view.plain(result).startswith(f"Hello world {CURSOR}")
    final = view.plain(result, final=True)
    assert final.startswith("Hello world\n")
    assert CURSOR not in final
    assert "<IPython" not in final
    assert "*" not in final  # no Markdown markup


def test_tiny_cost_in_the_footer_is_not_zero() -> None:
    from decimal import Decimal

    from streamkit._display import footer_markdown

    assert "$0.0000004" in footer_markdown(sk.StreamResult(cost=Decimal("0.0000004")))


def test_a_failure_before_any_text_is_shown_in_the_view() -> None:
    from streamkit.testing import Fault, LocalServer

    target = Recorder()
    with LocalServer(faults=[Fault.status(401)]) as server:
        client = sk.StreamingClient(base_url=server.base_url, api_key="k")
        with pytest.raises(sk.AuthenticationError):
            live_display(client.stream(model="gpt-4.1", messages=[]), target)
        client.close()
    markdown, plain, final = target.updates[-1]
    assert final
    assert "AuthenticationError: HTTP 401" in markdown
    assert plain is not None
    assert "AuthenticationError: HTTP 401" in plain
    assert CURSOR not in markdown + plain
    assert "…" not in markdown
    assert target.shown_results == []


def test_a_mid_stream_failure_keeps_the_text_and_drops_the_cursor() -> None:
    from streamkit.testing import Fault, LocalServer

    target = Recorder()
    with LocalServer(faults=[Fault.malformed_json(8)]) as server:
        client = sk.StreamingClient(base_url=server.base_url, api_key="k")
        with pytest.raises(sk.errors.ChunkDecodeError):
            live_display(client.stream(model="gpt-4.1", messages=[]), target)
        client.close()
    assert any(CURSOR in markdown for markdown, _, _ in target.updates[:-1])  # while running
    markdown, plain, final = target.updates[-1]
    assert final
    assert markdown.startswith("## Why")  # the text that arrived
    assert "ChunkDecodeError" in markdown
    assert CURSOR not in markdown
    assert plain is not None
    assert plain.startswith("## Why")


def test_an_interrupt_is_shown_too() -> None:
    from streamkit._notebook import LiveDisplay

    target = Recorder()
    with pytest.raises(KeyboardInterrupt), LiveDisplay(sk.StreamResult, target=target) as live:
        live.on_event(sk.TextDelta(text="Hel"), 0.0)
        raise KeyboardInterrupt
    markdown, _, final = target.updates[-1]
    assert final
    assert markdown.startswith("Hel\n")
    assert "stopped by KeyboardInterrupt" in markdown


def test_a_complete_stream_ends_without_the_cursor() -> None:
    from streamkit.testing import LocalServer

    target = Recorder()
    with LocalServer() as server:
        client = sk.StreamingClient(base_url=server.base_url, api_key="k")
        result = live_display(client.stream(model="gpt-4.1", messages=[]), target)
        client.close()
    markdown, plain, final = target.updates[-1]
    assert final
    assert CURSOR not in markdown
    assert plain is not None
    assert plain.startswith(result.text)
    assert target.shown_results == [result]


@pytest.fixture
def ipython() -> Iterator[tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]]:
    """An in-process IPython shell; yields it, its display outputs and its Out[] outputs."""
    pytest.importorskip("IPython")
    from IPython.core.displaypub import CapturingDisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.display_pub = CapturingDisplayPublisher()
    outs: list[dict[str, Any]] = []
    shell.displayhook.write_format_data = lambda data, md=None: outs.append(data)
    try:
        yield shell, shell.display_pub.outputs, outs
    finally:
        InteractiveShell.clear_instance()


def test_display_as_the_last_line_shows_the_answer_once(ipython) -> None:  # type: ignore[no-untyped-def]
    from streamkit.testing import LocalServer

    shell, displayed, outs = ipython

    def show(stream: sk.Stream) -> sk.StreamResult:  # Stream.display() with the hook
        from streamkit._notebook import LiveDisplay

        with LiveDisplay(stream.snapshot, throttle_s=0.0) as live:
            for event in stream:
                live.on_event(event, 0.0)
            return live.finish(stream.result)

    with LocalServer() as server:
        client = sk.StreamingClient(base_url=server.base_url, api_key="k")
        shell.user_ns.update(client=client, show=show)
        cell = shell.run_cell("show(client.stream(model='gpt-4.1', messages=[]))")
        assert cell.success, cell.error_in_exec
        result = cell.result
        assert isinstance(result, sk.StreamResult)
        assert outs == []  # the live view is the answer: no Out[] drawing it again
        final = displayed[-1]["data"]
        assert final["text/plain"].startswith(result.text)
        assert final["text/markdown"].startswith(result.text)
        assert all("<IPython" not in o["data"]["text/plain"] for o in displayed)

        # in a later cell the result shows as usual
        shell.user_ns["r"] = result
        assert shell.run_cell("r").success
        assert len(outs) == 1
        assert outs[0]["text/markdown"] == result._repr_markdown_()
        client.close()


# Stream.display() / AsyncStream.adisplay() themselves: they pass once the shells drive
# streamkit._notebook.LiveDisplay (client.py and async_client.py, see that module's
# docstring); until then they keep the old loop, which leaves the view as it was when
# the stream failed. Remove the marker when the shells use LiveDisplay.


def test_stream_display_shows_a_401_in_the_view(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamkit import _notebook
    from streamkit.testing import Fault, LocalServer

    target = Recorder()
    monkeypatch.setattr(_notebook, "open_view", lambda: target)
    with LocalServer(faults=[Fault.status(401)]) as server:
        client = sk.StreamingClient(base_url=server.base_url, api_key="k")
        with pytest.raises(sk.AuthenticationError):
            client.stream(model="gpt-4.1", messages=[]).display()
        client.close()
    markdown, plain, final = target.updates[-1]
    assert final
    assert "AuthenticationError" in markdown
    assert plain is not None
    assert "AuthenticationError" in plain


@pytest.mark.anyio
async def test_async_stream_adisplay_shows_a_mid_stream_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamkit import _notebook
    from streamkit.testing import Fault, LocalServer

    target = Recorder()
    monkeypatch.setattr(_notebook, "open_view", lambda: target)
    with LocalServer(faults=[Fault.malformed_json(8)]) as server:
        async with sk.AsyncStreamingClient(base_url=server.base_url, api_key="k") as client:
            with pytest.raises(sk.errors.ChunkDecodeError):
                await client.stream(model="gpt-4.1", messages=[]).adisplay()
    markdown, _, final = target.updates[-1]
    assert final
    assert "ChunkDecodeError" in markdown
    assert CURSOR not in markdown


def test_the_final_view_never_says_streaming() -> None:
    view = LiveView()
    assert view.markdown(sk.StreamResult()).endswith("*streaming…*")
    for md in (
        view.markdown(sk.StreamResult(), final=True),
        view.markdown(sk.StreamResult(), error=sk.errors.StreamStateError("x")),
    ):
        assert "…" not in md
        assert md.endswith("*no usage reported*")
