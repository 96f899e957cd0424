"""The sans-I/O core that every client executor drives: :class:`StreamMachine`.

A :class:`StreamMachine` runs one logical stream (every attempt, retry sleep and
resume) over a :class:`StreamSession`. Like httpx's ``Auth.auth_flow`` or tenacity's
``iter()``, it hands out *actions* and takes their *outcomes*; an executor performs
each action with real I/O and knows nothing else::

    machine = StreamMachine(session, clock=time.monotonic)
    outcome = None
    while True:
        action = machine.next(outcome)      # raises the stream's final error
        if action is READ:                  outcome = <next body chunk (bytes)> | EOF | Failed(err)
        elif isinstance(action, Open):      outcome = ResponseHead(...) | Failed(err)
        elif isinstance(action, ReadBody):  outcome = <up to action.limit bytes> | Failed(err)
        elif isinstance(action, Sleep):     sleep(action.delay_s); outcome = None
        elif isinstance(action, Deliver):   hand action.events to the user; outcome = None
        elif action is CLOSE:               close the response; outcome = None
        elif action is DONE:                break

Every decision lives here, once: when a status or content type is an error, when
to stop reading, when a failure is retried or resumed (and with which request),
how long to sleep, and what is delivered before an error is raised. The executors
(:mod:`streamkit.client`, :mod:`streamkit.async_client`, for httpx and httpx2) only
turn an action into one library call and map that library's exceptions into
:class:`Failed` outcomes.

Errors: :meth:`StreamMachine.next` raises the error that ends the stream (a
:class:`~streamkit.errors.StreamkitError` carrying ``partial``) after it has asked for
``CLOSE``; an executor re-raises it to the user.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Final, TypeAlias

from streamkit._head import ERROR_BODY_LIMIT, ResponseHead
from streamkit._request import RequestSpec
from streamkit._session import ResumeMode, RetryPlan, StreamAccount, StreamSession, prompt_chars
from streamkit.errors import StreamkitError, StreamStateError
from streamkit.events import DeltaEvent

__all__ = [
    "CLOSE",
    "DONE",
    "EOF",
    "READ",
    "Action",
    "Deliver",
    "Failed",
    "Open",
    "Outcome",
    "ReadBody",
    "ResponseHead",
    "ResumeMode",
    "RetryPlan",
    "Sleep",
    "StreamAccount",
    "StreamMachine",
    "StreamSession",
    "prompt_chars",
]


class _Marker:
    """A named singleton action or outcome (compare with ``is``)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


READ: Final = _Marker("READ")
"""Action: read the next piece of the body. Outcome: ``bytes``, :data:`EOF` or :class:`Failed`."""
CLOSE: Final = _Marker("CLOSE")
"""Action: close the current response (and release its connection). Outcome: ``None``."""
DONE: Final = _Marker("DONE")
"""Action: the stream is over; stop iterating."""
EOF: Final = _Marker("EOF")
"""Outcome of :data:`READ`: the body ended."""


@dataclass(frozen=True, slots=True)
class Open:
    """Action: send ``spec`` and wait for the response head.

    Outcome: a :class:`ResponseHead`, or :class:`Failed`.
    """

    spec: RequestSpec


@dataclass(frozen=True, slots=True)
class ReadBody:
    """Action: read up to ``limit`` bytes of an error response's body (decoded).

    Outcome: the ``bytes`` read (possibly fewer), or :class:`Failed`.
    """

    limit: int


