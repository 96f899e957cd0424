"""The ``anthropic-messages`` dialect: Anthropic Messages API streaming.

Follows https://docs.anthropic.com/en/docs/build-with-claude/streaming: a stream is
``message_start``, then for each content block ``content_block_start``, any number
of ``content_block_delta`` and ``content_block_stop``, then ``message_delta`` (stop
reason and cumulative usage) and ``message_stop``; ``ping`` events may come at any
point (or never) and ``error`` events (e.g. ``overloaded_error``) may replace the
rest of the stream. Quirks handled, all seen in real recordings: JSON padded with
spaces before its closing brace, pings inside a block, a tool block left open with
truncated JSON by a ``max_tokens`` stop, a final ``message_stop`` without the blank
line that dispatches it, redacted thinking, server tools and citations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pydantic_core
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from streamkit._request import RequestSpec
from streamkit.errors import ChunkDecodeError
from streamkit.events import (
    DeltaEvent,
    FinishEvent,
    ReasoningDelta,
    ResumeStrategy,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.extras import Citation, ProviderExtras, Signature
from streamkit.providers._base import normalize_finish_reason, provider_error
from streamkit.sse import ServerSentEvent
from streamkit.usage import Usage

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicMessagesDecoder",
    "AnthropicMessagesDialect",
]

#: The ``anthropic-version`` header sent with every request.
ANTHROPIC_VERSION: Final = "2023-06-01"

#: ``max_tokens`` sent when the caller passes none (the Messages API requires it).
#: 4096 is accepted by every current Claude model and is what the Anthropic docs'
#: streaming examples use; pass ``max_tokens=`` for longer answers.
DEFAULT_MAX_TOKENS: Final = 4096

#: Content block types that call a tool; ``server_tool_use``/``mcp_tool_use`` are run
#: by Anthropic itself (listed in ``ProviderExtras.server_tool_calls``).
_TOOL_BLOCKS: Final = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_SERVER_TOOL_BLOCKS: Final = frozenset({"server_tool_use", "mcp_tool_use"})


# ---- private, lenient wire models (unknown fields ignored or kept raw) ----------------------


class _Message(BaseModel):
    id: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = ""
    id: str | None = None
    name: str | None = None
    input: Any = None
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None
    citations: list[dict[str, Any]] | None = None


class _Delta(BaseModel):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None
    signature: str | None = None
    partial_json: str | None = None
    citation: dict[str, Any] | None = None
    stop_reason: str | None = None
    stop_sequence: str | None = None
    stop_details: dict[str, Any] | None = None


class _Error(BaseModel):
    type: str | None = None
    message: str | None = None


class _Event(BaseModel):
    type: str = ""
    index: int | None = None
    message: _Message | None = None
    content_block: _Block | None = None
    delta: _Delta | None = None
    usage: dict[str, Any] | None = None
    error: _Error | str | None = None


_EVENT = TypeAdapter(_Event)
_from_json = pydantic_core.from_json
#: The keys a ``content_block_delta`` may have for the fast path (any other key, or a
#: value of another type, sends the event to the validating path).
_DELTA_EVENT_KEYS: Final = frozenset({"type", "index", "delta"})
_TEXT_DELTA_KEYS: Final = frozenset({"type", "text"})
_JSON_DELTA_KEYS: Final = frozenset({"type", "partial_json"})


@dataclass(slots=True)
class _BlockState:
    """What the decoder remembers about one content block."""

    type: str
    text_start: int = 0
    """Characters of answer text delivered before this block (citation spans)."""
    text_end: int | None = None
    thinking: list[str] = field(default_factory=list)
    signature: str | None = None
    start_input: Any = None
    arguments_sent: bool = False
    """A non-empty ``input_json_delta`` piece was delivered for this (tool) block."""
    stopped: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)


class AnthropicMessagesDecoder:
    """Decodes one Anthropic Messages stream into delta events.

    Rules:
        - ``text_delta`` → :class:`TextDelta` (choice 0; every text block extends the
          same text); ``thinking_delta`` → :class:`ReasoningDelta`; empty pieces
          produce no event.
        - A ``tool_use``/``server_tool_use``/``mcp_tool_use`` block start →
          :class:`ToolCallDelta` with ``tool_index`` = the content block index, ``id``
          and ``name``; each non-empty ``input_json_delta.partial_json`` → a fragment
          of its ``arguments``. A tool block whose ``input_json_delta`` pieces were
          all empty (or that got none) gets its start ``input`` as ``arguments`` at
          its stop: ``json.dumps(input)``, so ``"{}"`` for the wire's ``input: {}``
          (a tool called without arguments), as the Anthropic SDK's ``input`` says.
        - ``message_start.message.usage`` and each ``message_delta.usage`` →
          :class:`UsageEvent` with the totals so far (reports are cumulative: each
          merges into the previous one, keys absent from a later report keep their
          earlier value).
        - ``message_delta.delta.stop_reason`` → :class:`FinishEvent` (``end_turn`` and
          ``stop_sequence`` → ``stop``, ``max_tokens`` → ``length``, ``tool_use`` →
          ``tool_calls``, ``refusal`` → ``refusal``; the raw value is kept).
        - ``message_stop`` ends the stream (:attr:`done`); ``ping`` is ignored, as are
          event and delta types this version does not know.
        - ``error`` raises :class:`~streamkit.errors.ProviderError` whose ``code`` is
          the error's ``type`` (e.g. ``"overloaded_error"``).
        - Signatures, redacted thinking, citations, server tool results, stop details
          and the raw usage are collected for :meth:`extras`.
    """

    __slots__ = (
        "_blocks",
        "_citations",
        "_done",
        "_raw_usage",
        "_redacted",
        "_server_results",
        "_stop_details",
        "_stop_reason",
        "_text_chars",
        "fast",
        "model",
        "response_id",
    )

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self._done = False
        self._stop_reason: str | None = None
        self._blocks: dict[int, _BlockState] = {}
        self._text_chars = 0
        self._raw_usage: dict[str, Any] | None = None
        self._redacted: list[str] = []
        self._server_results: list[dict[str, Any]] = []
        self._stop_details: dict[str, Any] | None = None
        self._citations: list[tuple[int, dict[str, Any]]] = []
        self.fast = True
        """Use the fast path for text and tool-argument deltas (``False``: always validate)."""

    @property
    def done(self) -> bool:
        """True after ``message_stop``."""
        return self._done

    def complete_at_eof(self) -> bool:
        """EOF is a normal end once ``message_delta`` carried a stop reason.

        A body whose final ``message_stop`` is not followed by a blank line loses
        that event (the SSE standard discards an unterminated event), yet the
        message is whole: the stop reason and the final usage came before it.
        """
        return self._done or self._stop_reason is not None

    def sequence_number(self, sse: ServerSentEvent) -> int | None:
        """Anthropic events are not numbered: always ``None``."""
        return None

    def decode(self, sse: ServerSentEvent) -> list[DeltaEvent]:
        """Decode one event (see the class docstring for the rules).

        Raises:
            ChunkDecodeError: the data is not a JSON object of the Messages stream.
            ProviderError: an ``error`` event.
        """
        data = sse.data
        if self.fast:
            try:
                obj = _from_json(data)
            except ValueError:
                obj = None  # the validating path says why
            if type(obj) is dict and obj.get("type") == "content_block_delta":
                hot = self._hot_delta(obj)
                if hot is not None:
                    return hot
        try:
            event = _EVENT.validate_json(data)
        except ValidationError as exc:
            if sse.event == "error":
                raise provider_error(data, code=None, error_type=None, raw=data) from None
            raise ChunkDecodeError(
                f"not an Anthropic stream event: {exc.errors()[0]['msg']}",
                raw=data,
                event=sse.event,
            ) from None
        kind = event.type or sse.event
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "ping":
            return []
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            return self._block_stop(event)
        if kind == "message_start":
            return self._message_start(event)
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            self._done = True
            return []
        if kind == "error" or sse.event == "error":
            err = event.error
            if isinstance(err, _Error):
                raise provider_error(err.message, code=err.type, error_type=err.type, raw=data)
            raise provider_error(err or data, code=None, error_type=None, raw=data)
        return []

    # ---- event handlers ---------------------------------------------------------------

    def _message_start(self, event: _Event) -> list[DeltaEvent]:
        message = event.message
        if message is None:
            return []
        if message.model and self.model is None:
            self.model = message.model
        if message.id and self.response_id is None:
            self.response_id = message.id
        if message.usage is None:
            return []
        return [self._merge_usage(message.usage)]

    def _message_delta(self, event: _Event) -> list[DeltaEvent]:
        out: list[DeltaEvent] = []
        delta = event.delta
        if delta is not None and (
            delta.stop_details is not None or delta.stop_sequence is not None
        ):
            details = dict(self._stop_details or {})
            if delta.stop_details is not None:
                details.update(delta.stop_details)
            if delta.stop_sequence is not None:
                details["stop_sequence"] = delta.stop_sequence
            self._stop_details = details
        if event.usage is not None:
            out.append(self._merge_usage(event.usage))
        if delta is not None and delta.stop_reason:
            self._stop_reason = delta.stop_reason
            out.append(
                FinishEvent(
                    index=0,
                    finish_reason=normalize_finish_reason(delta.stop_reason),
                    raw_finish_reason=delta.stop_reason,
                )
            )
        return out

    def _merge_usage(self, usage: dict[str, Any]) -> UsageEvent:
        # cumulative: a later report replaces earlier values; absent or null keys keep them
        merged = dict(self._raw_usage or {})
        merged.update((k, v) for k, v in usage.items() if v is not None)
        self._raw_usage = merged
        return UsageEvent(usage=Usage.from_anthropic(merged))

    def _block_start(self, event: _Event) -> list[DeltaEvent]:
        block = event.content_block
        index = event.index
        if block is None or index is None:
            return []
        state = _BlockState(type=block.type, text_start=self._text_chars)
        self._blocks[index] = state
        kind = block.type
        if kind == "text":
            if block.citations:
                state.citations.extend(block.citations)
                self._citations.extend((index, c) for c in block.citations)
            if block.text:
                self._text_chars += len(block.text)
                return [TextDelta(text=block.text, index=0)]
            return []
        if kind == "thinking":
            state.signature = block.signature or None
            if block.thinking:
                state.thinking.append(block.thinking)
                return [ReasoningDelta(text=block.thinking, index=0)]
            return []
        if kind in _TOOL_BLOCKS:
            state.start_input = block.input
            return [
                ToolCallDelta(
                    index=0, tool_index=index, id=block.id or None, name=block.name or None
                )
            ]
        if kind == "redacted_thinking":
            if block.data is not None:
                self._redacted.append(block.data)
            return []
        if kind.endswith("_tool_result"):
            self._server_results.append({"index": index, **block.model_dump(exclude_unset=True)})
        return []

    def _hot_delta(self, obj: dict[str, Any]) -> list[DeltaEvent] | None:
        """The fast path for ``text_delta`` and ``input_json_delta`` blocks, parsed once.

        Only an event of exactly the documented keys and JSON types takes it; it then
        gives what :meth:`_block_delta` gives for the validated event
        (``tests/providers/test_anthropic_messages.py``). ``None``: validate instead.
        """
        if not obj.keys() <= _DELTA_EVENT_KEYS:
            return None
        index = obj.get("index")
        delta = obj.get("delta")
        if type(index) is not int or type(delta) is not dict:
            return None
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if type(text) is not str or not delta.keys() <= _TEXT_DELTA_KEYS:
                return None
            if not text:
                return []
            self._text_chars += len(text)
            return [TextDelta(text=text, index=0)]
        if kind == "input_json_delta":
            piece = delta.get("partial_json")
            if type(piece) is not str or not delta.keys() <= _JSON_DELTA_KEYS:
                return None
            if not piece:
                return []
            state = self._blocks.get(index)
            if state is not None:
                state.arguments_sent = True
            return [ToolCallDelta(index=0, tool_index=index, arguments=piece)]
        return None

    def _block_delta(self, event: _Event) -> list[DeltaEvent]:
        delta = event.delta
        index = event.index
        if delta is None or index is None:
            return []
        kind = delta.type
        if kind == "text_delta":
            text = delta.text
            if not text:
                return []
            self._text_chars += len(text)
            return [TextDelta(text=text, index=0)]
        state = self._blocks.get(index)
        if kind == "input_json_delta":
            piece = delta.partial_json
            if not piece:
                return []
            if state is not None:
                state.arguments_sent = True
            return [ToolCallDelta(index=0, tool_index=index, arguments=piece)]
        if kind == "thinking_delta":
            thinking = delta.thinking
            if not thinking:
                return []
            if state is not None:
                state.thinking.append(thinking)
            return [ReasoningDelta(text=thinking, index=0)]
        if kind == "signature_delta":
            if state is not None and delta.signature:
                state.signature = delta.signature
            return []
        if kind == "citations_delta" and delta.citation is not None:
            self._citations.append((index, delta.citation))
        return []

    def _block_stop(self, event: _Event) -> list[DeltaEvent]:
        index = event.index
        state = self._blocks.get(index) if index is not None else None
        if state is None or index is None:
            return []
        state.stopped = True
        state.text_end = self._text_chars
        if state.type in _TOOL_BLOCKS and not state.arguments_sent:
            # the whole input came with the block start (or the tool takes none)
            start = state.start_input
            arguments = json.dumps(start, ensure_ascii=False) if isinstance(start, dict) else "{}"
            return [ToolCallDelta(index=0, tool_index=index, arguments=arguments)]
        return []

    # ---- extras -------------------------------------------------------------------------

    def extras(self) -> ProviderExtras:
        """What the stream carried besides delta events (see :class:`ProviderExtras`).

        Thinking signatures come with their block's thinking text; citations carry
        the character span of their text block in the delivered text; tool blocks
        without ``content_block_stop`` are listed as incomplete.
        """
        citations = []
        for block_index, raw in self._citations:
            state = self._blocks.get(block_index)
            citations.append(
                Citation(
                    type=str(raw.get("type") or "citation"),
                    cited_text=_str_or_none(raw.get("cited_text")),
                    url=_str_or_none(raw.get("url")),
                    title=_str_or_none(raw.get("title") or raw.get("document_title")),
                    block_index=block_index,
                    start_index=state.text_start if state is not None else None,
                    end_index=state.text_end if state is not None else None,
                    raw=raw,
                )
            )
        signatures = [
            Signature(
                signature=state.signature,
                kind="thinking",
                block_index=index,
                content="".join(state.thinking),
            )
            for index, state in sorted(self._blocks.items())
            if state.type == "thinking" and state.signature
        ]
        server_calls = [
            index
            for index, state in sorted(self._blocks.items())
            if state.type in _SERVER_TOOL_BLOCKS
        ]
        incomplete = [
            index
            for index, state in sorted(self._blocks.items())
            if state.type in _TOOL_BLOCKS and not state.stopped
        ]
        return ProviderExtras(
            citations=citations,
            signatures=signatures,
            redacted_thinking=list(self._redacted),
            server_tool_calls=server_calls,
            server_tool_results=list(self._server_results),
            incomplete_tool_calls=incomplete,
            stop_details=dict(self._stop_details) if self._stop_details is not None else None,
            raw_usage=dict(self._raw_usage) if self._raw_usage is not None else None,
        )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _system_field(contents: list[Any]) -> str | list[dict[str, Any]]:
    """The top-level ``system`` value for the contents of the chat's system messages."""
    if len(contents) == 1 and isinstance(contents[0], str):
        return str(contents[0])
    blocks: list[dict[str, Any]] = []
    for content in contents:
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content})
        elif isinstance(content, list):
            blocks.extend(dict(b) for b in content)
        elif isinstance(content, Mapping):
            blocks.append(dict(content))
    return blocks


