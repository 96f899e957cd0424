"""Provider dialects: request builders and stream decoders, by name.

``get("openai-chat")`` returns a dialect; ``dialect.new_decoder().decode(sse)``
turns :class:`~streamkit.sse.ServerSentEvent` objects into delta events.
Registered: ``openai-chat`` (and compatibles), ``anthropic-messages``,
``openai-responses`` and ``gemini``; :func:`detect` guesses the dialect of a
recorded stream.
"""

from __future__ import annotations

from collections.abc import Callable

from streamkit.providers._base import Dialect, StreamDecoder, normalize_finish_reason
from streamkit.providers._detect import detect
from streamkit.providers.anthropic_messages import (
    AnthropicMessagesDecoder,
    AnthropicMessagesDialect,
)
from streamkit.providers.gemini import GeminiDecoder, GeminiDialect
from streamkit.providers.openai_chat import OpenAIChatDecoder, OpenAIChatDialect
from streamkit.providers.openai_responses import OpenAIResponsesDecoder, OpenAIResponsesDialect

__all__ = [
    "AnthropicMessagesDecoder",
    "AnthropicMessagesDialect",
    "Dialect",
    "GeminiDecoder",
    "GeminiDialect",
    "OpenAIChatDecoder",
    "OpenAIChatDialect",
    "OpenAIResponsesDecoder",
    "OpenAIResponsesDialect",
    "StreamDecoder",
    "detect",
    "get",
    "names",
    "normalize_finish_reason",
    "register",
]

_REGISTRY: dict[str, Callable[[], Dialect]] = {
    "openai-chat": OpenAIChatDialect,
    "anthropic-messages": AnthropicMessagesDialect,
    "openai-responses": OpenAIResponsesDialect,
    "gemini": GeminiDialect,
}


def register(name: str, factory: Callable[[], Dialect]) -> None:
    """Register a dialect factory under ``name`` (replacing any previous one)."""
    _REGISTRY[name] = factory


def get(name: str) -> Dialect:
    """Return a new dialect object for ``name``.

    Raises:
        ValueError: ``name`` is not a registered dialect (the message lists them).
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; choose one of {', '.join(names())}") from None
    return factory()


def names() -> list[str]:
    """The registered dialect names, sorted."""
    return sorted(_REGISTRY)