@dataclass(frozen=True, slots=True)
class Sleep:
    """Action: wait ``delay_s`` seconds before the next attempt. Outcome: ``None``."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class Deliver:
    """Action: hand ``events`` to the user, in order, before asking for the next action."""

    events: list[DeltaEvent]


@dataclass(frozen=True, slots=True)
class Failed:
    """Outcome: the action failed with ``error`` (the executor's library error, mapped)."""

    error: StreamkitError


Action: TypeAlias = Open | ReadBody | Sleep | Deliver | _Marker
"""What :meth:`StreamMachine.next` returns."""
Outcome: TypeAlias = ResponseHead | bytes | Failed | _Marker | None
"""What :meth:`StreamMachine.next` takes: the result of the previous action."""


class StreamMachine:
    """One logical stream as actions and outcomes (see the module docstring).

    Args:
        session: the stream's :class:`StreamSession` (decoding, reassembly, usage,
            metrics, retry and resume planning).
        clock: monotonic seconds (``time.monotonic``, or a fake clock in tests).
    """

    __slots__ = ("_clock", "_flow", "_over", "send", "session")

    def __init__(self, session: StreamSession, *, clock: Callable[[], float]) -> None:
        self.session = session
        self._clock = clock
        self._flow: Generator[Action, Outcome, None] = self._http_flow()
        self._over = False
        #: The executors' fast path: :meth:`next` without its bookkeeping (the flow's
        #: own generator ``send``): ``StopIteration`` means :data:`DONE`; after it
        #: raised or stopped, do not call it again.
        self.send: Callable[[Outcome], Action] = self._flow.send

    def next(self, outcome: Outcome) -> Action:
        """Take the outcome of the previous action (``None`` at first); return the next one.

        Raises:
            StreamkitError: the error that ends the stream (with ``partial``); the
                machine has asked for :data:`CLOSE` first. Later calls return :data:`DONE`.
        """
        if self._over:
            return DONE
        try:
            return self._flow.send(outcome)
        except StopIteration:
            self._over = True
            return DONE
        except BaseException:
            self._over = True
            raise

    def close(self) -> None:
        """Stop the machine (the user left); later :meth:`next` calls return :data:`DONE`."""
        self._over = True
        self._flow.close()

    @property
    def over(self) -> bool:
        """True once the machine returned :data:`DONE` or raised."""
        return self._over

    def _http_flow(self) -> Generator[Action, Outcome, None]:
        session = self.session
        clock = self._clock
        delay_s: float | None = None
        while True:
            failure: StreamkitError | None = None
            try:
                if delay_s is not None:
                    yield Sleep(delay_s)
                outcome = yield Open(session.next_request(clock()))
                if type(outcome) is not ResponseHead:
                    raise _failure(outcome)
                if outcome.needs_body:
                    body = yield ReadBody(ERROR_BODY_LIMIT)
                    if type(body) is not bytes:
                        raise _failure(body)
                    error = outcome.error(body)
                    if error is not None:
                        raise error
                events = session.opened(clock())
                if events:
                    yield Deliver(events)
                while True:
                    chunk = yield READ
                    if type(chunk) is bytes:  # the hot path
                        events = session.feed(chunk, clock())
                        if events:
                            yield Deliver(events)
                            session.take_failure()  # one found behind those events
                        if session.stream_done:  # the terminal event: stop here
                            events = session.end(clock())
                            if events:
                                yield Deliver(events)
                            break
                    elif chunk is EOF:
                        events = session.end(clock())  # raises if the stream broke
                        if events:
                            yield Deliver(events)
                        yield CLOSE
                        return
                    else:
                        raise _failure(chunk)
                # read what follows the terminal event up to EOF, so that the connection
                # is reused; a failure there does not matter any more
                while type((yield READ)) is bytes:
                    pass
                yield CLOSE
                return
            except StreamkitError as err:
                failure = err
            yield CLOSE
            if session.finished:
                return  # the stream had ended; what broke was the drain after it
            plan = session.fail(failure, clock())  # raises when it is not retried
            if plan.events:
                yield Deliver(plan.events)
            delay_s = plan.delay_s


def _failure(outcome: Outcome) -> StreamkitError:
    if type(outcome) is Failed:
        return outcome.error
    return StreamStateError(f"executor bug: unexpected outcome {outcome!r}")
