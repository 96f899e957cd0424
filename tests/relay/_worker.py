"""One relay worker process for the multi-worker tests: uvicorn on an inherited socket.

    python tests/relay/_worker.py FD REDIS_URL UPSTREAM_BASE_URL

The test binds and listens on the socket before starting this process, so requests
wait in the socket's backlog until uvicorn accepts them: no polling for readiness.
Streams live in Redis (RedisStore, a 1 s lease), so any worker serves any stream.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

import streamkit as sk
from streamkit.relay import RedisStore, Relay, StartCall

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _page import PAGE


def create_app(redis_url: str, upstream: str) -> Starlette:
    client = sk.AsyncStreamingClient(base_url=upstream, api_key="sk-worker-key")

    async def start(call: StartCall) -> Any:
        await call.json()
        return client.stream(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])

    def owner(connection: Any, action: str) -> str | None:
        return connection.cookies.get("user") or connection.headers.get("x-user")

    store = RedisStore(redis_url, lease_s=1.0)
    relay = Relay(start, store=store, authorize=owner, retry_ms=100, heartbeat_s=0.2)

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse(PAGE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client, relay:
            yield

    return Starlette(routes=[Route("/", page), *relay.routes("/chat")], lifespan=lifespan)


def main() -> None:
    fd, redis_url, upstream = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        create_app(redis_url, upstream),
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
