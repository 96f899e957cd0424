"""The relay's endpoints over HTTP and WebSocket, with streamkit's local server upstream.

Starlette's TestClient drives finished streams and the JSON endpoints; a uvicorn server in a
thread and httpx drive live streams over a real socket; a small ASGI harness drives the
relay on asyncio and trio where the test needs control over the client's side (a client
that stops reading, heartbeats).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import streamkit as sk
from streamkit.errors import ConfigurationError
from streamkit.relay import MemoryStore, Relay, StartCall
from streamkit.testing import Fault, LocalServer

from ._helpers import parse_sse, serve, text_of
from .test_wire import check_ui_stream

KEY = "sk-test-relay-0123456789abcdef"
ALICE = {"x-user": "alice"}
MESSAGES = [{"role": "user", "content": "Hi"}]


def by_header(connection: Any, action: str) -> str | None:
    """The test's auth hook: the owner is the ``x-user`` header or the ``user`` cookie."""
    return connection.headers.get("x-user") or connection.cookies.get("user")


def make_app(
    upstream: LocalServer | None = None,
    *,
    source: Callable[[StartCall], Any] | None = None,
    prefix: str = "/chat",
    **options: Any,
) -> tuple[Starlette, Relay]:
    """A Starlette app with the relay under ``prefix``; the upstream client in its lifespan."""
    client = sk.AsyncStreamingClient(
        base_url=upstream.base_url if upstream else "http://127.0.0.1:9/v1",
        api_key=KEY,
        tracker=sk.CostTracker(),
        retry=sk.RetryPolicy(initial_delay=0.01, jitter=0),
    )

    async def start(call: StartCall) -> Any:
        body = await call.json()
        call.stream_id = body.get("id")
        call.replace = body.get("replace", False)
        if source is not None:
            return source(call)
        return client.stream(model="gpt-4.1", messages=MESSAGES)

    options.setdefault("authorize", by_header)
    relay = Relay(start, **options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client, relay:
            yield

    return Starlette(routes=relay.routes(prefix), lifespan=lifespan), relay


async def forever(closed: list[str], text: str = "Hello") -> AsyncIterator[sk.DeltaEvent]:
    """A source that sends one delta, then waits until it is closed."""
    try:
        yield sk.TextDelta(text=text)
        await anyio.sleep_forever()
    finally:
        closed.append(text)


def start(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/chat", json=body, headers=ALICE)
    assert response.status_code == 201, response.text
    assert response.headers["x-stream-id"] == response.json()["stream_id"]
    return response.json()  # type: ignore[no-any-return]


# --- start, stream, resume --------------------------------------------------------------------


def test_start_stream_and_resume_after_last_event_id(direct_text: str) -> None:
    with LocalServer() as upstream:
        app, relay = make_app(upstream)
        with TestClient(app) as client:
            links = start(client)
            stream_id = links["stream_id"]
            assert len(stream_id) >= 22  # 144 random bits
            assert links["stream_url"] == f"/chat/{stream_id}/stream"
            assert links["ws_url"] == f"/chat/{stream_id}/ws"
            first = client.get(links["stream_url"], headers=ALICE)
            assert first.status_code == 200
            assert first.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert first.headers["cache-control"] == "no-cache, no-store"
            assert first.text.startswith("retry: 1000\n\n")
            events = parse_sse(first.text)
            assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
            assert text_of(events) == direct_text
            done = json.loads(events[-1]["data"])
            assert events[-1]["event"] == "done"
            assert done == {
                "finish_reason": "stop",
                "usage": done["usage"],
                "cost_usd": done["cost_usd"],
                "stopped": False,
            }
            assert Decimal(done["cost_usd"]) == Decimal("0.001984")
            assert done["usage"]["output_tokens"] == 242
            # the browser got 100 events, lost the connection and reconnects
            again = parse_sse(
                client.get(links["stream_url"], headers={**ALICE, "Last-Event-ID": "100"}).text
            )
            assert [int(e["id"]) for e in again] == list(range(101, len(events) + 1))
            query = client.get(links["stream_url"] + "?last_event_id=100", headers=ALICE)
            assert parse_sse(query.text) == again
            # a finished stream with nothing left: 204 tells EventSource to stop
            last = {**ALICE, "Last-Event-ID": events[-1]["id"]}
            assert client.get(links["stream_url"], headers=last).status_code == 204
            bad = client.get(links["stream_url"], headers={**ALICE, "Last-Event-ID": "x"})
            assert bad.status_code == 400
    assert upstream.attempts == 1  # reconnects never re-ran the generation


def test_post_accepting_event_stream_gets_the_stream_itself(direct_text: str) -> None:
    with LocalServer() as upstream:
        app, _ = make_app(upstream)
        with TestClient(app) as client:
            response = client.post(
                "/chat", json={}, headers={**ALICE, "Accept": "text/event-stream"}
            )
            assert response.status_code == 200 and response.headers["x-stream-id"]
            assert text_of(parse_sse(response.text)) == direct_text


def test_upstream_retries_and_resumes_are_relayed_as_notices(direct_text: str) -> None:
    faults = [Fault.status(429, {"Retry-After": "0"}), Fault.cut(after_events=50)]
    with LocalServer(add_ids=True, faults=faults) as upstream:
        app, _ = make_app(upstream)
        with TestClient(app) as client:
            events = parse_sse(client.get(start(client)["stream_url"], headers=ALICE).text)
    notices = [json.loads(e["data"]) for e in events if e["event"] == "notice"]
    assert notices[0]["kind"] == "retry" and notices[0]["status_code"] == 429
    assert notices[-1] == {"kind": "resume", "attempt": 3, "strategy": "last-event-id"}
    assert text_of(events) == direct_text  # nothing lost or repeated across the upstream seams


def test_upstream_failure_names_its_type_and_never_the_key() -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}
    with LocalServer(faults=[Fault.status(401, body=body)]) as upstream:
        app, relay = make_app(upstream)
        with TestClient(app) as client:
            links = start(client)
            response = client.get(links["stream_url"], headers=ALICE)
            with client.websocket_connect(links["ws_url"], headers=ALICE) as ws:
                ws.send_text("{}")
                message = json.loads(ws.receive_text())
    events = parse_sse(response.text)
    assert [e["event"] for e in events] == ["failed"]
    failure = {"error": "upstream", "type": "AuthenticationError", "status_code": 401}
    assert json.loads(events[0]["data"]) == failure
    assert message == {"id": 1, "event": "failed", "data": failure}
    assert KEY not in response.text and KEY not in str(response.headers)
    assert KEY[-8:] not in response.text  # not even a redacted tail
    assert KEY not in repr(relay)


# --- auth: owners, 401 and 404 --------------------------------------------------------------


def test_only_the_owner_resumes_reads_or_stops_a_stream() -> None:
    with LocalServer() as upstream:
        app, _ = make_app(upstream)
        with TestClient(app) as client:
            links = start(client)
            assert client.post("/chat", json={}).status_code == 401  # nobody
            bob = {"x-user": "bob"}
            for url in (links["stream_url"], links["stream_url"] + "?last_event_id=3"):
                refused = client.get(url, headers=bob)
                assert refused.status_code == 404 and "text" not in refused.text
            assert client.get(links["stream_url"]).status_code == 401
            assert client.post(links["stop_url"], headers=bob).status_code == 404
            with (
                client.websocket_connect(links["ws_url"], headers=bob) as ws,
                pytest.raises(WebSocketDisconnect) as closed,
            ):
                ws.receive_text()
            assert closed.value.code == 4404
            with (
                client.websocket_connect(links["ws_url"]) as ws,
                pytest.raises(WebSocketDisconnect) as closed,
            ):
                ws.receive_text()
            assert closed.value.code == 4401
            for path in ("/chat/unknown/stream", "/chat/bad%20id/stream"):
                assert client.get(path, headers=ALICE).status_code == 404
            assert client.get(links["stream_url"], headers=ALICE).status_code == 200


# --- WebSocket ------------------------------------------------------------------------------------


def test_websocket_resumes_after_the_id_in_its_first_message(direct_text: str) -> None:
    with LocalServer() as upstream:
        app, _ = make_app(upstream)
        with TestClient(app) as client:
            links = start(client)
            events = parse_sse(client.get(links["stream_url"], headers=ALICE).text)
            received = []
            with client.websocket_connect(links["ws_url"], headers=ALICE) as ws:
                ws.send_text(json.dumps({"last_event_id": 100}))
                with pytest.raises(WebSocketDisconnect) as closed:
                    while True:
                        received.append(json.loads(ws.receive_text()))
            assert closed.value.code == 1000
            assert [m["id"] for m in received] == list(range(101, len(events) + 1))
            assert received[-1]["event"] == "done"
            whole = []
            with client.websocket_connect(links["ws_url"], headers=ALICE) as ws:
                ws.send_text(json.dumps({"last_event_id": None}))
                with pytest.raises(WebSocketDisconnect):
                    while True:
                        whole.append(json.loads(ws.receive_text()))
            text = "".join(m["data"]["text"] for m in whole if m["event"] == "text")
            assert text == direct_text
            with client.websocket_connect(links["ws_url"], headers=ALICE) as ws:
                ws.send_text("not json")
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
            assert closed.value.code == 4400


def test_websocket_handshakes_from_foreign_origins_are_refused() -> None:
    with LocalServer() as upstream:
        app, _ = make_app(upstream, cors_origins=["http://app.example"])
        with TestClient(app) as client:
            links = start(client)
            for origin in ("http://app.example", "http://testserver"):  # listed, same origin
                headers = {**ALICE, "Origin": origin}
                with client.websocket_connect(links["ws_url"], headers=headers) as ws:
                    ws.send_text("{}")
                    assert json.loads(ws.receive_text())["id"] == 1
            with pytest.raises(WebSocketDisconnect) as refused:
                headers = {**ALICE, "Origin": "http://evil.example"}
                with client.websocket_connect(links["ws_url"], headers=headers):
                    pass
            assert refused.value.code == 1008


# --- CORS -------------------------------------------------------------------------------------------


def test_cors_preflights_allow_last_event_id_and_json_starts() -> None:
    app, _ = make_app(cors_origins=["http://app.example"], cors_allow_credentials=True)
    with TestClient(app) as client:
        preflight = {
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        }
        response = client.options("/chat/abc/stream", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://app.example"
        assert "last-event-id" in response.headers["access-control-allow-headers"].lower()
        assert response.headers["access-control-allow-credentials"] == "true"
        start_preflight = {
            **preflight,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        assert client.options("/chat", headers=start_preflight).status_code == 200
        foreign = {**preflight, "Origin": "http://evil.example"}
        assert client.options("/chat/abc/stream", headers=foreign).status_code == 400
        refused = client.post("/chat", json={}, headers={"Origin": "http://app.example"})
        assert refused.status_code == 401  # CORS headers even on errors, so the page sees why
        assert refused.headers["access-control-allow-origin"] == "http://app.example"


# --- the start hook, ids, stop ------------------------------------------------------------------


def test_start_hook_refusals_and_body_limits() -> None:
    def refuse(call: StartCall) -> Any:
        raise HTTPException(422, "no model for you")

    app, _ = make_app(source=refuse, max_body_bytes=100)
    with TestClient(app) as client:
        assert client.post("/chat", content=b"{", headers=ALICE).status_code == 400
        too_big = client.post("/chat", json={"x": "y" * 200}, headers=ALICE)
        assert too_big.status_code == 413
        refused = client.post("/chat", json={}, headers=ALICE)
        assert (refused.status_code, refused.json()) == (422, {"error": "no model for you"})
        assert client.get("/chat", headers=ALICE).status_code == 405


def test_own_ids_conflict_while_live_and_replace_fences_the_old_producer() -> None:
    closed: list[str] = []
    app, relay = make_app(source=lambda call: forever(closed, call.stream_id or "?"))
    with TestClient(app) as client:
        start(client, id="chat-1")
        conflict = client.post("/chat", json={"id": "chat-1"}, headers=ALICE)
        assert conflict.status_code == 409
        assert (
            client.post("/chat", json={"id": "chat-1"}, headers={"x-user": "bob"}).status_code
            == 409
        )
        assert client.post("/chat", json={"id": "bad id!"}, headers=ALICE).status_code == 400
        start(client, id="chat-1", replace=True)
        client.portal.call(anyio.wait_all_tasks_blocked)
        assert "chat-1" in closed  # the first generation's source was closed
        stop = client.post("/chat/chat-1/stop", headers=ALICE)
        assert stop.status_code == 202
        events = parse_sse(client.get("/chat/chat-1/stream", headers=ALICE).text)
    assert [e["event"] for e in events] == ["text", "done"]
    assert [int(e["id"]) for e in events] == [2, 3]  # the first generation had id 1
    assert json.loads(events[-1]["data"])["stopped"] is True
    assert closed == ["chat-1", "chat-1"]


def test_stop_is_separate_from_disconnect(direct_text: str) -> None:
    closed: list[str] = []
    app, _ = make_app(source=lambda call: forever(closed))
    with TestClient(app) as client:
        links = start(client)
        assert closed == []  # nobody reads: the generation runs on
        assert client.post(links["stop_url"], headers=ALICE).status_code == 202
        events = parse_sse(client.get(links["stream_url"], headers=ALICE).text)
        assert client.post(links["stop_url"], headers=ALICE).status_code == 204  # ended
        assert client.get(links["stop_url"], headers=ALICE).status_code == 405
    assert closed == ["Hello"]
    assert [e["event"] for e in events] == ["text", "done"]
    done = json.loads(events[-1]["data"])
    assert done == {"finish_reason": None, "usage": None, "cost_usd": None, "stopped": True}


# --- the AI SDK UI message stream -------------------------------------------------------------


def test_ui_message_stream_for_use_chat_with_resume(direct_text: str) -> None:
    with LocalServer() as upstream:
        app, _ = make_app(upstream, prefix="/api/chat", wire="ui-message-stream")
        with TestClient(app) as client:
            # useChat posts {id, messages, trigger}; the chat id names the stream
            body = {"id": "chat-42", "messages": [], "trigger": "submit-message"}
            response = client.post("/api/chat", json=body, headers=ALICE)
            assert response.status_code == 200
            assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
            assert response.headers["x-stream-id"] == "chat-42"
            assert response.text.endswith("\n\ndata: [DONE]\n\n")
            parts = parse_sse(response.text)[:-1]
            items = [(json.loads(p["data"])["type"], p["data"]) for p in parts]
            ui = check_ui_stream(items)
            assert "".join(p["delta"] for p in ui if p["type"] == "text-delta") == direct_text
            assert Decimal(ui[-1]["messageMetadata"]["costUsd"]) == Decimal("0.001984")
            # resume: useChat({resume: true}) GETs {api}/{chatId}/stream: the whole stream again
            resumed = client.get("/api/chat/chat-42/stream", headers=ALICE)
            assert parse_sse(resumed.text) == parse_sse(response.text)
            assert client.get("/api/chat/other/stream", headers=ALICE).status_code == 404


# --- over a real socket ---------------------------------------------------------------------------


def test_a_dropped_connection_neither_cancels_nor_repeats_anything(direct_text: str) -> None:
    """Read part of a live stream, drop it, reconnect: the generation ran on meanwhile."""
    upstream = LocalServer(add_ids=True, delay_s=0.002, faults=[Fault.cut(after_events=150)])
    with (
        upstream,
        serve(make_app(upstream)[0]) as url,
        httpx.Client(base_url=url, headers=ALICE, timeout=10) as http,
    ):
        links = http.post("/chat", json={}).json()
        received: list[dict[str, str]] = []
        with http.stream("GET", links["stream_url"]) as response:
            buffer = ""
            for chunk in response.iter_text():
                buffer += chunk
                *blocks, buffer = buffer.split("\n\n")
                received += parse_sse("\n\n".join(blocks) + "\n\n")
                if len(received) >= 40:
                    break  # the connection drops here
        rest = parse_sse(
            http.get(links["stream_url"], headers={"Last-Event-ID": received[-1]["id"]}).text
        )
    ids = [int(e["id"]) for e in received + rest]
    assert ids == list(range(1, len(ids) + 1))
    assert text_of(received + rest) == direct_text
    assert "notice" in [e["event"] for e in rest]  # the upstream cut, resumed
    assert upstream.attempts == 2


def test_the_stream_id_survives_a_drop_before_the_first_event(direct_text: str) -> None:
    """POST-and-stream: the id is in the response head, before any event has an id."""
    upstream = LocalServer(faults=[Fault.stall(after_bytes=0, seconds=0.5)])
    with (
        upstream,
        serve(make_app(upstream)[0]) as url,
        httpx.Client(base_url=url, headers=ALICE, timeout=10) as http,
    ):
        headers = {"Accept": "text/event-stream"}
        with http.stream("POST", "/chat", json={}, headers=headers) as response:
            stream_id = response.headers["x-stream-id"]  # then the connection drops
        events = parse_sse(http.get(f"/chat/{stream_id}/stream").text)  # no Last-Event-ID
    assert events[0]["id"] == "1" and text_of(events) == direct_text


def test_mounted_or_alone_the_relay_serves_the_same_endpoints(direct_text: str) -> None:
    from starlette.routing import Mount

    async def pieces(call: StartCall) -> AsyncIterator[sk.DeltaEvent]:
        for start in range(0, len(direct_text), 50):
            yield sk.TextDelta(text=direct_text[start : start + 50])

    relay = Relay(pieces)
    mounted = Starlette(routes=[Mount("/relay", app=relay)], lifespan=relay.lifespan)
    with TestClient(mounted) as http:
        links = http.post("/relay/").json()
        assert links["stream_url"] == f"/relay/{links['stream_id']}/stream"
        assert text_of(parse_sse(http.get(links["stream_url"]).text)) == direct_text
    alone = Relay(pieces)  # run as the whole app: it handles the lifespan itself
    with TestClient(alone) as http:
        links = http.post("/").json()
        assert links["stream_url"] == f"/{links['stream_id']}/stream"
        assert text_of(parse_sse(http.get(links["stream_url"]).text)) == direct_text
    assert repr(alone).startswith("Relay(store=MemoryStore(streams=1, events=25, bytes=")


# --- the ASGI harness: slow clients, heartbeats, shutdown (asyncio and trio) ---------------------


class Client:
    """One ASGI HTTP request to the relay, with the client's side under the test's control."""

    def __init__(self, path: str, *, block_after: int | None = None) -> None:
        self.path = path
        self.block_after = block_after
        self.messages: list[dict[str, Any]] = []
        self.disconnected = anyio.Event()
        self.changed = anyio.Event()

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    async def run(self, app: Any) -> None:
        path, _, query = self.path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 1234),
        }
        sent_request = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self.disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            bodies = len(self.messages) - 1
            if self.block_after is not None and bodies >= self.block_after:
                await anyio.sleep_forever()  # the client stopped reading
            self.messages.append(message)
            self.changed.set()
            self.changed = anyio.Event()

        await app(scope, receive, send)

    async def wait_for(self, text: bytes) -> None:
        with anyio.fail_after(10):
            while text not in self.body:
                await self.changed.wait()


async def many_deltas(n: int) -> AsyncIterator[sk.DeltaEvent]:
    for i in range(n):
        yield sk.TextDelta(text=f"w{i} ")


@pytest.mark.anyio
async def test_a_client_that_stops_reading_is_closed_and_costs_nothing_more() -> None:
    """The slow-client policy: one batch in flight, then closed after send_timeout_s."""
    store = MemoryStore()
    reads: list[int] = []
    read = store.read

    async def counting_read(*args: Any, **kwargs: Any) -> Any:
        batch = await read(*args, **kwargs)
        reads.append(len(batch.entries))
        return batch

    store.read = counting_read  # type: ignore[method-assign]
    relay = Relay(lambda call: many_deltas(0), store=store, send_timeout_s=0.2, batch_events=8)
    async with relay:
        stream_id = await relay.open(many_deltas(500))
        client = Client(f"/{stream_id}/stream", block_after=1)
        with anyio.fail_after(10):
            await client.run(relay)  # returns: the relay gave up on this client
        info = await store.info(stream_id)
        while info is None or not info.done:  # the producer was never slowed down
            await anyio.wait_all_tasks_blocked()
            info = await store.info(stream_id)
    assert info.last_id == 501  # 500 deltas and `done`
    assert max(reads) <= 8  # at most one batch of 8 events per connection at a time
    assert len(client.messages) == 2  # the response start and one body piece were taken
    assert client.body.count(b"\nevent: text\n") <= 8


@pytest.mark.anyio
async def test_a_websocket_client_that_stops_reading_is_dropped() -> None:
    relay = Relay(lambda call: many_deltas(0), send_timeout_s=0.2)
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "subprotocols": [],
    }
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "{}"}]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await anyio.sleep_forever()  # the client never closes either
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and len(sent) >= 4:
            await anyio.sleep_forever()  # the client stopped reading
        sent.append(message)

    async with relay:
        stream_id = await relay.open(many_deltas(500))
        scope["path"] = f"/{stream_id}/ws"
        with anyio.fail_after(10):
            await relay(scope, receive, send)  # returns: the relay gave up on this client
    assert [m["type"] for m in sent] == ["websocket.accept"] + ["websocket.send"] * 3


