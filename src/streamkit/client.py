"""StreamingClient and Stream: the synchronous executor (httpx/httpx2 ``Client``, time.sleep).

Every decision lives in the sans-I/O :class:`~streamkit.session.StreamMachine`; this
module turns each of its actions into one library call and maps that library's
exceptions. Its async twin is ``async_client.py``: the executor sections of the two
files are the same code with ``async``/``await`` (``tests/test_twins.py`` checks it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from streamkit._client_config import ClientConfig, TimeoutArg
from streamkit._httpx import HTTPX, HTTPFlavor, body_pieces, flavor_of, head_of, target_of
from streamkit._notebook import LiveDisplay
from streamkit._request import RequestSpec
from streamkit._secret import hide_arguments
from streamkit._stream_state import StreamState
from streamkit.config import Timeouts
from streamkit.events import DeltaEvent, TextDelta
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy
from streamkit.session import (
    CLOSE,
    DONE,
    EOF,
    READ,
    Deliver,
    Failed,
    Open,
    Outcome,
    ReadBody,
    ResumeMode,
    Sleep,
    StreamMachine,
)
from streamkit.websocket import DEFAULT_HEARTBEAT_S, DEFAULT_PONG_TIMEOUT_S, Connection

if TYPE_CHECKING:
    from streamkit.providers._base import WebSocketDialect
    from streamkit.tracker import CostTracker

__all__ = ["Stream", "StreamingClient"]


class _Pool:
    """The HTTP client of a :class:`StreamingClient`: the user's, or one it made."""

    def __init__(self, timeouts: Timeouts, given: Any) -> None:
        self.flavor: HTTPFlavor = flavor_of(given, asynchronous=False) if given else HTTPX
        # built now, not on first use: threads may share the client (keyword arguments
        # only; trust_env keeps SSL_CERT_FILE/SSL_CERT_DIR and proxy variables working)
        self._own = None if given else httpx.Client(timeout=HTTPX.timeout(timeouts))
        self._http = given if given else self._own

    def acquire(self) -> Any:
        return self._http

    def release(self, http: Any) -> None:
        pass  # one client serves every stream

    def close(self) -> None:
        if self._own is not None:
            self._own.close()


# ---- executor (twin of async_client.py) -------------------------------------------------


