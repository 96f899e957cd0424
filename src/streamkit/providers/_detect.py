"""Guess the dialect of a recorded stream from its content (``streamkit inspect``)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from streamkit.sse import SSEDecoder

__all__ = ["detect"]

#: How many events are looked at before giving up on a structural answer.
_MAX_EVENTS: Final = 50
#: How much of the body is looked at (the first events decide; 1 MiB holds dozens
#: even of Anthropic's largest web-search result events).
_MAX_BYTES: Final = 1024 * 1024

_ANTHROPIC_TYPES: Final = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
    }
)
_ANTHROPIC_EVENT = re.compile(rb"(?m)^event: ?(message_start|content_block_(start|delta))\r?$")


def _classify(obj: Any, event: str) -> str | None:
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if isinstance(kind, str):
        if kind in _ANTHROPIC_TYPES or event in _ANTHROPIC_TYPES:
            return "anthropic-messages"
        if kind.startswith("response."):
            return "openai-responses"
    if "candidates" in obj or "usageMetadata" in obj or "promptFeedback" in obj:
        return "gemini"
    if "choices" in obj or obj.get("object") == "chat.completion.chunk":
        return "openai-chat"
    return None


def detect(data: bytes) -> str:
    """Return the name of the dialect that produced the SSE body ``data``.

    The first events are parsed and judged by their JSON shape:

    - ``"type"`` of ``message_start``/``content_block_*``/``message_*`` →
      ``"anthropic-messages"``;
    - ``"type"`` starting with ``response.`` → ``"openai-responses"``;
    - a ``candidates``, ``usageMetadata`` or ``promptFeedback`` key → ``"gemini"``;
    - ``choices`` → ``"openai-chat"``.

    Events that decide nothing (``ping``, ``error``, ``[DONE]``, comments, bad JSON)
    are skipped; when no event decides, an ``event: message_start`` line still
    means Anthropic, and anything else is ``"openai-chat"`` (the format most
    compatible servers speak). Only the first MiB is read. Never raises.
    """
    data = data[:_MAX_BYTES]
    # limits above the bytes read: the decoder cannot raise
    events = SSEDecoder(max_line_size=_MAX_BYTES + 1, max_event_size=_MAX_BYTES + 1).feed(data)
    for sse in events[:_MAX_EVENTS]:
        try:
            obj = json.loads(sse.data)
        except ValueError:
            continue
        found = _classify(obj, sse.event)
        if found is not None:
            return found
    if _ANTHROPIC_EVENT.search(data):
        return "anthropic-messages"
    return "openai-chat"
