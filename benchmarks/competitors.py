"""The in-memory columns: floors, peer libraries and streamkit, fed the same pieces.

Floors (the least work that gets the events out): a bytes splitter, + ``json.loads``,
+ ``orjson.loads``, + a lean pydantic model's ``validate_json``. Peers: httpx-sse +
``json.loads``, openai-python, anthropic-sdk-python. streamkit: ``StreamingClient`` over
``httpx.MockTransport`` and the sans-I/O ``decode_stream``. Each column's ``make(case)``
returns a function doing one complete decode, whose result (the reassembled text, or
the event count for the floors) is checked before its times count.

:func:`stage_runs` times streamkit's pipeline stage by stage, each next to its floor.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from harness import Samples, time_interleaved
from pydantic import BaseModel, TypeAdapter
from transcripts import MODEL, Transcript, split_pieces

import streamkit as sk
from streamkit.offline import decode_stream

try:
    import orjson
except ImportError:  # pragma: no cover - reported as a missing column
    orjson = None  # type: ignore[assignment]
try:
    import httpx_sse
except ImportError:  # pragma: no cover
    httpx_sse = None  # type: ignore[assignment]
try:
    import openai
except ImportError:  # pragma: no cover
    openai = None  # type: ignore[assignment]
try:
    import anthropic
except ImportError:  # pragma: no cover
    anthropic = None  # type: ignore[assignment]
# openai >= 3 and anthropic >= 2 ship on httpx2 (an httpx fork) and want its clients.
try:
    import httpx2
except ImportError:  # pragma: no cover
    httpx2 = None  # type: ignore[assignment]

MOCK_URL = "http://bench.invalid/v1"  # never resolved: MockTransport answers
MESSAGES = [{"role": "user", "content": "Write a long answer."}]
ANTHROPIC_MODEL = "claude-sonnet-4-5"


def sdk_httpx(sdk: Any) -> Any:
    """The httpx module an SDK's ``http_client`` must come from (httpx2 or httpx)."""
    base = sys.modules.get(f"{sdk.__name__}._base_client")
    if base is not None and hasattr(base, "httpx2"):
        return httpx2
    return httpx


def _mock_handler(mod: Any, pieces: list[bytes]) -> Callable[[Any], Any]:
    def handler(request: Any) -> Any:
        return mod.Response(
            200,
            headers={"content-type": "text/event-stream", "x-request-id": "req_bench"},
            content=iter(pieces),
        )

    return handler


# ---- floors ---------------------------------------------------------------------------------


def floor_split(pieces: Iterable[bytes]) -> int:
    """Split into events (``\\n\\n``) and slice out each ``data:`` payload. Returns the count."""
    n = 0
    buf = bytearray()
    for piece in pieces:
        buf += piece
        if b"\n" in piece and b"\n\n" in buf:
            events = buf.split(b"\n\n")
            buf = events.pop()
            for ev in events:
                _payload = ev[ev.find(b"data: ") + 6 :]
                n += 1
    return n


def _floor_parse(parse: Callable[[bytes], Any]) -> Callable[[Iterable[bytes]], int]:
    def floor(pieces: Iterable[bytes]) -> int:
        """:func:`floor_split` + ``parse`` of every payload but ``[DONE]``."""
        n = 0
        buf = bytearray()
        for piece in pieces:
            buf += piece
            if b"\n" in piece and b"\n\n" in buf:
                events = buf.split(b"\n\n")
                buf = events.pop()
                for ev in events:
                    payload = ev[ev.find(b"data: ") + 6 :]
                    if payload != b"[DONE]":
                        parse(payload)
                    n += 1
        return n

    return floor


floor_json = _floor_parse(json.loads)


# Lean wire models: only the fields a client needs, extra fields ignored (pydantic's
# default), built once. ``validate_json`` on these is the typed-parse floor.
class _Function(BaseModel):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(BaseModel):
    index: int
    id: str | None = None
    function: _Function | None = None


class _Delta(BaseModel):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(BaseModel):
    index: int
    delta: _Delta
    finish_reason: str | None = None


class _ChatChunk(BaseModel):
    choices: list[_Choice] = []
    usage: dict[str, Any] | None = None


class _AnthropicDelta(BaseModel):
    type: str | None = None
    text: str | None = None
    stop_reason: str | None = None


class _AnthropicEvent(BaseModel):
    type: str
    index: int | None = None
    delta: _AnthropicDelta | None = None
    usage: dict[str, Any] | None = None


