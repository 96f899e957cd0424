"""The ``openai-responses`` dialect: OpenAI Responses API streaming and compatibles.

Follows https://platform.openai.com/docs/api-reference/responses-streaming: every
event is a JSON object whose ``type`` names it (``response.output_text.delta``,
...) and that carries a ``sequence_number``; the stream ends with
``response.completed``, ``response.incomplete`` or ``response.failed``. Also handles
what compatible servers do differently, seen in real recordings: OpenRouter sends no
``event:`` lines, a ``: OPENROUTER PROCESSING`` comment and a chat-style
``data: [DONE]``; DeepSeek and OpenRouter stream raw ``reasoning_text``; a resumed
background stream (``starting_after``) begins with ``response.queued``.

Over a WebSocket (OpenAI, xAI and Azure "WebSocket mode") the same events arrive as
whole JSON messages without SSE framing: :meth:`OpenAIResponsesDecoder.decode_payload`
takes them, through the same dispatch as :meth:`OpenAIResponsesDecoder.decode`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from streamkit._request import RequestSpec
from streamkit.errors import ChunkDecodeError
from streamkit.events import (
    DeltaEvent,
    FinishEvent,
    ReasoningDelta,
    RefusalDelta,
    ResumeStrategy,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.extras import Citation, ProviderExtras, Signature, TokenLogprob, TopLogprob
from streamkit.providers._base import normalize_finish_reason, provider_error
from streamkit.sse import ServerSentEvent
from streamkit.usage import Usage

__all__ = ["OpenAIResponsesDecoder", "OpenAIResponsesDialect", "input_items"]

#: Separator put between two reasoning texts (summary parts, reasoning items), which
#: the provider streams as separate parts without one.
REASONING_SEPARATOR = "\n\n"

_TOOL_ITEMS = frozenset({"function_call", "custom_tool_call"})
#: Output item types that are not provider-run tools (everything else is one).
_OWN_ITEMS = frozenset({"message", "reasoning", "function_call", "custom_tool_call"})
_ARGUMENTS_DELTA = frozenset(
    {"response.function_call_arguments.delta", "response.custom_tool_call_input.delta"}
)
_ARGUMENTS_DONE = frozenset(
    {"response.function_call_arguments.done", "response.custom_tool_call_input.done"}
)


# ---- private, lenient wire models (unknown fields ignored or kept raw) ----------------------


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    type: str | None = None
    status: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    input: str | None = None
    encrypted_content: str | None = None


class _Error(BaseModel):
    code: str | int | None = None
    message: str | None = None
    type: str | None = None


class _Response(BaseModel):
    id: str | None = None
    model: str | None = None
    status: str | None = None
    usage: dict[str, Any] | None = None
    output: list[_Item] | None = None
    error: _Error | None = None
    incomplete_details: dict[str, Any] | None = None


class _TopLogprob(BaseModel):
    token: str | None = None
    logprob: float | None = None
    bytes: list[int] | None = None


class _Logprob(BaseModel):
    token: str | None = None
    logprob: float | None = None
    bytes: list[int] | None = None
    top_logprobs: list[_TopLogprob] | None = None


class _Event(BaseModel):
    type: str = ""
    sequence_number: int | None = None
    response: _Response | None = None
    item: _Item | None = None
    item_id: str | None = None
    output_index: int | None = None
    content_index: int | None = None
    summary_index: int | None = None
    delta: str | None = None
    part: dict[str, Any] | None = None
    arguments: str | None = None
    input: str | None = None
    logprobs: list[_Logprob] | None = None
    annotation: dict[str, Any] | None = None
    error: _Error | str | None = None
    code: str | int | None = None
    message: str | None = None


class _Numbered(BaseModel):
    sequence_number: int | None = None


_EVENT = TypeAdapter(_Event)
_NUMBERED = TypeAdapter(_Numbered)


@dataclass(slots=True)
class _Call:
    """A tool call item of this response body."""

    added: bool = False
    """``response.output_item.added`` was seen in this body (not a resumed stream)."""
    streamed: bool = False
    """Some arguments were delivered (deltas, or the whole text from a ``done``)."""
    closed: bool = False
    incomplete: bool = False


def _logprob(lp: _Logprob) -> TokenLogprob | None:
    if lp.token is None or lp.logprob is None:
        return None
    return TokenLogprob(
        token=lp.token,
        logprob=lp.logprob,
        bytes=lp.bytes,
        top_logprobs=[
            TopLogprob(token=t.token, logprob=t.logprob, bytes=t.bytes)
            for t in lp.top_logprobs or ()
            if t.token is not None and t.logprob is not None
        ],
    )


class OpenAIResponsesDecoder:
    """Decodes one Responses API event stream into delta events.

    Rules:
        - The JSON ``type`` field names the event (``event:`` lines are optional);
          ``data: [DONE]`` (OpenRouter) ends the stream.
        - ``response.output_text.delta`` → :class:`TextDelta` (its ``logprobs`` are
          kept for :meth:`extras`); ``response.refusal.delta`` →
          :class:`RefusalDelta`; ``response.reasoning_summary_text.delta`` and
          ``response.reasoning_text.delta`` → :class:`ReasoningDelta`. A
          :data:`REASONING_SEPARATOR` reasoning delta is emitted when a second or later
          summary part (``reasoning_summary_part.added``) or ``reasoning_text`` part
          (``content_part.added``) begins, and when a new reasoning item begins after
          reasoning text.
        - A ``function_call`` (or ``custom_tool_call``) item: ``output_item.added`` →
          :class:`ToolCallDelta` with ``tool_index`` = ``output_index``, ``id`` =
          ``call_id`` and ``name``; each ``function_call_arguments.delta`` → an
          arguments fragment. When no delta came, the whole arguments of
          ``function_call_arguments.done`` / ``output_item.done`` are delivered
          instead (only for calls added in this body, so a resumed stream never
          repeats arguments).
        - ``response.completed`` → :class:`UsageEvent` and :class:`FinishEvent`
          (``stop``, or ``tool_calls`` when the output has tool calls);
          ``response.incomplete`` → the same with the ``incomplete_details.reason``
          (``max_output_tokens`` → ``length``, ``content_filter``). Both end the
          stream (:attr:`done`).
        - ``error`` (nested ``error`` object or top-level ``code``/``message``) and
          ``response.failed`` raise :class:`~streamkit.errors.ProviderError`.
        - Other events (``created``, ``in_progress``, ``queued``, ``*.added``,
          ``*.done``, tool progress) only contribute the model, the response id and
          extras.
    """

    __slots__ = (
        "_calls",
        "_citations",
        "_done",
        "_final",
        "_last_payload",
        "_last_seq",
        "_last_sse",
        "_logprobs",
        "_part_starts",
        "_raw_usage",
        "_reasoning_seen",
        "_server_results",
        "_signatures",
        "_stop_details",
        "_text_chars",
        "model",
        "response_id",
    )

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self._done = False
        self._last_sse: ServerSentEvent | None = None
        self._last_payload: object = None
        self._last_seq: int | None = None
        self._final: _Response | None = None
        self._calls: dict[int, _Call] = {}
        self._text_chars = 0
        self._part_starts: dict[tuple[int, int], int] = {}
        self._reasoning_seen = False
        self._logprobs: list[TokenLogprob] = []
        self._citations: list[Citation] = []
        self._signatures: list[Signature] = []
        self._server_results: list[dict[str, Any]] = []
        self._stop_details: dict[str, Any] | None = None
        self._raw_usage: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        """True after ``response.completed``/``response.incomplete`` or ``[DONE]``."""
        return self._done

    def complete_at_eof(self) -> bool:
        """EOF is a normal end only after a terminal event (see :attr:`done`)."""
        return self._done

    def sequence_number(self, sse: ServerSentEvent) -> int | None:
        """The event's ``sequence_number`` (``None`` for ``[DONE]`` or when absent).

        Read from the event just decoded without parsing it again.
        """
        if sse is self._last_sse:
            return self._last_seq
        if sse.data == "[DONE]":
            return None
        try:
            return _NUMBERED.validate_json(sse.data).sequence_number
        except ValidationError:
            return None

    def decode(self, sse: ServerSentEvent) -> list[DeltaEvent]:
        """Decode one event (see the class docstring for the rules).

        Raises:
            ChunkDecodeError: the data is neither ``[DONE]`` nor a JSON event object.
            ProviderError: an ``error`` event or ``response.failed``.
        """
        data = sse.data
        if data == "[DONE]":
            self._last_sse, self._last_seq = sse, None
            self._done = True
            return []
        try:
            event = _EVENT.validate_json(data)
        except ValidationError as exc:
            if sse.event == "error":
                raise provider_error(data, code=None, error_type=None, raw=data) from None
            raise ChunkDecodeError(
                f"not a Responses stream event: {exc.errors()[0]['msg']}",
                raw=data,
                event=sse.event,
            ) from None
        self._last_sse, self._last_seq = sse, event.sequence_number
        return self._dispatch(event, sse.event, data)

    def decode_payload(self, payload: Any) -> list[DeltaEvent]:
        """Decode one event that arrived as a parsed JSON value (a WebSocket message).

        The same rules as :meth:`decode`: the value is a JSON object whose ``type``
        names the event (the string ``"[DONE]"`` ends the stream). A ``response.done``
        for the response being decoded (same ``response.id``) ends it as
        ``response.completed`` would; one for another response is ignored.

        Raises:
            ChunkDecodeError: the value is not a Responses event object.
            ProviderError: an ``error`` event or ``response.failed``.
        """
        if payload == "[DONE]":
            self._last_payload, self._last_seq = payload, None
            self._done = True
            return []
        try:
            event = _EVENT.validate_python(payload)
        except ValidationError as exc:
            raise ChunkDecodeError(
                f"not a Responses stream event: {exc.errors()[0]['msg']}",
                raw=_raw(payload),
                event="",
            ) from None
        self._last_payload, self._last_seq = payload, event.sequence_number
        return self._dispatch(event, "", payload)

    def payload_sequence_number(self, payload: Any) -> int | None:
        """The ``sequence_number`` of a message (read from the one just decoded)."""
        if payload is self._last_payload:
            return self._last_seq
        number = payload.get("sequence_number") if isinstance(payload, dict) else None
        return number if type(number) is int else None

    def output_items(self) -> list[dict[str, Any]] | None:
        """The output items of the completed response (``response.output``), or ``None``.

        What a client appends to its input to continue the conversation without
        ``previous_response_id`` (reasoning items keep their ``encrypted_content``).
        """
        final = self._final
        if final is None or final.output is None:
            return None
        return [item.model_dump(exclude_unset=True) for item in final.output]

    def _dispatch(self, event: _Event, sse_event: str, source: Any) -> list[DeltaEvent]:
        """The one entry after parsing: ``source`` is the SSE data or the parsed message."""
        kind = event.type or sse_event
        if kind == "response.output_text.delta":
            return self._text(event)
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._reasoning(event)
        if kind in _ARGUMENTS_DELTA:
            return self._arguments_delta(event)
        if kind == "response.refusal.delta":
            return [RefusalDelta(text=event.delta, index=0)] if event.delta else []
        if kind == "response.output_item.added":
            return self._item_added(event)
        if kind in _ARGUMENTS_DONE:
            arguments = event.arguments if event.arguments is not None else event.input
            return self._arguments_done(event, arguments)
        if kind == "response.output_item.done":
            return self._item_done(event)
        if kind == "response.content_part.added":
            return self._part_added(event, summary=False)
        if kind == "response.reasoning_summary_part.added":
            return self._part_added(event, summary=True)
        if kind == "response.output_text.annotation.added":
            self._annotation(event)
            return []
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self._note_response(event.response)
            return []
        if kind in ("response.completed", "response.incomplete"):
            return self._finish(event.response, incomplete=kind == "response.incomplete")
        if kind == "response.failed":
            self._failed(event, _raw(source))
        if kind == "error" or sse_event == "error":
            self._error(event, _raw(source))
        if kind == "response.done":
            return self._done_event(event, source)
        return []

    def _done_event(self, event: _Event, source: Any) -> list[DeltaEvent]:
        # ``response.done`` (seen over WebSocket): terminal only for this response, and
        # only when no ``completed``/``incomplete``/``failed`` ended it already
        response = event.response
        if self._done or response is None or not response.id or response.id != self.response_id:
            return []
        if response.status == "failed":
            self._failed(event, _raw(source))
        return self._finish(response, incomplete=response.status == "incomplete")

    # ---- event handlers ---------------------------------------------------------------

    def _text(self, event: _Event) -> list[DeltaEvent]:
        if event.output_index is not None and event.content_index is not None:
            self._part_starts.setdefault(
                (event.output_index, event.content_index), self._text_chars
            )
        if event.logprobs:
            for lp in event.logprobs:
                converted = _logprob(lp)
                if converted is not None:
                    self._logprobs.append(converted)
        text = event.delta
        if not text:
            return []
        self._text_chars += len(text)
        return [TextDelta(text=text, index=0)]

    def _reasoning(self, event: _Event) -> list[DeltaEvent]:
        text = event.delta
        if not text:
            return []
        self._reasoning_seen = True
        return [ReasoningDelta(text=text, index=0)]

    def _part_added(self, event: _Event, *, summary: bool) -> list[DeltaEvent]:
        # The separator depends on the event alone (not on what came before), so it
        # lands in the right place however the reassembler re-orders numbered events.
        if summary:
            later_part = (event.summary_index or 0) > 0
        else:
            part = event.part or {}
            if part.get("type") == "output_text" and event.output_index is not None:
                self._part_starts.setdefault(
                    (event.output_index, event.content_index or 0), self._text_chars
                )
            later_part = part.get("type") == "reasoning_text" and (event.content_index or 0) > 0
        return [ReasoningDelta(text=REASONING_SEPARATOR, index=0)] if later_part else []

    def _call(self, output_index: int) -> _Call:
        call = self._calls.get(output_index)
        if call is None:
            call = self._calls[output_index] = _Call()
        return call

    def _arguments_delta(self, event: _Event) -> list[DeltaEvent]:
        index = event.output_index
        piece = event.delta
        if index is None or not piece:
            return []
        self._call(index).streamed = True
        return [ToolCallDelta(index=0, tool_index=index, arguments=piece)]

    def _arguments_done(self, event: _Event, arguments: str | None) -> list[DeltaEvent]:
        index = event.output_index
        if index is None:
            return []
        call = self._call(index)
        call.closed = True
        if call.added and not call.streamed and arguments:
            call.streamed = True
            return [ToolCallDelta(index=0, tool_index=index, arguments=arguments)]
        return []

    def _item_added(self, event: _Event) -> list[DeltaEvent]:
        item = event.item
        index = event.output_index
        if item is not None and item.type == "reasoning" and self._reasoning_seen:
            return [ReasoningDelta(text=REASONING_SEPARATOR, index=0)]
        if item is None or index is None or item.type not in _TOOL_ITEMS:
            return []
        call = self._call(index)
        call.added = True
        arguments = item.arguments if item.type == "function_call" else item.input
        if arguments:
            call.streamed = True
        return [
            ToolCallDelta(
                index=0,
                tool_index=index,
                id=item.call_id or item.id or None,
                name=item.name or None,
                arguments=arguments or "",
            )
        ]

    def _item_done(self, event: _Event) -> list[DeltaEvent]:
        item = event.item
        index = event.output_index
        if item is None:
            return []
        kind = item.type
        if kind in _TOOL_ITEMS and index is not None:
            out = self._arguments_done(
                event, item.arguments if kind == "function_call" else item.input
            )
            if item.status == "incomplete":
                self._call(index).incomplete = True
            return out
        if kind == "reasoning":
            if item.encrypted_content:
                self._signatures.append(
                    Signature(
                        signature=item.encrypted_content,
                        kind="encrypted_reasoning",
                        block_index=index,
                        item_id=item.id,
                    )
                )
            return []
        if kind is not None and kind not in _OWN_ITEMS:
            self._server_results.append(item.model_dump(exclude_unset=True))
        return []

    def _annotation(self, event: _Event) -> None:
        raw = event.annotation
        if raw is None:
            return
        start = raw.get("start_index")
        end = raw.get("end_index")
        offset = None
        if event.output_index is not None and event.content_index is not None:
            offset = self._part_starts.get((event.output_index, event.content_index))
        if offset is None or not isinstance(start, int) or not isinstance(end, int):
            start = end = offset = None
        title = raw.get("title") or raw.get("filename")
        url = raw.get("url")
        self._citations.append(
            Citation(
                type=str(raw.get("type") or "annotation"),
                url=url if isinstance(url, str) else None,
                title=title if isinstance(title, str) else None,
                block_index=event.output_index,
                start_index=start + offset if start is not None and offset is not None else None,
                end_index=end + offset if end is not None and offset is not None else None,
                raw=raw,
            )
        )

    def _note_response(self, response: _Response | None) -> None:
        if response is None:
            return
        if response.model and self.model is None:
            self.model = response.model
        if response.id and self.response_id is None:
            self.response_id = response.id

    def _usage_events(self, response: _Response | None) -> list[DeltaEvent]:
        if response is None or response.usage is None:
            return []
        self._raw_usage = dict(response.usage)
        return [UsageEvent(usage=Usage.from_openai(response.usage))]

    def _finish(self, response: _Response | None, *, incomplete: bool) -> list[DeltaEvent]:
        self._done = True
        self._final = response
        self._note_response(response)
        out = self._usage_events(response)
        if incomplete:
            details = response.incomplete_details if response is not None else None
            if details is not None:
                self._stop_details = dict(details)
            reason = details.get("reason") if details is not None else None
            raw = reason if isinstance(reason, str) else "incomplete"
            finish = normalize_finish_reason(raw)
            for call in self._calls.values():
                if not call.closed:
                    call.incomplete = True
        else:
            raw = response.status if response is not None and response.status else "completed"
            output = response.output if response is not None and response.output else []
            has_calls = bool(self._calls) or any(item.type in _TOOL_ITEMS for item in output)
            finish = "tool_calls" if has_calls else normalize_finish_reason(raw)
        out.append(FinishEvent(index=0, finish_reason=finish, raw_finish_reason=raw))
        return out

    def _failed(self, event: _Event, data: str) -> None:
        response = event.response
        self._note_response(response)
        carried = self._usage_events(response)
        err = response.error if response is not None else None
        if err is None:
            raise provider_error(
                "response failed", code=None, error_type=None, raw=data, events=carried
            )
        raise provider_error(
            err.message, code=err.code, error_type=err.type, raw=data, events=carried
        )

    def _error(self, event: _Event, data: str) -> None:
        err = event.error
        if isinstance(err, _Error):
            raise provider_error(
                err.message or event.message,
                code=err.code if err.code is not None else event.code,
                error_type=err.type,
                raw=data,
            )
        raise provider_error(
            event.message or err or data, code=event.code, error_type=None, raw=data
        )

    # ---- extras -------------------------------------------------------------------------

    def extras(self) -> ProviderExtras:
        """What the stream carried besides delta events (see :class:`ProviderExtras`).

        Logprobs of the output text, ``url_citation``/``file_citation`` annotations
        (spans shifted into the delivered text), ``encrypted_content`` of reasoning
        items, provider-run tool items, ``incomplete_details`` and the raw usage.
        Tool calls that were added but never closed, or closed with status
        ``incomplete``, are listed as incomplete.
        """
        incomplete = [
            index
            for index, call in sorted(self._calls.items())
            if call.incomplete or (call.added and not call.closed)
        ]
        return ProviderExtras(
            citations=list(self._citations),
            signatures=list(self._signatures),
            server_tool_results=list(self._server_results),
            incomplete_tool_calls=incomplete,
            logprobs=list(self._logprobs) if self._logprobs else None,
            stop_details=dict(self._stop_details) if self._stop_details is not None else None,
            raw_usage=dict(self._raw_usage) if self._raw_usage is not None else None,
        )


def _raw(source: Any) -> str:
    """The text of an event for error messages: SSE data as it is, a message as JSON."""
    if isinstance(source, str):
        return source
    try:
        return json.dumps(source, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(source)


# ---- request building ---------------------------------------------------------------------


def _content(content: Any, role: str | None) -> Any:
    """Chat-style content → Responses content (``text`` parts become input/output text)."""
    if not isinstance(content, list):
        return content
    text_type = "output_text" if role == "assistant" else "input_text"
    parts: list[Any] = []
    for part in content:
        if not isinstance(part, Mapping):
            parts.append(part)
            continue
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": text_type, "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            converted: dict[str, Any] = {"type": "input_image", "image_url": url}
            if isinstance(image, Mapping) and "detail" in image:
                converted["detail"] = image["detail"]
            parts.append(converted)
        else:
            parts.append(dict(part))
    return parts


def input_items(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Convert Chat Completions messages into Responses ``input`` items.

    ``system``/``developer``/``user``/``assistant`` messages stay role messages (their
    ``text``/``image_url`` content parts become ``input_text``/``output_text``/
    ``input_image``); an assistant message's ``tool_calls`` become ``function_call``
    items and ``tool`` messages ``function_call_output`` items. Anything that is
    already a Responses item (has a ``type`` and no ``role``) passes unchanged.
    """
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role is None:
            items.append(dict(message))
            continue
        if role == "tool":
            output = message.get("content", "")
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id"),
                    "output": output if isinstance(output, str) else json.dumps(output),
                }
            )
            continue
        content = message.get("content")
        tool_calls = message.get("tool_calls") if role == "assistant" else None
        if tool_calls:
            if content:
                items.append({"role": "assistant", "content": _content(content, role)})
            for call in tool_calls:
                fn = call.get("function") or {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id"),
                        "name": fn.get("name"),
                        "arguments": fn.get("arguments") or "",
                    }
                )
            continue
        item = {k: v for k, v in message.items() if k not in ("name", "tool_calls")}
        item["content"] = _content(content if content is not None else "", role)
        items.append(item)
    return items


