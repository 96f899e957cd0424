"""WebSocket dialects: a stream's request as one socket message, and when a socket stream ends.

Two dialects, both sans-I/O (the executors are in :mod:`streamkit.websocket`):

- :class:`ResponsesWebSocket`: the OpenAI Responses API in WebSocket mode
  (``wss://api.openai.com/v1/responses``; also xAI ``wss://api.x.ai/v1/responses``
  and Azure OpenAI). The client sends ``{"type": "response.create", ...}`` with the
  body of ``POST /v1/responses`` minus ``stream`` and ``background``; the server sends
  the events of the SSE stream as JSON messages, decoded by the same
  :class:`~streamkit.providers.OpenAIResponsesDecoder`. ``stream_id`` names a lane:
  responses of one lane run in order, lanes run in parallel, and every event echoes
  its lane's ``stream_id``
  (https://developers.openai.com/api/docs/guides/websocket-mode,
  https://docs.x.ai/developers/advanced-api-usage/websocket-mode).
- :class:`ChatRelay`: Chat Completions over a relay's WebSocket. The client sends the
  chat request as JSON; the relay sends ``chat.completion.chunk`` messages, decoded by
  :class:`~streamkit.providers.OpenAIChatDecoder`, and ends a stream with any of the
  configured signals (``finish_reason``, ``{"type": "done"}``, ``[DONE]``, a close
  with code 1000).

Close codes (RFC 6455 §7.4.1, IANA registry) map onto the error tree once, in
:func:`close_error`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from streamkit._request import RequestSpec
from streamkit._secret import RedactedStr
from streamkit.errors import (
    ConfigurationError,
    ProviderError,
    StreamkitError,
    WebSocketClosedError,
    redact,
    status_error_class,
)
from streamkit.events import DeltaEvent, ResumeStrategy, UsageEvent
from streamkit.providers.openai_chat import OpenAIChatDecoder, OpenAIChatDialect
from streamkit.providers.openai_responses import OpenAIResponsesDecoder, input_items

__all__ = [
    "RETRY_CLOSE_CODES",
    "ChatRelay",
    "EndOfStream",
    "KeyPlacement",
    "RelayDecoder",
    "ResponsesWebSocket",
    "close_error",
    "websocket_url",
]

#: Close codes that mean "try again": the stream is retried or resumed on a new socket
#: (1001 going away, 1005 no status, 1006 dropped without a close frame, 1011 server
#: error, 1012 service restart, 1013 try again later, 1015 TLS handshake failure).
RETRY_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})

_CLOSE_NAMES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received",
    1006: "abnormal closure",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure",
}

_TERMINAL_RESPONSE_EVENTS = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "response.done", "error"}
)

EndOfStream = Literal["finish_reason", "done", "[DONE]", "close"]
"""A relay's end-of-stream signal: every choice finished (``finish_reason``, and the
usage chunk when one is expected), a ``{"type": "done"}`` message, a ``[DONE]``
message, or a close with code 1000."""

KeyPlacement = Literal["header", "query"]
"""Where the API key goes on the handshake: ``Authorization: Bearer <key>``, or a
query parameter (``?key=<key>``) for relays that take it there (browsers cannot set
headers on a WebSocket)."""


def close_error(code: int, reason: str = "") -> StreamkitError:
    """The typed error of a socket that closed with ``code`` before its stream ended.

    - 1000 (normal closure, but the stream was not over) and :data:`RETRY_CLOSE_CODES`
      → :class:`~streamkit.errors.WebSocketClosedError` (retried / resumed);
    - 4400-4599 (the HTTP status plus 4000, a common relay convention: 4401, 4403,
      4429, 4500, ...) → the :class:`~streamkit.errors.APIStatusError` subclass of
      that status (``AuthenticationError``, ``RateLimitError`` (retried), ...);
    - any other code (1002 protocol error, 1003, 1007, 1008 policy violation, 1009
      message too big, 1010, 1014, other 4xxx application codes) →
      :class:`~streamkit.errors.ProviderError` with ``code`` = the close code and
      ``type`` = ``"websocket_close"`` (not retried).

    The reason is part of the message (secrets redacted).
    """
    name = _CLOSE_NAMES.get(code, "application close code" if code >= 4000 else "close code")
    said = f": {redact(reason)}" if reason else ""
    if code == 1000 or code in RETRY_CLOSE_CODES:
        return WebSocketClosedError(
            f"the WebSocket closed with {code} ({name}) before the stream was complete{said}",
            code=code,
            reason=reason,
        )
    if 4400 <= code < 4600:
        status = code - 4000
        return status_error_class(status)(
            f"the WebSocket closed with {code} (HTTP {status}){said}",
            status_code=status,
            body=reason,
        )
    return ProviderError(
        f"the WebSocket closed with {code} ({name}){said}",
        code=code,
        error_type="websocket_close",
    )


def websocket_url(base_url: str, path: str) -> str:
    """``base_url`` + ``path`` with ``http(s)://`` turned into ``ws(s)://`` (query kept)."""
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme, path=parts.path.rstrip("/") + path))


