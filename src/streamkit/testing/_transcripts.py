"""SSE transcripts for the local test server: split, rewrite, generate.

A *transcript* is the body of one streaming HTTP response, as a provider sent it. This module
splits it into :class:`Block` objects without changing a byte, and implements the few edits the
server needs (event ids, resumption by id or ``sequence_number``, assistant prefill). It also
generates the deterministic demo transcripts.

Stdlib only, and deliberately independent of streamkit's own decoders: the server that tests
the parser must not be built from the parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeAlias

Dialect: TypeAlias = Literal["openai-chat", "anthropic-messages", "openai-responses", "gemini"]
"""The request and stream shape the server imitates."""

DIALECTS: tuple[Dialect, ...] = ("openai-chat", "anthropic-messages", "openai-responses", "gemini")

# One line with its terminator (CRLF, LF or CR, as the SSE spec allows), or an unterminated tail.
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class PrefillError(ValueError):
    """The assistant prefill is not a prefix of the transcript's answer text."""


@dataclass(frozen=True)
class Block:
    """One blank-line-terminated block of a transcript, byte for byte.

    A block is usually one event (``event:``/``data:``/``id:`` lines plus the blank line that
    dispatches it). Comment-only blocks (``: keep-alive``) and stray blank lines are blocks too,
    but not events (:attr:`is_event` is false). The last block of a transcript may lack its blank
    line, exactly as the recording does.
    """

    raw: bytes
    """The exact bytes, including line terminators and the dispatching blank line."""

    @cached_property
    def lines(self) -> list[bytes]:
        """The lines, each with its own terminator (LF, CRLF or CR)."""
        return [m.group() for m in _LINE.finditer(self.raw)]

    @cached_property
    def eol(self) -> bytes:
        """The line terminator this block uses (LF when it has none)."""
        for line in self.lines:
            stripped = line.rstrip(b"\r\n")
            if len(stripped) < len(line):
                return line[len(stripped) :]
        return b"\n"

    @cached_property
    def fields(self) -> list[tuple[str, str]]:
        """The ``(name, value)`` field lines, comments and blank lines left out.

        Follows WHATWG: the name runs to the first colon, one space after it is dropped, a line
        without a colon is a field with an empty value. Invalid UTF-8 decodes to U+FFFD.
        """
        out: list[tuple[str, str]] = []
        for line in self.lines:
            content = line.rstrip(b"\r\n")
            if not content or content.startswith(b":"):
                continue
            name, sep, value = content.partition(b":")
            if sep and value.startswith(b" "):
                value = value[1:]
            out.append(
                (name.decode("utf-8", "replace"), value.decode("utf-8", "replace") if sep else "")
            )
        return out

    @property
    def is_event(self) -> bool:
        """Whether the block has at least one field line (so it is more than a comment)."""
        return bool(self.fields)

    @property
    def event(self) -> str:
        """The ``event:`` field, ``"message"`` when absent (the SSE default)."""
        names = [value for name, value in self.fields if name == "event"]
        return names[-1] if names else "message"

    @property
    def data(self) -> str | None:
        """The ``data:`` lines joined with LF; ``None`` when the block has none."""
        values = [value for name, value in self.fields if name == "data"]
        return "\n".join(values) if values else None

    @cached_property
    def payload(self) -> Any:
        """The data parsed as JSON, or ``None`` when it is absent or not JSON (e.g. ``[DONE]``)."""
        data = self.data
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def with_data(self, data: bytes | str) -> Block:
        """Return a copy whose data lines are replaced by ``data`` (other lines kept in place).

        Args:
            data: the new data; a multi-line value becomes several ``data:`` lines. ``bytes`` are
                written as they are, so they may hold invalid UTF-8.
        """
        raw_data = data.encode() if isinstance(data, str) else data
        new_lines = b"".join(b"data: " + part + self.eol for part in raw_data.split(b"\n"))
        out: list[bytes] = []
        placed = False
        for line in self.lines:
            content = line.rstrip(b"\r\n")
            if content.startswith(b"data:") or content == b"data":
                if not placed:
                    out.append(new_lines)
                    placed = True
                continue
            if not content and not placed:  # the dispatching blank line: data goes before it
                out.append(new_lines)
                placed = True
            out.append(line)
        if not placed:
            out.append(new_lines)
        return Block(b"".join(out))

    def with_payload(self, payload: Any) -> Block:
        """Return a copy whose data is ``payload`` serialized as compact JSON."""
        return self.with_data(_dumps(payload))

    def with_id(self, event_id: int) -> Block:
        """Return a copy that starts with an ``id: <event_id>`` line (existing ids removed)."""
        kept = [
            line
            for line in self.lines
            if not (line.startswith(b"id:") or line.rstrip(b"\r\n") == b"id")
        ]
        return Block(b"id: " + str(event_id).encode() + self.eol + b"".join(kept))


