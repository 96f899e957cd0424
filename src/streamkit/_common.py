"""What the two client shells share: options, the API key, stream state (no I/O)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from streamkit._session import ResumeMode, StreamSession, prompt_chars
from streamkit.config import Timeouts
from streamkit.errors import register_secret
from streamkit.events import DeltaEvent
from streamkit.providers import Dialect, get
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy

if TYPE_CHECKING:
    from streamkit.tracker import CostTracker

__all__ = ["ClientConfig", "StreamState"]

_RESUME_MODES = ("auto", "last-event-id", "prefill", "replay", "off")


class _Secret:
    """Holds the API key; never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value
        register_secret(value)

    def get(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "'***'" if self._value else "None"

    __str__ = __repr__


class ClientConfig:
    """Resolved client options shared by :class:`StreamingClient` and its async twin."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        provider: str,
        retry: RetryPolicy | None,
        timeout: Timeouts | None,
        tracker: CostTracker | None,
        resume: ResumeMode,
        headers: Mapping[str, str] | None,
    ) -> None:
        if resume not in _RESUME_MODES:
            raise ValueError(f"resume must be one of {', '.join(_RESUME_MODES)}, got {resume!r}")
        self.provider = provider
        self.dialect: Dialect = get(provider)
        self.base_url = (
            base_url or os.environ.get("STREAMKIT_BASE_URL") or self.dialect.default_base_url
        ).rstrip("/")
        if api_key is None:
            api_key = os.environ.get("STREAMKIT_API_KEY")
            for name in self.dialect.api_key_env:
                if api_key:
                    break
                api_key = os.environ.get(name)
        self._api_key = _Secret(api_key or None)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout or Timeouts()
        self.tracker = tracker
        self.resume: ResumeMode = resume
        self.headers = dict(headers or {})

    def new_session(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        resume: ResumeMode | None,
        params: Mapping[str, Any],
    ) -> StreamSession:
        """Build the sans-I/O session of one ``stream()`` call."""
        if resume is not None and resume not in _RESUME_MODES:
            raise ValueError(f"resume must be one of {', '.join(_RESUME_MODES)}, got {resume!r}")
        spec = self.dialect.build_request(
            base_url=self.base_url,
            api_key=self._api_key.get(),
            model=model,
            messages=messages,
            params=params,
        )
        if self.headers:
            spec = spec.with_headers(**self.headers)
        account = None
        if self.tracker is not None:
            account = self.tracker.open_stream(
                model=model, provider=self.provider, prompt_chars=prompt_chars(messages)
            )
        return StreamSession(
            dialect=self.dialect,
            request=spec,
            retry=self.retry,
            timeouts=self.timeout,
            resume=resume or self.resume,
            prompt_chars=prompt_chars(messages),
            account=account,
        )

    def __repr__(self) -> str:
        return (
            f"provider={self.provider!r}, base_url={self.base_url!r}, api_key={self._api_key!r}, "
            f"resume={self.resume!r}"
        )


class StreamState:
    """The state both stream shells expose: result, snapshot, buffered events."""

    def __init__(self, session: StreamSession) -> None:
        self._session = session
        self._buffer: list[DeltaEvent] = []
        self._buffer_pos = 0
        self._closed = False

    @property
    def session(self) -> StreamSession:
        """The sans-I/O session (for advanced use and tests)."""
        return self._session

    @property
    def result(self) -> StreamResult:
        """The final :class:`StreamResult`, once the stream ended normally.

        Raises:
            StreamStateError: the stream has not finished; iterate it to the end
                first, or use :meth:`snapshot` for the partial result.
        """
        from streamkit.errors import StreamStateError

        result = self._session.result
        if result is None:
            raise StreamStateError(
                "the stream has not finished: iterate it to the end first, or call snapshot()"
            )
        return result

    def snapshot(self) -> StreamResult:
        """The result assembled so far (the final one after the end)."""
        result = self._session.result
        return result if result is not None else self._session.snapshot()