class OpenAIResponsesDialect:
    """OpenAI Responses (``POST {base_url}/responses``) and compatibles (OpenRouter, DeepSeek)."""

    name = "openai-responses"
    default_base_url = "https://api.openai.com/v1"
    api_key_env: tuple[str, ...] = ("OPENAI_API_KEY",)
    resume_strategies: tuple[ResumeStrategy, ...] = ("starting-after", "replay")

    def build_request(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> RequestSpec:
        """Build ``POST {base_url}/responses`` with ``stream: true``.

        ``messages`` become ``input`` items (see :func:`input_items`); ``params`` are
        added to the body as they are (``instructions``, ``tools``, ``reasoning``,
        ``max_output_tokens``, ``background``, ``include``, ...). Bearer auth.
        """
        body: dict[str, Any] = {"model": model, "input": input_items(messages), "stream": True}
        body.update(params)
        headers = {"accept": "text/event-stream", "content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return RequestSpec("POST", base_url.rstrip("/") + "/responses", headers, body)

    def build_prefill_request(self, spec: RequestSpec, prefix: str) -> RequestSpec | None:
        """Always ``None``: the Responses API does not continue a partial assistant turn."""
        return None

    def build_starting_after_request(
        self, spec: RequestSpec, response_id: str, after_sequence: int
    ) -> RequestSpec | None:
        """Build the request that resumes a background response's stream.

        ``GET {base_url}/responses/{response_id}?stream=true&starting_after=N``
        with the same headers (minus ``content-type``) and no body: the server
        re-sends the events numbered after ``after_sequence`` (the last one
        delivered), beginning with ``response.queued`` or ``response.in_progress``.
        Query parameters of the original URL (e.g. Azure's ``api-version``) are kept.

        Returns ``None`` when the original request did not ask for
        ``background: true``: only background responses can be streamed again, so
        ``resume="auto"`` falls back to replay.
        """
        if spec.json is not None and not spec.json.get("background"):
            return None
        parts = urlsplit(spec.url)
        path = f"{parts.path.rstrip('/')}/{quote(response_id, safe='')}"
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("stream", "starting_after")]
        query += [("stream", "true"), ("starting_after", str(after_sequence))]
        url = urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))
        headers = {k: v for k, v in spec.headers.items() if k.lower() != "content-type"}
        return RequestSpec("GET", url, headers, None)

    def new_decoder(self) -> OpenAIResponsesDecoder:
        """A fresh :class:`OpenAIResponsesDecoder`."""
        return OpenAIResponsesDecoder()
