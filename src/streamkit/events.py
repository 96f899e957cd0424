"""Typed delta events: what ``for event in stream`` yields.

Every event is a frozen pydantic v2 model with a ``type`` literal; :data:`DeltaEvent`
is their discriminated union, so ``TypeAdapter(DeltaEvent).validate_python(...)``
round-trips any event and ``match event: case TextDelta(): ...`` works.

``index`` is always the *choice* index (``n`` > 1 streams interleave choices);
``tool_index`` is the position of a tool call inside that choice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from streamkit.usage import Usage

__all__ = [
    "DeltaEvent",
    "FinishEvent",
    "ReasoningDelta",
    "RefusalDelta",
    "ResumeEvent",
    "ResumeStrategy",
    "RetryEvent",
    "TextDelta",
    "ToolCallDelta",
    "UsageEvent",
]

#: How a broken stream was continued: see :class:`ResumeEvent`.
ResumeStrategy = Literal["last-event-id", "prefill", "replay", "starting-after"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def _repr_markdown_(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self if k != "type")
        return f"`{type(self).__name__}({fields})`"


class TextDelta(_Event):
    """A new piece of the answer text of choice ``index``."""

    type: Literal["text"] = "text"
    text: str
    """The new text (append it to what came before)."""
    index: int = 0
    """The choice index."""


class ReasoningDelta(_Event):
    """A new piece of reasoning ("thinking") text of choice ``index``.

    Comes from ``reasoning_content`` (DeepSeek, xAI, Z.ai), ``reasoning``
    (OpenRouter, Groq), Mistral ``thinking`` parts, Anthropic ``thinking_delta``,
    Responses reasoning (summary) text and Gemini ``thought`` parts.
    """

    type: Literal["reasoning"] = "reasoning"
    text: str
    index: int = 0


class RefusalDelta(_Event):
    """A new piece of a refusal message (OpenAI structured outputs) of choice ``index``."""

    type: Literal["refusal"] = "refusal"
    text: str
    index: int = 0


class ToolCallDelta(_Event):
    """A new fragment of a tool (function) call.

    ``id`` and ``name`` usually arrive only on the first fragment of a call;
    ``arguments`` is the new piece of the arguments JSON text (join the pieces
    of one ``tool_index`` to get the whole JSON).
    """

    type: Literal["tool_call"] = "tool_call"
    index: int = 0
    """The choice index."""
    tool_index: int
    """The position of the call among the choice's tool calls (as the provider numbers it)."""
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class UsageEvent(_Event):
    """Token usage reported by the provider (cumulative: it replaces earlier reports)."""

    type: Literal["usage"] = "usage"
    usage: Usage


class FinishEvent(_Event):
    """Choice ``index`` finished.

    ``finish_reason`` is normalized to ``"stop"``, ``"length"``, ``"tool_calls"``,
    ``"content_filter"`` or ``"refusal"`` where the provider's value maps to one of
    them; otherwise it is the provider's value. ``raw_finish_reason`` is always the
    provider's own value.
    """

    type: Literal["finish"] = "finish"
    index: int = 0
    finish_reason: str | None
    raw_finish_reason: str | None = None


class RetryEvent(_Event):
    """An attempt failed and another will be made after ``delay_s`` seconds."""

    type: Literal["retry"] = "retry"
    attempt: int
    """The number of the attempt that failed (1 = the first request)."""
    delay_s: float
    """Seconds the client sleeps before the next attempt."""
    reason: str
    """Why: the error's class name and message (never the API key)."""
    status_code: int | None = None
    """The HTTP status of the failed attempt, when there was one."""


class ResumeEvent(_Event):
    """A broken stream continues on attempt ``attempt`` using ``strategy``.

    Events after this one continue the same text with nothing lost or repeated.
    """

    type: Literal["resume"] = "resume"
    attempt: int
    """The number of the new attempt (2 = the first retry)."""
    strategy: ResumeStrategy
    """``last-event-id`` (SSE reconnection), ``prefill`` (partial assistant turn),
    ``replay`` (same stream re-sent, verified prefix skipped) or ``starting-after``
    (OpenAI Responses background streams)."""
    resumed_after_chars: int = 0
    """How many characters of text/reasoning/tool arguments were already delivered."""


DeltaEvent = Annotated[
    TextDelta
    | ReasoningDelta
    | RefusalDelta
    | ToolCallDelta
    | UsageEvent
    | FinishEvent
    | RetryEvent
    | ResumeEvent,
    Field(discriminator="type"),
]
"""Any event a stream yields (a pydantic discriminated union on ``type``)."""