def _dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def split_blocks(body: bytes) -> list[Block]:
    """Split an SSE body into blocks at its blank lines, keeping every byte.

    ``b"".join(b.raw for b in split_blocks(body)) == body`` always holds.

    Args:
        body: a complete SSE response body; LF, CRLF and CR line ends are all recognised.

    Returns:
        The blocks in order; an empty body gives an empty list.
    """
    blocks: list[Block] = []
    start = 0
    for match in _LINE.finditer(body):
        line = match.group()
        if line and not line.rstrip(b"\r\n"):
            blocks.append(Block(body[start : match.end()]))
            start = match.end()
    if start < len(body):
        blocks.append(Block(body[start:]))
    return blocks


def add_ids(blocks: Iterable[Block]) -> list[Block]:
    """Give every event an ``id:`` line, counting 1, 2, 3, ... in order; comments stay as is."""
    out: list[Block] = []
    next_id = 1
    for block in blocks:
        if block.is_event:
            out.append(block.with_id(next_id))
            next_id += 1
        else:
            out.append(block)
    return out


def after_event_id(blocks: Iterable[Block], last_event_id: int) -> list[Block]:
    """The blocks after the event whose numeric ``id`` is ``last_event_id`` (SSE reconnection).

    Events with an id greater than ``last_event_id`` are kept, and so are comment blocks
    between them; everything before the first kept event is dropped.
    """
    out: list[Block] = []
    for block in blocks:
        if block.is_event:
            ids = [value for name, value in block.fields if name == "id"]
            if ids and ids[-1].isdigit() and int(ids[-1]) <= last_event_id:
                continue
        elif not out:
            continue
        out.append(block)
    return out


def after_sequence_number(blocks: Iterable[Block], starting_after: int) -> list[Block]:
    """Drop the events whose JSON ``sequence_number`` is ``<= starting_after``.

    This is how OpenAI's ``GET /v1/responses/{id}?stream=true&starting_after=N`` resumes a
    background response. Blocks without a ``sequence_number`` are kept.
    """
    out: list[Block] = []
    for block in blocks:
        payload = block.payload
        if isinstance(payload, dict):
            number = payload.get("sequence_number")
            if isinstance(number, int) and number <= starting_after:
                continue
        out.append(block)
    return out


# --- content text, per dialect ----------------------------------------------------------------


def answer_text(block: Block, dialect: Dialect) -> str | None:
    """The answer text one event adds for the first choice, ``None`` when it adds none.

    openai-chat: ``choices[0].delta.content``; anthropic-messages: ``delta.text`` of a
    ``text_delta``; openai-responses: ``delta`` of ``response.output_text.delta``; gemini: the
    ``text`` parts of ``candidates[0]`` (thought parts left out).
    """
    payload = block.payload
    if not isinstance(payload, dict):
        return None
    pieces: list[str] = []

    def collect(text: str) -> str:
        pieces.append(text)
        return text

    _map_text(payload, dialect, collect, first_choice_only=True)
    return "".join(pieces) if pieces else None


def map_answer_text(block: Block, dialect: Dialect, change: Callable[[str], str]) -> Block:
    """Return ``block`` with ``change`` applied to every piece of answer text it carries.

    The block is returned unchanged (same bytes) when it carries no answer text; otherwise its
    data is re-serialized as compact JSON.
    """
    payload = block.payload
    if not isinstance(payload, dict):
        return block
    copy = json.loads(json.dumps(payload))
    if not _map_text(copy, dialect, change, first_choice_only=False):
        return block
    return block.with_payload(copy)


