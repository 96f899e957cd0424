"""Relay an LLM stream to the browser as server-sent events that survive reconnects.

    pip install "streamkit[testing]" fastapi uvicorn
    python examples/fastapi_relay.py --local          # no key; open http://127.0.0.1:8000
    python examples/fastapi_relay.py --model gpt-4.1  # $OPENAI_API_KEY (or STREAMKIT_*)

Two hops can break: provider → this server, and this server → the browser.

- **Upstream**, streamkit retries and resumes: the relay sees one clean sequence of
  events whatever happened on the network.
- **Downstream**, the browser's ``EventSource`` reconnects by itself after a dropped
  connection, sending the ``id:`` of the last event it received as ``Last-Event-ID``.
  This app numbers every event it relays (``id: 1``, ``id: 2``, ...) and keeps them in a
  small in-memory store per stream id, so a reconnect gets exactly the events after that
  id: nothing lost, nothing repeated.

The generation runs in a background task that belongs to the app, not to the browser's
request: a dropped browser connection does not cancel (or re-bill) the upstream stream.

Routes: ``GET /`` a tiny page with an ``EventSource``; ``GET /chat/{stream_id}?prompt=...``
the event stream (the first request for an id starts the generation; later ones, with
``Last-Event-ID``, resume it; ``204`` once a finished stream has nothing more to send,
which tells ``EventSource`` to stop reconnecting).

Events: ``text`` ``{"text": ...}``, ``notice`` ``{"message": ...}`` (upstream retries and
resumes), ``done`` ``{"finish_reason", "usage", "cost_usd"}`` and ``failed``
``{"error": ...}`` (not ``error``, which ``EventSource`` uses for its own connection
errors).
"""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

import streamkit as sk

#: How long a browser is told to wait before reconnecting (the SSE ``retry:`` field), ms.
RECONNECT_MS = 1000
#: Streams kept in memory for reconnects; the oldest finished ones are dropped first.
MAX_STREAMS = 100


@dataclass
class RelayedStream:
    """The events of one stream, numbered from 1, as they were sent to the browser."""

    events: list[tuple[str, str]] = field(default_factory=list)
    """``(event type, JSON data)``; the SSE id of ``events[i]`` is ``i + 1``."""
    done: bool = False
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def add(self, event: str, data: dict[str, Any], *, last: bool = False) -> None:
        self.events.append((event, json.dumps(data)))
        self.done = self.done or last
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_after(self, last_id: int) -> None:
        """Return once there is an event after ``last_id``, or the stream is done."""
        while len(self.events) <= last_id and not self.done:
            await self._changed.wait()


class StreamStore:
    """Streams by id, bounded: beyond ``MAX_STREAMS`` the oldest finished ones go."""

    def __init__(self, limit: int = MAX_STREAMS) -> None:
        self._streams: OrderedDict[str, RelayedStream] = OrderedDict()
        self._limit = limit

    def get(self, stream_id: str) -> RelayedStream | None:
        return self._streams.get(stream_id)

    def create(self, stream_id: str) -> RelayedStream:
        stream = self._streams[stream_id] = RelayedStream()
        for old_id in [i for i, s in self._streams.items() if s.done]:
            if len(self._streams) <= self._limit:
                break
            del self._streams[old_id]
        return stream


def sse(event_id: int, event: str, data: str) -> bytes:
    """One server-sent event (``data`` is one line of JSON, so one ``data:`` field)."""
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n".encode()


async def generate(
    client: sk.AsyncStreamingClient, model: str, prompt: str, relayed: RelayedStream
) -> None:
    """Stream from the provider into ``relayed`` (runs in the app's task group)."""
    messages = [{"role": "user", "content": prompt}]
    try:
        async with client.stream(model=model, messages=messages) as stream:
            async for event in stream:
                if isinstance(event, sk.TextDelta) and event.index == 0:
                    relayed.add("text", {"text": event.text})
                elif isinstance(event, sk.RetryEvent):
                    relayed.add("notice", {"message": f"upstream retry in {event.delay_s:.1f} s"})
                elif isinstance(event, sk.ResumeEvent):
                    relayed.add("notice", {"message": f"upstream resumed ({event.strategy})"})
        result = stream.result
    except sk.StreamkitError as err:
        relayed.add("failed", {"error": f"{type(err).__name__}: {err}"}, last=True)
        return
    except BaseException:
        relayed.add("failed", {"error": "the server stopped"}, last=True)
        raise
    usage = result.usage.model_dump() if result.usage is not None else None
    cost = str(result.cost) if result.cost is not None else None
    done = {"finish_reason": result.finish_reason, "usage": usage, "cost_usd": cost}
    relayed.add("done", done, last=True)


