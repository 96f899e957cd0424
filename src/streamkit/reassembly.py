"""The deduplicating reassembler: exactly-once delivery across retries and resumes.

:class:`Reassembler` is sans-I/O and public. It is fed the delta events decoded from
each server-sent event (with the event's SSE ``id`` and, for protocols that number
events, its sequence number) and returns the events to deliver to the user:

- **Duplicates and replays are dropped** by SSE event id (an id already delivered,
  e.g. a server that ignores ``Last-Event-ID`` and starts over; a numeric id lower than
  one already delivered and never seen raises :class:`~streamkit.errors.StreamOrderError`,
  as SSE ids give no sequence to restore the order from), by sequence number
  (OpenAI Responses ``sequence_number``), or — in ``"replay"`` attempts — by text
  offset: the replayed text of every channel (text, reasoning, refusal, each tool
  call's arguments, per choice) is compared with what was already delivered, and
  only what goes beyond it is delivered.
- **A replay that diverges is never spliced**: if replayed text differs from the
  delivered prefix, :class:`ReplayDivergedError` is raised (the session turns it into
  :class:`~streamkit.errors.StreamInterruptedError` with the partial result).
- **Order is restored** for numbered events: an event ahead of a gap is held until the
  gap fills (at most ``max_pending`` events); a gap still open at the end raises
  :class:`~streamkit.errors.StreamOrderError`.
- **Fragments are assembled** into the final message: text, reasoning and refusal
  buffers and tool calls (id, name, joined argument JSON) per choice; buffers are
  ``list[str]`` joined on read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from streamkit.errors import StreamOrderError, StreamProtocolError
from streamkit.events import (
    DeltaEvent,
    FinishEvent,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.extras import ProviderExtras
from streamkit.metrics import StreamMetrics
from streamkit.result import ChoiceResult, StreamResult, ToolCall
from streamkit.usage import Usage

__all__ = ["AttemptMode", "Reassembler", "ReplayDivergedError"]

AttemptMode = Literal["fresh", "continue", "replay"]
"""How the events of a new attempt relate to what was already delivered:

- ``"fresh"``: nothing was delivered yet (first attempt, or a retry before any content).
- ``"continue"``: the server continues where the last attempt stopped (``Last-Event-ID``,
  assistant prefill, ``starting_after``); only duplicate ids/sequence numbers are dropped,
  and a repeated finish of an already finished choice.
- ``"replay"``: the server sends the whole stream again; the delivered prefix is verified
  and skipped by text offset.
