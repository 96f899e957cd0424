"""Relay LLM streams to browsers with ``streamkit.relay``: resumable, per user, stoppable.

    pip install "streamkit[relay,testing]" fastapi uvicorn
    python examples/fastapi_relay.py --local          # no key; open http://127.0.0.1:8000
    python examples/fastapi_relay.py --model gpt-4.1  # $OPENAI_API_KEY (or STREAMKIT_*)
    python examples/fastapi_relay.py --local --redis redis://127.0.0.1:6379/0 --port 8001
        # run two of these on two ports: either one serves and resumes any stream

Two hops can break: provider → this server, and this server → the browser.

- **Upstream**, streamkit retries and resumes: the relay sees one clean sequence of
  events whatever happened on the network (and says so with ``notice`` events).
- **Downstream**, the browser's ``EventSource`` reconnects by itself after a dropped
  connection, sending the ``id:`` of the last event it received as ``Last-Event-ID``;
  the relay answers with exactly the events after it.

The generation runs in the relay's task group, not in the browser's request: closing the
tab neither cancels nor re-bills it; the Stop button does (``POST /chat/{id}/stop``).
Each browser gets an anonymous ``session`` cookie; the relay's auth hook makes it the
owner of the streams it starts, and nobody else can read them (404). The provider's key
stays here: the browser only ever sees the relay's own events.

Routes: ``GET /`` the page; ``POST /chat`` start (``{"prompt": ...}`` → ``201`` with the
stream's URLs); ``GET /chat/{id}/stream`` the events (``204`` once a finished stream
has nothing more to send); ``WS /chat/{id}/ws``; ``POST /chat/{id}/stop``.
See docs/relaying.md for the wire schema.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

import streamkit as sk
from streamkit.relay import MemoryStore, Relay, StartCall, Store

#: The longest prompt the relay accepts, characters.
MAX_PROMPT_CHARS = 4000

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>streamkit relay</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; }
  #answer { white-space: pre-wrap; } .note { color: #a60; } .footer { color: #666; }
</style>
<form id="ask"><input id="prompt" size="50" value="Why stream?"> <button>Ask</button>
<button id="stop" type="button" disabled>Stop</button></form>
<div id="answer"></div>
<script>
const answer = document.getElementById("answer");
const stopButton = document.getElementById("stop");
let source = null, stopUrl = null;
const add = (text, cls) => {
  const span = document.createElement("span");
  span.textContent = text;
  if (cls) span.className = cls;
  answer.append(span);
};
const finish = () => { source.close(); stopButton.disabled = true; };
document.getElementById("ask").onsubmit = async (e) => {
  e.preventDefault();
  if (source) source.close();
  answer.textContent = "";
  const response = await fetch("/chat", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({prompt: document.getElementById("prompt").value}),
  });
  if (response.status !== 201) { add(`could not start: HTTP ${response.status}`, "note"); return; }
  // the stream id is known before the first event: a reload could resume it from here
  const links = await response.json();
  stopUrl = links.stop_url;
  stopButton.disabled = false;
  source = new EventSource(links.stream_url);
  source.addEventListener("text", (e) => add(JSON.parse(e.data).text));
  source.addEventListener("notice", (e) => {
    const n = JSON.parse(e.data);
    add(n.kind === "retry" ? `\\n[upstream retry in ${n.delay_s} s]\\n`
                           : `\\n[upstream resumed (${n.strategy})]\\n`, "note");
  });
  source.addEventListener("done", (e) => {
    const d = JSON.parse(e.data);
    const tokens = d.usage ? `${d.usage.input_tokens} in / ${d.usage.output_tokens} out` : "?";
    add(`\\n\\n${d.stopped ? "stopped" : d.finish_reason} · ${tokens} tokens · $${d.cost_usd}`,
        "footer");
    finish();
  });
  source.addEventListener("failed", (e) => {
    add(`\\n\\nfailed: ${e.data}`, "note");
    finish();
  });
  // on a dropped connection the browser reconnects by itself, with Last-Event-ID
};
stopButton.onclick = () => fetch(stopUrl, {method: "POST"});
</script>
"""


def session_owner(connection: Any, action: str) -> str | None:
    """The relay's auth hook: the owner is the browser's anonymous session cookie."""
    return connection.cookies.get("session")


def create_app(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    provider: str = "openai-chat",
    model: str = "gpt-4.1",
    tracker: sk.CostTracker | None = None,
    store: Store | None = None,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """The relay app; the upstream client and the relay live as long as the app."""
    client = sk.AsyncStreamingClient(
        base_url=base_url, api_key=api_key, provider=provider, tracker=tracker
    )

    async def start(call: StartCall) -> sk.AsyncStream:
        body = await call.json()
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, str) or not 0 < len(prompt) <= MAX_PROMPT_CHARS:
            raise HTTPException(422, f"prompt: a string of 1 to {MAX_PROMPT_CHARS} characters")
        return client.stream(model=model, messages=[{"role": "user", "content": prompt}])

    relay = Relay(
        start,
        store=store if store is not None else MemoryStore(),
        authorize=session_owner,
        cors_origins=cors_origins,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client, relay:  # the relay's task group runs the generations
            yield

    app = FastAPI(title="streamkit relay", lifespan=lifespan)
    app.state.relay = relay

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        response = HTMLResponse(PAGE)
        if "session" not in request.cookies:
            session = secrets.token_urlsafe(16)
            response.set_cookie("session", session, httponly=True, samesite="lax")
        return response

    app.router.routes.extend(relay.routes("/chat"))
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Relay LLM streams to browsers.")
    parser.add_argument("--local", action="store_true", help="upstream: a local demo server")
    parser.add_argument("--base-url", default=None, help="default: $STREAMKIT_BASE_URL")
    parser.add_argument("--provider", default="openai-chat")
    parser.add_argument("--model", default="gpt-4.1")
    parser.add_argument("--redis", default=None, help="a Redis URL: share streams across workers")
    parser.add_argument("--cors", action="append", default=[], help="an origin to allow (CORS)")
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
        store: Store | None = None
        if args.redis:
            from streamkit.relay import RedisStore

            store = RedisStore(args.redis)
        app = create_app(
            base_url=base_url,
            api_key=api_key,
            provider=args.provider,
            model=args.model,
            tracker=sk.CostTracker(),
            store=store,
            cors_origins=args.cors,
        )
        print(f"open http://127.0.0.1:{args.port}")
        uvicorn.run(
            app, host="127.0.0.1", port=args.port, log_level="warning", timeout_graceful_shutdown=2
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