def _map_text(
    payload: dict[str, Any],
    dialect: Dialect,
    change: Callable[[str], str],
    *,
    first_choice_only: bool,
) -> bool:
    """Apply ``change`` in place to each answer-text string in ``payload``; True if any."""
    found = False
    if dialect == "openai-chat":
        choices = payload.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                if first_choice_only and choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    delta["content"] = change(delta["content"])
                    found = True
    elif dialect == "anthropic-messages":
        delta = payload.get("delta")
        if (
            payload.get("type") == "content_block_delta"
            and isinstance(delta, dict)
            and delta.get("type") == "text_delta"
            and isinstance(delta.get("text"), str)
        ):
            delta["text"] = change(delta["text"])
            found = True
    elif dialect == "openai-responses":
        if payload.get("type") == "response.output_text.delta" and isinstance(
            payload.get("delta"), str
        ):
            payload["delta"] = change(payload["delta"])
            found = True
    else:  # gemini
        candidates = payload.get("candidates")
        if isinstance(candidates, list):
            for position, candidate in enumerate(candidates):
                if first_choice_only and position > 0:
                    break
                content = candidate.get("content") if isinstance(candidate, dict) else None
                parts = content.get("parts") if isinstance(content, dict) else None
                for part in parts if isinstance(parts, list) else []:
                    if (
                        isinstance(part, dict)
                        and isinstance(part.get("text"), str)
                        and not part.get("thought")
                    ):
                        part["text"] = change(part["text"])
                        found = True
    return found


def prefill_text(request_json: Any) -> str | None:
    """The assistant prefill of an openai-chat or anthropic-messages request, if any.

    Returns the content of the last message when that message has ``"role": "assistant"``;
    ``content`` may be a string or a list of ``{"type": "text", "text": ...}`` parts. ``None``
    when the request has no such trailing message.
    """
    if not isinstance(request_json, dict):
        return None
    messages = request_json.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return None


def continue_after_prefill(blocks: list[Block], prefill: str, dialect: Dialect) -> list[Block]:
    """Serve the rest of the transcript after the answer text ``prefill``.

    Keeps every block before the first answer-text event (role chunk, ``message_start``,
    ``content_block_start``, ``ping``), drops the events whose text ``prefill`` already covers,
    splits the event in which ``prefill`` ends (only the rest of its text is sent) and keeps
    everything after it verbatim (finish and usage chunks, ``[DONE]``, ``message_stop``).

    Args:
        blocks: the transcript.
        prefill: the assistant text the client already has; ``""`` serves everything.
        dialect: ``"openai-chat"`` or ``"anthropic-messages"``.

    Raises:
        PrefillError: ``prefill`` is not a prefix of the transcript's answer text.
    """
    out: list[Block] = []
    consumed = 0
    done = prefill == ""
    started = False
    for block in blocks:
        if done:
            out.append(block)
            continue
        text = answer_text(block, dialect)
        if not text:
            if not started:
                out.append(block)
            continue
        started = True
        wanted = prefill[consumed:]
        if len(text) <= len(wanted):
            if not wanted.startswith(text):
                raise PrefillError(_mismatch(prefill, consumed))
            consumed += len(text)
            done = consumed == len(prefill)
        else:
            if not text.startswith(wanted):
                raise PrefillError(_mismatch(prefill, consumed))
            rest = text[len(wanted) :]
            out.append(map_answer_text(block, dialect, _constant(rest)))
            done = True
    if not done:
        raise PrefillError(
            f"the assistant prefill ({len(prefill)} characters) is longer than the answer in the"
            f" transcript ({consumed} characters)"
        )
    return out


def _constant(value: str) -> Callable[[str], str]:
    return lambda _text: value


def _mismatch(prefill: str, position: int) -> str:
    return (
        "the assistant prefill is not a prefix of the answer in the transcript"
        f" (differs at or after character {position}: {prefill[position : position + 20]!r})"
    )