class _ResponsesEvent(BaseModel):
    type: str
    sequence_number: int
    delta: str | None = None


LEAN_MODELS: dict[str, TypeAdapter[Any]] = {
    "openai-chat": TypeAdapter(_ChatChunk),
    "anthropic-messages": TypeAdapter(_AnthropicEvent),
    "openai-responses": TypeAdapter(_ResponsesEvent),
}


def _dict_piece(d: dict[str, Any], kind: str) -> str | None:
    """The text (or tool arguments) of one parsed chunk, as a user of a bare parser writes it."""
    choices = d.get("choices")
    if choices:
        delta = choices[0].get("delta") or {}
        if kind == "text":
            return delta.get("content")
        calls = delta.get("tool_calls")
        return calls[0]["function"].get("arguments") if calls else None
    kind_ = d.get("type")
    if kind_ == "content_block_delta":
        return d["delta"].get("text")
    if kind_ == "response.output_text.delta":
        return d["delta"]
    return None


# ---- columns ----------------------------------------------------------------------------------


@dataclass
class Case:
    transcript: Transcript
    piece: int | str
    pieces: list[bytes]

    @property
    def piece_label(self) -> str:
        return piece_label(self.piece)

    @property
    def name(self) -> str:
        return f"{self.transcript.name}@{self.piece_label}"


def make_case(t: Transcript, piece: int | str) -> Case:
    return Case(t, piece, split_pieces(t.body, piece))


def piece_label(piece: int | str) -> str:
    if piece == "event":
        return "1 event"
    assert isinstance(piece, int)
    return f"{piece // 1024} KiB" if piece >= 1024 else f"{piece} B"


@dataclass
class Column:
    key: str
    label: str
    applies: Callable[[Case], bool]
    make: Callable[[Case], Callable[[], Any]]
    """Returns a run function: one complete decode; returns the text (or the event count)."""
    floor: bool = False


def _provider_is(*names: str) -> Callable[[Case], bool]:
    return lambda case: case.transcript.provider in names


def _make_floor(fn: Callable[[list[bytes]], int]) -> Callable[[Case], Callable[[], int]]:
    def make(case: Case) -> Callable[[], int]:
        pieces = case.pieces
        return lambda: fn(pieces)

    return make


def _make_validate_floor(case: Case) -> Callable[[], int]:
    floor = _floor_parse(LEAN_MODELS[case.transcript.provider].validate_json)
    pieces = case.pieces
    return lambda: floor(pieces)


def _make_httpx_sse(case: Case) -> Callable[[], str]:
    client = httpx.Client(transport=httpx.MockTransport(_mock_handler(httpx, case.pieces)))
    kind = case.transcript.kind
    loads = json.loads
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}

    def run() -> str:
        parts = []
        with httpx_sse.connect_sse(client, "POST", MOCK_URL + "/chat/completions", json=body) as es:
            for sse in es.iter_sse():
                if sse.data == "[DONE]":
                    break
                piece = _dict_piece(loads(sse.data), kind)
                if piece:
                    parts.append(piece)
        return "".join(parts)

    return run


def _openai_client(case: Case) -> Any:
    mod = sdk_httpx(openai)
    http = mod.Client(transport=mod.MockTransport(_mock_handler(mod, case.pieces)))
    return openai.OpenAI(api_key="sk-bench", base_url=MOCK_URL, http_client=http, max_retries=0)


def _make_openai_create(case: Case) -> Callable[[], str]:
    client = _openai_client(case)
    tools = case.transcript.kind == "tools"

    def run() -> str:
        parts = []
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if chunk.choices:
                delta = chunk.choices[0].delta
                if tools:
                    if delta.tool_calls and delta.tool_calls[0].function.arguments:
                        parts.append(delta.tool_calls[0].function.arguments)
                elif delta.content:
                    parts.append(delta.content)
        return "".join(parts)

    return run


def _make_openai_helper(case: Case) -> Callable[[], str]:
    client = _openai_client(case)
    tools = case.transcript.kind == "tools"

    def run() -> str:
        with client.chat.completions.stream(
            model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
        ) as stream:
            for _event in stream:
                pass
            message = stream.get_final_completion().choices[0].message
        if tools:
            return message.tool_calls[0].function.arguments
        return message.content or ""

    return run