@pytest.mark.anyio
async def test_heartbeats_while_the_upstream_is_silent_then_the_events() -> None:
    release = anyio.Event()

    async def slow() -> AsyncIterator[sk.DeltaEvent]:
        await release.wait()
        yield sk.TextDelta(text="late")

    relay = Relay(lambda call: slow(), heartbeat_s=0.01, retry_ms=250)
    async with relay, anyio.create_task_group() as group:
        stream_id = await relay.open(slow())
        client = Client(f"/{stream_id}/stream")
        group.start_soon(client.run, relay)
        await client.wait_for(b": keep-alive\n\n")
        assert client.body.startswith(b"retry: 250\n\n")
        release.set()
        await client.wait_for(b"event: done")
    assert b'data: {"text":"late"}' in client.body


@pytest.mark.anyio
async def test_shutdown_ends_live_streams_as_interrupted_and_disconnects_do_not() -> None:
    closed: list[str] = []
    store = MemoryStore()
    relay = Relay(lambda call: forever(closed), store=store)
    async with relay, anyio.create_task_group() as group:
        stream_id = await relay.open(forever(closed))
        client = Client(f"/{stream_id}/stream")
        group.start_soon(client.run, relay)
        await client.wait_for(b'"text":"Hello"')
        client.disconnected.set()  # the browser goes away: the generation goes on
        await anyio.wait_all_tasks_blocked()
        assert closed == []
    assert closed == ["Hello"]
    batch = await store.read(stream_id, 1, limit=10, timeout_s=0)
    assert [(e.event, e.data) for e in batch.entries] == [("failed", '{"error":"interrupted"}')]


