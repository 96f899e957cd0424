"""The relay's wire formats: typed deltas in, numbered wire events out (no I/O).

A stream is stored as a list of :class:`Entry`: ``(id, event, data)`` with ``data`` one
line of JSON. The same entries are framed as server-sent events or as WebSocket text
messages, so what a browser receives does not depend on the transport or on the worker
that serves it.

Two formats, chosen per :class:`~streamkit.relay.Relay` (``wire=``):

- ``"streamkit"`` (default): small named events, see :data:`STREAMKIT_EVENTS`.
- ``"ui-message-stream"``: the parts of the Vercel AI SDK 5 "UI message stream"
  protocol (``start``, ``text-start``/``text-delta``/``text-end``, ``reasoning-*``,
  ``tool-input-*``, ``finish``, ``error``, ``abort``, ``data-notice``), with the
  ``x-vercel-ai-ui-message-stream: v1`` header and ``data: [DONE]`` at the end, so a
  ``useChat`` front-end reads it (https://ai-sdk.dev/docs/ai-sdk-ui/stream-protocol).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from streamkit.errors import ConfigurationError
from streamkit.events import (
    DeltaEvent,
    FinishEvent,
    ReasoningDelta,
    RefusalDelta,
    ResumeEvent,
    RetryEvent,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.usage import Usage

__all__ = [
    "STREAMKIT_EVENTS",
    "Encoder",
    "Entry",
    "Outcome",
    "WireFormat",
    "WireName",
    "get_wire",
]

#: The names of the two wire formats.
WireName = Literal["streamkit", "ui-message-stream"]

#: The events of the ``"streamkit"`` wire format and their ``data`` (JSON objects).
#: ``index`` (the choice) is present only when it is not 0.
STREAMKIT_EVENTS: Final[dict[str, str]] = {
    "text": '{"text": str}: a piece of the answer',
    "reasoning": '{"text": str}: a piece of reasoning ("thinking") text',
    "refusal": '{"text": str}: a piece of a refusal',
    "tool_call": (
        '{"tool_index": int, "id"?: str, "name"?: str, "arguments": str}: a fragment of'
        " a tool call's arguments JSON (id and name on its first fragment)"
    ),
    "usage": '{"usage": {...}}: token usage reported so far (replaces earlier reports)',
    "notice": (
        '{"kind": "retry", "attempt": int, "delay_s": float, "status_code": int | null}'
        ' or {"kind": "resume", "attempt": int, "strategy": str}: the upstream broke and'
        " streamkit retries or resumes it; the text continues without loss or repetition"
    ),
    "done": (
        '{"finish_reason": str | null, "usage": {...} | null, "cost_usd": str | null,'
        ' "stopped": bool}: the last event of a stream that ended normally or was stopped'
    ),
    "failed": (
        '{"error": str, "type"?: str, "status_code"?: int}: the last event of a stream that'
        ' failed; error is "upstream" (type: the streamkit error class), "interrupted" (the'
        ' worker running it died or shut down), "expired" (the events after your cursor are'
        ' no longer kept) or "internal"'
    ),
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored wire event.

    ``id`` numbers the events of a stream id 1, 2, 3, ... (a new generation of a reused
    stream id continues the numbering). ``data`` is one line of JSON.
    """

    id: int
    event: str
    data: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a stream ended, for its terminal event(s)."""

    kind: Literal["done", "stopped", "failed"]
    finish_reason: str | None = None
    usage: Usage | None = None
    cost: Decimal | None = None
    error: str | None = None
    """For ``failed``: ``"upstream"``, ``"interrupted"``, ``"expired"`` or ``"internal"``."""
    error_type: str | None = None
    """For upstream failures: the streamkit error's class name (never its message)."""
    status_code: int | None = None


Item = tuple[str, str]
"""``(event, data)`` before the store numbers it."""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _usage(usage: Usage | None) -> dict[str, Any] | None:
    return None if usage is None else usage.model_dump(mode="json", exclude_none=True)


def _failure_fields(outcome: Outcome) -> dict[str, Any]:
    fields: dict[str, Any] = {"error": outcome.error or "internal"}
    if outcome.error_type is not None:
        fields["type"] = outcome.error_type
    if outcome.status_code is not None:
        fields["status_code"] = outcome.status_code
    return fields


class Encoder:
    """Turns one stream's typed deltas into wire items; one per stream (stateful)."""

    def begin(self) -> list[Item]:
        """Items sent before any upstream event (the stream has started)."""
        return []

    def encode(self, event: DeltaEvent) -> list[Item]:
        """The items for one delta event (often one, sometimes none)."""
        raise NotImplementedError

    def finish(self, outcome: Outcome) -> list[Item]:
        """The last items of the stream, ending with its terminal event."""
        raise NotImplementedError