# --- files ------------------------------------------------------------------------------------


def load_transcript(path_or_name: str | Path) -> bytes:
    """Read a recorded transcript (an SSE response body) from a file, byte for byte.

    Args:
        path_or_name: a path to a ``.sse`` file, or one of the built-in names ``"demo"``
            (:func:`demo_transcript`), ``"demo-anthropic"`` (:func:`demo_anthropic_transcript`)
            and ``"demo-responses"`` (:func:`demo_responses_transcript`). A file of that name
            wins over a built-in.

    Returns:
        The file's bytes, unchanged (no newline or encoding conversion).

    Raises:
        FileNotFoundError: no such file and not a built-in name.
    """
    path = Path(path_or_name)
    if not path.exists() and isinstance(path_or_name, str) and path_or_name in _BUILTIN:
        return _BUILTIN[path_or_name]()
    return path.read_bytes()


# --- demo transcripts -------------------------------------------------------------------------

DEMO_TEXT = """\
## Why streaming needs a resumable transport

A streamed answer arrives as hundreds of small events over one long-lived HTTP response. \
That is great for latency: the first words show up in well under a second, long before the \
model has finished writing. It is also fragile. One connection now has to stay healthy for \
thirty seconds or more, across proxies, load balancers and flaky mobile networks.

When that connection breaks halfway, a naive client has two bad options: show the user a \
truncated answer, or start over and pay for every token twice. A resumable client does better:

- It remembers exactly which events it has already delivered.
- It asks the server to continue from that point, using `Last-Event-ID`, a sequence number, \
or the text received so far.
- It checks that the continuation really belongs to the same answer before stitching it on.
- It keeps counting tokens and cost across every attempt.

Done well, the seam is invisible. The reader sees one smooth answer, the logs show one retry, \
and the bill shows what was actually generated. That is the whole job: correct bytes in, typed \
events out, even when the network misbehaves."""
"""The answer the demo transcripts stream (markdown, about 200 words)."""

_TOKEN = re.compile(r"\n+| ?[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?| ?[^\sA-Za-z0-9]|\s")
_DEMO_CREATED = 1735689600  # 2025-01-01T00:00:00Z
_DEMO_PROMPT_TOKENS = 24


def tokenize(text: str) -> list[str]:
    """Split ``text`` into word-sized pieces, the way a tokenizer roughly would.

    A piece is a word with its leading space, a single punctuation mark (with its leading
    space), or a run of newlines. The pieces always join back to ``text``.
    """
    pieces = _TOKEN.findall(text)
    if "".join(pieces) != text:  # pragma: no cover - the pattern matches every character
        raise AssertionError("tokenize lost characters")
    return pieces


