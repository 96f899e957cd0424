"""Live rendering of a stream in a notebook: the pure part (no IPython, no clock).

The shells feed events and timestamps; :class:`LiveView` says when to redraw
(about 30 times a second at most) and renders Markdown: the text so far, notes on
retries and resumes, and a footer of tokens, cost, time to first token and tokens/s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamkit.events import DeltaEvent, ResumeEvent, RetryEvent, TextDelta

if TYPE_CHECKING:
    from streamkit.result import StreamResult

__all__ = ["LiveView", "footer_markdown"]

#: Seconds between redraws (about 30 updates per second).
DEFAULT_THROTTLE_S = 1 / 30


def footer_markdown(result: StreamResult) -> str:
    """One line: tokens, cost, time to first token and tokens/s of ``result``."""
    parts: list[str] = []
    usage = result.usage
    if usage is not None:
        est = "~" if usage.estimated else ""
        parts.append(f"{est}{usage.input_tokens} in / {est}{usage.output_tokens} out tokens")
    if result.cost is not None:
        parts.append(f"${result.cost:.6f}")
    m = result.metrics
    if m.time_to_first_token_s is not None:
        parts.append(f"first token {m.time_to_first_token_s * 1000:.0f} ms")
    if m.output_tokens_per_s is not None:
        parts.append(f"{m.output_tokens_per_s:.1f} tok/s")
    if result.attempts > 1:
        parts.append(f"{result.attempts} attempts")
    return " · ".join(parts) if parts else "streaming…"


class LiveView:
    """Accumulates what a live view shows and decides when to redraw."""

    def __init__(self, *, throttle_s: float = DEFAULT_THROTTLE_S) -> None:
        self._text: list[str] = []
        self._notes: list[str] = []
        self._throttle_s = throttle_s
        self._last_draw: float | None = None
        self._dirty = False

    def on_event(self, event: DeltaEvent, now: float) -> bool:
        """Take one event; return True when the view should be redrawn now."""
        if isinstance(event, TextDelta) and event.index == 0:
            self._text.append(event.text)
            self._dirty = True
        elif isinstance(event, RetryEvent):
            self._notes.append(
                f"⟳ attempt {event.attempt} failed; retrying in {event.delay_s:.1f} s"
            )
            self._dirty = True
            return True
        elif isinstance(event, ResumeEvent):
            self._notes.append(f"⟳ resumed ({event.strategy}) — nothing lost, nothing repeated")
            self._dirty = True
            return True
        if not self._dirty:
            return False
        return self._last_draw is None or now - self._last_draw >= self._throttle_s

    def drawn(self, now: float) -> None:
        """Record that the view was just drawn."""
        self._last_draw = now
        self._dirty = False

    def markdown(self, snapshot: StreamResult, *, final: bool = False) -> str:
        """The Markdown to show: text, notes, and the footer from ``snapshot``."""
        body = "".join(self._text) or "…"
        notes = "".join(f"\n\n> {note}" for note in self._notes)
        cursor = "" if final else " ▌"
        return f"{body}{cursor}{notes}\n\n---\n*{footer_markdown(snapshot)}*"
