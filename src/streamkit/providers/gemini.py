"""The ``gemini`` dialect: Gemini API / Vertex AI ``streamGenerateContent?alt=sse``.

Follows https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent:
every event is a whole ``GenerateContentResponse`` chunk whose candidates carry the
new parts. Quirks handled, all seen in real recordings: CRLF framing, no terminal
marker (the stream ends at EOF after a ``finishReason``), ``usageMetadata`` repeated
(cumulatively) on every chunk, a candidate without ``index``, ``thought: true``
parts, ``thoughtSignature`` on any part, grounding metadata on late chunks, whole
``functionCall`` parts, and Vertex AI's streamed function-call arguments
(``partialArgs`` with a JSON path per value and ``willContinue`` flags).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter, ValidationError

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
from streamkit.providers._gemini_messages import gemini_contents
from streamkit.providers._gemini_partial_args import PartialArgsWriter
from streamkit.sse import ServerSentEvent
from streamkit.usage import Usage

__all__ = ["GeminiDecoder", "GeminiDialect", "gemini_contents"]

#: Gemini finish reasons that ``normalize_finish_reason`` does not know.
_FINISH_REASONS: Final = {
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}

#: Chat-style keyword arguments moved into ``generationConfig`` (Gemini's REST API
#: rejects unknown top-level fields); a ``generationConfig`` passed explicitly wins.
_GENERATION_CONFIG: Final = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "max_output_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


# ---- private, lenient wire models (unknown fields ignored or kept raw) ----------------------


class _PartialArg(BaseModel):
    jsonPath: str | None = None
    stringValue: str | None = None
    numberValue: float | None = None
    boolValue: bool | None = None
    nullValue: str | None = None
    willContinue: bool | None = None


class _FunctionCall(BaseModel):
    id: str | None = None
    name: str | None = None
    args: dict[str, Any] | None = None
    partialArgs: list[_PartialArg] | None = None
    willContinue: bool | None = None


class _Part(BaseModel):
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None
    functionCall: _FunctionCall | None = None
    executableCode: dict[str, Any] | None = None
    codeExecutionResult: dict[str, Any] | None = None


class _Content(BaseModel):
    parts: list[_Part] | None = None


class _Candidate(BaseModel):
    index: int | None = None
    content: _Content | None = None
    finishReason: str | None = None
    finishMessage: str | None = None
    safetyRatings: list[dict[str, Any]] | None = None
    groundingMetadata: dict[str, Any] | None = None
    citationMetadata: dict[str, Any] | None = None


class _Error(BaseModel):
    code: int | str | None = None
    message: str | None = None
    status: str | None = None


class _Chunk(BaseModel):
    candidates: list[_Candidate] | None = None
    usageMetadata: dict[str, Any] | None = None
    modelVersion: str | None = None
    responseId: str | None = None
    promptFeedback: dict[str, Any] | None = None
    error: _Error | None = None


_CHUNK = TypeAdapter(_Chunk)


# ---- decoder ------------------------------------------------------------------------------


@dataclass(slots=True)
class _CandidateState:
    tool_count: int = 0
    open_call: PartialArgsWriter | None = None
    open_index: int = 0
    finished: bool = False
    incomplete: list[int] = field(default_factory=list)


class GeminiDecoder:
    """Decodes one ``streamGenerateContent?alt=sse`` stream into delta events.

    Rules:
        - Each candidate's parts, in order: ``text`` → :class:`TextDelta`, or
          :class:`ReasoningDelta` when the part has ``thought: true``; a whole
          ``functionCall`` (``name`` + ``args``) → one :class:`ToolCallDelta` with
          ``json.dumps(args)``; a streamed one (``willContinue``/``partialArgs``) → a
          :class:`ToolCallDelta` with the name, then argument fragments written by
          :class:`PartialArgsWriter`, closed by the part without ``willContinue``.
          ``tool_index`` counts the candidate's calls from 0; ``id`` is
          ``functionCall.id`` when sent. The candidate ``index`` defaults to 0.
        - ``finishReason`` → :class:`FinishEvent`: ``STOP`` → ``stop`` (``tool_calls``
          when the candidate made function calls), ``MAX_TOKENS`` → ``length``,
          ``SAFETY``/``RECITATION``/``BLOCKLIST``/``PROHIBITED_CONTENT``/``SPII``/
          ``IMAGE_*`` → ``content_filter``; a prompt blocked by ``promptFeedback``
          (no candidates) → ``content_filter`` with the ``blockReason``.
        - ``usageMetadata`` (cumulative) → :class:`UsageEvent` when it changed.
        - An ``error`` object raises :class:`~streamkit.errors.ProviderError`.
        - There is no terminal marker: EOF is complete once every candidate seen
          has finished (:meth:`complete_at_eof`).
        - ``thoughtSignature``, ``groundingMetadata``, ``citationMetadata``, the code
          execution tool's ``executableCode``/``codeExecutionResult`` parts,
          ``finishMessage``/``safetyRatings`` and the raw usage go to :meth:`extras`.
        - Within one chunk the events come in this order: content, usage, finishes.
    """

    __slots__ = (
        "_candidates",
        "_citations",
        "_grounding",
        "_last_usage",
        "_raw_usage",
        "_server_results",
        "_signatures",
        "_stop_details",
        "model",
        "response_id",
    )

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self._candidates: dict[int, _CandidateState] = {}
        self._last_usage: Usage | None = None
        self._raw_usage: dict[str, Any] | None = None
        self._signatures: list[Signature] = []
        self._server_results: list[dict[str, Any]] = []
        self._citations: list[Citation] = []
        self._grounding: dict[str, Any] | None = None
        self._stop_details: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        """Always False: Gemini streams have no terminal event (see :meth:`complete_at_eof`)."""
        return False

    def complete_at_eof(self) -> bool:
        """EOF is a normal end once every candidate seen sent its ``finishReason``."""
        return bool(self._candidates) and all(c.finished for c in self._candidates.values())

    def sequence_number(self, sse: ServerSentEvent) -> int | None:
        """Gemini chunks are not numbered: always ``None``."""
        return None

    def decode(self, sse: ServerSentEvent) -> list[DeltaEvent]:
        """Decode one chunk (see the class docstring for the rules).

        Raises:
            ChunkDecodeError: the data is not a JSON ``GenerateContentResponse``.
            ProviderError: the chunk is an error object.
        """
        data = sse.data
        try:
            chunk = _CHUNK.validate_json(data)
        except ValidationError as exc:
            raise ChunkDecodeError(
                f"not a GenerateContentResponse chunk: {exc.errors()[0]['msg']}",
                raw=data,
                event=sse.event,
            ) from None
        if chunk.modelVersion and self.model is None:
            self.model = chunk.modelVersion
        if chunk.responseId and self.response_id is None:
            self.response_id = chunk.responseId
        out: list[DeltaEvent] = []
        finishes: list[DeltaEvent] = []
        if chunk.candidates:
            for candidate in chunk.candidates:
                self._candidate(candidate, out, finishes)
        elif chunk.promptFeedback is not None:
            self._prompt_feedback(chunk.promptFeedback, finishes)
        usage = chunk.usageMetadata
        if usage is not None:
            self._raw_usage = dict(usage)
            mapped = Usage.from_gemini(usage)
            if not mapped.is_empty and mapped != self._last_usage:
                self._last_usage = mapped
                out.append(UsageEvent(usage=mapped))
        if chunk.error is not None:
            err = chunk.error
            raise provider_error(
                err.message,
                code=err.status or err.code,
                error_type=err.status,
                raw=data,
                events=[e for e in out if isinstance(e, UsageEvent)],
            )
        if finishes:
            out.extend(finishes)  # after the chunk's content and usage
        return out

    def _state(self, index: int) -> _CandidateState:
        state = self._candidates.get(index)
        if state is None:
            state = self._candidates[index] = _CandidateState()
        return state

    def _candidate(
        self, candidate: _Candidate, out: list[DeltaEvent], finishes: list[DeltaEvent]
    ) -> None:
        index = candidate.index or 0
        state = self._state(index)
        content = candidate.content
        if content is not None and content.parts:
            for part in content.parts:
                self._part(part, index, state, out)
        if candidate.groundingMetadata is not None and index == 0:
            self._grounding = candidate.groundingMetadata
        if candidate.citationMetadata is not None:
            self._citation_metadata(candidate.citationMetadata, index)
        raw = candidate.finishReason
        if raw:
            state.finished = True
            if state.open_call is not None:
                state.incomplete.append(state.open_index)
                state.open_call = None
            if candidate.finishMessage is not None or candidate.safetyRatings is not None:
                details = dict(self._stop_details or {})
                if candidate.finishMessage is not None:
                    details["finishMessage"] = candidate.finishMessage
                if candidate.safetyRatings is not None:
                    details["safetyRatings"] = candidate.safetyRatings
                self._stop_details = details
            if raw == "STOP" and state.tool_count:
                finish: str | None = "tool_calls"
            else:
                finish = _FINISH_REASONS.get(raw) or normalize_finish_reason(raw)
            finishes.append(FinishEvent(index=index, finish_reason=finish, raw_finish_reason=raw))

    def _part(self, part: _Part, index: int, state: _CandidateState, out: list[DeltaEvent]) -> None:
        text = part.text
        if text:
            if part.thought:
                out.append(ReasoningDelta(text=text, index=index))
            else:
                out.append(TextDelta(text=text, index=index))
        if part.executableCode is not None:
            self._server_results.append({"index": index, "executableCode": part.executableCode})
        if part.codeExecutionResult is not None:
            self._server_results.append(
                {"index": index, "codeExecutionResult": part.codeExecutionResult}
            )
        tool_index = None
        if part.functionCall is not None:
            tool_index = self._function_call(part.functionCall, index, state, out)
        if part.thoughtSignature:
            if tool_index is not None:
                kind = "function_call"
            elif part.thought:
                kind = "thought"
            else:
                kind = "text"
            self._signatures.append(
                Signature(
                    signature=part.thoughtSignature,
                    kind=kind,
                    index=index,
                    tool_index=tool_index,
                )
            )

    def _function_call(
        self, call: _FunctionCall, index: int, state: _CandidateState, out: list[DeltaEvent]
    ) -> int | None:
        streamed = bool(call.willContinue or call.partialArgs)
        if call.name or (state.open_call is None and (call.args is not None or streamed)):
            if state.open_call is not None:
                # a new call begins: the open one ended without its closing part
                out.append(
                    ToolCallDelta(
                        index=index, tool_index=state.open_index, arguments=state.open_call.close()
                    )
                )
                state.open_call = None
            tool_index = state.tool_count
            state.tool_count += 1
            if not streamed:
                arguments = json.dumps(call.args or {}, ensure_ascii=False)
                out.append(
                    ToolCallDelta(
                        index=index,
                        tool_index=tool_index,
                        id=call.id or None,
                        name=call.name or None,
                        arguments=arguments,
                    )
                )
                return tool_index
            out.append(
                ToolCallDelta(
                    index=index, tool_index=tool_index, id=call.id or None, name=call.name or None
                )
            )
            state.open_call = PartialArgsWriter()
            state.open_index = tool_index
        writer = state.open_call
        if writer is None:
            return None  # an empty functionCall with no call open: nothing to continue
        tool_index = state.open_index
        for arg in call.partialArgs or ():
            piece = writer.add(arg)
            if piece:
                out.append(ToolCallDelta(index=index, tool_index=tool_index, arguments=piece))
        if call.args and not writer.started:
            writer.started = True
            out.append(
                ToolCallDelta(
                    index=index,
                    tool_index=tool_index,
                    arguments=json.dumps(call.args, ensure_ascii=False),
                )
            )
            writer = None
            state.open_call = None
            return tool_index
        if not call.willContinue:
            out.append(ToolCallDelta(index=index, tool_index=tool_index, arguments=writer.close()))
            state.open_call = None
        return tool_index

    def _prompt_feedback(self, feedback: dict[str, Any], out: list[DeltaEvent]) -> None:
        details = dict(self._stop_details or {})
        details["promptFeedback"] = feedback
        self._stop_details = details
        reason = feedback.get("blockReason")
        if isinstance(reason, str) and reason:
            state = self._state(0)
            if not state.finished:
                state.finished = True
                out.append(
                    FinishEvent(index=0, finish_reason="content_filter", raw_finish_reason=reason)
                )

    def _citation_metadata(self, metadata: dict[str, Any], index: int) -> None:
        sources = metadata.get("citationSources") or metadata.get("citations") or []
        for source in sources:
            if not isinstance(source, dict):
                continue
            url = source.get("uri") or source.get("url")
            title = source.get("title")
            citation = Citation(
                type="citation_source",
                index=index,
                url=url if isinstance(url, str) else None,
                title=title if isinstance(title, str) else None,
                raw=source,
            )
            if citation not in self._citations:  # repeated on later chunks
                self._citations.append(citation)

    def extras(self) -> ProviderExtras:
        """What the stream carried besides delta events (see :class:`ProviderExtras`).

        ``thoughtSignature`` values (with the tool call they belong to), the last
        ``groundingMetadata`` of candidate 0, ``citationMetadata`` sources,
        ``finishMessage``/``safetyRatings``/``promptFeedback`` and the raw usage.
        Streamed function calls still open when the candidate finished, or at EOF,
        are listed as incomplete (candidate 0).
        """
        state = self._candidates.get(0)
        incomplete: list[int] = []
        if state is not None:
            incomplete = list(state.incomplete)
            if state.open_call is not None:
                incomplete.append(state.open_index)
        return ProviderExtras(
            citations=list(self._citations),
            signatures=list(self._signatures),
            server_tool_results=list(self._server_results),
            incomplete_tool_calls=sorted(incomplete),
            grounding=self._grounding,
            stop_details=dict(self._stop_details) if self._stop_details is not None else None,
            raw_usage=dict(self._raw_usage) if self._raw_usage is not None else None,
        )


class GeminiDialect:
    """Gemini API (``POST {base_url}/models/{model}:streamGenerateContent?alt=sse``).

    Also Vertex AI with a base URL such as
    ``https://aiplatform.googleapis.com/v1/projects/P/locations/L/publishers/google``.
    """

    name = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    api_key_env: tuple[str, ...] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
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
        """Build the ``streamGenerateContent?alt=sse`` request.

        ``messages`` are converted by :func:`gemini_contents`. ``params`` are added
        to the body as they are (``generationConfig``, ``tools``, ``toolConfig``,
        ``safetySettings``, ``cachedContent``, ...), except the chat-style
        ``temperature``, ``top_p``, ``top_k``, ``max_tokens``/``max_output_tokens``,
        ``stop``, ``n``, ``seed``, ``presence_penalty`` and ``frequency_penalty``,
        which move into ``generationConfig`` (keys given there win). A model name
        given as ``models/...`` is accepted. The key goes in ``x-goog-api-key``.
        """
        contents, system = gemini_contents(messages)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        generation: dict[str, Any] = {}
        for key, value in params.items():
            target = _GENERATION_CONFIG.get(key)
            if target is None:
                body[key] = value
            elif target == "stopSequences" and isinstance(value, str):
                generation[target] = [value]
            else:
                generation[target] = value
        if generation:
            explicit = body.get("generationConfig")
            body["generationConfig"] = {
                **generation,
                **(dict(explicit) if isinstance(explicit, Mapping) else {}),
            }
        name = model.removeprefix("models/")
        url = f"{base_url.rstrip('/')}/models/{name}:streamGenerateContent?alt=sse"
        headers = {"accept": "text/event-stream", "content-type": "application/json"}
        if api_key:
            headers["x-goog-api-key"] = api_key
        return RequestSpec("POST", url, headers, body)

    def build_prefill_request(self, spec: RequestSpec, prefix: str) -> RequestSpec | None:
        """Always ``None``: Gemini does not promise to continue a trailing model turn."""
        return None

    def new_decoder(self) -> GeminiDecoder:
        """A fresh :class:`GeminiDecoder`."""
        return GeminiDecoder()
