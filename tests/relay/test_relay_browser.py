"""A real Chromium reads relayed streams through a proxy that cuts them twice.

EventSource and WebSocket clients on one page (tests/relay/_page.py), same-origin and
cross-origin (CORS with credentials); every cut is at a seeded byte offset, and the
text each client assembles must equal the stream's text read directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

import streamkit as sk
from streamkit.relay import Relay, StartCall
from streamkit.testing import LocalServer

from ._helpers import port_of, serve
from ._page import PAGE
from ._proxy import CuttingProxy, seeded_plan

TWO_CUTS = ("cut", "cut")


async def serve_page(request: Any) -> HTMLResponse:
    return HTMLResponse(PAGE)


def owner(connection: Any, action: str) -> str | None:
    return connection.cookies.get("user")


def relay_app(upstream: LocalServer, **options: Any) -> Starlette:
    """The relay under /chat (browsers reconnect after 100 ms) and the page at /."""
    client = sk.AsyncStreamingClient(base_url=upstream.base_url, api_key="sk-never-in-a-browser")

    async def start(call: StartCall) -> Any:
        await call.json()
        return client.stream(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])

    relay = Relay(start, authorize=owner, retry_ms=100, **options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client, relay:
            yield

    routes = [Route("/", serve_page), *relay.routes("/chat")]
    return Starlette(routes=routes, lifespan=lifespan)


def run_page(browser_page: Any, url: str, base: str) -> list[dict[str, Any]]:
    browser_page.goto(url)
    browser_page.evaluate("base => window.runBoth(base)", base)
    browser_page.wait_for_function("window.outcome !== undefined")
    outcome = browser_page.evaluate("window.outcome")
    assert "error" not in outcome, outcome["error"]
    return outcome["results"]  # type: ignore[no-any-return]


def check(results: list[dict[str, Any]], direct_text: str) -> None:
    for result in results:  # EventSource, WebSocket
        assert result["text"] == direct_text
        assert result["opens"] == 3  # the first connection and two reconnects
        assert result["done"]["finish_reason"] == "stop"


def test_same_origin_eventsource_and_websocket_survive_two_cuts(
    page: Any, direct_text: str
) -> None:
    upstream = LocalServer(delay_s=0.002)
    plan = seeded_plan(1, ["sse", "ws"], TWO_CUTS)
    with (
        upstream,
        serve(relay_app(upstream)) as relay_url,
        CuttingProxy([port_of(relay_url)], plan) as proxy,
    ):
        results = run_page(page, proxy.origin + "/", "")
    check(results, direct_text)
    assert sorted(proxy.fired) == [("sse", "cut")] * 2 + [("ws", "cut")] * 2


def test_cross_origin_page_with_cors_survives_two_cuts(page: Any, direct_text: str) -> None:
    upstream = LocalServer(delay_s=0.002)
    plan = seeded_plan(2, ["sse", "ws"], TWO_CUTS)
    page_app = Starlette(routes=[Route("/", serve_page)])
    with upstream, serve(page_app) as page_origin:
        app = relay_app(upstream, cors_origins=[page_origin], cors_allow_credentials=True)
        with serve(app) as relay_url, CuttingProxy([port_of(relay_url)], plan) as proxy:
            results = run_page(page, page_origin + "/", proxy.origin)
            # a header the relay does not allow: the preflight refuses, fetch fails
            refused = page.evaluate(
                """base => fetch(base + "/chat", {method: "POST", headers: {"X-Custom": "1"}})
                    .then(r => "answered " + r.status, e => e.name)""",
                proxy.origin,
            )
    check(results, direct_text)
    assert refused == "TypeError"
    assert sorted(proxy.fired) == [("sse", "cut")] * 2 + [("ws", "cut")] * 2
