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

import warnings
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["CHARS_PER_TOKEN", "COUNT_FIELDS", "Usage", "estimate_usage", "nonstandard_tier"]

#: The token (and request) counts of a :class:`Usage`, in display order. Every
#: one is ``int | None``; sums and merges treat them alike.
COUNT_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "output_tokens",
    "reasoning_tokens",
    "output_audio_tokens",
    "output_image_tokens",
    "total_tokens",
    "web_searches",
)

#: Service tiers that are the standard price (not recorded on :class:`Usage`).
_STANDARD_TIERS = frozenset({"", "auto", "default", "standard", "on_demand"})


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _deprecated_cached_input(stacklevel: int) -> None:
    warnings.warn(
        "Usage.cached_input_tokens is deprecated: use cache_read_tokens (same meaning, the "
        "name genai-prices and OpenTelemetry use)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class Usage(BaseModel):
    """Token counts of one response (or a sum of several).

    All counts are numbers of tokens (``web_searches``: of searches); ``None``
    means the provider did not say. Sub-buckets are part of their parent:
    ``cache_read_tokens``, ``cache_write_tokens``, ``input_audio_tokens`` and
    ``input_image_tokens`` are part of ``input_tokens``; ``cache_write_1h_tokens``
    of ``cache_write_tokens``; ``reasoning_tokens``, ``output_audio_tokens`` and
    ``output_image_tokens`` of ``output_tokens``.

    ``cached_input_tokens`` is the deprecated name of ``cache_read_tokens``
    (accepted by the constructor and readable, with a ``DeprecationWarning``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int | None = None
    """Every input (prompt) token, cached ones included (OpenAI ``prompt_tokens``;
    Anthropic ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``)."""
    cache_read_tokens: int | None = None
    """Input tokens read from the provider's prompt cache (part of ``input_tokens``).
    Formerly ``cached_input_tokens``."""
    cache_write_tokens: int | None = None
    """Input tokens written to the prompt cache, every lifetime (Anthropic
    ``cache_creation_input_tokens``; part of ``input_tokens``)."""
    cache_write_1h_tokens: int | None = None
    """The part of ``cache_write_tokens`` written with a 1-hour lifetime (Anthropic
    ``cache_creation.ephemeral_1h_input_tokens``, billed at 2x input instead of the
    5-minute 1.25x). ``None`` when not reported or zero."""
    input_audio_tokens: int | None = None
    """Audio input tokens (part of ``input_tokens``); ``None`` when not reported or zero."""
    input_image_tokens: int | None = None
    """Image input tokens (part of ``input_tokens``); ``None`` when not reported or zero."""
    output_tokens: int | None = None
    """Every generated token, reasoning tokens included (OpenAI ``completion_tokens``)."""
    reasoning_tokens: int | None = None
    """Generated reasoning ("thinking") tokens (part of ``output_tokens``)."""
    output_audio_tokens: int | None = None
    """Audio output tokens (part of ``output_tokens``); ``None`` when not reported or zero."""
    output_image_tokens: int | None = None
    """Image output tokens (part of ``output_tokens``); ``None`` when not reported or zero."""
    total_tokens: int | None = None
    """``input_tokens + output_tokens`` as the provider reported it (or computed)."""
    web_searches: int | None = None
    """Server-side web searches the provider ran and bills per search (Anthropic
    ``server_tool_use.web_search_requests``); ``None`` when not reported or zero."""
    service_tier: str | None = None
    """The service tier that served the request when it is not the standard one
    (``flex``, ``priority``, ``batch``; it changes the price). ``None`` for the
    standard tier or when not reported."""
    estimated: bool = False
    """True when the counts were estimated by streamkit (e.g. an attempt that broke
    before the provider sent its usage), not reported by the provider."""

    @model_validator(mode="before")
    @classmethod
    def _renamed_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "cached_input_tokens" in data:
            _deprecated_cached_input(4)  # the caller of Usage(...)
            data = dict(data)
            value = data.pop("cached_input_tokens")
            if data.setdefault("cache_read_tokens", value) != value:
                raise ValueError(
                    "give cache_read_tokens only (cached_input_tokens is its old name)"
                )
        return data

    @property
    def cached_input_tokens(self) -> int | None:
        """Deprecated name of :attr:`cache_read_tokens` (warns ``DeprecationWarning``)."""
        _deprecated_cached_input(3)
        return self.cache_read_tokens

    def __add__(self, other: Usage) -> Usage:
        """Sum two usages bucket by bucket (``None`` + n = n); estimated if either is.

        The service tier is ``other``'s when it has one, else ``self``'s.
        """
        fields: dict[str, Any] = {
            name: _add(getattr(self, name), getattr(other, name)) for name in COUNT_FIELDS
        }
        return Usage(
            **fields,
            service_tier=other.service_tier or self.service_tier,
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
        - ``cache_read_tokens`` = ``prompt_tokens_details.cached_tokens``, else
          DeepSeek's ``prompt_cache_hit_tokens``;
        - ``output_tokens`` = ``completion_tokens`` (reasoning tokens are part of it);
        - ``reasoning_tokens`` = ``completion_tokens_details.reasoning_tokens``;
        - ``input_audio_tokens``/``input_image_tokens`` =
          ``prompt_tokens_details.audio_tokens``/``image_tokens``,
          ``output_audio_tokens``/``output_image_tokens`` =
          ``completion_tokens_details.audio_tokens``/``image_tokens`` (when non-zero);
        - ``service_tier`` = ``service_tier`` when the object carries it and it is not
          the standard tier (OpenAI sends it on the chunk, next to ``usage``).

        Responses API (``response.usage``): ``input_tokens`` (includes
        ``input_tokens_details.cached_tokens``), ``output_tokens`` (includes
        ``output_tokens_details.reasoning_tokens``); the audio/image details the same
        way under ``input_tokens_details``/``output_tokens_details``.

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
        - ``cache_read_tokens`` = ``cache_read_input_tokens``;
        - ``cache_write_tokens`` = ``cache_creation_input_tokens`` (both lifetimes);
        - ``cache_write_1h_tokens`` = ``cache_creation.ephemeral_1h_input_tokens`` (the
          1-hour writes, billed at 2x input; the rest are 5-minute writes at 1.25x);
        - ``output_tokens`` = ``output_tokens`` (thinking tokens are part of it);
        - ``reasoning_tokens`` = ``output_tokens_details.thinking_tokens`` if present;
        - ``web_searches`` = ``server_tool_use.web_search_requests`` (billed per search);
        - ``service_tier`` = ``service_tier`` unless ``standard``.

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
            https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#1-hour-cache-duration
        """
        return _from_anthropic(usage)

    @classmethod
    def from_gemini(cls, usage: Mapping[str, Any]) -> Usage:
        """Normalize a Gemini ``usageMetadata`` object (Gemini API and Vertex AI).

        - ``input_tokens`` = ``promptTokenCount + toolUsePromptTokenCount`` (the
          tool-use prompt, e.g. search grounding results, is input the model read;
          Gemini counts it in ``totalTokenCount`` outside ``promptTokenCount``);
        - ``cache_read_tokens`` = ``cachedContentTokenCount`` (part of
          ``promptTokenCount``);
        - ``output_tokens`` = ``candidatesTokenCount + thoughtsTokenCount``;
        - ``reasoning_tokens`` = ``thoughtsTokenCount``;
        - ``input_audio_tokens``/``input_image_tokens`` = the ``AUDIO``/``IMAGE``
          entries of ``promptTokensDetails``, ``output_audio_tokens``/
          ``output_image_tokens`` those of ``candidatesTokensDetails`` (when non-zero);
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
        """Notebook view: a one-row table of the token buckets (sub-buckets when known)."""
        cells: list[tuple[str, int | None]] = [
            ("input", self.input_tokens),
            ("cache read", self.cache_read_tokens),
            ("cache write", self.cache_write_tokens),
            ("output", self.output_tokens),
            ("reasoning", self.reasoning_tokens),
            ("total", self.total_tokens),
        ]
        cells += [
            (name.removesuffix("_tokens").replace("_", " "), getattr(self, name))
            for name in (
                "cache_write_1h_tokens",
                "input_audio_tokens",
                "input_image_tokens",
                "output_audio_tokens",
                "output_image_tokens",
                "web_searches",
            )
            if getattr(self, name) is not None
        ]
        head = "| " + " | ".join(name for name, _ in cells) + " |"
        rule = "|" + "---:|" * len(cells)
        row = "| " + " | ".join("n/a" if v is None else f"{v:,}" for _, v in cells) + " |"
        note = "\n\n*estimated*" if self.estimated else ""
        tier = f"\n\n*service tier: {self.service_tier}*" if self.service_tier else ""
        return f"{head}\n{rule}\n{row}{note}{tier}"

    @property
    def is_empty(self) -> bool:
        """True when no count is known."""
        return all(getattr(self, name) is None for name in COUNT_FIELDS)


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


def _positive(value: int | None) -> int | None:
    return value if value else None


def nonstandard_tier(value: object) -> str | None:
    """A service tier as :attr:`Usage.service_tier` records it: lower case, ``None`` if standard.

    ``"flex"`` -> ``"flex"``; ``"default"``, ``"standard"``, ``"auto"``, ``""`` or a
    non-string -> ``None``.
    """
    if isinstance(value, str) and value.strip().lower() not in _STANDARD_TIERS:
        return value.strip().lower()
    return None


def _from_openai(u: Mapping[str, Any]) -> Usage:
    if "prompt_tokens" in u or "completion_tokens" in u:
        input_tokens = _int(u, "prompt_tokens")
        output_tokens = _int(u, "completion_tokens")
        cached = _int(u, "prompt_tokens_details", "cached_tokens")
        if cached is None:
            cached = _int(u, "prompt_cache_hit_tokens")
        in_details, out_details = "prompt_tokens_details", "completion_tokens_details"
    else:  # Responses API
        input_tokens = _int(u, "input_tokens")
        output_tokens = _int(u, "output_tokens")
        cached = _int(u, "input_tokens_details", "cached_tokens")
        in_details, out_details = "input_tokens_details", "output_tokens_details"
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
        cache_read_tokens=cached,
        input_audio_tokens=_positive(_int(u, in_details, "audio_tokens")),
        input_image_tokens=_positive(_int(u, in_details, "image_tokens")),
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        output_audio_tokens=_positive(_int(u, out_details, "audio_tokens")),
        output_image_tokens=_positive(_int(u, out_details, "image_tokens")),
        total_tokens=_total(total, input_tokens, output_tokens),
        service_tier=nonstandard_tier(u.get("service_tier")),
    )


def _from_anthropic(u: Mapping[str, Any]) -> Usage:
    uncached = _int(u, "input_tokens")
    cache_read = _int(u, "cache_read_input_tokens")
    cache_write = _int(u, "cache_creation_input_tokens")
    input_tokens = None if uncached is None else uncached + (cache_read or 0) + (cache_write or 0)
    output_tokens = _int(u, "output_tokens")
    return Usage(
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_1h_tokens=_positive(_int(u, "cache_creation", "ephemeral_1h_input_tokens")),
        output_tokens=output_tokens,
        reasoning_tokens=_int(u, "output_tokens_details", "thinking_tokens"),
        total_tokens=_total(None, input_tokens, output_tokens),
        web_searches=_positive(_int(u, "server_tool_use", "web_search_requests")),
        service_tier=nonstandard_tier(u.get("service_tier")),
    )


def _modality(details: Any, modality: str) -> int | None:
    """The ``tokenCount`` of ``modality`` in a Gemini ``*TokensDetails`` list (0 -> None)."""
    if not isinstance(details, list):
        return None
    total = 0
    for entry in details:
        if isinstance(entry, Mapping) and entry.get("modality") == modality:
            total += _int(entry, "tokenCount") or 0
    return total or None


def _from_gemini(u: Mapping[str, Any]) -> Usage:
    prompt = _int(u, "promptTokenCount")
    tool_prompt = _int(u, "toolUsePromptTokenCount")
    candidates = _int(u, "candidatesTokenCount")
    thoughts = _int(u, "thoughtsTokenCount")
    input_tokens = _sum(prompt, tool_prompt)
    output_tokens = _sum(candidates, thoughts)
    prompt_details = u.get("promptTokensDetails")
    output_details = u.get("candidatesTokensDetails")
    return Usage(
        input_tokens=input_tokens,
        cache_read_tokens=_int(u, "cachedContentTokenCount"),
        input_audio_tokens=_modality(prompt_details, "AUDIO"),
        input_image_tokens=_modality(prompt_details, "IMAGE"),
        output_tokens=output_tokens,
        reasoning_tokens=thoughts,
        output_audio_tokens=_modality(output_details, "AUDIO"),
        output_image_tokens=_modality(output_details, "IMAGE"),
        total_tokens=_total(_int(u, "totalTokenCount"), input_tokens, output_tokens),
    )
