"""Token usage, normalized across providers.

Every dialect maps its provider's usage object onto :class:`Usage`, following
the provider's documented semantics:

- OpenAI Chat Completions (``usage`` chunk): ``prompt_tokens`` includes
  ``prompt_tokens_details.cached_tokens``; ``completion_tokens`` includes
  ``completion_tokens_details.reasoning_tokens``.
  https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage
- DeepSeek adds ``prompt_cache_hit_tokens`` (same meaning as cached tokens).
- Anthropic Messages: ``input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``; streamkit adds them so that
  ``input_tokens`` always counts every input token.
- Gemini ``usageMetadata``: output = ``candidatesTokenCount`` + ``thoughtsTokenCount``.

The constructors :meth:`Usage.from_openai`, :meth:`Usage.from_anthropic` and
:meth:`Usage.from_gemini` apply these rules to a provider's raw usage JSON object
(see their docstrings for every field). Anthropic ``message_delta.usage`` and
Gemini ``usageMetadata`` are cumulative: merge successive reports with
:meth:`Usage.updated` (replace), never with ``+`` (add).

Unknown is ``None``, never ``0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["CHARS_PER_TOKEN", "Usage", "estimate_usage"]


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class Usage(BaseModel):
    """Token counts of one response (or a sum of several).

    All counts are numbers of tokens; ``None`` means the provider did not say.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int | None = None
    """Every input (prompt) token, cached ones included (OpenAI ``prompt_tokens``;
    Anthropic ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``)."""
    cached_input_tokens: int | None = None
    """Input tokens read from the provider's prompt cache (part of ``input_tokens``)."""
    cache_write_tokens: int | None = None
    """Input tokens written to the prompt cache (Anthropic ``cache_creation_input_tokens``;
    part of ``input_tokens``)."""
    output_tokens: int | None = None
    """Every generated token, reasoning tokens included (OpenAI ``completion_tokens``)."""
    reasoning_tokens: int | None = None
    """Generated reasoning ("thinking") tokens (part of ``output_tokens``)."""
    total_tokens: int | None = None
    """``input_tokens + output_tokens`` as the provider reported it (or computed)."""
    estimated: bool = False
    """True when the counts were estimated by streamkit (e.g. an attempt that broke
    before the provider sent its usage), not reported by the provider."""

    def __add__(self, other: Usage) -> Usage:
        """Sum two usages bucket by bucket (``None`` + n = n); estimated if either is."""
        return Usage(
            input_tokens=_add(self.input_tokens, other.input_tokens),
            cached_input_tokens=_add(self.cached_input_tokens, other.cached_input_tokens),
            cache_write_tokens=_add(self.cache_write_tokens, other.cache_write_tokens),
            output_tokens=_add(self.output_tokens, other.output_tokens),
            reasoning_tokens=_add(self.reasoning_tokens, other.reasoning_tokens),
            total_tokens=_add(self.total_tokens, other.total_tokens),
            estimated=self.estimated or other.estimated,
        )

    def updated(self, other: Usage) -> Usage:
        """Return ``self`` with every bucket that ``other`` knows replaced by ``other``'s.

        This is the merge rule for cumulative usage reports (Anthropic
        ``message_delta.usage``, Gemini ``usageMetadata``, OpenAI's repeated usage):
        a later report replaces an earlier one; it is never added.
        """
        data = self.model_dump()
        for key, value in other.model_dump(exclude_none=True).items():
            if key != "estimated":
                data[key] = value
        data["estimated"] = other.estimated
        if (
            other.total_tokens is None
            and data["input_tokens"] is not None
            and data["output_tokens"] is not None
        ):
            data["total_tokens"] = data["input_tokens"] + data["output_tokens"]
        return Usage(**data)

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any]) -> Usage:
        """Normalize an OpenAI-style ``usage`` object (Chat Completions or Responses).

        Chat Completions (and every OpenAI-compatible API: DeepSeek, Groq, xAI,
        Mistral, OpenRouter, vLLM, Azure):

        - ``input_tokens`` = ``prompt_tokens`` (cached tokens are part of it);
        - ``cached_input_tokens`` = ``prompt_tokens_details.cached_tokens``, else
          DeepSeek's ``prompt_cache_hit_tokens``;
        - ``output_tokens`` = ``completion_tokens`` (reasoning tokens are part of it);
        - ``reasoning_tokens`` = ``completion_tokens_details.reasoning_tokens``.

        Responses API (``response.usage``): ``input_tokens`` (includes
        ``input_tokens_details.cached_tokens``), ``output_tokens`` (includes
        ``output_tokens_details.reasoning_tokens``).

        Some OpenAI-compatible servers (xAI) report ``completion_tokens`` WITHOUT the
        reasoning tokens. That is detected when ``total_tokens`` equals prompt +
        completion + reasoning, or, without a total, when the reasoning count
        exceeds the completion count; the reasoning tokens are then added to
        ``output_tokens`` so that it always counts every generated (billed) token.
        When the total equals prompt + completion, the counts are kept as reported.

        ``total_tokens`` is the provider's value, else input + output when both are
        known. Missing or ``null`` fields stay ``None``; unknown extra fields
        (``cost``, ``queue_time``, ...) are ignored.

        Args:
            usage: the decoded JSON object, e.g.
                ``{"prompt_tokens": 14, "completion_tokens": 30, "total_tokens": 44}``.

        Returns:
            The normalized usage (``estimated=False``).

        See Also:
            https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage
            https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage
        """
        return _from_openai(usage)

    @classmethod
    def from_anthropic(cls, usage: Mapping[str, Any]) -> Usage:
        """Normalize an Anthropic Messages ``usage`` object.

        Anthropic's ``input_tokens`` EXCLUDES ``cache_read_input_tokens`` and
        ``cache_creation_input_tokens``; streamkit's :attr:`Usage.input_tokens`
        INCLUDES them:

        - ``input_tokens`` = ``input_tokens + cache_read_input_tokens +
          cache_creation_input_tokens`` (``None`` when Anthropic sent no
          ``input_tokens``, as in an older ``message_delta.usage`` that only carries
          ``output_tokens``);
        - ``cached_input_tokens`` = ``cache_read_input_tokens``;
        - ``cache_write_tokens`` = ``cache_creation_input_tokens``;
        - ``output_tokens`` = ``output_tokens`` (thinking tokens are part of it);
        - ``reasoning_tokens`` = ``output_tokens_details.thinking_tokens`` if present.

        ``message_start.message.usage`` and ``message_delta.usage`` are cumulative:
        combine them with :meth:`updated`, which keeps the input counts of
        ``message_start`` when a ``message_delta`` omits them.

        Args:
            usage: the decoded JSON object, e.g. ``{"input_tokens": 20,
                "cache_read_input_tokens": 0, "output_tokens": 5}``.

        Returns:
            The normalized usage (``estimated=False``).

        See Also:
            https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#tracking-cache-performance
        """
        return _from_anthropic(usage)

    @classmethod
    def from_gemini(cls, usage: Mapping[str, Any]) -> Usage:
        """Normalize a Gemini ``usageMetadata`` object (Gemini API and Vertex AI).

        - ``input_tokens`` = ``promptTokenCount + toolUsePromptTokenCount`` (the
          tool-use prompt, e.g. search grounding results, is input the model read;
          Gemini counts it in ``totalTokenCount`` outside ``promptTokenCount``);
        - ``cached_input_tokens`` = ``cachedContentTokenCount`` (part of
          ``promptTokenCount``);
        - ``output_tokens`` = ``candidatesTokenCount + thoughtsTokenCount``;
        - ``reasoning_tokens`` = ``thoughtsTokenCount``;
        - ``total_tokens`` = ``totalTokenCount``, else input + output.

        Every ``usageMetadata`` of a stream is cumulative: combine with
        :meth:`updated`. An object without any count (Vertex sends
        ``{"trafficType": "ON_DEMAND"}`` on early chunks) gives an empty usage
        (:attr:`is_empty`).

        Args:
            usage: the decoded JSON object, e.g. ``{"promptTokenCount": 13,
                "candidatesTokenCount": 8, "totalTokenCount": 21}``.

        Returns:
            The normalized usage (``estimated=False``).

        See Also:
            https://ai.google.dev/api/generate-content#UsageMetadata
        """
        return _from_gemini(usage)

    def _repr_markdown_(self) -> str:
        """Notebook view: a one-row table of the token buckets."""
        cells = [
            ("input", self.input_tokens),
            ("cached input", self.cached_input_tokens),
            ("cache write", self.cache_write_tokens),
            ("output", self.output_tokens),
            ("reasoning", self.reasoning_tokens),
            ("total", self.total_tokens),
        ]
        head = "| " + " | ".join(name for name, _ in cells) + " |"
        rule = "|" + "---:|" * len(cells)
        row = "| " + " | ".join("n/a" if v is None else f"{v:,}" for _, v in cells) + " |"
        note = "\n\n*estimated*" if self.estimated else ""
        return f"{head}\n{rule}\n{row}{note}"

    @property
    def is_empty(self) -> bool:
        """True when no bucket is known."""
        return all(
            v is None
            for v in (
                self.input_tokens,
                self.cached_input_tokens,
                self.cache_write_tokens,
                self.output_tokens,
                self.reasoning_tokens,
                self.total_tokens,
            )
        )


