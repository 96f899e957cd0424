"""ConnectionState: the bookkeeping of one WebSocket connection, as a sans-I/O object.

A :class:`~streamkit.websocket.Connection` (and its async twin) is one logical
connection: a current socket, older sockets still finishing their streams, and many
streams, one per *lane*. Everything it decides lives here, tested without a network:

- **which socket a new attempt uses** (:meth:`ConnectionState.attach`): the current
  one, unless it is gone, retired, or old enough to be rotated before the server's
  connection limit (OpenAI 60 minutes, xAI 25); rotation happens between responses,
  never in the middle of one (make before break: the old socket closes when its
  last stream is done);
- **where a received message goes** (:meth:`ConnectionState.feed`): it is parsed once
  and queued for the lane its ``stream_id`` names; messages of a lane nobody waits
  for (a cancelled stream's remainder) are dropped until that response's terminal
  event;
- **when a socket closes** (:meth:`ConnectionState.detach`): when it is retired or
  dead and no stream uses it any more;
- **what the conversation was** (:meth:`ConnectionState.remember`,
  :meth:`ConnectionState.full_input`): each completed response's input and output
  items, so that a ``previous_response_not_found`` can be answered with the full input.

Retry and resume of a stream are its :class:`~streamkit.session.StreamMachine`'s
concern; heartbeats are the WebSocket library's (RFC 6455 pings).
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from streamkit.errors import StreamStateError
from streamkit.providers._base import WebSocketDialect
from streamkit.session import Closed, Failed

__all__ = ["EVERY", "MAX_HISTORY", "MAX_QUEUED", "ConnectionState", "Lane"]

Lane: TypeAlias = str | None
"""A lane's ``stream_id``; ``None`` is the default lane (no ``stream_id``)."""


class _Every:
    __slots__ = ()

    def __repr__(self) -> str:
        return "EVERY"


EVERY: Final = _Every()
"""What :meth:`ConnectionState.feed` returns for a message queued for every lane."""

#: Messages queued for one lane before it counts as abandoned. A response of 100 000
#: events is far beyond the longest real ones (a long reasoning answer has ~20 000);
#: only a lane that is never read gets there, and then its memory stops growing.
MAX_QUEUED: Final = 100_000

#: Completed responses remembered for a ``previous_response_not_found`` fallback (the
#: least recently used are forgotten first): a long agent run of hundreds of turns.
MAX_HISTORY: Final = 1_000


@dataclass(slots=True)
class _Socket:
    id: int
    opened_at: float
    lanes: dict[Lane, deque[Any]] = field(default_factory=dict)
    """The lanes with a stream attempt on this socket, and their queued messages."""
    draining: set[Lane] = field(default_factory=set)
    """Lanes whose cancelled response is still arriving (dropped until its end)."""
    dead: Closed | None = None
    """How the socket ended, once it did (every lane on it gets this)."""
    retiring: bool = False
    """No new stream starts here; it closes when its lanes are done."""


@dataclass(frozen=True, slots=True)
class _Turn:
    previous: str | None
    input: tuple[Any, ...]
    output: tuple[Any, ...]