"""

#: Default bound on events held back while waiting for a sequence gap to fill.
DEFAULT_MAX_PENDING = 10_000


class ReplayDivergedError(StreamProtocolError):
    """A replayed stream does not reproduce the text already delivered."""


@dataclass(slots=True)
class _Tool:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    chars: int = 0
    closed: bool = False


@dataclass(slots=True)
class _Choice:
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    refusal: list[str] | None = None
    tools: dict[int, _Tool] = field(default_factory=dict)
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    text_chars: int = 0
    reasoning_chars: int = 0
    refusal_chars: int = 0


_Channel = tuple[str, int, int]


def _id_key(event_id: str) -> str | int:
    # numeric ids are kept as ints (smaller, and ordered for late-arrival detection)
    if event_id.isascii() and event_id.isdigit() and len(event_id) < 19:
        return int(event_id)
    return event_id


class Reassembler:
    """Assembles delta events into a :class:`~streamkit.StreamResult`, exactly once.

    Args:
        max_pending: how many numbered events may wait for a sequence gap to fill
            before :class:`~streamkit.errors.StreamOrderError` is raised.

    Usage::

        r = Reassembler()
        for sse in decoder.feed(chunk):
            for event in r.push(dialect_decoder.decode(sse), event_id=sse.id):
                ...  # deliver
        r.end_attempt()
        result = r.snapshot()
    """

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._choices: dict[int, _Choice] = {}
        self._mode: AttemptMode = "fresh"
        self._max_pending = max_pending
        # SSE id dedup
        self._attempt_last_id = ""
        self._dropping_id = False
        self._max_numeric_id: int | None = None
        self._seen_ids: set[str | int] = set()
        # the last event with an id: an event repeating both its id and its content is a
        # duplicate (SSE gives no way to tell "same id field" from "id inherited")
        self._last_id_events: tuple[str, list[DeltaEvent]] = ("", [])
        # sequence numbers
        self._next_seq: int | None = None
        self._pending: dict[int, tuple[list[DeltaEvent], str]] = {}
        # replay verification: channel -> (reference text, offset reached in this attempt)
        self._replay_ref: dict[_Channel, str] = {}
        self._replay_pos: dict[_Channel, int] = {}
        # usage: cumulative within an attempt, summed over attempts
        self._attempt_usage: Usage | None = None
        self._past_usage: Usage | None = None
        self._delivered_chars = 0
        self._attempt_chars = 0
        self._attempt_output: list[str] = []
        self.attempts = 0
        """How many attempts :meth:`begin_attempt` started."""

    # ---- attempts ---------------------------------------------------------------------

    def begin_attempt(self, mode: AttemptMode = "fresh", *, same_generation: bool = False) -> None:
        """Start a new attempt whose events relate to the delivered ones as ``mode`` says.

        Args:
            mode: see :data:`AttemptMode`.
            same_generation: the new attempt continues the *same* server-side generation
                (``Last-Event-ID``, ``starting_after``), whose usage report covers the
                earlier attempts too: the earlier attempt's usage (often an estimate) is
                then replaced by the later report instead of added to it.
        """
        if not same_generation:
            self._close_attempt_usage()
        self.attempts += 1
        self._mode = mode
        self._attempt_last_id = ""
        self._dropping_id = False
        self._last_id_events = ("", [])
        self._attempt_chars = 0
        self._attempt_output = []  # a new list: estimators cache by identity
        if mode != "continue":
            self._next_seq = None
            self._pending.clear()
        self._replay_ref.clear()
        self._replay_pos.clear()
        if mode != "fresh":
            for index, ch in self._choices.items():
                self._replay_ref[("text", index, -1)] = "".join(ch.text)
                self._replay_ref[("reasoning", index, -1)] = "".join(ch.reasoning)
                if ch.refusal is not None:
                    self._replay_ref[("refusal", index, -1)] = "".join(ch.refusal)
                for tool_index, tool in ch.tools.items():
                    self._replay_ref[("tool", index, tool_index)] = "".join(tool.arguments)

    def end_attempt(self) -> None:
        """Check the attempt's end: no open sequence gap, and a replay reached its prefix.

        Raises:
            StreamOrderError: numbered events are still waiting for a missing one.
            ReplayDivergedError: a replay ended before reproducing the delivered text.
        """
        if self._pending:
            missing = self._next_seq
            held = len(self._pending)
            self._pending.clear()
            raise StreamOrderError(
                f"stream ended with {held} event(s) waiting for sequence number {missing}"
            )
        if self._mode == "replay":
            for channel, ref in self._replay_ref.items():
                if self._replay_pos.get(channel, 0) < len(ref):
                    raise ReplayDivergedError(
                        f"replayed stream ended after {self._replay_pos.get(channel, 0)} of "
                        f"{len(ref)} delivered characters of {channel[0]} (choice {channel[1]})"
                    )

    def _close_attempt_usage(self) -> None:
        if self._attempt_usage is not None:
            self._past_usage = (
                self._attempt_usage
                if self._past_usage is None
                else self._past_usage + self._attempt_usage
            )
            self._attempt_usage = None

    # ---- state the session needs ----------------------------------------------------------

    @property
    def delivered_chars(self) -> int:
        """Characters of text, reasoning, refusal and tool arguments delivered so far."""
        return self._delivered_chars

    @property
    def attempt_chars(self) -> int:
        """Characters delivered by the current attempt (for usage estimates)."""
        return self._attempt_chars

    @property
    def attempt_output(self) -> list[str]:
        """The pieces of text, reasoning, refusal and tool arguments of the current attempt.

        Append-only during an attempt (a new list for each attempt); the cost tracker
        estimates their tokens while no usage covers them. Read, do not modify.
        """
        return self._attempt_output

    @property
    def attempt_usage(self) -> Usage | None:
        """The usage reported during the current attempt, if any."""
        return self._attempt_usage

    def set_attempt_usage(self, usage: Usage) -> None:
        """Set the current attempt's usage (e.g. an estimate for an attempt that broke)."""
        self._attempt_usage = usage

    @property
    def has_tool_calls(self) -> bool:
        """True when any tool-call fragment was delivered."""
        return any(ch.tools for ch in self._choices.values())

    @property
    def choice_count(self) -> int:
        """How many choices have delivered anything."""
        return len(self._choices)

    def all_finished(self) -> bool:
        """True when at least one choice exists and every choice has a finish reason."""
        return bool(self._choices) and all(
            ch.finish_reason is not None for ch in self._choices.values()
        )

    def text_of(self, index: int = 0) -> str:
        """The text delivered so far for choice ``index``."""
        ch = self._choices.get(index)
        return "".join(ch.text) if ch else ""

    def reasoning_of(self, index: int = 0) -> str:
        """The reasoning delivered so far for choice ``index``."""
        ch = self._choices.get(index)
        return "".join(ch.reasoning) if ch else ""

    # ---- the hot path ---------------------------------------------------------------------

    def push(
        self, events: list[DeltaEvent], *, event_id: str = "", sequence: int | None = None
    ) -> list[DeltaEvent]:
        """Accept the events decoded from one server-sent event; return those to deliver.

        Args:
            events: the dialect's delta events for one SSE event (may be empty; numbered
                events must be pushed even when empty so the sequence advances).
            event_id: the SSE event's ``id`` (the last event ID at dispatch), ``""`` if none.
            sequence: the protocol's event number (OpenAI Responses ``sequence_number``).

        Returns:
            The events to deliver, in order (possibly trimmed at a replay seam, possibly
            including held-back events whose gap just filled).

        Raises:
            ReplayDivergedError: a replay differs from the delivered text.
            StreamOrderError: more than ``max_pending`` events wait for a gap.
        """
        if event_id and self._mode != "replay":
            if self._is_duplicate_id(event_id) or (
                event_id == self._last_id_events[0] and events == self._last_id_events[1]
            ):
                if self._mode == "continue":
                    self._verify(events)
                return []
            self._last_id_events = (event_id, events)
        if sequence is not None:
            return self._push_numbered(events, sequence, event_id)
        out = self._apply(events)
        if event_id:
            self._remember_id(event_id)
        return out

    def _is_duplicate_id(self, event_id: str) -> bool:
        if event_id != self._attempt_last_id:
            # this event carries its own id field (not one inherited from an earlier event)
            self._attempt_last_id = event_id
            key = _id_key(event_id)
            self._dropping_id = key in self._seen_ids
            if (
                not self._dropping_id
                and isinstance(key, int)
                and self._max_numeric_id is not None
                and key < self._max_numeric_id
            ):
                raise StreamOrderError(
                    f"event id {event_id} arrived after id {self._max_numeric_id}: "
                    "SSE ids carry no sequence to restore the order from"
                )
        return self._dropping_id

    def _remember_id(self, event_id: str) -> None:
        key = _id_key(event_id)
        self._seen_ids.add(key)
        if isinstance(key, int) and (self._max_numeric_id is None or key > self._max_numeric_id):
            self._max_numeric_id = key

    def _push_numbered(self, events: list[DeltaEvent], seq: int, event_id: str) -> list[DeltaEvent]:
        expected = self._next_seq
        if expected is None:
            expected = seq
        if seq < expected:
            return []  # already delivered
        if seq > expected:
            if seq not in self._pending:
                if len(self._pending) >= self._max_pending:
                    raise StreamOrderError(
                        f"more than {self._max_pending} events wait for sequence number {expected}"
                    )
                self._pending[seq] = (events, event_id)
            return []
        out = self._apply(events)
        if event_id:
            self._remember_id(event_id)
        seq += 1
        while seq in self._pending:
            held, held_id = self._pending.pop(seq)
            out.extend(self._apply(held))
            if held_id:
                self._remember_id(held_id)
            seq += 1
        self._next_seq = seq
        return out

    @property
    def next_sequence(self) -> int | None:
        """The next sequence number expected (``None`` before the first numbered event)."""
        return self._next_seq

    def _apply(self, events: Iterable[DeltaEvent]) -> list[DeltaEvent]:
        out: list[DeltaEvent] = []
        replay = self._mode == "replay"
        for event in events:
            if isinstance(event, TextDelta):
                ch = self._choice(event.index)
                text = self._seam("text", event.index, -1, event.text) if replay else event.text
                if not text:
                    continue
                if self._mode == "continue" and ch.finish_reason is not None:
                    continue
                ch.text.append(text)
                ch.text_chars += len(text)
                self._count(text)
                out.append(event if text is event.text else TextDelta(text=text, index=event.index))
            elif isinstance(event, ToolCallDelta):
                routed = self._tool(event, replay)
                if routed is not None:
                    out.append(routed)
            elif isinstance(event, ReasoningDelta):
                ch = self._choice(event.index)
                if self._mode == "continue" and ch.text_chars:
                    # a continuation (prefill) that thinks again: the answer already started
                    continue
                text = (
                    self._seam("reasoning", event.index, -1, event.text) if replay else event.text
                )
                if not text:
                    continue
                ch.reasoning.append(text)
                ch.reasoning_chars += len(text)
                self._count(text)
                out.append(
                    event if text is event.text else ReasoningDelta(text=text, index=event.index)
                )
            elif isinstance(event, RefusalDelta):
                ch = self._choice(event.index)
                text = self._seam("refusal", event.index, -1, event.text) if replay else event.text
                if not text:
                    continue
                if ch.refusal is None:
                    ch.refusal = []
                ch.refusal.append(text)
                ch.refusal_chars += len(text)
                self._count(text)
                out.append(
                    event if text is event.text else RefusalDelta(text=text, index=event.index)
                )
            elif isinstance(event, FinishEvent):
                ch = self._choice(event.index)
                if ch.finish_reason is not None and self._mode != "fresh":
                    continue
                ch.finish_reason = event.finish_reason
                ch.raw_finish_reason = event.raw_finish_reason
                for tool in ch.tools.values():
                    tool.closed = True
                out.append(event)
            elif isinstance(event, UsageEvent):
                self._attempt_usage = (
                    event.usage
                    if self._attempt_usage is None
                    else self._attempt_usage.updated(event.usage)
                )
                out.append(event)
            else:
                out.append(event)
        return out

    def _verify(self, events: list[DeltaEvent]) -> None:
        """Check that re-sent events (a duplicate id) match the delivered text."""
        for event in events:
            if isinstance(event, TextDelta):
                extra = self._seam("text", event.index, -1, event.text)
            elif isinstance(event, ReasoningDelta):
                extra = self._seam("reasoning", event.index, -1, event.text)
            elif isinstance(event, RefusalDelta):
                extra = self._seam("refusal", event.index, -1, event.text)
            elif isinstance(event, ToolCallDelta) and event.arguments:
                extra = self._seam("tool", event.index, event.tool_index, event.arguments)
            else:
                continue
            if extra:
                raise ReplayDivergedError(
                    "an event re-sent under an already delivered id carries new text"
                )

    def _count(self, piece: str) -> None:
        n = len(piece)
        self._delivered_chars += n
        self._attempt_chars += n
        self._attempt_output.append(piece)

    def _choice(self, index: int) -> _Choice:
        ch = self._choices.get(index)
        if ch is None:
            ch = self._choices[index] = _Choice()
        return ch

    def _seam(self, kind: str, index: int, sub: int, piece: str) -> str:
        """Return the part of a replayed ``piece`` beyond the delivered text."""
        channel = (kind, index, sub)
        ref = self._replay_ref.get(channel, "")
        pos = self._replay_pos.get(channel, 0)
        self._replay_pos[channel] = pos + len(piece)
        if pos >= len(ref):
            return piece
        overlap = ref[pos : pos + len(piece)]
        if not piece.startswith(overlap):
            raise ReplayDivergedError(
                f"replayed {kind} of choice {index} differs from the delivered text at "
                f"character {pos}"
            )
        return piece[len(overlap) :]

    def _tool(self, event: ToolCallDelta, replay: bool) -> ToolCallDelta | None:
        ch = self._choice(event.index)
        tool = ch.tools.get(event.tool_index)
        new_call = tool is None
        if tool is None:
            tool = ch.tools[event.tool_index] = _Tool()
        name = event.name
        call_id = event.id
        if not new_call:
            if name is not None and tool.name is not None:
                if name != tool.name and replay:
                    raise ReplayDivergedError(
                        f"replayed tool call {event.tool_index} is {name!r}, "
                        f"delivered {tool.name!r}"
                    )
                name = None
            if call_id is not None and tool.id is not None:
                call_id = None  # keep the first id (a replay may mint a new one)
        args = event.arguments
        if replay and args:
            args = self._seam("tool", event.index, event.tool_index, args)
        if name is not None:
            tool.name = name
        if call_id is not None:
            tool.id = call_id
        if args:
            tool.arguments.append(args)
            tool.chars += len(args)
            self._count(args)
        if not args and name is None and call_id is None and not new_call:
            return None
        if args is event.arguments and name is event.name and call_id is event.id:
            return event
        return ToolCallDelta(
            index=event.index, tool_index=event.tool_index, id=call_id, name=name, arguments=args
        )

    # ---- results ------------------------------------------------------------------------

    @property
    def usage(self) -> Usage | None:
        """Usage over all attempts: the sum of each attempt's last (cumulative) report."""
        if self._attempt_usage is None:
            return self._past_usage
        if self._past_usage is None:
            return self._attempt_usage
        return self._past_usage + self._attempt_usage

    def snapshot(
        self,
        *,
        model: str | None = None,
        response_id: str | None = None,
        metrics: StreamMetrics | None = None,
        cost: object = None,
        cost_basis: object = None,
        complete: bool = False,
        attempts: int | None = None,
        extras: ProviderExtras | None = None,
    ) -> StreamResult:
        """Build a :class:`~streamkit.StreamResult` from what was delivered so far.

        Tool calls of choice 0 listed in ``extras.incomplete_tool_calls`` are marked
        ``complete=False`` (e.g. an Anthropic tool block cut by ``max_tokens``).
        """
        incomplete = set(extras.incomplete_tool_calls) if extras is not None else set()
        choices = []
        for index in sorted(self._choices):
            ch = self._choices[index]
            tools = [
                ToolCall(
                    index=tool_index,
                    id=tool.id,
                    name=tool.name,
                    arguments="".join(tool.arguments),
                    complete=(tool.closed or complete)
                    and not (index == 0 and tool_index in incomplete),
                )
                for tool_index, tool in sorted(ch.tools.items())
            ]
            choices.append(
                ChoiceResult(
                    index=index,
                    text="".join(ch.text),
                    reasoning="".join(ch.reasoning),
                    refusal="".join(ch.refusal) if ch.refusal is not None else None,
                    tool_calls=tools,
                    finish_reason=ch.finish_reason,
                    raw_finish_reason=ch.raw_finish_reason,
                )
            )
        return StreamResult.model_validate(
            {
                "choices": choices,
                "model": model,
                "response_id": response_id,
                "usage": self.usage,
                "cost": cost,
                "cost_basis": cost_basis,
                "metrics": metrics or StreamMetrics(),
                "attempts": attempts if attempts is not None else max(self.attempts, 1),
                "complete": complete,
                "extras": extras if extras is not None else ProviderExtras(),
            }
        )