@pytest.mark.anyio
async def test_open_needs_a_running_relay_and_closes_the_source() -> None:
    closed: list[str] = []
    relay = Relay(lambda call: forever(closed))
    source = forever(closed)
    await source.__anext__()
    with pytest.raises(RuntimeError, match="enter it in your app's lifespan"):
        await relay.open(source)
    assert closed == ["Hello"]


def test_bad_options_fail_at_construction() -> None:
    def hook(call: StartCall) -> Any:
        raise AssertionError

    for options in (
        {"heartbeat_s": 0},
        {"send_timeout_s": -1},
        {"batch_events": 0},
        {"retry_ms": -1},
        {"cors_origins": "http://a.example"},
        {"cors_origins": ["*"], "cors_allow_credentials": True},
        {"wire": "sse"},
    ):
        with pytest.raises(ConfigurationError):
            Relay(hook, **options)
    with pytest.raises(ConfigurationError):
        Relay(hook).routes("chat/")
    with pytest.raises(ConfigurationError):
        MemoryStore(max_bytes=0)


def test_import_streamkit_loads_neither_the_relay_nor_starlette_nor_redis() -> None:
    code = (
        "import sys, streamkit\n"
        "assert not {'streamkit.relay', 'starlette', 'redis'} & set(sys.modules), sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("blocked", "statement", "extra"),
    [
        ("starlette", "import streamkit.relay", "streamkit[relay]"),
        ("redis", "from streamkit.relay import RedisStore", "streamkit[redis]"),
    ],
)
def test_a_missing_extra_is_named(blocked: str, statement: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        f"try:\n    {statement}\nexcept ModuleNotFoundError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert extra in out.stdout
