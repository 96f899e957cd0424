"""A TCP proxy on 127.0.0.1 that breaks event streams and WebSockets where the test says.

Each client connection goes to the first backend that accepts it, so a killed worker is
skipped (a load balancer's failover). The proxy watches the bytes from the server for the
start of an event stream (``text/event-stream`` in a response head) or of a WebSocket
(``101 Switching Protocols``); the ``n``-th stream of a kind meets ``plan[kind][n]``:

- ``("cut", k)``: ``k`` more bytes reach the client, then both sockets are closed;
- ``("hold", k)``: ``k`` more bytes reach the client, then nothing more (what the server
  sends is swallowed) until the server closes the connection; then the client's too.

Streams past the end of their plan pass through untouched. Cuts are byte-exact, so a
seeded plan breaks a stream at the same place on every run, whatever the timing.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Sequence
from types import TracebackType

MARKERS = {"sse": b"text/event-stream", "ws": b"101 switching protocols"}
Plan = dict[str, list[tuple[str, int]]]


def seeded_plan(seed: int, kinds: Sequence[str], actions: Sequence[str]) -> Plan:
    """For each kind, one action per entry of ``actions`` at a random byte in [200, 2500)."""
    rng = random.Random(seed)
    return {kind: [(action, rng.randrange(200, 2500)) for action in actions] for kind in kinds}


class CuttingProxy:
    """See the module docstring. Use as a context manager; ``origin`` is its URL."""

    def __init__(self, backends: Sequence[int], plan: Plan) -> None:
        self.backends = list(backends)
        self.plan = {kind: list(steps) for kind, steps in plan.items()}
        self.fired: list[tuple[str, str]] = []
        """``(kind, action)`` of every cut or hold so far, in order."""
        self.routed: list[int] = []
        """The backend port of every connection, in order."""
        self._changed = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._closing = False

    def __enter__(self) -> CuttingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        _close(self._listener)  # shutdown() wakes the thread blocked in accept()
        with self._changed:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)
        for thread in self._threads:
            thread.join(10)

    def wait_fired(self, expected: set[tuple[str, str]], timeout_s: float = 20.0) -> None:
        """Block until every ``(kind, action)`` in ``expected`` has fired."""
        with self._changed:
            if not self._changed.wait_for(lambda: expected <= set(self.fired), timeout_s):
                raise TimeoutError(f"fired {self.fired}, expected {expected}")

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _next_step(self, kind: str) -> tuple[str, int] | None:
        with self._changed:
            steps = self.plan.get(kind)
            return steps.pop(0) if steps else None

    def _fire(self, kind: str, action: str) -> None:
        with self._changed:
            self.fired.append((kind, action))
            self._changed.notify_all()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = None
            for port in self.backends:
                try:
                    server = socket.create_connection(("127.0.0.1", port), timeout=5)
                except OSError:
                    continue
                server.settimeout(None)
                with self._changed:
                    self.routed.append(port)
                break
            if server is None:
                _close(client)
                continue
            with self._changed:
                self._sockets += [client, server]
            self._spawn(self._pump_up, client, server)
            self._spawn(self._pump_down, server, client)

    @staticmethod
    def _pump_up(client: socket.socket, server: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                server.sendall(data)
        except OSError:
            pass
        _close(client)
        _close(server)

    def _pump_down(self, server: socket.socket, client: socket.socket) -> None:
        tail = b""
        step: tuple[str, str, int] | None = None  # (kind, action, bytes left)
        holding = False
        try:
            while data := server.recv(65536):
                if holding:
                    continue  # swallowed until the server goes away
                out = bytearray()
                while data:
                    if step is not None:
                        kind, action, left = step
                        out += data[:left]
                        data, left = data[left:], left - min(left, len(data))
                        step = (kind, action, left)
                        if left:
                            continue
                        client.sendall(out)
                        self._fire(kind, action)
                        if action == "cut":
                            raise ConnectionAbortedError
                        holding, step, data, out = True, None, b"", bytearray()
                        break
                    window = (tail + data).lower()
                    found = [(window.find(m), k, m) for k, m in MARKERS.items() if m in window]
                    if not found:
                        out += data
                        tail = (tail + data)[-32:]
                        break
                    at, kind, marker = min(found)
                    end = at + len(marker) - len(tail)  # an offset in ``data``
                    out += data[:end]
                    data, tail = data[end:], b""
                    planned = self._next_step(kind)
                    if planned is not None:
                        step = (kind, planned[0], planned[1])
                if out:
                    client.sendall(out)
        except OSError:
            pass
        _close(server)
        _close(client)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
