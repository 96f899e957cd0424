"""Live rendering of a stream in a notebook: the pure part (no IPython, no clock).

The shells feed events and timestamps; :class:`LiveView` says when to redraw
(about 30 times a second at most) and renders Markdown, with a plain-text twin for
``text/plain``: the text so far, notes on retries and resumes, the failure that
ended the stream if one did, and a footer of tokens, cost, time to first token and
tokens/s. While the stream runs, a cursor ``▌`` follows the text; the final
rendering (complete or failed) has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamkit.errors import StreamkitError
from streamkit.events import DeltaEvent, ResumeEvent, RetryEvent, TextDelta
from streamkit.pricing import format_money

if TYPE_CHECKING:
    from streamkit.result import StreamResult

__all__ = ["CURSOR", "LiveView", "failure_line", "footer_markdown"]

#: Seconds between redraws (about 30 updates per second).
DEFAULT_THROTTLE_S = 1 / 30

#: Shown after the text while the stream is still running.
CURSOR = "▌"


def footer_markdown(result: StreamResult, *, running: bool = False) -> str:
    """One line: tokens, cost, time to first token and tokens/s of ``result``.

    Plain text (no Markdown markup), so it serves ``text/plain`` as it is. With none
    of them known: ``"streaming…"`` while ``running``, else ``"no usage reported"``.
    """
    parts: list[str] = []
    usage = result.usage
    if usage is not None:
        est = "~" if usage.estimated else ""
        parts.append(f"{est}{usage.input_tokens} in / {est}{usage.output_tokens} out tokens")
    if result.cost is not None:
        parts.append(format_money(result.cost))
    m = result.metrics
    if m.time_to_first_token_s is not None:
        parts.append(f"first token {m.time_to_first_token_s * 1000:.0f} ms")
    if m.output_tokens_per_s is not None:
        parts.append(f"{m.output_tokens_per_s:.1f} tok/s")
    if result.attempts > 1:
        parts.append(f"{result.attempts} attempts")
    if parts:
        return " · ".join(parts)
    return "streaming…" if running else "no usage reported"


def failure_line(error: BaseException) -> str:
    """What the view says about the exception that ended the stream, on one line.

    A streamkit error shows its type and message (which never hold the key); any
    other exception (Ctrl-C, a cancelled task, a bug in the loop body) only its type.
    """
    if isinstance(error, StreamkitError):
        return " ".join(f"{type(error).__name__}: {error}".split())
    return f"stopped by {type(error).__name__}"


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

    def _body(self, *, final: bool, error: BaseException | None) -> str:
        text = "".join(self._text)
        if not final and error is None:
            return f"{text} {CURSOR}" if text else "…"
        return text

    def markdown(
        self, snapshot: StreamResult, *, final: bool = False, error: BaseException | None = None
    ) -> str:
        """The Markdown to show: text, notes, the failure, and the footer from ``snapshot``.

        Args:
            snapshot: the result so far (its usage, cost and timing make the footer).
            final: the stream ended; no cursor.
            error: the exception that ended the stream, shown under the text (no
                cursor either).
        """
        body = self._body(final=final, error=error)
        if (final or error is not None) and not body:
            body = "*(no text)*"
        notes = "".join(f"\n\n> {note}" for note in self._notes)
        failure = ""
        if error is not None:
            failure = "\n\n> ✖ `" + failure_line(error).replace("`", "'") + "`"
        footer = footer_markdown(snapshot, running=not final and error is None)
        return f"{body}{notes}{failure}\n\n---\n*{footer}*"

    def plain(
        self, snapshot: StreamResult, *, final: bool = False, error: BaseException | None = None
    ) -> str:
        """The ``text/plain`` twin of :meth:`markdown`, without Markdown markup.

        The text itself (the cursor while running), then notes, the failure and the
        footer, one per line.
        """
        lines = [self._body(final=final, error=error)]
        lines.extend(self._notes)
        if error is not None:
            lines.append("✖ " + failure_line(error))
        lines.append("─" * 3 + " " + footer_markdown(snapshot, running=not final and error is None))
        return "\n".join(line for line in lines if line)
