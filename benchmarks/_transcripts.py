"""Generated SSE transcripts for the benchmarks (deterministic, stdlib only).

Nothing here is copied from recordings: every chunk is built from a seeded word
generator, shaped like what the providers send today.

* :func:`openai_text` - ``chat.completion.chunk`` stream with
  ``stream_options.include_usage``: a role chunk, ``n`` content chunks of one
  word each, a finish chunk, a usage chunk and ``data: [DONE]``. Every chunk is
  one ``data:`` line of about 240 bytes.
* :func:`openai_tools` - the same envelope carrying one tool call whose
  ``arguments`` arrive in ``n`` fragments.
* :func:`anthropic_text` - Anthropic Messages: ``message_start``,
  ``content_block_start``, ``ping``, ``n`` ``text_delta`` events,
  ``content_block_stop``, ``message_delta`` (usage), ``message_stop``.

Each returns a :class:`Transcript` with the body bytes, the number of SSE events
and the text (or arguments) a correct client must reassemble.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

_TEXT = (
    "the of and to in is that for it as with was on be by this are or at from an which "
    "stream token model server client event chunk parser latency buffer network request "
    "response budget usage cost retry resume delta reasoning function argument value "
    "throughput memory pipeline decoder benchmark python typed async await iterator "
    "naïve café résumé — “quoted” 東京 😀 Ωmega"
)
_WORDS = tuple(_TEXT.split())
_PUNCT = (",", ".", ";", ":", "?", "!")


def _dumps(obj: Any) -> str:
    # OpenAI and Anthropic send compact JSON with raw UTF-8 (not \\u escapes).
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def words(n: int, seed: int = 6) -> list[str]:
    """``n`` text pieces like a tokenizer's: mostly " word", some punctuation, paragraph breaks."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        r = rng.random()
        if i and r < 0.08:
            out.append(rng.choice(_PUNCT))
        elif i and r < 0.10:
            out.append("\n\n")
        else:
            word = rng.choice(_WORDS)
            out.append(word if i == 0 else " " + word)
    return out


@dataclass(frozen=True)
class Transcript:
    """One generated response body."""

    name: str
    """E.g. ``openai-text-10k``."""
    provider: str
    """streamkit dialect name: ``openai-chat`` or ``anthropic-messages``."""
    body: bytes
    """The whole ``text/event-stream`` body."""
    events: int
    """SSE events in the body (``[DONE]`` included): the denominator of "per event"."""
    chunks: int
    """Content chunks (text or argument fragments), the ``n`` it was generated with."""
    text: str
    """The text a correct client reassembles (tool transcripts: the arguments)."""
    kind: str
    """``text`` or ``tools``."""


_CREATED = 1_767_225_600
_MODEL = "gpt-4.1-2025-04-14"
_FINGERPRINT = "fp_b3f1157249"


def _openai_chunk(cid: str, delta: dict[str, Any], finish: str | None = None) -> str:
    chunk = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": _MODEL,
        "system_fingerprint": _FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return "data: " + _dumps(chunk) + "\n\n"


def _openai_tail(cid: str, finish: str, completion_tokens: int) -> list[str]:
    usage_chunk = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": _MODEL,
        "system_fingerprint": _FINGERPRINT,
        "choices": [],
        "usage": {
            "prompt_tokens": 42,
            "completion_tokens": completion_tokens,
            "total_tokens": 42 + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }
    return [
        _openai_chunk(cid, {}, finish),
        "data: " + _dumps(usage_chunk) + "\n\n",
        "data: [DONE]\n\n",
    ]


