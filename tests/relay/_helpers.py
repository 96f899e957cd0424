"""Helpers of the relay tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def unavailable(message: str) -> None:
    """Skip with ``message``; under ``CI=true`` fail instead (CI installs everything)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def wait_for(condition: Any, *, timeout_s: float = 10.0, what: str = "a condition") -> Any:
    """Poll ``condition()`` until it returns a true value (returned); fail after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any, *, port: int = 0) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a thread; yield its origin."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
    assert thread.is_alive(), "uvicorn did not start"
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(10)


def port_of(origin: str) -> int:
    """The port of ``http://127.0.0.1:<port>``."""
    return int(origin.rsplit(":", 1)[1])


def parse_sse(body: str) -> list[dict[str, str]]:
    """The events of an SSE body as dicts of their fields (comment/retry-only blocks dropped)."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "data" in fields:
            events.append(fields)
    return events


def text_of(events: list[dict[str, str]]) -> str:
    """The answer text of parsed ``streamkit``-wire SSE events."""
    return "".join(json.loads(e["data"])["text"] for e in events if e.get("event") == "text")
