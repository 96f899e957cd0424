"""Provider extras: what a stream carries beyond text, reasoning, tool calls and usage.

Each provider sends some things that have no place in the common delta events but
that callers need to keep: Anthropic citations, thinking signatures and redacted
thinking (required to send a thinking turn back), server-tool results, Gemini
grounding metadata and thought signatures, OpenAI Responses logprobs and
encrypted reasoning. Every stream decoder collects them and returns a
:class:`ProviderExtras` from its ``extras()`` method.

Unknown is ``None`` (or an empty list), never a made-up value. Raw provider
objects are kept as plain ``dict`` values exactly as received (JSON-decoded), so
nothing depends on streamkit modelling every field of every provider.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Citation", "ProviderExtras", "Signature", "TokenLogprob", "TopLogprob"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Citation(_Frozen):
    """A source the answer text cites.

    From Anthropic ``citations_delta`` (and ``citations`` on a text block start)
    and OpenAI Responses ``response.output_text.annotation.added``.
    """

    type: str
    """The provider's citation type, e.g. ``"web_search_result_location"``,
    ``"char_location"`` (Anthropic) or ``"url_citation"`` (Responses)."""
    index: int = 0
    """The choice index."""
    cited_text: str | None = None
    """The quoted source text, when the provider gives it (Anthropic)."""
    url: str | None = None
    title: str | None = None
    block_index: int | None = None
    """Anthropic content block index / Responses ``output_index`` the citation belongs to."""
    start_index: int | None = None
    """Start (in characters) of the cited span in the choice's text as this stream
    delivered it; ``None`` when unknown. Anthropic cites whole text blocks, so this is
    the start of the block; Responses gives the span inside its content part, which is
    shifted by where that part starts."""
    end_index: int | None = None
    """End (exclusive, in characters) of the cited span, like :attr:`start_index`;
    ``None`` when the block never ended."""
    raw: dict[str, Any] = Field(default_factory=dict)
    """The provider's citation object as received."""


class Signature(_Frozen):
    """An opaque signature the provider needs back to accept a reasoning turn.

    - Anthropic ``signature_delta`` of a ``thinking`` block (``kind="thinking"``;
      :attr:`content` is the block's thinking text, so the block can be sent back
      verbatim).
    - Gemini ``thoughtSignature`` on a part (``kind`` is ``"function_call"``,
      ``"thought"`` or ``"text"``; :attr:`tool_index` names the function call it
      belongs to).
    - OpenAI Responses ``encrypted_content`` of a ``reasoning`` item
      (``kind="encrypted_reasoning"``; requested with
      ``include=["reasoning.encrypted_content"]``).
    """

    signature: str
    kind: str
    index: int = 0
    """The choice (Gemini candidate) index."""
    block_index: int | None = None
    """Anthropic content block index / Responses ``output_index``."""
    tool_index: int | None = None
    """The ``tool_index`` of the tool call the signature is attached to (Gemini)."""
    item_id: str | None = None
    """The provider's id of the signed item (Responses reasoning item id)."""
    content: str | None = None
    """The signed text, when it must be sent back with the signature (Anthropic thinking)."""


class TopLogprob(_Frozen):
    """One alternative token at a position."""

    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(_Frozen):
    """The log probability of one generated token (OpenAI ``logprobs`` entries)."""

    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = Field(default_factory=list)
    index: int = 0
    """The choice index."""


class ProviderExtras(_Frozen):
    """Everything a stream carried that is not a delta event, collected by its decoder.

    Lists are in stream order. A field a provider never sends stays empty/``None``.
    """

    citations: list[Citation] = Field(default_factory=list)
    """Sources cited by the answer (Anthropic citations, Responses url/file citations)."""
    signatures: list[Signature] = Field(default_factory=list)
    """Reasoning signatures to send back on the next turn (Anthropic thinking,
    Gemini ``thoughtSignature``, Responses ``encrypted_content``)."""
    redacted_thinking: list[str] = Field(default_factory=list)
    """Opaque ``data`` of Anthropic ``redacted_thinking`` blocks, in block order."""
    server_tool_calls: list[int] = Field(default_factory=list)
    """``tool_index`` values of tool calls the *provider* ran itself (Anthropic
    ``server_tool_use``/``mcp_tool_use``): they appear among the tool calls but the
    caller must not execute them."""
    server_tool_results: list[dict[str, Any]] = Field(default_factory=list)
    """Results of provider-run tools as received (Anthropic ``*_tool_result`` blocks
    with their ``index`` added; Responses ``web_search_call``/``file_search_call``/...
    output items; Gemini code execution ``executableCode``/``codeExecutionResult``
    parts with the candidate ``index``)."""
    incomplete_tool_calls: list[int] = Field(default_factory=list)
    """``tool_index`` values (choice 0) of tool calls the stream never closed, e.g.
    Anthropic stopping at ``max_tokens`` in the middle of a tool's JSON: their
    arguments are the raw, possibly truncated text."""
    logprobs: list[TokenLogprob] | None = None
    """Token log probabilities when requested (Responses ``include`` with
    ``message.output_text.logprobs``); ``None`` when the stream carried none."""
    grounding: dict[str, Any] | None = None
    """Gemini ``groundingMetadata`` (search queries, grounding chunks and supports)
    of candidate 0, the last one sent."""
    stop_details: dict[str, Any] | None = None
    """Why generation stopped, beyond the finish reason: Anthropic ``stop_details``
    and ``stop_sequence``, Responses ``incomplete_details``, Gemini
    ``finishMessage``/``safetyRatings``/``promptFeedback``."""
    raw_usage: dict[str, Any] | None = None
    """The provider's own last usage object (merged over cumulative reports), with
    fields :class:`~streamkit.usage.Usage` does not model (server tool use counts,
    cache breakdowns, service tier, OpenRouter cost, ...)."""

    @property
    def is_empty(self) -> bool:
        """True when nothing was collected."""
        return self == _EMPTY

    def merged(self, later: ProviderExtras) -> ProviderExtras:
        """Combine the extras of an attempt with those of a later attempt that *continues* it.

        For continuations (``Last-Event-ID``, prefill, ``starting_after``) the later
        attempt only carries new items: lists are concatenated and each optional
        value is taken from ``later`` when it has one, except
        :attr:`incomplete_tool_calls`, which is ``later``'s: a call left open by the
        earlier attempt is either closed by the continuation (``starting_after``
        re-sends ``function_call_arguments.done``) or was never resumable (prefill is
        not used once tool calls started). After a ``replay`` attempt the later extras
        describe the whole stream again: use them alone instead.
        """
        logprobs: list[TokenLogprob] | None
        if self.logprobs is None or later.logprobs is None:
            logprobs = later.logprobs if self.logprobs is None else self.logprobs
        else:
            logprobs = [*self.logprobs, *later.logprobs]

        def pick(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
            return b if b is not None else a

        return ProviderExtras(
            citations=[*self.citations, *later.citations],
            signatures=[*self.signatures, *later.signatures],
            redacted_thinking=[*self.redacted_thinking, *later.redacted_thinking],
            server_tool_calls=sorted({*self.server_tool_calls, *later.server_tool_calls}),
            server_tool_results=[*self.server_tool_results, *later.server_tool_results],
            incomplete_tool_calls=sorted(set(later.incomplete_tool_calls)),
            logprobs=logprobs,
            grounding=pick(self.grounding, later.grounding),
            stop_details=pick(self.stop_details, later.stop_details),
            raw_usage=pick(self.raw_usage, later.raw_usage),
        )


_EMPTY = ProviderExtras()
