"""The SSE transcripts the benchmarks feed: streamkit.testing's generators, sized up.

The OpenAI chat, Anthropic Messages and OpenAI Responses bodies come from
``streamkit.testing`` (:func:`~streamkit.testing.demo_transcript`,
:func:`~streamkit.testing.demo_anthropic_transcript`,
:func:`~streamkit.testing.demo_responses_transcript`), the same generators the test
server and the demo use, given a long seeded answer instead of the demo text. Only the
tool-call stream is generated here: ``streamkit.testing`` has no tool-call generator.

The answer's pieces are chosen so that the generators' tokenizer keeps them whole (one
content event per piece): ASCII words with their leading space, single non-ASCII
characters (é, 東, 😀, —), punctuation and paragraph breaks. So 1-byte pieces split
UTF-8 characters, and ``n`` is exactly the number of content events.

``python benchmarks/transcripts.py`` prints the sizes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from streamkit.testing import (
    demo_anthropic_transcript,
    demo_responses_transcript,
    demo_transcript,
)

_ASCII = (  # noqa: SIM905 - a word list reads better as text
    "the of and to in is that for it as with was on be by this are or at from an which "
    "stream token model server client event chunk parser latency buffer network request "
    "response budget usage cost retry resume delta reasoning function argument value "
    "throughput memory pipeline decoder benchmark python typed async await iterator"
).split()
_NON_ASCII = ("é", "ü", "東", "京", "😀", "—", "Ω", "“", "”")
_PUNCT = (",", ".", ";", ":", "?", "!")

MODEL = "gpt-4.1"
ANTHROPIC_MODEL = "claude-sonnet-4-5"


def words(n: int, seed: int = 6) -> list[str]:
    """``n`` answer pieces like a tokenizer's: mostly " word", some punctuation, non-ASCII."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        r = rng.random()
        if i and r < 0.08:
            out.append(rng.choice(_PUNCT))
        elif i and r < 0.10 and out[-1] != "\n\n":  # two would be one piece
            out.append("\n\n")
        elif r < 0.16:
            out.append(" " + rng.choice(_NON_ASCII))
        else:
            out.append(" " + rng.choice(_ASCII))
    return out


@dataclass(frozen=True)
class Transcript:
    """One generated response body."""

    name: str
    """E.g. ``openai-text-10k``."""
    provider: str
    """streamkit dialect name: ``openai-chat``, ``anthropic-messages``, ``openai-responses``."""
    body: bytes
    """The whole ``text/event-stream`` body."""
    events: int
    """SSE events in the body (``[DONE]`` included): the denominator of "per event"."""
    chunks: int
    """Content events (text pieces or argument fragments), the ``n`` it was generated with."""
    text: str
    """The text a correct client reassembles (tool transcripts: the arguments)."""
    kind: str
    """``text`` or ``tools``."""


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def transcript_name(family: str, n: int) -> str:
    """The name of ``TRANSCRIPTS[family](n)``, without generating it."""
    return f"{family}-{_k(n)}"


def _events(body: bytes) -> int:
    return sum(1 for block in body.split(b"\n\n") if block.strip())


def _text_transcript(family: str, provider: str, body: bytes, n: int, text: str) -> Transcript:
    t = Transcript(transcript_name(family, n), provider, body, _events(body), n, text, "text")
    overhead = {"openai-chat": 4, "anthropic-messages": 6, "openai-responses": 8}[provider]
    if t.events != n + overhead:  # the tokenizer split a piece: the sizes would be off
        raise AssertionError(f"{t.name}: {t.events} events, expected {n + overhead}")
    return t


def openai_text(n: int, seed: int = 6) -> Transcript:
    """OpenAI chat: role chunk, ``n`` content chunks, finish, usage, ``[DONE]`` (n + 4)."""
    text = "".join(words(n, seed))
    body = demo_transcript(model=MODEL, text=text)
    return _text_transcript("openai-text", "openai-chat", body, n, text)


def anthropic_text(n: int, seed: int = 8) -> Transcript:
    """Anthropic Messages: start, block start, ping, ``n`` text deltas, stop events (n + 6)."""
    text = "".join(words(n, seed))
    body = demo_anthropic_transcript(model=ANTHROPIC_MODEL, text=text)
    return _text_transcript("anthropic-text", "anthropic-messages", body, n, text)


def responses_text(n: int, seed: int = 9) -> Transcript:
    """OpenAI Responses: 4 opening events, ``n`` output_text deltas, 4 closing ones (n + 8)."""
    text = "".join(words(n, seed))
    body = demo_responses_transcript(model=MODEL, text=text)
    return _text_transcript("responses-text", "openai-responses", body, n, text)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def openai_tools(n: int, seed: int = 7) -> Transcript:
    """OpenAI chat with one tool call whose ``arguments`` arrive in ``n`` fragments (n + 4)."""
    cid = f"chatcmpl-TOOLS{n:08d}xq3ZrT8vLmN2pK"
    base = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1_767_225_600,
        "model": "gpt-4.1-2025-04-14",
        "system_fingerprint": "fp_b3f1157249",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return "data: " + _dumps({**base, "choices": [choice]}) + "\n\n"

    text = "".join(words(max(n - 2, 1), seed)).replace("\\", "").replace('"', "")
    arguments = _dumps({"query": text, "limit": 10})
    # cut the JSON text into n fragments (about one word each), as models stream it
    cuts = sorted(random.Random(seed).sample(range(1, len(arguments)), n - 1))
    fragments = [arguments[a:b] for a, b in zip([0, *cuts], [*cuts, len(arguments)], strict=True)]
    call = {
        "index": 0,
        "id": "call_Bz9QkJ4mV7nT2wX8yR5pL1sD",
        "type": "function",
        "function": {"name": "search_documents", "arguments": ""},
    }
    parts = [chunk({"role": "assistant", "content": None, "tool_calls": [call]})]
    parts.extend(
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in fragments
    )
    parts.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 42, "completion_tokens": n, "total_tokens": 42 + n}
    parts.append("data: " + _dumps({**base, "choices": [], "usage": usage}) + "\n\n")
    parts.append("data: [DONE]\n\n")
    body = "".join(parts).encode()
    return Transcript(
        transcript_name("openai-tools", n), "openai-chat", body, len(parts), n, arguments, "tools"
    )


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


TRANSCRIPTS = {
    "openai-text": openai_text,
    "openai-tools": openai_tools,
    "anthropic-text": anthropic_text,
    "responses-text": responses_text,
}


if __name__ == "__main__":  # a quick look: sizes of the generated events
    for make in TRANSCRIPTS.values():
        t = make(1000)
        sizes = sorted(len(e) for e in t.body.split(b"\n\n") if e)
        print(
            f"{t.name}: {len(t.body)} bytes, {t.events} events, "
            f"median event {sizes[len(sizes) // 2]} B (min {sizes[0]}, max {sizes[-1]})"
        )