class _StreamkitEncoder(Encoder):
    def encode(self, event: DeltaEvent) -> list[Item]:
        if isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
            text = _json(event.text)
            if event.index:
                return [(event.type, f'{{"text":{text},"index":{event.index}}}')]
            return [(event.type, f'{{"text":{text}}}')]
        if isinstance(event, ToolCallDelta):
            call: dict[str, Any] = {"tool_index": event.tool_index}
            if event.id is not None:
                call["id"] = event.id
            if event.name is not None:
                call["name"] = event.name
            call["arguments"] = event.arguments
            if event.index:
                call["index"] = event.index
            return [("tool_call", _json(call))]
        if isinstance(event, UsageEvent):
            return [("usage", _json({"usage": _usage(event.usage)}))]
        if isinstance(event, RetryEvent):
            notice: dict[str, Any] = {
                "kind": "retry",
                "attempt": event.attempt,
                "delay_s": round(event.delay_s, 3),
                "status_code": event.status_code,
            }
            return [("notice", _json(notice))]
        if isinstance(event, ResumeEvent):
            notice = {"kind": "resume", "attempt": event.attempt, "strategy": event.strategy}
            return [("notice", _json(notice))]
        if isinstance(event, FinishEvent):
            return []  # the finish reason of choice 0 is in ``done``
        return []  # a delta type added later: not relayed until the schema says how

    def finish(self, outcome: Outcome) -> list[Item]:
        if outcome.kind == "failed":
            return [("failed", _json(_failure_fields(outcome)))]
        done = {
            "finish_reason": outcome.finish_reason,
            "usage": _usage(outcome.usage),
            "cost_usd": None if outcome.cost is None else str(outcome.cost),
            "stopped": outcome.kind == "stopped",
        }
        return [("done", _json(done))]


@dataclass
class _ToolInput:
    call_id: str
    name: str
    arguments: list[str]


class _UIMessageEncoder(Encoder):
    """The AI SDK UI message stream: parts with start/delta/end framing per block."""

    def __init__(self, message_id: str) -> None:
        self._message_id = message_id
        self._text: str | None = None  # the id of the open text block
        self._reasoning: str | None = None
        self._blocks = 0
        self._tools: dict[int, _ToolInput] = {}

    def _part(self, part: dict[str, Any]) -> Item:
        return (str(part["type"]), _json(part))

    def _close_blocks(self) -> list[Item]:
        items = []
        if self._text is not None:
            items.append(self._part({"type": "text-end", "id": self._text}))
            self._text = None
        if self._reasoning is not None:
            items.append(self._part({"type": "reasoning-end", "id": self._reasoning}))
            self._reasoning = None
        return items

    def _new_block(self, kind: str) -> str:
        self._blocks += 1
        return f"{kind}-{self._blocks}"

    def begin(self) -> list[Item]:
        return [
            self._part({"type": "start", "messageId": self._message_id}),
            self._part({"type": "start-step"}),
        ]

    def encode(self, event: DeltaEvent) -> list[Item]:
        if getattr(event, "index", 0):
            return []  # a UI message is one choice: choice 0
        if isinstance(event, TextDelta | RefusalDelta):
            items: list[Item] = []
            if self._text is None:
                items = self._close_blocks()
                self._text = self._new_block("text")
                items.append(self._part({"type": "text-start", "id": self._text}))
            items.append(self._part({"type": "text-delta", "id": self._text, "delta": event.text}))
            return items
        if isinstance(event, ReasoningDelta):
            items = []
            if self._reasoning is None:
                items = self._close_blocks()
                self._reasoning = self._new_block("reasoning")
                items.append(self._part({"type": "reasoning-start", "id": self._reasoning}))
            part = {"type": "reasoning-delta", "id": self._reasoning, "delta": event.text}
            items.append(self._part(part))
            return items
        if isinstance(event, ToolCallDelta):
            return self._tool(event)
        if isinstance(event, RetryEvent | ResumeEvent):
            notice = _json(
                {
                    "kind": event.type,
                    "attempt": event.attempt,
                    **(
                        {"strategy": event.strategy}
                        if isinstance(event, ResumeEvent)
                        else {"delay_s": round(event.delay_s, 3), "status_code": event.status_code}
                    ),
                }
            )
            return [("data-notice", f'{{"type":"data-notice","data":{notice},"transient":true}}')]
        return []  # usage and finish go into the ``finish`` part's metadata

    def _tool(self, event: ToolCallDelta) -> list[Item]:
        items = self._close_blocks()
        tool = self._tools.get(event.tool_index)
        if tool is None:
            call_id = event.id or f"call_{self._message_id}_{event.tool_index}"
            tool = self._tools[event.tool_index] = _ToolInput(call_id, event.name or "", [])
            start = {"type": "tool-input-start", "toolCallId": call_id, "toolName": tool.name}
            items.append(self._part(start))
        if event.arguments:
            tool.arguments.append(event.arguments)
            delta = {
                "type": "tool-input-delta",
                "toolCallId": tool.call_id,
                "inputTextDelta": event.arguments,
            }
            items.append(self._part(delta))
        return items

    def finish(self, outcome: Outcome) -> list[Item]:
        items = self._close_blocks()
        for tool in self._tools.values():
            text = "".join(tool.arguments)
            fields = {"toolCallId": tool.call_id, "toolName": tool.name}
            try:
                parsed = json.loads(text) if text.strip() else {}
            except ValueError:
                error = "the tool call's arguments are not valid JSON"
                part = {"type": "tool-input-error", **fields, "input": text, "errorText": error}
                items.append(self._part(part))
            else:
                items.append(
                    self._part({"type": "tool-input-available", **fields, "input": parsed})
                )
        self._tools.clear()
        if outcome.kind == "failed":
            text = outcome.error_type or outcome.error or "internal"
            return [*items, self._part({"type": "error", "errorText": text})]
        items.append(self._part({"type": "finish-step"}))
        if outcome.kind == "stopped":
            return [*items, self._part({"type": "abort"})]
        metadata = {
            "finishReason": outcome.finish_reason,
            "usage": _usage(outcome.usage),
            "costUsd": None if outcome.cost is None else str(outcome.cost),
        }
        return [*items, self._part({"type": "finish", "messageMetadata": metadata})]