def _sse(payload: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {_dumps(payload)}\n\n".encode()


def demo_transcript(*, model: str = "gpt-4.1", text: str | None = None) -> bytes:
    """Generate a realistic OpenAI Chat Completions stream (``chat.completion.chunk``).

    The stream has a role chunk (``"delta": {"role": "assistant", "content": ""}``), one chunk
    per word-sized piece of the answer, a finish chunk (``"delta": {}``, ``"finish_reason":
    "stop"``), a usage chunk (``"choices": []``, as with ``stream_options.include_usage``) and
    ``data: [DONE]``. The output is deterministic: the same arguments give the same bytes.

    Args:
        model: the ``model`` field of every chunk.
        text: the answer; :data:`DEMO_TEXT` (markdown, about 200 words) by default.

    Returns:
        The SSE body, LF line ends, UTF-8.
    """
    pieces = tokenize(DEMO_TEXT if text is None else text)
    base: dict[str, Any] = {
        "id": "chatcmpl-demo4b1f2e9c7d0a6358",
        "object": "chat.completion.chunk",
        "created": _DEMO_CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_d3m0c0ffee",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _sse({**base, "choices": [choice]})

    parts = [chunk({"role": "assistant", "content": ""})]
    parts.extend(chunk({"content": piece}) for piece in pieces)
    parts.append(chunk({}, "stop"))
    usage = {
        "prompt_tokens": _DEMO_PROMPT_TOKENS,
        "completion_tokens": len(pieces),
        "total_tokens": _DEMO_PROMPT_TOKENS + len(pieces),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    parts.append(_sse({**base, "choices": [], "usage": usage}))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def demo_anthropic_transcript(
    *, model: str = "claude-sonnet-4-5-20250929", text: str | None = None
) -> bytes:
    """Generate a realistic Anthropic Messages stream.

    ``message_start`` (with ``usage``), ``content_block_start`` (text), ``ping``, one
    ``content_block_delta``/``text_delta`` per word-sized piece, ``content_block_stop``,
    ``message_delta`` (``stop_reason: "end_turn"``, cumulative ``usage``) and ``message_stop``,
    each with its ``event:`` line. Deterministic.

    Args:
        model: the model named in ``message_start``.
        text: the answer; :data:`DEMO_TEXT` by default.

    Returns:
        The SSE body, LF line ends, UTF-8.
    """
    pieces = tokenize(DEMO_TEXT if text is None else text)
    start_usage = {
        "input_tokens": _DEMO_PROMPT_TOKENS,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
        "service_tier": "standard",
    }
    message: dict[str, Any] = {
        "id": "msg_demo01JQ8ZC4F7XK2M9RTV5W",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    parts = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    parts.extend(
        _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
            "content_block_delta",
        )
        for piece in pieces
    )
    final_usage = {
        "input_tokens": _DEMO_PROMPT_TOKENS,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": len(pieces),
    }
    parts += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": final_usage,
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return b"".join(parts)


def demo_responses_transcript(*, model: str = "gpt-4.1", text: str | None = None) -> bytes:
    """Generate a realistic OpenAI Responses stream, with a ``sequence_number`` on every event.

    ``response.created``, ``response.in_progress``, ``response.output_item.added``,
    ``response.content_part.added``, one ``response.output_text.delta`` per word-sized piece,
    then the ``.done`` events and ``response.completed`` with ``usage``. Deterministic; use it
    to exercise ``starting_after`` resumption.

    Args:
        model: the model named in the response object.
        text: the answer; :data:`DEMO_TEXT` by default.

    Returns:
        The SSE body, LF line ends, UTF-8.
    """
    answer = DEMO_TEXT if text is None else text
    pieces = tokenize(answer)
    response_id = "resp_demo68a1f0c2b7e94d35"
    item_id = "msg_demo68a1f0c2b7e94d36"
    seq = 0
    parts: list[bytes] = []

    def emit(payload: dict[str, Any]) -> None:
        nonlocal seq
        parts.append(_sse({**payload, "sequence_number": seq}, payload["type"]))
        seq += 1

    def response(status: str, output: list[Any], usage: Any) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": _DEMO_CREATED,
            "status": status,
            "model": model,
            "output": output,
            "usage": usage,
        }

    part_empty = {"type": "output_text", "annotations": [], "text": ""}
    part_full = {"type": "output_text", "annotations": [], "text": answer}
    item_empty = {
        "id": item_id,
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    item_full = {**item_empty, "status": "completed", "content": [part_full]}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    emit({"type": "response.created", "response": response("in_progress", [], None)})
    emit({"type": "response.in_progress", "response": response("in_progress", [], None)})
    emit({"type": "response.output_item.added", "output_index": 0, "item": item_empty})
    emit({"type": "response.content_part.added", **where, "part": part_empty})
    for piece in pieces:
        emit({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
    emit({"type": "response.output_text.done", **where, "text": answer, "logprobs": []})
    emit({"type": "response.content_part.done", **where, "part": part_full})
    emit({"type": "response.output_item.done", "output_index": 0, "item": item_full})
    usage = {
        "input_tokens": _DEMO_PROMPT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": len(pieces),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": _DEMO_PROMPT_TOKENS + len(pieces),
    }
    emit({"type": "response.completed", "response": response("completed", [item_full], usage)})
    return b"".join(parts)


_BUILTIN: dict[str, Callable[[], bytes]] = {
    "demo": demo_transcript,
    "demo-anthropic": demo_anthropic_transcript,
    "demo-responses": demo_responses_transcript,
}