#: Characters per token used for estimates when no tokenizer is available
#: (OpenAI's rule of thumb for English text: ~4 characters per token).
CHARS_PER_TOKEN = 4


def estimate_usage(prompt_chars: int, output_chars: int) -> Usage:
    """Estimate the usage of an attempt that broke before the provider reported it.

    ``ceil(chars / CHARS_PER_TOKEN)`` tokens for the prompt and for the output
    received; marked ``estimated=True``.
    """
    input_tokens = -(-prompt_chars // CHARS_PER_TOKEN)
    output_tokens = -(-output_chars // CHARS_PER_TOKEN)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        estimated=True,
    )


# ---- provider usage objects -> Usage (pure; see Usage.from_openai & co.) -----------------


def _int(obj: Any, *keys: str) -> int | None:
    """``obj[k0][k1]...`` when it is a non-negative int (not bool), else ``None``."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    if isinstance(obj, bool) or not isinstance(obj, int) or obj < 0:
        return None
    return obj


def _sum(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _total(reported: int | None, input_tokens: int | None, output_tokens: int | None) -> int | None:
    if reported is not None:
        return reported
    if input_tokens is not None and output_tokens is not None:
        return input_tokens + output_tokens
    return None


def _from_openai(u: Mapping[str, Any]) -> Usage:
    if "prompt_tokens" in u or "completion_tokens" in u:
        input_tokens = _int(u, "prompt_tokens")
        output_tokens = _int(u, "completion_tokens")
        cached = _int(u, "prompt_tokens_details", "cached_tokens")
        if cached is None:
            cached = _int(u, "prompt_cache_hit_tokens")
    else:  # Responses API
        input_tokens = _int(u, "input_tokens")
        output_tokens = _int(u, "output_tokens")
        cached = _int(u, "input_tokens_details", "cached_tokens")
    if "completion_tokens_details" in u:
        details = "completion_tokens_details"
    else:
        details = "output_tokens_details"
    reasoning = _int(u, details, "reasoning_tokens")
    total = _int(u, "total_tokens")
    if reasoning and output_tokens is not None:
        # xAI & co. leave reasoning tokens out of completion_tokens (see from_openai).
        # The total decides when it is known; otherwise reasoning > completion does.
        if total is not None and input_tokens is not None:
            excluded = total == input_tokens + output_tokens + reasoning
        else:
            excluded = reasoning > output_tokens
        if excluded:
            output_tokens += reasoning
    return Usage(
        input_tokens=input_tokens,
        cached_input_tokens=cached,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        total_tokens=_total(total, input_tokens, output_tokens),
    )


def _from_anthropic(u: Mapping[str, Any]) -> Usage:
    uncached = _int(u, "input_tokens")
    cache_read = _int(u, "cache_read_input_tokens")
    cache_write = _int(u, "cache_creation_input_tokens")
    input_tokens = None if uncached is None else uncached + (cache_read or 0) + (cache_write or 0)
    output_tokens = _int(u, "output_tokens")
    return Usage(
        input_tokens=input_tokens,
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=output_tokens,
        reasoning_tokens=_int(u, "output_tokens_details", "thinking_tokens"),
        total_tokens=_total(None, input_tokens, output_tokens),
    )


def _from_gemini(u: Mapping[str, Any]) -> Usage:
    prompt = _int(u, "promptTokenCount")
    tool_prompt = _int(u, "toolUsePromptTokenCount")
    candidates = _int(u, "candidatesTokenCount")
    thoughts = _int(u, "thoughtsTokenCount")
    input_tokens = _sum(prompt, tool_prompt)
    output_tokens = _sum(candidates, thoughts)
    return Usage(
        input_tokens=input_tokens,
        cached_input_tokens=_int(u, "cachedContentTokenCount"),
        output_tokens=output_tokens,
        reasoning_tokens=thoughts,
        total_tokens=_total(_int(u, "totalTokenCount"), input_tokens, output_tokens),
    )