class _QueryKeyURL(str):
    """A URL ``str`` carrying a key in its query: ``repr`` shows ``***`` instead of it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact(str.__str__(self)))


def _with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return _QueryKeyURL(urlunsplit(parts._replace(query=urlencode(query))))


def _as_items(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return input_items(messages)


class ResponsesWebSocket:
    """The OpenAI Responses API in WebSocket mode (OpenAI, xAI, Azure OpenAI).

    ``build_request`` gives the handshake to ``{url}`` with ``Authorization: Bearer``
    and the ``response.create`` message: ``model``, ``input`` (chat messages become
    input items, see :func:`~streamkit.providers.openai_responses.input_items`) and
    the extra fields as they are (``previous_response_id``, ``tools``,
    ``instructions``, ``store``, ``generate``, ``stream_id``, ...).

    A response cut mid-way is continued by a verified replay (``resume="auto"``):
    the same ``response.create`` again on a new socket, with the delivered prefix
    checked and skipped; a different generation is never spliced (the stream raises
    :class:`~streamkit.errors.StreamInterruptedError`). The server does not replay a
    response that was in flight when a socket dropped.
    """

    name = "openai-responses"
    default_base_url = "https://api.openai.com/v1"
    api_key_env: tuple[str, ...] = ("OPENAI_API_KEY",)
    resume_strategies: tuple[ResumeStrategy, ...] = ("replay",)
    lane_key: str | None = "stream_id"

    #: Connection limits the providers document, in seconds, by host.
    CONNECTION_LIMITS_S: Mapping[str, float] = {"api.x.ai": 25 * 60.0}
    #: The limit for other hosts (OpenAI: 60 minutes).
    DEFAULT_CONNECTION_LIMIT_S = 60 * 60.0

    def default_url(self, base_url: str) -> str:
        """``{base_url}/responses`` as ``wss://`` (``ws://`` for ``http://``)."""
        return websocket_url(base_url, "/responses")

    def default_connection_limit_s(self, url: str) -> float | None:
        """25 minutes on ``api.x.ai``, 60 minutes elsewhere (OpenAI, Azure)."""
        host = urlsplit(url).hostname or ""
        return self.CONNECTION_LIMITS_S.get(host, self.DEFAULT_CONNECTION_LIMIT_S)

    def build_request(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> RequestSpec:
        """The handshake to ``base_url`` (the WebSocket URL) and the ``response.create`` message.

        Raises:
            TypeError: ``params`` holds ``stream`` or ``background`` (not used over a
                WebSocket).
        """
        for name in ("stream", "background"):
            if name in params:
                raise TypeError(
                    f"{name}= is not accepted over a WebSocket (responses always stream "
                    "on the socket); drop the argument"
                )
        message: dict[str, Any] = {
            "type": "response.create",
            "model": model,
            "input": _as_items(messages),
        }
        message.update(params)
        headers: dict[str, str] = {}
        if api_key:
            headers["authorization"] = RedactedStr(f"Bearer {api_key}")
        return RequestSpec("GET", base_url, headers, message)

    def build_prefill_request(self, spec: RequestSpec, prefix: str) -> RequestSpec | None:
        """Always ``None``: the Responses API does not continue a partial assistant turn."""
        return None

    def new_decoder(self) -> OpenAIResponsesDecoder:
        """A fresh :class:`~streamkit.providers.OpenAIResponsesDecoder`."""
        return OpenAIResponsesDecoder()

    def close_error(self, code: int, reason: str, decoder: Any) -> StreamkitError | None:
        """A close before ``response.completed`` is always a break (see :func:`close_error`)."""
        return close_error(code, reason)

    def transport_error(self, err: StreamkitError) -> StreamkitError:
        """``websocket_connection_limit_reached`` → a retried :class:`WebSocketClosedError`."""
        if isinstance(err, ProviderError) and err.code == "websocket_connection_limit_reached":
            closed = WebSocketClosedError(
                f"the server's connection time limit was reached: {err.message}",
                code=1000,
                reason="websocket_connection_limit_reached",
            )
            closed.__cause__ = err
            return closed
        return err

    def needs_full_input(self, err: StreamkitError) -> bool:
        """True for ``previous_response_not_found`` (the socket that held it is gone)."""
        return isinstance(err, ProviderError) and err.code == "previous_response_not_found"

    def is_terminal(self, payload: Any) -> bool:
        """``response.completed``/``incomplete``/``failed``/``done`` and ``error`` end one."""
        return isinstance(payload, dict) and payload.get("type") in _TERMINAL_RESPONSE_EVENTS


class RelayDecoder(OpenAIChatDecoder):
    """:class:`~streamkit.providers.OpenAIChatDecoder` with a relay's end-of-stream signals.

    Args:
        end_of_stream: the signals that end a stream (see :data:`EndOfStream`).
        wait_for_usage: with ``finish_reason``, also wait for the usage chunk that
            ``stream_options.include_usage`` asks for (sent after the last finish).
    """

    __slots__ = ("_ends", "_wait_for_usage")

    def __init__(
        self, end_of_stream: Collection[EndOfStream], *, wait_for_usage: bool = True
    ) -> None:
        super().__init__()
        self._ends = frozenset(end_of_stream)
        self._wait_for_usage = wait_for_usage

    def decode_payload(self, payload: Any) -> list[DeltaEvent]:
        """Decode one relay message; an end-of-stream signal sets :attr:`done`.

        ``"[DONE]"`` and ``{"type": "done"}`` end the stream when configured (and are
        ignored otherwise); chunks decode as in :class:`OpenAIChatDecoder`. A signal
        before the stream's first chunk is the end of the stream before it (which
        ``finish_reason`` ended first) and is ignored.
        """
        if payload == "[DONE]":
            if "[DONE]" in self._ends and self._started():
                self._done = True
            return []
        if type(payload) is dict and payload.get("type") == "done" and "choices" not in payload:
            if "done" in self._ends and self._started():
                self._done = True
            return []
        events = super().decode_payload(payload)
        if "finish_reason" in self._ends and self._finished_all(events):
            self._done = True
        return events

    def _started(self) -> bool:
        return bool(self._seen_choices) or self._raw_usage is not None or self.model is not None

    def _finished_all(self, events: list[DeltaEvent]) -> bool:
        if not self._seen_choices or not self._seen_choices <= self._finished:
            return False
        if not self._wait_for_usage:
            return True
        return self._raw_usage is not None or any(type(e) is UsageEvent for e in events)


class ChatRelay:
    """Chat Completions over a relay's WebSocket: the request as JSON, chunks back.

    Args:
        end_of_stream: the signals that end a stream, any of ``"finish_reason"``,
            ``"done"`` (a ``{"type": "done"}`` message), ``"[DONE]"`` and ``"close"``
            (a close with code 1000). Default: all four.
        key_in: ``"header"`` (``Authorization: Bearer <key>``) or ``"query"``
            (``?{key_param}=<key>`` on the URL; never shown in errors, logs or reprs).
        key_param: the query parameter for ``key_in="query"``.
        prefill: the relay continues a trailing assistant message (``"prefix": true``,
            as DeepSeek does); a cut stream is then resumed by prefill, else replayed.
        wait_for_usage: with ``"finish_reason"``, the stream ends only after the usage
            chunk that streamkit asks for (``stream_options.include_usage``); set
            ``False`` for relays that drop usage.

    Raises:
        ConfigurationError: an unknown end-of-stream signal or key placement, or no
            end-of-stream signal at all.
    """

    name = "openai-chat-relay"
    default_base_url = OpenAIChatDialect.default_base_url
    api_key_env: tuple[str, ...] = OpenAIChatDialect.api_key_env
    lane_key: str | None = None

    def __init__(
        self,
        *,
        end_of_stream: Collection[EndOfStream] = ("finish_reason", "done", "[DONE]", "close"),
        key_in: KeyPlacement = "header",
        key_param: str = "key",
        prefill: bool = False,
        wait_for_usage: bool = True,
    ) -> None:
        ends = frozenset(end_of_stream)
        known = set(get_args(EndOfStream))
        if not ends or not ends <= known:
            raise ConfigurationError(
                f"end_of_stream must be a non-empty set of {sorted(known)}, got "
                f"{sorted(map(str, ends))}"
            )
        if key_in not in get_args(KeyPlacement):
            raise ConfigurationError(f"key_in must be 'header' or 'query', got {key_in!r}")
        if not key_param or not isinstance(key_param, str):
            raise ConfigurationError("key_param must be a non-empty string")
        self.end_of_stream = ends
        self.key_in: KeyPlacement = key_in
        self.key_param = key_param
        self.prefill = prefill
        self.wait_for_usage = wait_for_usage
        self.resume_strategies: tuple[ResumeStrategy, ...] = (
            ("prefill", "replay") if prefill else ("replay",)
        )
        self._chat = OpenAIChatDialect()

    def __repr__(self) -> str:
        return (
            f"ChatRelay(end_of_stream={sorted(self.end_of_stream)!r}, key_in={self.key_in!r}, "
            f"key_param={self.key_param!r}, prefill={self.prefill!r})"
        )

    def default_url(self, base_url: str) -> str:
        """``{base_url}/chat/completions`` as ``wss://`` (``ws://`` for ``http://``)."""
        return websocket_url(base_url, "/chat/completions")

    def default_connection_limit_s(self, url: str) -> float | None:
        """Relays document no limit: ``None``."""
        return None

    def build_request(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> RequestSpec:
        """The handshake to ``base_url`` and the chat request (a chat completions body)."""
        chat = self._chat.build_request(
            base_url="http://relay", api_key=None, model=model, messages=messages, params=params
        )
        url = base_url
        headers: dict[str, str] = {}
        if api_key:
            if self.key_in == "query":
                url = _with_query(base_url, self.key_param, str(api_key))
            else:
                headers["authorization"] = RedactedStr(f"Bearer {api_key}")
        return RequestSpec("GET", url, headers, chat.json)

    def build_prefill_request(self, spec: RequestSpec, prefix: str) -> RequestSpec | None:
        """Append the partial assistant turn (as ``OpenAIChatDialect.build_prefill_request``)."""
        if not self.prefill:
            return None
        return self._chat.build_prefill_request(spec, prefix)

    def new_decoder(self) -> RelayDecoder:
        """A fresh :class:`RelayDecoder` with this relay's end-of-stream signals."""
        return RelayDecoder(self.end_of_stream, wait_for_usage=self.wait_for_usage)

    def close_error(self, code: int, reason: str, decoder: Any) -> StreamkitError | None:
        """Close 1000 ends the stream when ``"close"`` is a signal and every choice finished."""
        if code == 1000 and "close" in self.end_of_stream and decoder.complete_at_eof():
            return None
        return close_error(code, reason)

    def transport_error(self, err: StreamkitError) -> StreamkitError:
        """Relays have no in-band connection errors: ``err`` unchanged."""
        return err

    def needs_full_input(self, err: StreamkitError) -> bool:
        """Relays keep no conversation state: always ``False``."""
        return False

    def is_terminal(self, payload: Any) -> bool:
        """``[DONE]``, ``{"type": "done"}``, an error, or a chunk whose choices all finished."""
        if payload == "[DONE]":
            return True
        if not isinstance(payload, dict):
            return False
        if payload.get("type") == "done" or payload.get("error") is not None:
            return True
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            return False
        return all(isinstance(c, dict) and c.get("finish_reason") for c in choices)