def _make_openai_responses(case: Case) -> Callable[[], str]:
    client = _openai_client(case)

    def run() -> str:
        parts = []
        stream = client.responses.create(model=MODEL, input="Write a long answer.", stream=True)
        for event in stream:
            if event.type == "response.output_text.delta":
                parts.append(event.delta)
        return "".join(parts)

    return run


def _anthropic_client(case: Case) -> Any:
    mod = sdk_httpx(anthropic)
    http = mod.Client(transport=mod.MockTransport(_mock_handler(mod, case.pieces)))
    return anthropic.Anthropic(
        api_key="sk-ant-bench",
        base_url=MOCK_URL.removesuffix("/v1"),
        http_client=http,
        max_retries=0,
    )


def _make_anthropic_raw(case: Case) -> Callable[[], str]:
    client = _anthropic_client(case)

    def run() -> str:
        parts = []
        stream = client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=100_000, messages=MESSAGES, stream=True
        )
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
        return "".join(parts)

    return run


def _make_anthropic_helper(case: Case) -> Callable[[], str]:
    client = _anthropic_client(case)

    def run() -> str:
        parts = []
        with client.messages.stream(
            model=ANTHROPIC_MODEL, max_tokens=100_000, messages=MESSAGES
        ) as stream:
            for text in stream.text_stream:
                parts.append(text)
        return "".join(parts)

    return run


def result_text(result: sk.StreamResult, kind: str) -> str:
    if kind == "tools":
        return result.tool_calls[0].arguments
    return result.text


def make_streamkit_client(case: Case) -> Callable[[], str]:
    http = httpx.Client(transport=httpx.MockTransport(_mock_handler(httpx, case.pieces)))
    provider = case.transcript.provider
    base = MOCK_URL.removesuffix("/v1") if provider == "anthropic-messages" else MOCK_URL
    client = sk.StreamingClient(
        base_url=base, api_key="sk-bench", provider=provider, http_client=http
    )
    kind = case.transcript.kind

    def run() -> str:
        with client.stream(model=MODEL, messages=MESSAGES) as stream:
            for _event in stream:
                pass
        return result_text(stream.result, kind)

    return run


def _make_decode_stream(case: Case) -> Callable[[], str]:
    body, provider, kind = case.transcript.body, case.transcript.provider, case.transcript.kind
    size = case.piece
    assert isinstance(size, int)

    def run() -> str:
        _events, result = decode_stream(body, provider=provider, chunk_size=size)
        return result_text(result, kind)

    return run


def _always(case: Case) -> bool:
    return True


def columns() -> list[Column]:
    """Every in-memory column whose library is installed, in table order."""
    cols = [
        Column("split", "floor: split events", _always, _make_floor(floor_split), True),
        Column("json", "floor: split + json.loads", _always, _make_floor(floor_json), True),
    ]
    if orjson is not None:
        floor_orjson = _floor_parse(orjson.loads)
        cols.append(
            Column(
                "orjson", "floor: split + orjson.loads", _always, _make_floor(floor_orjson), True
            )
        )
    cols.append(
        Column(
            "validate",
            "floor: split + lean pydantic validate_json",
            _always,
            _make_validate_floor,
            True,
        )
    )
    if httpx_sse is not None:
        cols.append(Column("httpx-sse", "httpx-sse + json.loads", _always, _make_httpx_sse))
    if openai is not None:
        cols += [
            Column(
                "openai",
                "openai create(stream=True)",
                _provider_is("openai-chat"),
                _make_openai_create,
            ),
            Column(
                "openai-helper",
                "openai .stream() helper",
                _provider_is("openai-chat"),
                _make_openai_helper,
            ),
            Column(
                "openai-responses",
                "openai responses.create(stream=True)",
                _provider_is("openai-responses"),
                _make_openai_responses,
            ),
        ]
    if anthropic is not None:
        cols += [
            Column(
                "anthropic",
                "anthropic messages.create(stream=True) (raw events)",
                _provider_is("anthropic-messages"),
                _make_anthropic_raw,
            ),
            Column(
                "anthropic-helper",
                "anthropic messages.stream() text_stream",
                _provider_is("anthropic-messages"),
                _make_anthropic_helper,
            ),
        ]
    cols += [
        Column("sk-client", "**streamkit StreamingClient**", _always, make_streamkit_client),
        Column(
            "sk-offline",
            "**streamkit decode_stream** (sans-I/O)",
            lambda c: isinstance(c.piece, int),
            _make_decode_stream,
        ),
    ]
    return cols