def openai_text(n: int, seed: int = 6) -> Transcript:
    """An OpenAI chat stream with ``n`` one-word content chunks (``n + 4`` events)."""
    cid = f"chatcmpl-BENCH{n:08d}xq3ZrT8vLmN2pK"
    pieces = words(n, seed)
    parts = [_openai_chunk(cid, {"role": "assistant", "content": "", "refusal": None})]
    parts.extend(_openai_chunk(cid, {"content": w}) for w in pieces)
    parts.extend(_openai_tail(cid, "stop", n))
    return Transcript(
        name=f"openai-text-{_k(n)}",
        provider="openai-chat",
        body="".join(parts).encode(),
        events=len(parts),
        chunks=n,
        text="".join(pieces),
        kind="text",
    )


def openai_tools(n: int, seed: int = 7) -> Transcript:
    """An OpenAI chat stream with one tool call whose arguments arrive in ``n`` fragments."""
    cid = f"chatcmpl-TOOLS{n:08d}xq3ZrT8vLmN2pK"
    text = "".join(words(max(n - 2, 1), seed)).replace("\\", "").replace('"', "")
    arguments = json.dumps({"query": text, "limit": 10}, ensure_ascii=False)
    # cut the JSON text into n fragments (about one word each), as models stream it
    cuts = sorted(random.Random(seed).sample(range(1, len(arguments)), n - 1))
    fragments = [arguments[a:b] for a, b in zip([0, *cuts], [*cuts, len(arguments)], strict=True)]
    first = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "index": 0,
                "id": "call_Bz9QkJ4mV7nT2wX8yR5pL1sD",
                "type": "function",
                "function": {"name": "search_documents", "arguments": ""},
            }
        ],
        "refusal": None,
    }
    parts = [_openai_chunk(cid, first)]
    parts.extend(
        _openai_chunk(cid, {"tool_calls": [{"index": 0, "function": {"arguments": f}}]})
        for f in fragments
    )
    parts.extend(_openai_tail(cid, "tool_calls", n))
    return Transcript(
        name=f"openai-tools-{_k(n)}",
        provider="openai-chat",
        body="".join(parts).encode(),
        events=len(parts),
        chunks=n,
        text=arguments,
        kind="tools",
    )


def _anthropic_event(name: str, payload: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {_dumps(payload)}\n\n"


def anthropic_text(n: int, seed: int = 8) -> Transcript:
    """An Anthropic Messages stream with ``n`` text deltas (``n + 6`` events)."""
    pieces = words(n, seed)
    message = {
        "id": "msg_01BENCHq3ZrT8vLmN2pKx7Ya",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 42,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
            "service_tier": "standard",
        },
    }
    parts = [
        _anthropic_event("message_start", {"type": "message_start", "message": message}),
        _anthropic_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _anthropic_event("ping", {"type": "ping"}),
    ]
    parts.extend(
        _anthropic_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
        )
        for w in pieces
    )
    parts += [
        _anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _anthropic_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": n},
            },
        ),
        _anthropic_event("message_stop", {"type": "message_stop"}),
    ]
    return Transcript(
        name=f"anthropic-text-{_k(n)}",
        provider="anthropic-messages",
        body="".join(parts).encode(),
        events=len(parts),
        chunks=n,
        text="".join(pieces),
        kind="text",
    )


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def split_pieces(body: bytes, piece: int | str) -> list[bytes]:
    """Cut ``body`` into pieces of ``piece`` bytes, or one event per piece for ``"event"``."""
    if piece == "event":
        out = body.split(b"\n\n")
        tail = out.pop()
        pieces = [p + b"\n\n" for p in out]
        if tail:
            pieces.append(tail)
        return pieces
    assert isinstance(piece, int)
    return [body[i : i + piece] for i in range(0, len(body), piece)]


if __name__ == "__main__":  # a quick look: sizes of the generated chunks
    for t in (openai_text(1000), openai_tools(1000), anthropic_text(1000)):
        sizes = [len(e) for e in t.body.split(b"\n\n") if e]
        sizes.sort()
        print(
            f"{t.name}: {len(t.body)} bytes, {t.events} events, "
            f"median event {sizes[len(sizes) // 2]} B (min {sizes[0]}, max {sizes[-1]})"
        )
