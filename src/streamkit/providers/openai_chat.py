"""The ``openai-chat`` dialect: OpenAI Chat Completions streaming and compatibles.

Follows https://platform.openai.com/docs/api-reference/chat-streaming (the
``chat.completion.chunk`` object) and the quirks of compatible servers seen in
real recordings: DeepSeek/xAI/Z.ai ``reasoning_content``, OpenRouter/Groq
``reasoning``, Mistral content arrays with ``thinking`` parts, Groq
``x_groq.usage``, Azure's empty prompt-filter chunk, OpenRouter and Groq
in-band errors, vLLM extras, tool-call indexes starting at 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError

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
from streamkit.extras import ProviderExtras, TokenLogprob
from streamkit.providers._base import normalize_finish_reason, provider_error
from streamkit.sse import ServerSentEvent
from streamkit.usage import Usage

__all__ = ["OpenAIChatDecoder", "OpenAIChatDialect", "chunk_usage"]


# ---- private, lenient wire models (unknown fields ignored) -------------------------------


class _Fn(BaseModel):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(BaseModel):
    index: int | None = None
    id: str | None = None
    function: _Fn | None = None


class _Part(BaseModel):
    type: str | None = None
    text: str | None = None
    thinking: list[_Part] | str | None = None


class _Delta(BaseModel):
    content: str | list[_Part] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Logprobs(BaseModel):
    content: list[dict[str, Any]] | None = None
    refusal: list[dict[str, Any]] | None = None


class _Choice(BaseModel):
    index: int = 0
    delta: _Delta | None = None
    finish_reason: str | None = None
    logprobs: _Logprobs | None = None


class _XGroq(BaseModel):
    usage: dict[str, Any] | None = None


class _Error(BaseModel):
    message: str | None = None
    code: str | int | None = None
    type: str | None = None


class _Chunk(BaseModel):
    id: str | None = None
    model: str | None = None
    choices: list[_Choice] | None = None
    usage: dict[str, Any] | None = None
    x_groq: _XGroq | None = None
    error: _Error | str | None = None


class _ErrorEnvelope(BaseModel):
    error: _Error | str | None = None
    message: str | None = None


_CHUNK = TypeAdapter(_Chunk)
_from_json = pydantic_core.from_json
# delta keys that carry content other than text: the fast path needs them empty
_QUIET_KEYS = ("reasoning_content", "reasoning", "refusal")
_ERROR = TypeAdapter(_ErrorEnvelope)


def chunk_usage(usage: dict[str, Any]) -> Usage:
    """Map an OpenAI-style usage object onto :class:`Usage` (see :meth:`Usage.from_openai`)."""
    return Usage.from_openai(usage)


def _parts_text(parts: list[_Part], index: int, out: list[DeltaEvent]) -> None:
    # Mistral: content is an array of typed parts; "thinking" parts nest text parts.
    for part in parts:
        if part.type == "thinking":
            thinking = part.thinking
            if isinstance(thinking, str):
                if thinking:
                    out.append(ReasoningDelta(text=thinking, index=index))
            elif thinking:
                out.extend(
                    ReasoningDelta(text=sub.text, index=index) for sub in thinking if sub.text
                )
        elif part.text:
            out.append(TextDelta(text=part.text, index=index))


class OpenAIChatDecoder:
    """Decodes one ``chat.completion.chunk`` stream into delta events.

    Rules:
        - ``data: [DONE]`` ends the stream (:attr:`done`).
        - Chunks with no ``choices`` or with ``object: ""`` (Azure prompt filter) only
          contribute usage, model and id.
        - ``delta.content`` → :class:`TextDelta` (Mistral arrays: text parts → text,
          ``thinking`` parts → :class:`ReasoningDelta`); ``reasoning_content`` or
          ``reasoning`` → :class:`ReasoningDelta`; ``refusal`` → :class:`RefusalDelta`;
          ``tool_calls[j]`` → :class:`ToolCallDelta` keyed by the call's ``index``;
          ``finish_reason`` → :class:`FinishEvent`; ``usage`` or ``x_groq.usage`` →
          :class:`UsageEvent`. Empty strings produce no event.
        - A chunk with a top-level ``error``, or an ``event: error``, raises
          :class:`~streamkit.errors.ProviderError` (usage in the same chunk is kept).
    """

    __slots__ = (
        "_done",
        "_finished",
        "_logprobs",
        "_raw_usage",
        "_seen_choices",
        "_usage_only_seen",
        "fast",
        "model",
        "response_id",
    )

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self.fast = True
        """Use the fast path for plain text chunks (``False``: always validate)."""
        self._logprobs: list[TokenLogprob] = []
        self._raw_usage: dict[str, Any] | None = None
        self._done = False
        self._seen_choices: set[int] = set()
        self._finished: set[int] = set()
        self._usage_only_seen = False

    @property
    def done(self) -> bool:
        """True after ``data: [DONE]``."""
        return self._done

    def complete_at_eof(self) -> bool:
        """Whether EOF without ``[DONE]`` ends a complete stream.

        It does when every choice seen has finished, or when the final usage-only
        chunk (``choices: []``, sent last with ``stream_options.include_usage``)
        arrived.
        """
        if self._done or self._usage_only_seen:
            return True
        return bool(self._seen_choices) and self._seen_choices <= self._finished

    def sequence_number(self, sse: ServerSentEvent) -> int | None:
        """Chat Completions events are not numbered: always ``None``."""
        return None

    def decode(self, sse: ServerSentEvent) -> list[DeltaEvent]:
        """Decode one event (see the class docstring for the rules).

        Raises:
            ChunkDecodeError: the data is neither ``[DONE]`` nor a JSON chunk object.
            ProviderError: an in-band error.
        """
        data = sse.data
        if sse.event == "error":
            self._raise_error_event(data)
        if data == "[DONE]":
            self._done = True
            return []
        try:
            obj = _from_json(data)
        except ValueError as exc:
            raise ChunkDecodeError(f"not JSON: {exc}", raw=data, event=sse.event) from None
        if self.fast:
            hot = self._hot_text(obj)
            if hot is not None:
                return hot
        return self._decode_chunk(obj, data, sse.event)

    def decode_payload(self, payload: Any) -> list[DeltaEvent]:
        """Decode one chunk that arrived as a parsed JSON value (a WebSocket message).

        The same rules as :meth:`decode` after its JSON parsing: the string
        ``"[DONE]"`` ends the stream, an object is a ``chat.completion.chunk`` (or an
        error envelope).

        Raises:
            ChunkDecodeError: the value is not a chunk object.
            ProviderError: an in-band error.
        """
        if payload == "[DONE]":
            self._done = True
            return []
        if self.fast:
            hot = self._hot_text(payload)
            if hot is not None:
                return hot
        return self._decode_chunk(payload, None, "")

    def payload_sequence_number(self, payload: Any) -> int | None:
        """Chat Completions chunks are not numbered: always ``None``."""
        return None

    def _decode_chunk(self, obj: Any, data: str | None, event: str) -> list[DeltaEvent]:
        """Validate and decode one parsed chunk (``data``: its SSE text, if it came as SSE)."""
        try:
            chunk = _CHUNK.validate_python(obj)
        except ValidationError as exc:
            raise ChunkDecodeError(
                f"not a chat.completion.chunk: {exc.errors()[0]['msg']}",
                raw=data if data is not None else _raw(obj),
                event=event,
            ) from None
        if chunk.model and self.model is None:
            self.model = chunk.model
        if chunk.id and self.response_id is None:
            self.response_id = chunk.id
        out: list[DeltaEvent] = []
        choices = chunk.choices
        if choices:
            for choice in choices:
                self._choice(choice, out)
        usage = chunk.usage
        if usage is None and chunk.x_groq is not None:
            usage = chunk.x_groq.usage
        if usage is not None:
            self._raw_usage = usage
            out.append(UsageEvent(usage=chunk_usage(usage)))
            if not choices:
                self._usage_only_seen = True
        if chunk.error is not None:
            err = chunk.error
            raw = data if data is not None else _raw(obj)
            if isinstance(err, str):
                raise provider_error(
                    err,
                    code=None,
                    error_type=None,
                    raw=raw,
                    events=[e for e in out if isinstance(e, UsageEvent)],
                )
            raise provider_error(
                err.message,
                code=err.code,
                error_type=err.type,
                raw=raw,
                events=[e for e in out if isinstance(e, UsageEvent)],
            )
        return out

    def _hot_text(self, obj: Any) -> list[DeltaEvent] | None:
        """The fast path for the commonest chunks: plain text, or one tool call's piece.

        A chunk qualifies with one choice whose delta is plain text, or whose
        ``content`` is null and ``tool_calls`` has one entry. Returns the events, or
        ``None`` when the chunk has any other shape (usage, errors, finish, logprobs,
        several tool calls, text and a tool call together, reasoning, refusal, content
        arrays, unexpected types), which then takes the validating path. Both paths
        give the same events on every real recording and on generated tool-call
        chunks (``tests/test_openai_chat.py``).
        """
        if type(obj) is not dict:
            return None
        choices = obj.get("choices")
        if type(choices) is not list or len(choices) != 1:
            return None
        if obj.get("usage") is not None or obj.get("error") is not None or "x_groq" in obj:
            return None
        choice = choices[0]
        if (
            type(choice) is not dict
            or choice.get("finish_reason") is not None
            or choice.get("logprobs") is not None
        ):
            return None
        index = choice.get("index", 0)
        delta = choice.get("delta")
        if type(index) is not int or type(delta) is not dict:
            return None
        content = delta.get("content")
        for key in _QUIET_KEYS:
            value = delta.get(key)
            if value is not None and value != "":
                return None
        tool_calls = delta.get("tool_calls")
        events: list[DeltaEvent]
        if type(content) is str:
            if tool_calls is not None and tool_calls != []:
                return None
            events = [TextDelta(text=content, index=index)] if content else []
        elif content is None and type(tool_calls) is list and len(tool_calls) == 1:
            call = _hot_tool_call(tool_calls[0], index)
            if call is None:
                return None
            events = [call]
        else:
            return None
        model = obj.get("model")
        chunk_id = obj.get("id")
        if (model is not None and type(model) is not str) or (
            chunk_id is not None and type(chunk_id) is not str
        ):
            return None
        if model and self.model is None:
            self.model = model
        if chunk_id and self.response_id is None:
            self.response_id = chunk_id
        self._seen_choices.add(index)
        return events

    def extras(self) -> ProviderExtras:
        """Token logprobs (content and refusal, in stream order) and the raw usage object."""
        return ProviderExtras(
            logprobs=list(self._logprobs) if self._logprobs else None,
            raw_usage=dict(self._raw_usage) if self._raw_usage is not None else None,
        )

    def _choice(self, choice: _Choice, out: list[DeltaEvent]) -> None:
        index = choice.index
        self._seen_choices.add(index)
        logprobs = choice.logprobs
        if logprobs is not None:
            for entry in (logprobs.content or []) + (logprobs.refusal or []):
                self._logprobs.append(TokenLogprob.model_validate({**entry, "index": index}))
        delta = choice.delta
        if delta is not None:
            reasoning = delta.reasoning_content or delta.reasoning
            if reasoning:
                out.append(ReasoningDelta(text=reasoning, index=index))
            content = delta.content
            if content:
                if isinstance(content, str):
                    out.append(TextDelta(text=content, index=index))
                else:
                    _parts_text(content, index, out)
            if delta.refusal:
                out.append(RefusalDelta(text=delta.refusal, index=index))
            if delta.tool_calls:
                for position, call in enumerate(delta.tool_calls):
                    fn = call.function
                    name = fn.name if fn else None
                    arguments = (fn.arguments if fn else None) or ""
                    out.append(
                        ToolCallDelta(
                            index=index,
                            tool_index=call.index if call.index is not None else position,
                            id=call.id or None,
                            name=name or None,
                            arguments=arguments,
                        )
                    )
        if choice.finish_reason:
            self._finished.add(index)
            out.append(
                FinishEvent(
                    index=index,
                    finish_reason=normalize_finish_reason(choice.finish_reason),
                    raw_finish_reason=choice.finish_reason,
                )
            )

    def _raise_error_event(self, data: str) -> None:
        try:
            env = _ERROR.validate_json(data)
        except ValidationError:
            raise provider_error(data, code=None, error_type=None, raw=data) from None
        err = env.error
        if isinstance(err, _Error):
            raise provider_error(err.message, code=err.code, error_type=err.type, raw=data)
        raise provider_error(err or env.message or data, code=None, error_type=None, raw=data)


def _hot_tool_call(call: Any, index: int) -> ToolCallDelta | None:
    """The event of one ``tool_calls`` entry, as the validating path makes it.

    ``None`` for an entry whose values are not of the plain JSON types expected (the
    validating path then decides).
    """
    if type(call) is not dict:
        return None
    tool_index = call.get("index")
    call_id = call.get("id")
    fn = call.get("function")
    if tool_index is None:
        tool_index = 0  # its position in the list
    elif type(tool_index) is not int:
        return None
    if call_id is not None and type(call_id) is not str:
        return None
    name = arguments = None
    if fn is not None:
        if type(fn) is not dict:
            return None
        name = fn.get("name")
        arguments = fn.get("arguments")
        if (name is not None and type(name) is not str) or (
            arguments is not None and type(arguments) is not str
        ):
            return None
    return ToolCallDelta(
        index=index,
        tool_index=tool_index,
        id=call_id or None,
        name=name or None,
        arguments=arguments or "",
    )


def _raw(obj: Any) -> str:
    """A parsed chunk as JSON text, for error messages."""
    try:
        return json.dumps(obj, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(obj)


class OpenAIChatDialect:
    """OpenAI Chat Completions (``POST {base_url}/chat/completions``) and compatibles.

    Works for OpenAI, Azure OpenAI (v1 API), DeepSeek, Gemini's OpenAI-compatible
    endpoint, OpenRouter, Groq, Mistral, xAI, Z.ai, vLLM and relays.
    """

    name = "openai-chat"
    default_base_url = "https://api.openai.com/v1"
    api_key_env: tuple[str, ...] = ("OPENAI_API_KEY",)
    resume_strategies: tuple[ResumeStrategy, ...] = ("replay",)

    def build_request(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> RequestSpec:
        """Build ``POST {base_url}/chat/completions`` with ``stream: true``.

        ``stream_options.include_usage`` is set so that usage arrives (unless the
        caller passes its own ``stream_options``). ``params`` are added to the body
        as they are (``temperature``, ``tools``, ``max_tokens``, ...).
        """
        body: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body.update(params)
        headers = {"accept": "text/event-stream", "content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return RequestSpec("POST", base_url.rstrip("/") + "/chat/completions", headers, body)

    def build_prefill_request(self, spec: RequestSpec, prefix: str) -> RequestSpec | None:
        """Append ``{"role": "assistant", "content": prefix, "prefix": true}`` to the messages.

        This is DeepSeek's chat prefix completion (``prefix: true``, beta) and what
        servers that continue a trailing assistant message accept; OpenAI itself
        does not continue a prefix, so ``resume="auto"`` does not choose this for
        ``openai-chat``.
        """
        if spec.json is None:
            return None
        body = dict(spec.json)
        messages = list(body.get("messages", []))
        messages.append({"role": "assistant", "content": prefix, "prefix": True})
        body["messages"] = messages
        return RequestSpec(spec.method, spec.url, dict(spec.headers), body)

    def new_decoder(self) -> OpenAIChatDecoder:
        """A fresh :class:`OpenAIChatDecoder`."""
        return OpenAIChatDecoder()
