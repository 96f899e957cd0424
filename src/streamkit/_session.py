"""StreamSession: one logical stream across attempts, as a sans-I/O state machine.

The client shells drive it (like h11's ``Connection``)::

    spec = session.next_request(now)        # the request of this attempt
    session.opened(now)                     # 2xx, text/event-stream: body follows
    events = session.feed(chunk, now)       # body bytes -> delta events to deliver
    events = session.end(now)               # EOF (raises if the stream broke)
    plan = session.fail(err, now)           # any StreamkitError: retry plan or raise

No I/O, no clock, no sleeping: ``now`` comes from the shell (``time.monotonic``)
and "sleep N seconds" comes back as :attr:`RetryPlan.delay_s`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from streamkit._request import RequestSpec
from streamkit.config import Timeouts
from streamkit.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ProviderError,
    SSEError,
    StreamInterruptedError,
    StreamkitError,
    StreamStateError,
)
from streamkit.events import (
    DeltaEvent,
    ReasoningDelta,
    RefusalDelta,
    ResumeEvent,
    ResumeStrategy,
    RetryEvent,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from streamkit.extras import ProviderExtras
from streamkit.metrics import MetricsRecorder
from streamkit.providers._base import (
    Dialect,
    MessageDecoder,
    StartingAfterResume,
    StreamDecoder,
)
from streamkit.reassembly import AttemptMode, Reassembler, ReplayDivergedError
from streamkit.result import StreamResult
from streamkit.retry import RetryPolicy
from streamkit.sse import SSEDecoder
from streamkit.usage import Usage, estimate_usage

__all__ = ["ResumeMode", "RetryPlan", "StreamAccount", "StreamSession"]

ResumeMode = Literal["auto", "last-event-id", "prefill", "replay", "off"]
"""How a stream that broke after content was delivered is continued:
``auto`` picks per dialect and stream; ``off`` never resumes (the break raises
:class:`~streamkit.errors.StreamInterruptedError`)."""

_CONTENT_TYPES = (TextDelta, ReasoningDelta, RefusalDelta, ToolCallDelta)


class StreamAccount(Protocol):
    """What the session needs from a cost tracker's per-stream account."""

    def record(
        self,
        usage: Usage | None,
        *,
        pending_output_chars: int = 0,
        pending_output: Sequence[str] = (),
        model: str | None = None,
    ) -> None:
        """Record the usage so far (all attempts), pending output and the response's model.

        ``pending_output`` is the reassembler's ``attempt_output`` while no usage
        covers the current attempt.

        Raises:
            BudgetExceededError: the running cost crossed a budget.
        """
        ...

    @property
    def cost(self) -> Any:
        """The stream's cost in USD (``Decimal``), ``None`` when the price is unknown."""
        ...

    @property
    def cost_basis(self) -> Any:
        """Where the price came from (``streamkit.pricing.CostBasis``), ``None`` if unknown."""
        ...

    def estimate(self, pending_output: Sequence[str]) -> Usage:
        """The estimated usage of an attempt that broke before its usage was reported."""
        ...

    def note(self, event: DeltaEvent) -> None:
        """Observe a retry or resume event (for telemetry)."""
        ...

    def close(self, result: StreamResult | None = None, error: BaseException | None = None) -> None:
        """The stream ended: normally with ``result``, or with ``error``."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """What the shell does after a failed attempt: deliver ``events``, sleep, retry."""

    events: list[DeltaEvent]
    """Events to deliver before sleeping (a :class:`~streamkit.events.RetryEvent`)."""
    delay_s: float
    """Seconds to sleep before the next attempt."""


class StreamSession:
    """One logical stream: wires SSE → dialect → reassembler → metrics/usage, plans retries.

    Args:
        dialect: the provider dialect.
        request: the first request (from ``dialect.build_request``).
        retry: the retry policy.
        timeouts: the time limits (only ``total`` is checked here; the shells give
            ``connect``/``read_idle`` to the HTTP client).
        resume: the resume mode.
        prompt_chars: characters of the request's messages, for usage estimates.
        account: a cost tracker's account for this stream, or ``None``.
        max_line_size: SSE line limit in bytes (see :class:`~streamkit.sse.SSEDecoder`).
        max_event_size: SSE event limit in bytes.
    """

    def __init__(
        self,
        *,
        dialect: Dialect,
        request: RequestSpec,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        resume: ResumeMode = "auto",
        prompt_chars: int = 0,
        account: StreamAccount | None = None,
        max_line_size: int | None = None,
        max_event_size: int | None = None,
    ) -> None:
        self.dialect = dialect
        self._base_request = request
        self._retry = retry or RetryPolicy()
        self._timeouts = timeouts or Timeouts()
        self._resume: ResumeMode = resume
        self._prompt_chars = prompt_chars
        self._account = account
        self._sse_limits: dict[str, int] = {}
        if max_line_size is not None:
            self._sse_limits["max_line_size"] = max_line_size
        if max_event_size is not None:
            self._sse_limits["max_event_size"] = max_event_size
        self.request_id = f"streamkit-{uuid.uuid4().hex}"
        """Sent as ``Idempotency-Key`` and ``X-Request-ID`` on every attempt."""
        self.reassembler = Reassembler()
        self.metrics = MetricsRecorder()
        self.attempt = 0
        """The number of the current attempt (1 = the first request)."""
        self.last_event_id = ""
        """The SSE last event ID, kept across attempts (sent as ``Last-Event-ID``)."""
        self.stream_done = False
        """True once the current response sent its terminal event (stop reading); a
        plain attribute, read after every :meth:`feed` (it changes only there)."""
        self._sse: SSEDecoder | None = None
        self._decoder: StreamDecoder | None = None
        self._started_at: float | None = None
        self._next: tuple[RequestSpec, AttemptMode, ResumeStrategy | None] = (
            request,
            "fresh",
            None,
        )
        self._pending_resume: ResumeEvent | None = None
        self._state: Literal["idle", "requesting", "streaming", "done", "failed"] = "idle"
        self._complete = False
        self._model: str | None = None
        self._response_id: str | None = None
        self._result: StreamResult | None = None
        self._last_now = 0.0
        self._deadline: float | None = None
        """``Timeouts.total`` as a point in time, once the stream started."""
        # extras of the attempts before the current one (see ProviderExtras.merged)
        self._extras: ProviderExtras | None = None
        # an error feed() found behind events it returned (see take_failure)
        self._deferred_failure: StreamkitError | None = None

    # ---- properties -------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once the stream ended (complete or failed for good)."""
        return self._state in ("done", "failed")

    @property
    def result(self) -> StreamResult | None:
        """The final result once the stream completed, else ``None``."""
        return self._result

    @property
    def request(self) -> RequestSpec:
        """The stream's first request (what a replay sends again)."""
        return self._base_request

    @property
    def decoder(self) -> StreamDecoder | None:
        """The decoder of the current attempt (``None`` before the first)."""
        return self._decoder

    # ---- inputs -------------------------------------------------------------------------

    def next_request(self, now: float) -> RequestSpec:
        """Start the next attempt and return its request.

        Raises:
            StreamStateError: the stream already finished.
        """
        if self.finished:
            raise StreamStateError("the stream has finished; start a new one")
        if self._started_at is None:
            self._started_at = now
            self.metrics.start(now)
            if self._timeouts.total is not None:
                self._deadline = now + self._timeouts.total
        if self._sse is not None:
            self.metrics.received(self._sse.bytes_received)  # the previous attempt's bytes
        self._last_now = now
        self._deferred_failure = None  # (fail() had it; a new attempt starts clean)
        spec, mode, strategy = self._next
        if self._decoder is not None:
            if mode == "continue":
                previous = self._decoder.extras()
                self._extras = previous if self._extras is None else self._extras.merged(previous)
            else:
                self._extras = None  # a replay (or fresh retry) describes the stream again
        self.attempt += 1
        self.metrics.attempt()
        self.reassembler.begin_attempt(
            mode, same_generation=strategy in ("last-event-id", "starting-after")
        )
        if strategy is not None:
            self._pending_resume = ResumeEvent(
                attempt=self.attempt,
                strategy=strategy,
                resumed_after_chars=self.reassembler.delivered_chars,
            )
        self._sse = SSEDecoder(**self._sse_limits)
        self._decoder = self.dialect.new_decoder()
        self.stream_done = False
        self._state = "requesting"
        return spec.with_headers(
            **{"Idempotency-Key": self.request_id, "X-Request-ID": self.request_id}
        )

    def opened(self, now: float) -> list[DeltaEvent]:
        """The response arrived with a 2xx status and an event stream: the body follows.

        Returns:
            A :class:`~streamkit.events.ResumeEvent` when this attempt resumes a stream.
        """
        self._state = "streaming"
        self._last_now = now
        if self._pending_resume is not None:
            event, self._pending_resume = self._pending_resume, None
            if self._account is not None:
                self._account.note(event)
            return [event]
        return []

    def feed(self, chunk: bytes, now: float) -> list[DeltaEvent]:
        """Feed body bytes; return the delta events to deliver, exactly once and in order.

        Raises:
            StreamkitError: ``SSEError``, ``ChunkDecodeError``, ``ProviderError``,
                ``StreamOrderError``, or ``APITimeoutError`` when ``Timeouts.total``
                passed; hand it to :meth:`fail`.
        """
        sse_decoder = self._sse
        decoder = self._decoder
        if sse_decoder is None or decoder is None:
            raise StreamStateError("feed() before next_request()")
        self._last_now = now
        if self._deadline is not None and now > self._deadline:
            raise APITimeoutError(
                f"the stream took longer than Timeouts.total={self._timeouts.total} s"
            )
        failure: StreamkitError | None = None
        try:
            sse_events = sse_decoder.feed(chunk)  # counts the bytes too (bytes_received)
        except SSEError as err:
            # a limit broke mid-piece: the events completed before it still count
            sse_events, failure = err.events, err
        if failure is None and sse_decoder.last_event_id:
            # WHATWG: dispatch sets the last event ID string, also for a block with an
            # `id` and no data (a checkpoint); a resume sends it as Last-Event-ID
            self.last_event_id = sse_decoder.last_event_id
        if not sse_events and failure is None:
            return []
        out: list[DeltaEvent] = []
        push = self.reassembler.push
        try:
            for sse in sse_events:
                if decoder.done:
                    break
                if sse.id:
                    # the last event ID of the *dispatched* events (WHATWG: set at
                    # dispatch, not when an `id:` line of an unfinished event was parsed)
                    self.last_event_id = sse.id
                try:
                    deltas = decoder.decode(sse)
                except ProviderError as err:
                    carried = err.events
                    if carried:
                        out.extend(push(carried))
                    raise
                out.extend(push(deltas, event_id=sse.id, sequence=decoder.sequence_number(sse)))
        except StreamkitError as err:
            failure = err
        self.stream_done = decoder.done  # (only an SSE event can change it)
        if out:
            self._note(out, now)
        if failure is not None:
            if not out:
                raise failure
            # deliver the events that came before the failure first: the shell raises
            # it (take_failure) once they are consumed
            self._deferred_failure = failure
        return out

    def feed_message(self, message: Any, now: float) -> list[DeltaEvent]:
        """Feed one whole message (a parsed WebSocket JSON frame); return the events to deliver.

        The message skips the SSE decoder and enters the dialect decoder through
        ``decode_payload`` (:class:`~streamkit.providers._base.MessageDecoder`), the
        entry the data of an SSE event takes after parsing; the reassembler, usage and
        metrics are those of :meth:`feed`. Messages after the terminal event are ignored.

        Raises:
            ChunkDecodeError, ProviderError, StreamOrderError, APITimeoutError: as
                :meth:`feed` (events decoded with an in-band error are returned first,
                and the error waits in :meth:`take_failure`).
        """
        decoder = cast("MessageDecoder | None", self._decoder)
        if decoder is None:
            raise StreamStateError("feed_message() before next_request()")
        self._last_now = now
        if self._deadline is not None and now > self._deadline:
            raise APITimeoutError(
                f"the stream took longer than Timeouts.total={self._timeouts.total} s"
            )
        if decoder.done:
            return []
        push = self.reassembler.push
        out: list[DeltaEvent] = []
        try:
            try:
                deltas = decoder.decode_payload(message)
            except ProviderError as err:
                if err.events:
                    out = push(err.events)
                raise
            out = push(deltas, sequence=decoder.payload_sequence_number(message))
        except StreamkitError as err:
            if not out:
                raise
            self._deferred_failure = err
        self.stream_done = decoder.done
        if out:
            self._note(out, now)
        return out

    def restart(self, request: RequestSpec) -> None:
        """Send ``request`` instead of the first request from the next attempt on.

        For a stream that failed before any content because the server lost state the
        request relied on (a WebSocket ``previous_response_not_found``): the next
        attempt starts afresh with ``request`` (the full input). No retry is counted
        against the policy and no sleep is planned; nothing is accounted for the failed
        attempt (no output was generated).

        Raises:
            StreamStateError: content was already delivered, or the stream finished.
        """
        if self.finished or self.reassembler.delivered_chars:
            raise StreamStateError("restart() after content was delivered")
        self._base_request = request
        self._next = (request, "fresh", None)
        self._state = "idle"

    def take_failure(self) -> None:
        """Raise the failure :meth:`feed` deferred behind the events it returned.

        A piece of the body can hold many events; when one of them is malformed (or
        an in-band error, or past a limit), :meth:`feed` returns the events before it
        so that nothing received is lost, and keeps the error. Shells call this
        before reading more bytes; it does nothing when no failure is waiting.

        Raises:
            StreamkitError: the deferred failure (hand it to :meth:`fail`).
        """
        failure = self._deferred_failure
        if failure is not None:
            self._deferred_failure = None
            raise failure

    def _note(self, events: Sequence[DeltaEvent], now: float) -> None:
        metrics = self.metrics
        usage_changed = False
        for event in events:
            if isinstance(event, _CONTENT_TYPES):
                metrics.content(now)
            elif isinstance(event, UsageEvent):
                usage_changed = True
        account = self._account
        if account is not None:
            r = self.reassembler
            # while no usage was reported in this attempt, the text received is the estimate
            pending = 0 if r.attempt_usage is not None else r.attempt_chars
            if usage_changed or pending:
                model = self._decoder.model if self._decoder is not None else None
                account.record(
                    r.usage, pending_output=r.attempt_output if pending else (), model=model
                )

    def end(self, now: float) -> list[DeltaEvent]:
        """The body ended. Return nothing more to deliver, or raise if the stream broke.

        EOF is a normal end when the dialect saw its terminal event, or says the
        stream is complete without one (e.g. every choice finished).

        Raises:
            APIConnectionError: the body ended before the stream was complete.
            StreamOrderError, ReplayDivergedError: see :meth:`Reassembler.end_attempt`.
        """
        sse_decoder = self._sse
        decoder = self._decoder
        if sse_decoder is None or decoder is None:
            raise StreamStateError("end() before next_request()")
        self.take_failure()  # an error behind the last events outranks the end
        self._last_now = now
        sse_decoder.close()
        if not (decoder.done or decoder.complete_at_eof()):
            raise APIConnectionError("the connection closed before the stream was complete")
        self.reassembler.end_attempt()
        self._capture_ids()
        self._complete = True
        self._state = "done"
        self.metrics.end(now)
        if self._account is not None:
            self._account.record(self.reassembler.usage, model=self._model)
        self._result = self.snapshot(now)
        if self._account is not None:
            self._account.close(self._result)
        return []

    def fail(self, err: StreamkitError, now: float) -> RetryPlan:
        """An attempt failed with ``err``: return the retry plan, or raise.

        Raises:
            StreamInterruptedError: content was delivered, the connection broke, and
                the stream could not be resumed (attempts or deadline used up,
                ``resume="off"``, no strategy applies, or a replay diverged);
                ``partial`` holds the result so far and ``__cause__`` is ``err``.
            StreamkitError: ``err`` itself (with ``partial`` set) when it is not
                retried: not retryable, attempts used up before any content, or a
                ``Retry-After`` longer than ``RetryPolicy.max_retry_after``.
        """
        self._last_now = now
        self._capture_ids()
        self._account_broken_attempt()
        content = self.reassembler.delivered_chars > 0
        elapsed = now - (self._started_at if self._started_at is not None else now)
        if isinstance(err, ReplayDivergedError):
            raise self._give_up(
                StreamInterruptedError(
                    f"the stream broke and its replay diverged from the delivered text: {err}",
                    attempts=self.attempt,
                ),
                err,
                now,
            )
        delay = self._retry.next_delay(
            err,
            attempt=self.attempt,
            elapsed_s=elapsed,
            total_s=self._timeouts.total,
            content_started=content,
        )
        broke = isinstance(err, APIConnectionError) and not isinstance(err, APIStatusError)
        if delay is None:
            if content and broke:
                raise self._give_up(
                    StreamInterruptedError(
                        f"the stream broke after {self.reassembler.delivered_chars} characters "
                        f"and could not be resumed after {self.attempt} attempt(s): {err}",
                        attempts=self.attempt,
                    ),
                    err,
                    now,
                )
            raise self._give_up(err, None, now)
        strategy: ResumeStrategy | None = None
        mode: AttemptMode = "replay" if self.reassembler.choice_count else "fresh"
        spec = self._base_request
        if content:
            planned = self._plan_resume()
            if planned is None:
                raise self._give_up(
                    StreamInterruptedError(
                        f"the stream broke after {self.reassembler.delivered_chars} characters "
                        f"and resume={self._resume!r} has no way to continue it: {err}",
                        attempts=self.attempt,
                    ),
                    err,
                    now,
                )
            spec, mode, strategy = planned
        self._next = (spec, mode, strategy)
        self._state = "idle"
        status = err.status_code if isinstance(err, APIStatusError) else None
        event = RetryEvent(
            attempt=self.attempt,
            delay_s=delay,
            reason=f"{type(err).__name__}: {err}"[:300],
            status_code=status,
        )
        if self._account is not None:
            self._account.note(event)
        return RetryPlan(events=[event], delay_s=delay)

    def abandon(self, now: float) -> None:
        """The user closed the stream before its end: account what was received."""
        if self.finished or self.attempt == 0:
            return  # already accounted, or never started
        self._capture_ids()
        self._account_broken_attempt()
        self._state = "failed"
        self.metrics.end(now)
        if self._account is not None:
            self._account.close(self.snapshot(now), None)

    def _plan_resume(self) -> tuple[RequestSpec, AttemptMode, ResumeStrategy] | None:
        mode = self._resume
        if mode == "off":
            return None
        base = self._base_request
        if mode in ("auto", "last-event-id") and self.last_event_id:
            return (
                base.with_headers(**{"Last-Event-ID": self.last_event_id}),
                "continue",
                ("last-event-id"),
            )
        if mode == "last-event-id":
            return None
        candidates: Sequence[ResumeStrategy] = (
            self.dialect.resume_strategies if mode == "auto" else (mode,)
        )
        r = self.reassembler
        for strategy in candidates:
            if strategy == "prefill":
                text = r.text_of(0)
                if r.choice_count <= 1 and not r.has_tool_calls and text:
                    spec = self.dialect.build_prefill_request(base, text)
                    if spec is not None:
                        return spec, "continue", "prefill"
            elif strategy == "replay":
                return base, "replay", "replay"
            elif strategy == "starting-after":
                seq = r.next_sequence
                dialect = self.dialect
                if (
                    isinstance(dialect, StartingAfterResume)
                    and self._response_id
                    and seq is not None
                ):
                    spec = dialect.build_starting_after_request(base, self._response_id, seq - 1)
                    if spec is not None:
                        return spec, "continue", "starting-after"
        return None

    def _give_up(
        self, err: StreamkitError, cause: BaseException | None, now: float
    ) -> StreamkitError:
        self._state = "failed"
        self.metrics.end(now)
        err.partial = self.snapshot(now)
        if cause is not None:
            err.__cause__ = cause
        return err

    def _account_broken_attempt(self) -> None:
        r = self.reassembler
        if r.attempt_usage is None and (r.attempt_chars or self._state == "streaming"):
            r.set_attempt_usage(
                self._account.estimate(r.attempt_output)
                if self._account is not None
                else estimate_usage(self._prompt_chars, r.attempt_chars)
            )
        if self._account is not None:
            with contextlib.suppress(StreamkitError):  # the budget error is not the story here
                self._account.record(r.usage)

    def _capture_ids(self) -> None:
        decoder = self._decoder
        if decoder is not None:
            if decoder.model and self._model is None:
                self._model = decoder.model
            if decoder.response_id and self._response_id is None:
                self._response_id = decoder.response_id

    # ---- outputs ------------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> StreamResult:
        """The result so far (complete after the stream ended normally)."""
        self._capture_ids()
        usage = self.reassembler.usage
        output_tokens = usage.output_tokens if usage is not None else None
        return self.reassembler.snapshot(
            model=self._model,
            response_id=self._response_id,
            metrics=self.metrics.snapshot(
                output_tokens,
                now if now is not None else self._last_now,
                extra_bytes=self._sse.bytes_received if self._sse is not None else 0,
            ),
            cost=self._account.cost if self._account is not None else None,
            cost_basis=self._account.cost_basis if self._account is not None else None,
            complete=self._complete,
            attempts=max(self.attempt, 1),
            extras=self._current_extras(),
        )

    def _current_extras(self) -> ProviderExtras | None:
        current = self._decoder.extras() if self._decoder is not None else None
        if current is None:
            return self._extras
        return current if self._extras is None else self._extras.merged(current)


def prompt_chars(messages: Sequence[Mapping[str, Any]]) -> int:
    """Count the characters of a chat request's message contents (for estimates)."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    total += len(part["text"])
    return total