PAGE = """<!doctype html>
<meta charset="utf-8">
<title>streamkit relay</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; }
  #answer { white-space: pre-wrap; } .note { color: #a60; } .footer { color: #666; }
</style>
<form id="ask"><input id="prompt" size="50" value="Why stream?"> <button>Ask</button></form>
<div id="answer"></div>
<script>
document.getElementById("ask").onsubmit = (e) => {
  e.preventDefault();
  const answer = document.getElementById("answer");
  answer.textContent = "";
  const prompt = encodeURIComponent(document.getElementById("prompt").value);
  // the id names the stream: a reconnect of this EventSource continues the same one
  const source = new EventSource(`/chat/${crypto.randomUUID()}?prompt=${prompt}`);
  const add = (text, cls) => {
    const span = document.createElement("span");
    span.textContent = text;
    if (cls) span.className = cls;
    answer.append(span);
  };
  source.addEventListener("text", (e) => add(JSON.parse(e.data).text));
  source.addEventListener("notice", (e) => add(`\\n[${JSON.parse(e.data).message}]\\n`, "note"));
  source.addEventListener("done", (e) => {
    const d = JSON.parse(e.data);
    const tokens = d.usage ? `${d.usage.input_tokens} in / ${d.usage.output_tokens} out` : "";
    add(`\\n\\n${d.finish_reason} · ${tokens} tokens · $${d.cost_usd}`, "footer");
    source.close();
  });
  source.addEventListener("failed", (e) => {
    add(`\\n\\n${JSON.parse(e.data).error}`, "note");
    source.close();
  });
  // on a dropped connection the browser reconnects by itself, with Last-Event-ID
};
</script>
"""


def create_app(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    provider: str = "openai-chat",
    model: str = "gpt-4.1",
    tracker: sk.CostTracker | None = None,
) -> FastAPI:
    """The relay app; the upstream client lives as long as the app (its lifespan)."""
    store = StreamStore()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            sk.AsyncStreamingClient(
                base_url=base_url, api_key=api_key, provider=provider, tracker=tracker
            ) as client,
            anyio.create_task_group() as tasks,
        ):

            def start_generation(prompt: str, relayed: RelayedStream) -> None:
                tasks.start_soon(generate, client, model, prompt, relayed)

            app.state.start_generation = start_generation
            yield
            tasks.cancel_scope.cancel()  # shutting down: stop the streams in flight

    app = FastAPI(title="streamkit relay", lifespan=lifespan)
    app.state.store = store

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.get("/chat/{stream_id}", response_model=None)
    async def chat(
        stream_id: str,
        request: Request,
        prompt: Annotated[str, Query(max_length=4000)] = "Hi",
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        relayed = store.get(stream_id)
        if relayed is None:  # the first request for this id starts the generation
            relayed = store.create(stream_id)
            request.app.state.start_generation(prompt, relayed)
        try:
            after = max(int(last_event_id or 0), 0)
        except ValueError:
            after = 0
        if relayed.done and after >= len(relayed.events):
            return Response(status_code=204)  # finished: tells EventSource not to reconnect

        async def body() -> AsyncIterator[bytes]:
            sent = after
            yield f"retry: {RECONNECT_MS}\n\n".encode()
            while True:
                while sent < len(relayed.events):
                    event, data = relayed.events[sent]
                    sent += 1
                    yield sse(sent, event, data)
                if relayed.done:
                    return
                await relayed.wait_after(sent)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Relay LLM streams to browsers as SSE.")
    parser.add_argument("--local", action="store_true", help="upstream: a local demo server")
    parser.add_argument("--base-url", default=None, help="default: $STREAMKIT_BASE_URL")
    parser.add_argument("--provider", default="openai-chat")
    parser.add_argument("--model", default="gpt-4.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        base_url, api_key = args.base_url, None
        if args.local:
            from streamkit.testing import Fault, LocalServer

            # the first answer breaks half-way upstream: watch the relay resume it
            upstream = LocalServer(add_ids=True, delay_s=0.02, faults=[Fault.cut(30_000)])
            stack.enter_context(upstream)
            base_url, api_key = upstream.base_url, "not-needed"
        app = create_app(
            base_url=base_url,
            api_key=api_key,
            provider=args.provider,
            model=args.model,
            tracker=sk.CostTracker(),
        )
        print(f"open http://127.0.0.1:{args.port}")
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
