"""Helpers for the dialect tests: the real recordings and the client pipeline, offline.

The recordings live outside the repository (``../shared/fixtures/real`` next to the
checkout, or ``$STREAMKIT_REAL_FIXTURES``). Without them the tests that need them
skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamkit.events import DeltaEvent
from streamkit.extras import ProviderExtras
from streamkit.providers import get
from streamkit.reassembly import Reassembler
from streamkit.result import StreamResult
from streamkit.sse import ServerSentEvent, SSEDecoder

from conftest import files_of as files_of  # re-exported for the dialect tests
from conftest import manifest as manifest
from conftest import read_real, real_dir


def fixtures_dir() -> Path:
    """The folder of real recordings; skip (or fail when ``CI == "true"``) when absent."""
    return real_dir()


def read(name: str) -> bytes:
    """The bytes of one recording (skip/fail when the folder is absent)."""
    return read_real(name)


def payloads(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """``(event, JSON data)`` of every event, split without streamkit's SSE parser.

    Follows the framing of the recordings (``event:``/``data:`` lines, one data line
    per event), drops comments, ``[DONE]`` and lines not starting with a field, and
    keeps a final event even when no blank line ends it.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    event = "message"
    for line in raw.decode("utf-8").splitlines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            if data != "[DONE]":
                out.append((event, json.loads(data)))
            event = "message"
    return out


@dataclass
class Decoded:
    """What the pipeline made of one body."""

    events: list[DeltaEvent]
    """Events the reassembler delivered, in order."""
    raw_events: list[DeltaEvent]
    """Events the dialect decoder produced, in order (before the reassembler)."""
    result: StreamResult
    extras: ProviderExtras
    complete: bool
    """``done`` or ``complete_at_eof()`` at the end of the body."""
    sequences: list[int | None]


def decode(
    dialect: str, raw: bytes, *, chunk_size: int | None = None, reorder: bool = False
) -> Decoded:
    """Run SSEDecoder → dialect decoder → Reassembler over ``raw``, as the clients do.

    Args:
        dialect: registry name.
        raw: the body.
        chunk_size: feed this many bytes at a time (``None``: all at once).
        reorder: swap every pair of consecutive server-sent events before decoding
            (the reassembler must restore the order from sequence numbers); events
            after the terminal one are then decoded too.
    """
    decoder = get(dialect).new_decoder()
    sse_decoder = SSEDecoder()
    reassembler = Reassembler()
    reassembler.begin_attempt()
    step = chunk_size or max(len(raw), 1)
    sse_events: list[ServerSentEvent] = []
    for start in range(0, len(raw), step):
        sse_events.extend(sse_decoder.feed(raw[start : start + step]))
    sse_decoder.close()
    if reorder:
        for i in range(0, len(sse_events) - 1, 2):
            sse_events[i], sse_events[i + 1] = sse_events[i + 1], sse_events[i]
    events: list[DeltaEvent] = []
    raw_events: list[DeltaEvent] = []
    sequences: list[int | None] = []
    for sse in sse_events:
        if decoder.done and not reorder:
            break  # as the session does: nothing after the terminal event is read
        decoded = decoder.decode(sse)
        raw_events.extend(decoded)
        sequence = decoder.sequence_number(sse)
        sequences.append(sequence)
        events.extend(reassembler.push(decoded, event_id=sse.id, sequence=sequence))
    complete = decoder.done or decoder.complete_at_eof()
    reassembler.end_attempt()
    result = reassembler.snapshot(
        model=decoder.model, response_id=decoder.response_id, complete=complete
    )
    extras: ProviderExtras = decoder.extras()  # type: ignore[attr-defined]
    return Decoded(events, raw_events, result, extras, complete, sequences)


def sse(data: str, event: str = "message", id: str = "") -> ServerSentEvent:
    """A server-sent event for unit tests."""
    return ServerSentEvent(event=event, data=data, id=id, retry=None)
