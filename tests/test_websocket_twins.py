"""The WebSocket executors are twins, like the HTTP ones (``tests/test_twins.py``).

In ``streamkit/websocket.py`` the async stream and connection executors, with their async
spellings mapped to the sync ones, must equal the sync executors line for line. Only
opening and closing a socket differ (the async socket lives in a task of the
connection's task group), and they sit outside the checked sections.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import streamkit as sk
from streamkit import websocket
from test_twins import code_lines, unasync

SOURCE = Path(websocket.__file__)

EXTRA = [
    (r"\bAsyncConnectionStream\b", "ConnectionStream"),
    (r"\bAsyncConnection\b", "Connection"),
    (r"\b_astart_reading\b", "_start_reading"),
    (r"\b_astop_reading\b", "_stop_reading"),
    (r"\b_ahand_over\b", "_hand_over"),
]


def section(name: str) -> dict[str, list[str]]:
    """The code lines of one marked section of ``streamkit/websocket.py``, by method."""
    return code_lines(SOURCE.read_text(), f"# ---- {name}", f"# ---- end of the {name}")


@pytest.mark.parametrize("executor", ["executor", "connection executor"])
def test_the_executors_are_twins(executor: str) -> None:
    """The stream executors, then the connection executors."""
    sync = section(f"sync {executor}")
    async_ = unasync(section(f"async {executor}"), EXTRA)
    assert set(sync) == set(async_)
    for name in sorted(sync):
        assert sync[name] == async_[name], name


def test_the_executors_stay_short() -> None:
    # turning actions into library calls: every decision belongs to the core
    for name in ("sync executor", "sync connection executor"):
        lines = sum(map(len, section(name).values()))
        assert lines < 120, (name, lines)


def test_twin_signatures_match() -> None:
    pairs = [
        (sk.StreamingClient.connect, sk.AsyncStreamingClient.connect),
        (websocket.Connection.stream, websocket.AsyncConnection.stream),
    ]
    for sync_fn, async_fn in pairs:
        s, a = inspect.signature(sync_fn), inspect.signature(async_fn)
        assert list(s.parameters) == list(a.parameters)
        for name in s.parameters:
            assert s.parameters[name].default == a.parameters[name].default, name
            assert s.parameters[name].kind == a.parameters[name].kind, name
    renamed = {"close": "aclose"}
    sync_methods = {renamed.get(m, m) for m in dir(websocket.ConnectionStream) if m[0] != "_"}
    async_methods = {m for m in dir(websocket.AsyncConnectionStream) if m[0] != "_"}
    assert sync_methods == async_methods
