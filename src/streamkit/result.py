"""The assembled result of a stream: text, reasoning, tool calls, usage, cost, timing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from streamkit.extras import ProviderExtras
from streamkit.metrics import StreamMetrics
from streamkit.pricing import CostBasis
from streamkit.usage import Usage

__all__ = ["ChoiceResult", "StreamResult", "ToolCall"]


class ToolCall(BaseModel):
    """One assembled tool (function) call."""

    model_config = ConfigDict(frozen=True)

    index: int
    """Position among the choice's tool calls, as the provider numbered it."""
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    """The arguments as the JSON text the model produced (joined fragments)."""
    complete: bool = True
    """False when the stream stopped before the call was closed (e.g. ``max_tokens``);
    ``arguments`` is then possibly truncated JSON."""

    def parsed_arguments(self) -> Any:
        """Return ``json.loads(arguments)`` (``{}`` for empty arguments).

        Raises:
            json.JSONDecodeError: the arguments are not valid JSON (e.g. truncated).
        """
        return json.loads(self.arguments) if self.arguments.strip() else {}


class ChoiceResult(BaseModel):
    """Everything streamed for one choice (``n`` > 1 gives several)."""

    model_config = ConfigDict(frozen=True)

    index: int
    text: str = ""
    reasoning: str = ""
    refusal: str | None = None
    """The refusal text, ``None`` when the model did not refuse."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    """Normalized finish reason (``stop``, ``length``, ``tool_calls``, ``content_filter``,
    ``refusal``, or the provider's value); ``None`` while running or when never sent."""
    raw_finish_reason: str | None = None
    """The provider's own finish reason value."""


class StreamResult(BaseModel):
    """The result of a stream, complete after the last event (or partial after an error).

    ``text``, ``reasoning``, ``refusal``, ``tool_calls`` and ``finish_reason`` are
    those of choice 0.
    """

    model_config = ConfigDict(frozen=True)

    choices: list[ChoiceResult] = Field(default_factory=list)
    model: str | None = None
    """The model name the provider reported (may differ from the requested one)."""
    response_id: str | None = None
    """The provider's id of the response (``chatcmpl-…``, ``msg_…``, ``resp_…``)."""
    usage: Usage | None = None
    """Token usage: reported by the provider, summed over attempts that billed;
    ``None`` when nothing is known."""
    cost: Decimal | None = None
    """Cost in USD of all attempts, ``None`` when the model's price is unknown. Known
    with or without a :class:`~streamkit.CostTracker` (default prices: genai-prices
    under streamkit's overrides), priced by the model the response names."""
    cost_basis: CostBasis | None = None
    """Which model, provider, price source and data version :attr:`cost` comes from."""
    metrics: StreamMetrics = Field(default_factory=StreamMetrics)
    attempts: int = 1
    """HTTP attempts made for this logical stream."""
    complete: bool = False
    """True when the stream ended normally (terminal event or every choice finished)."""
    extras: ProviderExtras = Field(default_factory=ProviderExtras)
    """What the provider sent besides deltas: citations, signatures, redacted thinking,
    grounding, logprobs, server tool results, incomplete tool calls, raw usage."""

    def _choice0(self) -> ChoiceResult | None:
        for choice in self.choices:
            if choice.index == 0:
                return choice
        return self.choices[0] if self.choices else None

    @property
    def text(self) -> str:
        """The answer text of choice 0 (``""`` when none)."""
        c = self._choice0()
        return c.text if c else ""

    @property
    def reasoning(self) -> str:
        """The reasoning text of choice 0 (``""`` when none)."""
        c = self._choice0()
        return c.reasoning if c else ""

    @property
    def refusal(self) -> str | None:
        """The refusal of choice 0, ``None`` when the model did not refuse."""
        c = self._choice0()
        return c.refusal if c else None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls of choice 0."""
        c = self._choice0()
        return list(c.tool_calls) if c else []

    @property
    def finish_reason(self) -> str | None:
        """The normalized finish reason of choice 0."""
        c = self._choice0()
        return c.finish_reason if c else None

    def _repr_markdown_(self) -> str:
        """Notebook view: the text (and reasoning, tool calls) with a usage/cost footer."""
        from streamkit._display import footer_markdown

        parts: list[str] = []
        if self.reasoning:
            parts.append(
                "<details><summary>reasoning</summary>\n\n" + self.reasoning + "\n\n</details>"
            )
        parts.append(self.text or ("*refused:* " + self.refusal if self.refusal else "*(no text)*"))
        parts.extend(f"`{call.name}({call.arguments})`" for call in self.tool_calls)
        state = "complete" if self.complete else "**incomplete**"
        parts.append(
            f"---\n*{self.model or 'model?'} · {state} · finish {self.finish_reason} · "
            f"{footer_markdown(self)}*"
        )
        return "\n\n".join(parts)
