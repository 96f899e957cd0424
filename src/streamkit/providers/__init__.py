"""Provider dialects: request builders and stream decoders, by name.

``get("openai-chat")`` returns a dialect; ``dialect.new_decoder().decode(sse)``
turns :class:`~streamkit.sse.ServerSentEvent` objects into delta events.
Registered: ``openai-chat`` (and compatibles), ``anthropic-messages``,
``openai-responses`` and ``gemini``; :func:`detect` guesses the dialect of a
recorded stream.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamkit.providers._base import Dialect, StreamDecoder, normalize_finish_reason
from streamkit.providers._detect import detect

if TYPE_CHECKING:
    from streamkit.providers.anthropic_messages import (
        AnthropicMessagesDecoder,
        AnthropicMessagesDialect,
    )
    from streamkit.providers.gemini import GeminiDecoder, GeminiDialect
    from streamkit.providers.openai_chat import OpenAIChatDecoder, OpenAIChatDialect
    from streamkit.providers.openai_responses import (
        OpenAIResponsesDecoder,
        OpenAIResponsesDialect,
    )

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

#: Where each built-in dialect lives: a dialect's module (its wire models and
#: decoder) is imported the first time the dialect is used, not with streamkit.
_BUILTIN = {
    "openai-chat": ("streamkit.providers.openai_chat", "OpenAIChatDialect"),
    "anthropic-messages": ("streamkit.providers.anthropic_messages", "AnthropicMessagesDialect"),
    "openai-responses": ("streamkit.providers.openai_responses", "OpenAIResponsesDialect"),
    "gemini": ("streamkit.providers.gemini", "GeminiDialect"),
}
_LAZY_NAMES = {
    "OpenAIChatDialect": "streamkit.providers.openai_chat",
    "OpenAIChatDecoder": "streamkit.providers.openai_chat",
    "AnthropicMessagesDialect": "streamkit.providers.anthropic_messages",
    "AnthropicMessagesDecoder": "streamkit.providers.anthropic_messages",
    "OpenAIResponsesDialect": "streamkit.providers.openai_responses",
    "OpenAIResponsesDecoder": "streamkit.providers.openai_responses",
    "GeminiDialect": "streamkit.providers.gemini",
    "GeminiDecoder": "streamkit.providers.gemini",
}


def _builtin(name: str) -> Callable[[], Dialect]:
    module, attribute = _BUILTIN[name]

    def factory() -> Dialect:
        cls: Callable[[], Dialect] = getattr(importlib.import_module(module), attribute)
        return cls()

    return factory


_REGISTRY: dict[str, Callable[[], Dialect]] = {name: _builtin(name) for name in _BUILTIN}


def __getattr__(name: str) -> Any:
    """The dialect and decoder classes, imported on first access (PEP 562)."""
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def register(name: str, factory: Callable[[], Dialect]) -> None:
    """Register a dialect factory under ``name`` (replacing any previous one)."""
    _REGISTRY[name] = factory


def get(name: str) -> Dialect:
    """Return a new dialect object for ``name`` (its module is imported on first use).

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