class AnthropicMessagesDialect:
    """Anthropic Messages (``POST {base_url}/messages``) with ``stream: true``."""

    name = "anthropic-messages"
    default_base_url = "https://api.anthropic.com/v1"
    api_key_env: tuple[str, ...] = ("ANTHROPIC_API_KEY",)
    resume_strategies: tuple[ResumeStrategy, ...] = ("prefill", "replay")

    def build_request(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> RequestSpec:
        """Build ``POST {base_url}/messages``.

        Messages with role ``system`` (or ``developer``) move to the top-level
        ``system`` field (one string stays a string; several become text blocks);
        ``max_tokens`` defaults to :data:`DEFAULT_MAX_TOKENS`. ``params`` are added
        to the body as they are and win over both (``max_tokens``, ``system``,
        ``tools``, ``thinking``, ...). Headers: ``x-api-key``, ``anthropic-version:
        2023-06-01``, ``accept: text/event-stream``.
        """
        system: list[Any] = []
        chat: list[dict[str, Any]] = []
        for message in messages:
            if message.get("role") in ("system", "developer"):
                system.append(message.get("content", ""))
            else:
                chat.append(dict(message))
        body: dict[str, Any] = {
            "model": model,
            "messages": chat,
            "max_tokens": DEFAULT_MAX_TOKENS,
            "stream": True,
        }
        if system:
            body["system"] = _system_field(system)
        body.update(params)
        headers = {
            "accept": "text/event-stream",
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        if api_key:
            headers["x-api-key"] = api_key
        return RequestSpec("POST", base_url.rstrip("/") + "/messages", headers, body)

    def build_prefill_request(self, spec: RequestSpec, prefix: str) -> RequestSpec | None:
        """Continue the answer from ``prefix`` with an assistant prefill turn.

        The Messages API continues a trailing assistant message natively, so the
        request gets ``{"role": "assistant", "content": prefix}`` appended (or
        ``prefix`` added to the caller's own trailing assistant turn, which the API
        would merge anyway). The prefix is sent exactly as received.

        Returns ``None`` (so ``resume="auto"`` falls back to the next strategy) when:

        - ``prefix`` is empty or ends with whitespace: the API rejects a final
          assistant turn ending in whitespace, and stripping it would make the seam
          depend on the model re-emitting exactly that whitespace, which it does
          not reliably do (the text would lose or double a space or newline);
        - extended thinking is enabled (``thinking.type`` other than ``"disabled"``):
          the API does not accept a prefill with thinking;
        - the request has no JSON body.
        """
        body_in = spec.json
        if body_in is None or not prefix or prefix[-1].isspace():
            return None
        thinking = body_in.get("thinking")
        if isinstance(thinking, Mapping) and thinking.get("type", "disabled") != "disabled":
            return None
        body = dict(body_in)
        messages = [dict(m) for m in body.get("messages", [])]
        last = messages[-1] if messages else None
        if last is not None and last.get("role") == "assistant":
            content = last.get("content")
            if isinstance(content, str):
                last["content"] = content + prefix
            elif isinstance(content, list):
                last["content"] = [*content, {"type": "text", "text": prefix}]
            else:
                messages.append({"role": "assistant", "content": prefix})
        else:
            messages.append({"role": "assistant", "content": prefix})
        body["messages"] = messages
        return RequestSpec(spec.method, spec.url, dict(spec.headers), body)

    def new_decoder(self) -> AnthropicMessagesDecoder:
        """A fresh :class:`AnthropicMessagesDecoder`."""
        return AnthropicMessagesDecoder()
