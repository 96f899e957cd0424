"""StreamState: what both stream executors expose (result, snapshot, buffered events)."""

from __future__ import annotations

from streamkit.errors import StreamStateError
from streamkit.events import DeltaEvent
from streamkit.result import StreamResult
from streamkit.session import StreamMachine, StreamSession

__all__ = ["StreamState"]


class StreamState:
    """The state both stream executors share; no I/O.

    Args:
        machine: the stream's :class:`~streamkit.session.StreamMachine`.
    """

    def __init__(self, machine: StreamMachine) -> None:
        self._machine = machine
        self._session = machine.session
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
