"""The dialect protocol: how a provider's requests are built and its events decoded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from streamkit._request import RequestSpec
from streamkit.errors import ProviderError, StreamkitError
from streamkit.events import DeltaEvent, ResumeStrategy
from streamkit.extras import ProviderExtras
from streamkit.sse import ServerSentEvent

__all__ = [
    "Dialect",
    "MessageDecoder",
    "StartingAfterResume",
    "StreamDecoder",
    "WebSocketDialect",
    "normalize_finish_reason",
    "provider_error",
]

_FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "STOP": "stop",
    "completed": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "MAX_TOKENS": "length",
    "max_output_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "BLOCKLIST": "content_filter",
    "SPII": "content_filter",
    "refusal": "refusal",
}


def normalize_finish_reason(raw: str | None) -> str | None:
    """Map a provider's finish/stop reason onto streamkit's vocabulary.

    Returns ``"stop"``, ``"length"``, ``"tool_calls"``, ``"content_filter"`` or
    ``"refusal"`` when ``raw`` is one of the known provider values (OpenAI
    ``finish_reason``, Anthropic ``stop_reason``, Gemini ``finishReason``), else
    ``raw`` unchanged.
    """
    if raw is None:
        return None
    return _FINISH_REASONS.get(raw, raw)


def provider_error(
    message: str | None,
    *,
    code: str | int | None,
    error_type: str | None,
    raw: str,
    events: Sequence[DeltaEvent] = (),
) -> ProviderError:
    """Build a :class:`ProviderError`; ``events`` decoded from the same payload ride along.

    The session delivers ``events`` (e.g. the usage carried by an error chunk)
    into the partial result before raising (:attr:`ProviderError.events`). Fields
    left ``None`` (and ``param``) are read from ``raw`` when it holds them.
    """
    return ProviderError(
        message or "error event in stream",
        code=code,
        error_type=error_type,
        raw=raw,
        events=events,
    )


class StreamDecoder(Protocol):
    """Turns one response's server-sent events into delta events (one per attempt)."""

    model: str | None
    """The model name the provider reported, once known."""
    response_id: str | None
    """The provider's response id, once known."""

    def decode(self, sse: ServerSentEvent) -> list[DeltaEvent]:
        """Decode one SSE event.

        Raises:
            ChunkDecodeError: the data is not the provider's JSON.
            ProviderError: the event is an in-band error.
        """
        ...

    @property
    def done(self) -> bool:
        """True once a terminal event arrived (``[DONE]``, ``message_stop``, ...)."""
        ...

    def complete_at_eof(self) -> bool:
        """Whether the stream is complete if the body ends now (no terminal marker)."""
        ...

    def sequence_number(self, sse: ServerSentEvent) -> int | None:
        """The protocol's own event number, for dialects that have one (else ``None``)."""
        ...

    def extras(self) -> ProviderExtras:
        """What the response carried besides delta events (logprobs, citations, ...)."""
        ...


class Dialect(Protocol):
    """A provider wire format: request builder, decoder factory and resume support."""

    name: str
    """Registry name, e.g. ``"openai-chat"``."""
    default_base_url: str
    api_key_env: tuple[str, ...]
    """Environment variables the API key is read from, in order, after ``STREAMKIT_API_KEY``."""
    resume_strategies: tuple[ResumeStrategy, ...]
    """Strategies ``resume="auto"`` may use for this dialect, best first
    (``last-event-id`` is used whenever the stream carried SSE ids)."""

    def build_request(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> RequestSpec:
        """Build the streaming request (``params`` are extra body fields, passed through)."""
        ...

    def build_prefill_request(self, spec: RequestSpec, prefix: str) -> RequestSpec | None:
        """Build a request that continues a partial assistant turn ``prefix``, or ``None``."""
        ...

    def new_decoder(self) -> StreamDecoder:
        """A fresh decoder for one response body."""
        ...


class MessageDecoder(StreamDecoder, Protocol):
    """A decoder that also takes whole JSON messages (WebSocket frames), not only SSE events.

    A message enters the same dispatch as the data of an SSE event, after parsing.
    """

    def decode_payload(self, payload: Any) -> list[DeltaEvent]:
        """Decode one message: a parsed JSON value (an object, or ``"[DONE]"``).

        Raises:
            ChunkDecodeError: the value is not one of the provider's events.
            ProviderError: the event is an in-band error.
        """
        ...

    def payload_sequence_number(self, payload: Any) -> int | None:
        """The protocol's own event number of a message, else ``None``."""
        ...


class WebSocketDialect(Dialect, Protocol):
    """A provider wire format over a WebSocket: one message out, JSON messages back.

    ``build_request`` returns the handshake (``url``, ``headers``) and, as ``json``,
    the message that starts one stream (``base_url`` is the WebSocket URL).
    """

    lane_key: str | None
    """The message field that names a lane (``"stream_id"``), or ``None``: one stream
    at a time per socket."""

    def default_url(self, base_url: str) -> str:
        """The WebSocket URL for a client whose HTTP API root is ``base_url``."""
        ...

    def default_connection_limit_s(self, url: str) -> float | None:
        """How long the server keeps a socket open (seconds), ``None`` if unlimited."""
        ...

    def new_decoder(self) -> MessageDecoder:
        """A fresh decoder for one stream."""
        ...

    def close_error(
        self, code: int, reason: str, decoder: StreamDecoder | None
    ) -> StreamkitError | None:
        """What a close frame means mid-stream: ``None`` if it ends the stream normally."""
        ...

    def transport_error(self, err: StreamkitError) -> StreamkitError:
        """``err``, or the connection error an in-band error stands for (a connection limit)."""
        ...

    def needs_full_input(self, err: StreamkitError) -> bool:
        """Whether ``err`` says the server lost the conversation (resend the full input)."""
        ...

    def is_terminal(self, payload: Any) -> bool:
        """Whether a message ends its stream (to skip what a cancelled stream still sends)."""
        ...


@runtime_checkable
class StartingAfterResume(Protocol):
    """A dialect that can stream a response again from an event number (a capability).

    OpenAI Responses background streams: ``GET /responses/{id}?stream=true&starting_after=N``.
    The session uses it for ``resume="auto"``/``"starting-after"`` when the dialect
    implements it; dialects without it simply do not offer that strategy.
    """

    def build_starting_after_request(
        self, spec: RequestSpec, response_id: str, after_sequence: int
    ) -> RequestSpec | None:
        """The request that re-streams ``response_id`` after event ``after_sequence``.

        Returns ``None`` when this response cannot be re-streamed (e.g. it was not
        started with ``background: true``).
        """
        ...
