"""StreamingClient and Stream: the synchronous shell (httpx.Client, time.sleep).

All logic lives in the sans-I/O :class:`~streamkit._session.StreamSession`; this
module only moves bytes, reads the clock and sleeps. Its async twin is
``async_client.py``; the two are kept line-for-line alike.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import closing
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import httpx

from streamkit._common import ClientConfig, StreamState
from streamkit._display import LiveView
from streamkit._httpx import (
    ERROR_BODY_LIMIT,
    build_request,
    check_response,
    httpx_timeout,
    is_identity,
    map_httpx_errors,
    needs_body,
)
from streamkit._notebook import open_view
from streamkit._session import ResumeMode, StreamSession
from streamkit.config import Timeouts
from streamkit.errors import StreamkitError
from streamkit.events import DeltaEvent, TextDelta
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy
from streamkit.transport import HTTPTransport

if TYPE_CHECKING:
    from streamkit.tracker import CostTracker

__all__ = ["Stream", "StreamingClient"]


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
        Every error carries ``partial``, the :class:`~streamkit.StreamResult` so far.
    """

    def __init__(self, client: StreamingClient, session: StreamSession) -> None:
        super().__init__(session)
        self._client = client
        self._response: httpx.Response | None = None
        self._chunks: Generator[bytes, None, None] | None = None
        self._delay_s: float | None = None
        self._map_errors = map_httpx_errors(client._config.timeout)  # stateless: reused

    def __enter__(self) -> Stream:
        """Start the request (the first attempt's response is open on return)."""
        if self._response is None and not self._session.finished:
            self._step()
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
            if buffer:
                buffer.clear()
                self._buffer_pos = 0
            if self._closed or (self._session.finished and self._response is None):
                self._close_response()
                raise StopIteration
            self._step()

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
        view = LiveView(throttle_s=throttle_s)
        target = open_view()
        clock = self._client._clock
        for event in self:
            now = clock()
            if view.on_event(event, now):
                target.update(view.markdown(self.snapshot()))
                view.drawn(now)
        result = self.result
        target.update(view.markdown(result, final=True), final=True)
        return result

    def close(self) -> None:
        """Close the connection; iteration stops. Safe to call twice."""
        self._closed = True
        self._session.abandon(self._client._clock())
        self._close_response()

    def _close_response(self) -> None:
        response, self._response = self._response, None
        chunks, self._chunks = self._chunks, None
        if response is not None:
            if chunks is not None:
                chunks.close()
            response.close()

    def _step(self) -> None:
        session = self._session
        clock = self._client._clock
        try:
            with self._map_errors:
                session.take_failure()  # one found behind events already delivered
                if self._response is None:
                    if self._delay_s is not None:
                        delay, self._delay_s = self._delay_s, None
                        self._client._sleep(delay)
                    self._open()
                    return
                assert self._chunks is not None
                chunk = next(self._chunks, None)
                if chunk is None:
                    if not session.finished:
                        self._buffer.extend(session.end(clock()))
                    self._close_response()
                    return
                if session.finished:
                    return  # draining what follows the terminal event, up to EOF
                self._buffer.extend(session.feed(chunk, clock()))
                if session.stream_done:
                    self._buffer.extend(session.end(clock()))
        except StreamkitError as err:
            self._close_response()
            if session.finished:
                return  # the stream had ended; what broke was the drain after it
            plan = session.fail(err, clock())
            self._buffer.extend(plan.events)
            self._delay_s = plan.delay_s
        except BaseException:
            self._close_response()
            raise

    def _open(self) -> None:
        session = self._session
        client = self._client
        spec = session.next_request(client._clock())
        request = build_request(client._http, spec, client._config.timeout)
        response = client._http.send(request, stream=True, follow_redirects=False)
        self._response = response
        if needs_body(response):
            body = bytearray()
            with closing(cast("Generator[bytes, None, None]", response.iter_bytes())) as pieces:
                for piece in pieces:
                    body += piece
                    if len(body) >= ERROR_BODY_LIMIT:
                        break
            error = check_response(response, bytes(body))
            if error is not None:
                raise error
        chunks = response.iter_raw() if is_identity(response) else response.iter_bytes()
        self._chunks = cast("Generator[bytes, None, None]", chunks)
        self._buffer.extend(session.opened(client._clock()))

    def __del__(self) -> None:
        response = getattr(self, "_response", None)
        if response is not None:
            response.close()


class StreamingClient:
    """A synchronous client for streaming LLM responses.

    Args:
        base_url: the API root, e.g. ``https://api.openai.com/v1``; default
            ``$STREAMKIT_BASE_URL``, then the provider's own.
        api_key: default ``$STREAMKIT_API_KEY``, then the provider's usual variable
            (``OPENAI_API_KEY``, ...). Never shown in ``repr``, logs or errors.
        provider: the dialect: ``"openai-chat"`` (OpenAI and compatible endpoints),
            see :func:`streamkit.providers.names`.
        retry: the retry policy (default :class:`RetryPolicy()`).
        timeout: time limits in seconds (default :class:`Timeouts()`).
        tracker: a :class:`~streamkit.CostTracker` shared by streams, or ``None``.
        resume: how broken streams continue: ``"auto"``, ``"last-event-id"``,
            ``"prefill"``, ``"replay"`` or ``"off"``.
        http_client: your own ``httpx.Client`` (not closed by :meth:`close`).
        headers: extra headers sent with every request.

    Raises:
        ValueError: unknown ``provider`` or ``resume``.
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
        timeout: Timeouts | None = None,
        tracker: CostTracker | None = None,
        resume: ResumeMode = "auto",
        http_client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
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
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=httpx_timeout(self._config.timeout),
            follow_redirects=False,
            transport=HTTPTransport(),
        )

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
        """
        session = self._config.new_session(
            model=model, messages=messages, resume=resume, params=params
        )
        return Stream(self, session)

    def close(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            self._http.close()

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
        """Show the configuration without the API key."""
        return f"StreamingClient({self._config!r})"
