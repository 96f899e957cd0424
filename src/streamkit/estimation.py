"""Token estimates for text no provider has counted yet (cut streams, budgets, reservations).

Providers report usage, usually at the end of a stream. Until then (or when a stream
breaks before it), streamkit estimates. An estimate is always marked
``estimated=True`` on :class:`~streamkit.usage.Usage` and is replaced by the reported
usage when it arrives.

A :data:`TokenEstimator` is any callable from text to a (fractional) number of
tokens. It is applied to each piece of text separately and the results are summed,
then rounded up, so it must be additive enough for that: a per-character weighting
is exact, a real tokenizer (``len(encoding.encode(text))``) is close (streamed pieces
are about one token each). Give yours as ``CostTracker(token_estimator=...)``.

The default, :func:`estimate_tokens`, weights characters by script:

- ASCII: 1 token per :data:`ASCII_CHARS_PER_TOKEN` (4) characters, OpenAI's rule of
  thumb for English;
- wide scripts (CJK ideographs, kana, Hangul, full-width forms, most emoji; East Asian
  width ``W``/``F``): :data:`WIDE_TOKENS_PER_CHAR` (1) token per character;
- other non-ASCII (accented Latin, Cyrillic, Greek, Arabic, Devanagari, ...):
  :data:`OTHER_TOKENS_PER_CHAR` (0.5) token per character.

Its measured error on the recorded streams is in ``docs/usage-and-cost.md``
(``scripts/estimator_error.py`` prints it).

The prompt estimate (:func:`estimate_prompt_tokens`) counts the message texts, the
system prompt (``system``, ``instructions``, ``system_instruction``), the tools
schema (``tools``/``functions`` as JSON), tool-call arguments, a small per-message
overhead, and :data:`IMAGE_TOKENS` per image part.

Pure functions; no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

__all__ = [
    "ASCII_CHARS_PER_TOKEN",
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD_TOKENS",
    "OTHER_TOKENS_PER_CHAR",
    "WIDE_TOKENS_PER_CHAR",
    "OutputEstimate",
    "TokenEstimator",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "prompt_texts",
]

TokenEstimator: TypeAlias = Callable[[str], float]
"""Text -> estimated tokens (may be fractional; sums of pieces are rounded up)."""

#: ASCII characters per token (English prose with a BPE tokenizer: ~4).
ASCII_CHARS_PER_TOKEN = 4
#: Tokens per character of a wide script (CJK, kana, Hangul, full-width forms).
WIDE_TOKENS_PER_CHAR = 1.0
#: Tokens per character of other non-ASCII text (accented Latin, Cyrillic, ...).
OTHER_TOKENS_PER_CHAR = 0.5
#: Tokens counted per image part of a prompt: OpenAI's cost of a 1024x1024 image at
#: ``detail: high`` (85 + 4 x 170); Anthropic charges ~1,600 for the largest images.
IMAGE_TOKENS = 765
#: Tokens counted per message for the chat format's role and separators.
MESSAGE_OVERHEAD_TOKENS = 3

# East Asian Wide/Fullwidth blocks (Unicode 15 EastAsianWidth.txt, W and F), as one
# character class so that counting runs in C.
_WIDE = re.compile(
    "[\u1100-\u115f\u231a\u231b\u2329\u232a\u23e9-\u23ec\u23f0\u23f3\u25fd\u25fe"
    "\u2614\u2615\u2648-\u2653\u267f\u2693\u26a1\u26aa\u26ab\u26bd\u26be\u26c4\u26c5"
    "\u26ce\u26d4\u26ea\u26f2\u26f3\u26f5\u26fa\u26fd\u2705\u270a\u270b\u2728\u274c"
    "\u274e\u2753-\u2755\u2757\u2795-\u2797\u27b0\u27bf\u2b1b\u2b1c\u2b50\u2b55"
    "\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\ua960-\ua97f"
    "\uac00-\ud7a3\uf900-\ufaff\ufe10-\ufe19\ufe30-\ufe6f\uff00-\uff60\uffe0-\uffe6"
    "\U00016fe0-\U00018cff\U0001b000-\U0001b2ff\U0001f004\U0001f0cf\U0001f18e"
    "\U0001f191-\U0001f19a\U0001f200-\U0001f2ff\U0001f300-\U0001f64f"
    "\U0001f680-\U0001f6ff\U0001f7e0-\U0001f7eb\U0001f90c-\U0001f9ff"
    "\U0001fa70-\U0001faff\U00020000-\U0003fffd]"
)


def estimate_tokens(text: str) -> float:
    """The default estimate of the tokens in ``text`` (see the module docstring).

    Returns:
        A fractional number of tokens (``0.0`` for ``""``); callers sum and round up.
    """
    if text.isascii():
        return len(text) / ASCII_CHARS_PER_TOKEN
    ascii_chars = len(text.encode("ascii", "ignore"))
    wide = len(_WIDE.findall(text))
    other = len(text) - ascii_chars - wide
    return (
        ascii_chars / ASCII_CHARS_PER_TOKEN
        + wide * WIDE_TOKENS_PER_CHAR
        + other * OTHER_TOKENS_PER_CHAR
    )


def _content_texts(content: Any) -> Iterator[str | None]:
    """Texts of a message content; ``None`` for each image part."""
    if isinstance(content, str):
        yield content
        return
    if isinstance(content, Mapping):
        content = [content]
    if not isinstance(content, Sequence):
        return
    for part in content:
        if isinstance(part, str):
            yield part
        elif isinstance(part, Mapping):
            kind = part.get("type")
            if isinstance(part.get("text"), str):
                yield part["text"]
            elif kind in ("image_url", "image", "input_image") or "inlineData" in part:
                yield None
            elif isinstance(part.get("content"), str | list):  # tool_result blocks
                yield from _content_texts(part["content"])


def prompt_texts(
    messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None
) -> tuple[list[str], int]:
    """The texts a request sends to the model, and its number of images.

    Message contents (string or parts), assistant tool-call arguments, the system
    prompt given as a parameter (``system``, ``instructions``, ``system_instruction``
    or ``systemInstruction``) and the tools schema (``tools``/``functions``, as
    compact JSON).

    Returns:
        ``(texts, images)``.
    """
    texts: list[str] = []
    images = 0
    params = params or {}
    for key in ("system", "instructions", "system_instruction", "systemInstruction"):
        value = params.get(key)
        if isinstance(value, Mapping) and "parts" in value:
            value = value["parts"]
        for text in _content_texts(value):
            if text is None:
                images += 1
            else:
                texts.append(text)
    for key in ("tools", "functions"):
        tools = params.get(key)
        if tools:
            texts.append(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    for message in messages:
        content = message.get("content")
        if content is None and "parts" in message:
            content = message["parts"]
        for text in _content_texts(content):
            if text is None:
                images += 1
            else:
                texts.append(text)
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping):
                function = call.get("function")
                if isinstance(function, Mapping):
                    texts.append(str(function.get("name") or ""))
                    texts.append(str(function.get("arguments") or ""))
    return texts, images


def estimate_prompt_tokens(
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any] | None = None,
    *,
    estimator: TokenEstimator = estimate_tokens,
) -> int:
    """Estimate the input tokens of a chat request (see :func:`prompt_texts`).

    ``ceil`` of the estimator over every text, plus :data:`MESSAGE_OVERHEAD_TOKENS`
    per message and :data:`IMAGE_TOKENS` per image.
    """
    texts, images = prompt_texts(messages, params)
    tokens = math.fsum(estimator(text) for text in texts)
    return math.ceil(tokens) + MESSAGE_OVERHEAD_TOKENS * len(messages) + IMAGE_TOKENS * images


class OutputEstimate:
    """Estimates the tokens of a growing list of output pieces, each piece once.

    The list is the one a :class:`~streamkit.Reassembler` keeps for the current
    attempt (:attr:`~streamkit.Reassembler.attempt_output`): append-only during an
    attempt, a new list for the next. Each call estimates only the pieces added since
    the previous call, so a stream costs O(its length) in total however often it is
    asked.

    Args:
        estimator: the token estimator.
    """

    __slots__ = ("_counted", "_estimator", "_list", "_tokens")

    def __init__(self, estimator: TokenEstimator = estimate_tokens) -> None:
        self._estimator = estimator
        self._list: Sequence[str] | None = None
        self._counted = 0
        self._tokens = 0.0

    def tokens(self, pieces: Sequence[str]) -> int:
        """The estimated tokens of ``pieces`` (rounded up)."""
        if pieces is not self._list or len(pieces) < self._counted:
            self._list, self._counted, self._tokens = pieces, 0, 0.0
        if len(pieces) > self._counted:
            estimator = self._estimator
            self._tokens += math.fsum(estimator(p) for p in pieces[self._counted :])
            self._counted = len(pieces)
        return math.ceil(self._tokens)
