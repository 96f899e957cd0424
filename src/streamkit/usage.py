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

Unknown is ``None``, never ``0``.
"""

from __future__ import annotations

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