class ConnectionState:
    """The sockets, lanes, routing and history of one WebSocket connection (no I/O).

    Args:
        dialect: the connection's WebSocket dialect.
        rotate_after_s: open a new socket for the next stream once the current one is
            this old (seconds); ``None`` never rotates.
        max_queued: messages queued for one lane before it fails (see :data:`MAX_QUEUED`).
    """

    def __init__(
        self,
        dialect: WebSocketDialect,
        *,
        rotate_after_s: float | None,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.dialect = dialect
        self.rotate_after_s = rotate_after_s
        self._lane_key = dialect.lane_key
        self._max_queued = max_queued
        self._sockets: dict[int, _Socket] = {}
        self._current: _Socket | None = None
        self._next_id = 1
        self._claimed: set[Lane] = set()
        self._history: OrderedDict[str, _Turn] = OrderedDict()
        self.sockets_opened = 0
        """How many sockets this connection opened so far."""

    # ---- lanes ----------------------------------------------------------------------

    def claim(self, lane: Lane) -> None:
        """Reserve ``lane`` for a new stream (one open stream per lane).

        Raises:
            ConfigurationError: a named lane on a dialect without lanes.
            StreamStateError: a stream on this lane is still open.
        """
        if lane is not None and self._lane_key is None:
            from streamkit.errors import ConfigurationError

            raise ConfigurationError(
                f"dialect {self.dialect.name!r} has no lanes: leave lane=None (one stream "
                "at a time), or open another connection"
            )
        if lane in self._claimed:
            shown = "the default lane" if lane is None else f"lane {lane!r}"
            raise StreamStateError(
                f"{shown} has a stream that is still open: finish or close it first, "
                "or use another lane (lane=...)"
            )
        self._claimed.add(lane)

    def unclaim(self, lane: Lane) -> None:
        """The stream of ``lane`` is closed: the lane takes a new stream."""
        self._claimed.discard(lane)

    # ---- sockets --------------------------------------------------------------------

    @property
    def socket_ids(self) -> list[int]:
        """The sockets still open (current and retiring)."""
        return list(self._sockets)

    def attach(self, lane: Lane, now: float) -> tuple[int | None, list[int]]:
        """Pick the socket for a new attempt on ``lane``.

        Returns:
            The current socket's id (the attempt is attached to it), or ``None`` when
            a new socket must be opened (then call :meth:`opened`); and the ids of
            sockets to close now (retired ones nobody uses any more).
        """
        to_close: list[int] = []
        current = self._current
        if current is not None and (
            current.dead is not None
            or current.retiring
            or (self.rotate_after_s is not None and now - current.opened_at >= self.rotate_after_s)
        ):
            current.retiring = True
            self._current = None
            to_close += self._closable(current)
            current = None
        if current is None:
            return None, to_close
        current.lanes[lane] = deque()
        return current.id, to_close

    def opened(self, lane: Lane, now: float) -> int:
        """A new socket is open (``now``): it becomes the current one, with ``lane`` attached."""
        sock = _Socket(id=self._next_id, opened_at=now)
        self._next_id += 1
        sock.lanes[lane] = deque()
        self._sockets[sock.id] = sock
        self._current = sock
        self.sockets_opened += 1
        return sock.id

    def detach(
        self, socket_id: int, lane: Lane, *, retire: bool = False, abandoned: bool = False
    ) -> list[int]:
        """The attempt of ``lane`` on ``socket_id`` is over; return the sockets to close now.

        Args:
            socket_id: the socket the attempt used.
            lane: its lane.
            retire: the socket's state is in doubt: no new stream starts on it.
            abandoned: the user left before the response ended: with lanes, its
                remaining messages are dropped until its terminal event (the socket
                keeps its server-side state); without lanes the socket is retired.
        """
        sock = self._sockets.get(socket_id)
        if sock is None:
            return []
        sock.lanes.pop(lane, None)
        if abandoned and sock.dead is None:
            if self._lane_key is not None:
                sock.draining.add(lane)
            else:
                retire = True
        if retire:
            sock.retiring = True
            if self._current is sock:
                self._current = None
        return self._closable(sock)

    def broken(self, socket_id: int, closed: Closed) -> None:
        """Socket ``socket_id`` closed or broke: every lane on it gets ``closed``."""
        sock = self._sockets.get(socket_id)
        if sock is not None and sock.dead is None:
            sock.dead = closed
            if self._current is sock:
                self._current = None

    def close_all(self) -> list[int]:
        """The connection closes: forget every socket; return their ids."""
        ids = list(self._sockets)
        self._sockets.clear()
        self._current = None
        return ids

    def _closable(self, sock: _Socket) -> list[int]:
        if (sock.retiring or sock.dead is not None) and not sock.lanes:
            del self._sockets[sock.id]
            if self._current is sock:
                self._current = None
            return [sock.id]
        return []

    # ---- messages -------------------------------------------------------------------

    def waiting(self, socket_id: int, lane: Lane) -> bool:
        """Whether ``lane`` has nothing queued on a live socket (so a read is needed)."""
        sock = self._sockets.get(socket_id)
        if sock is None or sock.dead is not None:
            return False
        queue = sock.lanes.get(lane)
        return queue is not None and not queue

    def take(self, socket_id: int, lane: Lane) -> Any:
        """The next outcome for ``lane`` on ``socket_id``, or ``None`` when none is queued.

        Returns a message (``dict`` or ``str``), :class:`~streamkit.session.Failed`
        (a lane past :data:`MAX_QUEUED`, or an unreadable message), or
        :class:`~streamkit.session.Closed` once the socket is gone and the lane's
        queue is empty.
        """
        sock = self._sockets.get(socket_id)
        if sock is None:
            return Closed(1006, "the connection was closed")
        queue = sock.lanes.get(lane)
        if queue:
            return queue.popleft()
        return sock.dead

    def feed(self, socket_id: int, data: str | bytes) -> Lane | _Every:
        """Route one message received on ``socket_id`` to the queue of its lane.

        Returns the lane it names (whether queued or dropped), or :data:`EVERY`: the
        lanes whose stream may now have a message to take.

        A JSON object goes to the lane its ``stream_id`` (the dialect's
        :attr:`~streamkit.providers._base.WebSocketDialect.lane_key`) names, or to the
        default lane. A message that is not a JSON object (``[DONE]``, or garbage) names
        no lane: it goes, as text, to every lane on the socket. Messages for a lane with
        no attempt on this socket are dropped (a cancelled stream's remainder, or a
        trailing event after a response ended).
        """
        sock = self._sockets.get(socket_id)
        if sock is None:
            return EVERY
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        if type(payload) is not dict:
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            for waiting in sock.lanes.values():
                self._push(waiting, text.strip())
            return EVERY
        key = self._lane_key
        lane = payload.get(key) if key is not None else None
        if lane is not None and type(lane) is not str:
            lane = str(lane)
        if sock.draining and lane in sock.draining:
            if self.dialect.is_terminal(payload):
                sock.draining.discard(lane)
            return lane
        queue = sock.lanes.get(lane)
        if queue is not None:
            self._push(queue, payload)
        return lane

    def _push(self, queue: deque[Any], item: Any) -> None:
        if len(queue) < self._max_queued:
            queue.append(item)
        elif len(queue) == self._max_queued:
            queue.append(
                Failed(
                    StreamStateError(
                        f"{self._max_queued} messages of this lane were never read: "
                        "iterate every stream you start on a connection"
                    )
                )
            )

    # ---- conversation history ---------------------------------------------------------

    def remember(
        self,
        response_id: str,
        *,
        previous: str | None,
        input_items: Sequence[Any],
        output_items: Sequence[Any],
    ) -> None:
        """Keep a completed response's own input and output items (at most :data:`MAX_HISTORY`).

        ``previous`` is the ``previous_response_id`` it continued (``None`` when its
        input was complete).
        """
        self._history[response_id] = _Turn(previous, tuple(input_items), tuple(output_items))
        self._history.move_to_end(response_id)
        while len(self._history) > MAX_HISTORY:
            self._history.popitem(last=False)

    def full_input(self, previous: str, new_items: Sequence[Any]) -> list[Any] | None:
        """The whole conversation up to and including ``new_items``, or ``None``.

        Walks back from ``previous`` through the remembered responses; ``None`` when a
        response of the chain is not known (it was made elsewhere, or forgotten).
        """
        chain: list[_Turn] = []
        seen: set[str] = set()
        response_id: str | None = previous
        while response_id is not None:
            turn = self._history.get(response_id)
            if turn is None or response_id in seen:
                return None
            seen.add(response_id)
            self._history.move_to_end(response_id)
            chain.append(turn)
            response_id = turn.previous
        items: list[Any] = []
        for turn in reversed(chain):
            items += turn.input
            items += turn.output
        return items + list(new_items)