#: The provider SDK column a case's speed-up is measured against.
SDK_COLUMN = {
    "openai-chat": "openai",
    "anthropic-messages": "anthropic",
    "openai-responses": "openai-responses",
}


def check(col: Column, case: Case, result: Any) -> None:
    """Raise unless ``result`` is what a correct decode of ``case`` gives."""
    t = case.transcript
    expected: Any = t.events if col.floor else t.text
    if result != expected:
        got = result if col.floor else f"{len(result)} chars"
        want = expected if col.floor else f"{len(expected)} chars"
        raise AssertionError(f"{col.key} on {case.name}: wrong result ({got}, expected {want})")


# ---- streamkit's stages -----------------------------------------------------------------------

#: streamkit's stages, in pipeline order: (key of the cumulative run, what the stage adds).
STAGES = (
    ("sse", "SSEDecoder.feed"),
    ("decode", "dialect.decode (JSON → typed events)"),
    ("reassemble", "Reassembler.push"),
    ("session", "session, metrics, usage (decode_stream)"),
    ("client", "httpx + the client shell (StreamingClient over MockTransport)"),
)


def stage_runs(t: Transcript, piece: int | str) -> dict[str, Callable[[], Any]]:
    """Cumulative prefixes of the client pipeline and the floors, each a complete pass."""
    from streamkit.providers import get as get_dialect
    from streamkit.sse import SSEDecoder

    pieces = split_pieces(t.body, piece)
    dialect = get_dialect(t.provider)
    floor_validate = _floor_parse(LEAN_MODELS[t.provider].validate_json)

    def sse_only() -> int:
        dec = SSEDecoder()
        n = 0
        for p in pieces:
            n += len(dec.feed(p))
        return n

    def sse_decode() -> int:
        dec = SSEDecoder()
        d = dialect.new_decoder()
        n = 0
        for p in pieces:
            for e in dec.feed(p):
                n += len(d.decode(e))
        return n

    def sse_decode_reassemble() -> int:
        dec = SSEDecoder()
        d = dialect.new_decoder()
        r = sk.Reassembler()
        n = 0
        for p in pieces:
            for e in dec.feed(p):
                n += len(r.push(d.decode(e), event_id=e.id, sequence=d.sequence_number(e)))
        r.end_attempt()
        r.snapshot()
        return n

    chunk_size = piece if isinstance(piece, int) else None
    runs: dict[str, Callable[[], Any]] = {
        "floor split": lambda: floor_split(pieces),
        "floor json.loads": lambda: floor_json(pieces),
        "floor validate_json": lambda: floor_validate(pieces),
        "sse": sse_only,
        "decode": sse_decode,
        "reassemble": sse_decode_reassemble,
    }
    if chunk_size is not None:
        runs["session"] = lambda: decode_stream(t.body, provider=t.provider, chunk_size=chunk_size)
    runs["client"] = make_streamkit_client(Case(t, piece, pieces))
    return runs


# ---- running a case ------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: Case
    samples: Samples

    def us_per_event(self, key: str, stat: str = "median") -> float:
        seconds = self.samples.min(key) if stat == "min" else self.samples.median(key)
        return seconds / self.case.transcript.events * 1e6


def run_case(case: Case, cols: Sequence[Column], rounds: int, round_s: float) -> CaseResult:
    """Every applicable column on ``case``, interleaved, checked."""
    runs = {c.key: c.make(case) for c in cols if c.applies(case)}
    by_key = {c.key: c for c in cols}
    samples = time_interleaved(runs, rounds, lambda k, res: check(by_key[k], case, res), round_s)
    return CaseResult(case, samples)


def warm_up(cols: Sequence[Column], make: Callable[[int], Transcript]) -> None:
    """One small run of every column (imports, caches, lazy set-up) and a check."""
    case = make_case(make(200), 16384)
    for col in cols:
        if col.applies(case):
            check(col, case, col.make(case)())


@dataclass
class StageResult:
    transcript: Transcript
    piece: int | str
    samples: Samples

    def us(self, key: str) -> float:
        return self.samples.median(key) / self.transcript.events * 1e6


def run_stages(t: Transcript, piece: int | str, rounds: int) -> StageResult:
    runs = stage_runs(t, piece)
    for fn in runs.values():
        fn()
    return StageResult(t, piece, time_interleaved(runs, rounds, lambda k, res: None))