@dataclass(frozen=True)
class WireFormat:
    """How entries are framed: SSE field names, extra headers, the end-of-stream trailer."""

    name: WireName
    sse_event_field: bool
    """Whether SSE frames carry ``event: <name>`` (the AI SDK reads ``data`` only)."""
    headers: tuple[tuple[str, str], ...]
    """Response headers added to every SSE response of this format."""
    sse_trailer: bytes
    """Sent after the terminal entry when a stream is read to its end."""
    _new_encoder: Callable[[str], Encoder]

    def encoder(self, stream_id: str) -> Encoder:
        """A new encoder for the stream ``stream_id``."""
        return self._new_encoder(stream_id)

    def failure(self, error: str) -> list[Item]:
        """A terminal failure without a producer: ``interrupted`` or ``expired``."""
        return self._new_encoder("").finish(Outcome("failed", error=error))[-1:]

    def sse(self, entry: Entry) -> str:
        """One entry as a server-sent event (``id``, ``event`` when named, ``data``)."""
        if self.sse_event_field:
            return f"id: {entry.id}\nevent: {entry.event}\ndata: {entry.data}\n\n"
        return f"id: {entry.id}\ndata: {entry.data}\n\n"

    def message(self, entry: Entry) -> str:
        """One entry as a WebSocket text message: ``{"id", "event", "data"}``."""
        return f'{{"id":{entry.id},"event":{_json(entry.event)},"data":{entry.data}}}'

    def unnumbered_sse(self, item: Item) -> str:
        """An item that is not stored (e.g. ``expired``) as an SSE frame without ``id``."""
        event, data = item
        if self.sse_event_field:
            return f"event: {event}\ndata: {data}\n\n"
        return f"data: {data}\n\n"


_WIRES: dict[str, WireFormat] = {
    "streamkit": WireFormat(
        name="streamkit",
        sse_event_field=True,
        headers=(),
        sse_trailer=b"",
        _new_encoder=lambda stream_id: _StreamkitEncoder(),
    ),
    "ui-message-stream": WireFormat(
        name="ui-message-stream",
        sse_event_field=False,
        headers=(("x-vercel-ai-ui-message-stream", "v1"),),
        sse_trailer=b"data: [DONE]\n\n",
        _new_encoder=lambda stream_id: _UIMessageEncoder(f"msg_{stream_id}"),
    ),
}


def get_wire(name: str) -> WireFormat:
    """The wire format called ``name``.

    Raises:
        ConfigurationError: ``name`` is not ``"streamkit"`` or ``"ui-message-stream"``.
    """
    try:
        return _WIRES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown wire format {name!r}: use 'streamkit' or 'ui-message-stream'"
        ) from None