class Stream(StreamState):
    """One streamed response: an iterator of :data:`~streamkit.DeltaEvent` and a context manager.

    The request starts on ``__enter__`` or the first ``next()``. Leaving the
    ``with`` block or calling :meth:`close` closes the connection. Failed
    attempts are retried and broken streams resumed as the client's
    :class:`~streamkit.RetryPolicy` and ``resume`` mode say; each retry shows up
    as a :class:`~streamkit.RetryEvent` (and a :class:`~streamkit.ResumeEvent`)
    in the same iteration.

    Raises (from iteration):
        APIStatusError: a non-retryable status, or retries used up before content.
        StreamInterruptedError: the stream broke after content and could not be resumed.
        ChunkDecodeError, SSEError, ProviderError: bad or error data in the stream.
        StreamStateError: the body was consumed elsewhere (a misuse; never retried).
        Every error carries ``partial``, the :class:`~streamkit.StreamResult` so far.
    """

    def __init__(self, client: StreamingClient, machine: StreamMachine) -> None:
        super().__init__(machine)
        self._client = client
        self._pool = client._pool
        self._flavor = client._pool.flavor
        self._errors = self._flavor.errors
        self._timeouts = client._config.timeout
        self._http: Any = None
        self._response: Any = None
        self._chunks: Iterator[bytes] | None = None
        self._target = "?"
        self._pending: Any = None

    def __enter__(self) -> Stream:
        """Start the request (the first attempt's response is open on return)."""
        if not self._closed and not self._buffer:
            self._step(stop_at_read=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        self.close()

    def __iter__(self) -> Stream:
        """The stream is its own iterator (iterate it once)."""
        return self

    def __next__(self) -> DeltaEvent:
        """The next event; performs I/O (and retry sleeps) as needed."""
        while True:
            buffer = self._buffer
            position = self._buffer_pos
            if position < len(buffer):  # the hot path: an event already decoded
                self._buffer_pos = position + 1
                return buffer[position]
            if self._closed:
                raise StopIteration
            self._step()

    def close(self) -> None:
        """Close the connection; iteration stops. Safe to call twice."""
        self._closed = True
        self._machine.close()
        self._session.abandon(self._client._clock())
        self._close_response()
        self._release_http()

    def _step(self, stop_at_read: bool = False) -> None:
        """Run the machine's actions until it delivers events or ends."""
        send = self._machine.send
        action, self._pending = self._pending, None
        outcome: Outcome = None
        try:
            while True:
                if action is None:
                    try:
                        action = send(outcome)
                    except StopIteration:
                        action = DONE
                if action is READ:
                    if stop_at_read:
                        self._pending = action
                        return
                    try:
                        outcome = next(self._chunks, EOF)  # type: ignore[arg-type]
                    except self._errors as exc:
                        outcome = Failed(self._flavor.map_error(exc, self._timeouts, self._target))
                elif type(action) is Deliver:
                    self._buffer = action.events
                    self._buffer_pos = 0
                    return
                elif type(action) is Open:
                    outcome = self._open(action.spec)
                elif type(action) is ReadBody:
                    outcome = self._read_body(action.limit)
                elif type(action) is Sleep:
                    self._client._sleep(action.delay_s)
                    outcome = None
                elif action is CLOSE:
                    self._close_response()
                    outcome = None
                else:  # DONE
                    self._closed = True
                    self._release_http()
                    return
                action = None
        except BaseException:
            self._closed = True
            self._close_response()
            self._release_http()
            raise

    def _open(self, spec: RequestSpec) -> Outcome:
        if self._http is None:
            self._http = self._pool.acquire()
        self._target = target_of(spec)
        try:
            request = self._flavor.build_request(self._http, spec, self._timeouts)
            response = self._http.send(request, stream=True, follow_redirects=False)
        except self._errors as exc:
            return Failed(self._flavor.map_error(exc, self._timeouts, self._target))
        self._response = response
        self._chunks = body_pieces(response)
        return head_of(response)

    def _read_body(self, limit: int) -> Outcome:
        body = bytearray()
        try:
            with closing(self._response.iter_bytes()) as pieces:
                for piece in pieces:
                    body += piece
                    if len(body) >= limit:
                        break
        except self._errors as exc:
            return Failed(self._flavor.map_error(exc, self._timeouts, self._target))
        return bytes(body)

    def _close_response(self) -> None:
        response, self._response = self._response, None
        chunks, self._chunks = self._chunks, None
        if response is not None:
            if chunks is not None:
                chunks.close()  # type: ignore[attr-defined]
            response.close()

    def _release_http(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            self._pool.release(http)

    # ---- end of the executor twin -------------------------------------------------------

    @property
    def text_stream(self) -> Iterator[str]:
        """The text pieces of choice 0 as plain ``str`` (consumes the stream)."""
        return (e.text for e in self if isinstance(e, TextDelta) and e.index == 0)

    def until_done(self) -> Stream:
        """Consume the rest of the stream; return ``self`` (then read :attr:`result`)."""
        for _ in self:
            pass
        return self

    def display(self, *, throttle_s: float = 1 / 30) -> StreamResult:
        """Render the stream live in a notebook cell; return the final result.

        The text is shown as Markdown, redrawn at most every ``throttle_s`` seconds
        (about 30 times a second), with a note when a retry or resume happens and a
        footer of tokens, cost, time to first token and tokens/s. Outside IPython the
        final rendering is printed once. Needs ``streamkit[notebook]`` for the live view.

        Raises:
            StreamkitError: as iteration does (the view keeps what arrived).
        """
        clock = self._client._clock
        with LiveDisplay(self.snapshot, throttle_s=throttle_s) as live:
            for event in self:
                live.on_event(event, clock())
            return live.finish(self.result)

    def __del__(self) -> None:
        response = getattr(self, "_response", None)
        if response is not None:
            response.close()


class StreamingClient:
    """A synchronous client for streaming LLM responses.

    Args:
        base_url: the API root, e.g. ``https://api.openai.com/v1``; default
            ``$STREAMKIT_BASE_URL``, then the provider's own variable
            (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``, ``GEMINI_BASE_URL``), then the
            provider's public URL. Must start with ``http://`` or ``https://``.
        api_key: default ``$STREAMKIT_API_KEY``, then the provider's usual variable
            (``OPENAI_API_KEY``, ...); ``""`` sends no key (local servers). Never shown
            in ``repr``, logs, errors or traceback locals.
        provider: the dialect: ``"openai-chat"`` (OpenAI and compatible endpoints),
            ``"anthropic-messages"``, ``"openai-responses"``, ``"gemini"`` (see
            :func:`streamkit.providers.names`); ``"openai"``, ``"anthropic"``,
            ``"responses"`` and ``"google"`` are accepted as aliases.
        retry: the retry policy (default :class:`RetryPolicy()`).
        timeout: :class:`Timeouts` (seconds), a number of seconds (the total limit of a
            stream, every attempt included), or an ``httpx.Timeout`` (its ``connect``
            and ``read``); default :class:`Timeouts()`.
        tracker: a :class:`~streamkit.CostTracker` shared by streams, or ``None``.
        resume: how broken streams continue: ``"auto"``, ``"last-event-id"``,
            ``"prefill"``, ``"replay"`` or ``"off"``.
        http_client: your own ``httpx.Client`` or ``httpx2.Client`` (not closed by
            :meth:`close`); its proxies, certificates and limits are used as they are.
        headers: extra headers sent with every request, names exactly as given.

    Raises:
        ConfigurationError: (a ``ValueError``) an unknown ``provider`` or ``resume``, a
            ``base_url`` without ``http(s)://``, no API key found, a key or header value
            with CR/LF, control or non-ASCII characters, a bad ``timeout``, or an
            ``http_client`` that is not a sync httpx/httpx2 client. Nothing is sent.
    """

    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(time.sleep)

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        provider: str = "openai-chat",
        retry: RetryPolicy | None = None,
        timeout: TimeoutArg = None,
        tracker: CostTracker | None = None,
        resume: ResumeMode = "auto",
        http_client: httpx.Client | Any | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # first: no frame local holds the plain key, URL password or credential headers
        api_key, base_url, headers = hide_arguments(api_key, base_url, headers)  # type: ignore[assignment]
        self._config = ClientConfig(
            base_url=base_url,
            api_key=api_key,
            provider=provider,
            retry=retry,
            timeout=timeout,
            tracker=tracker,
            resume=resume,
            headers=headers,
        )
        self._pool = _Pool(self._config.timeout, http_client)

    @property
    def tracker(self) -> CostTracker | None:
        """The cost tracker given to the constructor."""
        return self._config.tracker

    def stream(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        resume: ResumeMode | None = None,
        **params: Any,
    ) -> Stream:
        """Start streaming a response; returns at once (the request starts on iteration).

        Args:
            model: the model name, e.g. ``"gpt-4.1"``.
            messages: the chat messages (``[{"role": "user", "content": "Hi"}]``).
            resume: overrides the client's resume mode for this stream.
            **params: extra body fields passed through (``temperature``, ``tools``, ...).

        Raises:
            TypeError: ``model`` is not a non-empty string, ``messages`` is not a list
                of mappings, or ``stream``/``stream_options`` is given (streamkit sets
                them). Raised here, before anything is sent.
            ValueError: NaN or infinity in ``params`` or ``messages``.
        """
        session = self._config.new_session(
            model=model, messages=messages, resume=resume, params=params
        )
        return Stream(self, StreamMachine(session, clock=self._clock))

    def connect(
        self,
        url: str | None = None,
        *,
        dialect: WebSocketDialect | None = None,
        heartbeat_s: float | None = DEFAULT_HEARTBEAT_S,
        pong_timeout_s: float | None = DEFAULT_PONG_TIMEOUT_S,
        rotate_after_s: float | None = None,
    ) -> Connection:
        """Open a WebSocket connection that streams many responses over one socket.

        See :mod:`streamkit.websocket` and ``docs/websocket.md``. Nothing is sent until
        the first stream starts; use the connection as a context manager.

        Args:
            url: the WebSocket URL; default ``{base_url}/responses`` for
                ``openai-responses`` (``wss://api.openai.com/v1/responses``) and
                ``{base_url}/chat/completions`` for a relay, as ``wss://``.
            dialect: :class:`~streamkit.providers.ws.ResponsesWebSocket` (the default
                for ``provider="openai-responses"``: OpenAI, xAI, Azure) or
                :class:`~streamkit.providers.ws.ChatRelay` (the default for
                ``openai-chat``; pass one to choose its end-of-stream signals and key
                placement).
            heartbeat_s: seconds between RFC 6455 pings (``None``: no pings).
            pong_timeout_s: seconds to wait for a pong before the socket counts as
                dead and its streams resume on a new one (``None``: no deadline).
            rotate_after_s: open a new socket for the next response once the current
                one is this old (seconds); default 90 % of the server's documented
                limit (OpenAI 60 min, xAI 25 min), ``math.inf`` never.

        Raises:
            ConfigurationError: a provider without a WebSocket mode, a bad URL or a
                non-positive time.
            ModuleNotFoundError: ``httpx-ws`` is missing (``pip install
                'streamkit[websocket]'``).
        """
        return Connection(
            self,
            dialect=dialect,
            url=url,
            heartbeat_s=heartbeat_s,
            pong_timeout_s=pong_timeout_s,
            rotate_after_s=rotate_after_s,
        )

    def close(self) -> None:
        """Close the HTTP client if this client created it."""
        self._pool.close()

    def __enter__(self) -> StreamingClient:
        """Use as a context manager: closes on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client."""
        self.close()

    def __repr__(self) -> str:
        """Show the configuration without the API key or a URL password."""
        config = getattr(self, "_config", None)  # None while __init__ raises
        return f"StreamingClient({config if config is not None else '<not configured>'!r})"
