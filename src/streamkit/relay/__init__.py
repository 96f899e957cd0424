"""Relay LLM streams to browsers: resumable SSE and WebSocket, on one worker or many.

A :class:`Relay` is an ASGI building block (Starlette, FastAPI): it starts a stream
from a request with your own client code, runs it in the app's task group (a browser
that disconnects neither cancels nor re-bills it) into a :class:`Store`, and serves it
to any number of browsers as server-sent events or WebSocket messages that resume after
the last event each received, on any worker sharing a :class:`RedisStore`::

    import streamkit as sk
    from starlette.applications import Starlette
    from streamkit.relay import Relay

    client = sk.AsyncStreamingClient()

    async def start(call):
        body = await call.json()
        return client.stream(model="gpt-4.1", messages=body["messages"])

    relay = Relay(start, cors_origins=["https://app.example.com"])
    app = Starlette(routes=relay.routes("/chat"), lifespan=relay.lifespan)

See ``docs/relaying.md`` ("Relaying to browsers") for the endpoints, the wire schema,
auth, CORS, the stores and the slow-client policy.

Needs the ``relay`` extra (``pip install 'streamkit[relay]'``: starlette) and, for
:class:`RedisStore`, the ``redis`` extra (``redis>=5``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamkit.relay._errors import (
    LeaseLostError,
    RelayError,
    StoreFullError,
    StoreUnavailableError,
    StreamExistsError,
)
from streamkit.relay._store import (
    Batch,
    HoldEnd,
    Lease,
    MemoryStore,
    Store,
    StoreStats,
    StreamInfo,
    resolve_cursor,
)
from streamkit.relay._wire import STREAMKIT_EVENTS, Entry, WireName

try:
    from streamkit.relay._app import (
        Action,
        AuthHook,
        Relay,
        StartCall,
        StartHook,
        new_stream_id,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - only without the extra
    if exc.name != "starlette" and not (exc.name or "").startswith("starlette."):
        raise
    raise ModuleNotFoundError(
        "streamkit.relay needs starlette: pip install 'streamkit[relay]'", name=exc.name
    ) from exc

if TYPE_CHECKING:
    from streamkit.relay._redis import RedisStore

__all__ = [
    "STREAMKIT_EVENTS",
    "Action",
    "AuthHook",
    "Batch",
    "Entry",
    "HoldEnd",
    "Lease",
    "LeaseLostError",
    "MemoryStore",
    "RedisStore",
    "Relay",
    "RelayError",
    "StartCall",
    "StartHook",
    "Store",
    "StoreFullError",
    "StoreStats",
    "StoreUnavailableError",
    "StreamExistsError",
    "StreamInfo",
    "WireName",
    "new_stream_id",
    "resolve_cursor",
]


def __getattr__(name: str) -> Any:
    """Import :class:`RedisStore` (and redis) only when it is asked for."""
    if name == "RedisStore":
        from streamkit.relay._redis import RedisStore

        return RedisStore
    raise AttributeError(f"module 'streamkit.relay' has no attribute {name!r}")
