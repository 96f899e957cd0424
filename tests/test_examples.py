"""The programs in examples/ run against the local server, with no key.

Scripts run as subprocesses (as a reader would start them) in their ``--local`` mode; the
FastAPI relay is tested in-process, with starlette's TestClient and over a real socket;
the notebook is executed with nbclient on an ipykernel.
"""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import streamkit as sk
from streamkit.testing import DEMO_TEXT, Fault, LocalServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SRC = ROOT / "src"


def run_example(*args: str, stdin: str = "", timeout: float = 60) -> str:
    """Run ``python examples/<args>`` with streamkit importable; return its stdout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "error"  # the examples run warning-free, like the test suite
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / args[0]), *args[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr[-3000:]
    return proc.stdout


def need(module: str) -> ModuleType:
    """Import ``module`` (a dev dependency); skip without it, but fail under ``CI=true``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


# --- tool_calls.py --------------------------------------------------------------------------


def test_tool_calls_example() -> None:
    out = run_example("tool_calls.py", "--local")
    # the fragments arrive in pieces, then the assembled calls are parsed and run
    assert "→ call #0 call_paris get_weather: '{\"ci' 'ty\": \"Pa'" in out
    assert "→ call #1 call_tokyo get_weather:" in out
    assert "finish reason: tool_calls" in out
    assert "call_paris: get_weather(**{'city': 'Paris', 'unit': 'celsius'})  complete=True" in out
    assert "'temperature': 24" in out
    assert "answer: In Paris it is 18 °C with light rain" in out
    assert "finish reason: stop" in out
    assert "total cost: $0.00102 for 2 streams" in out


# --- terminal_chat.py -----------------------------------------------------------------------


def test_terminal_chat_plain_text_when_piped() -> None:
    out = run_example("terminal_chat.py", "--local", "--delay", "0", stdin="Hi\nAnd once more?\n\n")
    assert "you> Hi" in out and "you> And once more?" in out
    assert out.count("## Why streaming needs a resumable transport") == 2
    assert out.count("That is the whole job") == 2  # the resumed answer: nothing repeated
    assert "[resumed (last-event-id): nothing lost, nothing repeated]" in out
    footers = [line for line in out.splitlines() if line.startswith("── ")]
    assert len(footers) == 2
    assert "2 attempts" in footers[0]
    assert footers[1].startswith("── 24 in / 242 out tokens · $0.001984 · first token")
    assert "session: 2 answer(s), $" in out
    assert "\x1b[" not in out  # no terminal control codes in a pipe


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal, so the example draws with rich."""

    def isatty(self) -> bool:
        return True


def test_terminal_chat_live_view_on_a_terminal() -> None:
    terminal_chat = load_example("terminal_chat")
    out = FakeTerminal()
    assert terminal_chat.main(["--local", "--delay", "0", "--prompt", "Hi"], out=out) == 0
    text = out.getvalue()
    assert "\x1b[" in text  # rich drew (and redrew) the live view
    assert "Why streaming needs a resumable transport" in text
    assert " tokens · " in text and " s" in text  # the live token counter and elapsed time
    assert "⟳ resumed (last-event-id): nothing lost, nothing repeated" in text
    assert "── 32 in / 389 out tokens" in text or "2 attempts" in text
    assert "session: 1 answer(s), $0.00" in text


# --- concurrent_budget.py -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_concurrent_budget_stops_a_stream(backend: str) -> None:
    out = run_example("concurrent_budget.py", "--local", "--delay", "0.001", "--backend", backend)
    lines = [line for line in out.splitlines() if line.startswith("stream ")]
    assert len(lines) == 4
    complete = [line for line in lines if ": complete: 1153 characters" in line]
    stopped = [line for line in lines if "STOPPED" in line]
    assert len(complete) + len(stopped) == 4
    assert complete and stopped, out
    assert all("budget $0.006 would be crossed" in line for line in stopped)
    assert "budget $0.006" in out  # the report
    assert "within the budget" in out  # reservations: concurrent streams never overspend


# --- fastapi_relay.py -------------------------------------------------------------------------


def parse_sse(body: str) -> list[dict[str, str]]:
    """The events of an SSE body, as dicts of their fields (``retry``-only blocks dropped)."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "data" in fields:
            events.append(fields)
    return events


def relayed_text(events: list[dict[str, str]]) -> str:
    import json

    return "".join(json.loads(e["data"])["text"] for e in events if e["event"] == "text")


@pytest.fixture(scope="module")
def relay() -> ModuleType:
    need("fastapi")
    return load_example("fastapi_relay")


def start_stream(client: Any, prompt: str = "Why stream?") -> dict[str, str]:
    """What the page does: load (gets the session cookie), then POST /chat."""
    page = client.get("/")
    assert page.status_code == 200 and "new EventSource(" in page.text
    assert "session" in client.cookies
    started = client.post("/chat", json={"prompt": prompt})
    assert started.status_code == 201, started.text
    return started.json()  # type: ignore[no-any-return]


def test_relay_streams_numbered_events_and_resumes_after_last_event_id(relay: Any) -> None:
    from starlette.testclient import TestClient

    tracker = sk.CostTracker()
    with LocalServer() as upstream:
        app = relay.create_app(base_url=upstream.base_url, api_key="test", tracker=tracker)
        with TestClient(app) as client:
            links = start_stream(client)
            first = client.get(links["stream_url"])
            assert first.status_code == 200
            assert first.headers["content-type"].startswith("text/event-stream")
            assert first.text.startswith("retry: 1000\n\n")
            events = parse_sse(first.text)
            assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
            assert relayed_text(events) == DEMO_TEXT
            assert events[-1]["event"] == "done"
            assert '"cost_usd":"0.001984' in events[-1]["data"]

            # the browser got 100 events, lost the connection, and reconnects
            again = client.get(links["stream_url"], headers={"Last-Event-ID": "100"})
            rest = parse_sse(again.text)
            assert [int(e["id"]) for e in rest] == list(range(101, len(events) + 1))
            assert relayed_text(events[:100] + rest) == DEMO_TEXT  # nothing lost or repeated

            # a finished stream with nothing left: 204 stops EventSource reconnecting
            done = client.get(links["stream_url"], headers={"Last-Event-ID": str(len(events))})
            assert done.status_code == 204

            assert client.post("/chat", json={"prompt": ""}).status_code == 422

            # another browser (another session cookie) cannot read it
            client.cookies.clear()
            client.cookies.set("session", "someone-else")
            assert client.get(links["stream_url"]).status_code == 404
    assert upstream.attempts == 1  # reconnects never re-ran the generation
    assert tracker.stream_count == 1


def test_relay_reports_upstream_errors(relay: Any) -> None:
    from starlette.testclient import TestClient

    with LocalServer(faults=[Fault.status(401)]) as upstream:
        app = relay.create_app(base_url=upstream.base_url, api_key="wrong")
        with TestClient(app) as client:
            events = parse_sse(client.get(start_stream(client)["stream_url"]).text)
    assert [e["event"] for e in events] == ["failed"]
    assert '"type":"AuthenticationError"' in events[0]["data"]


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 (an OS-assigned port); yield its URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_relay_survives_a_dropped_browser_connection(relay: Any) -> None:
    """Over a real socket: read part of the stream, drop it, reconnect with Last-Event-ID.

    The upstream is slow and breaks once; the generation keeps running while no browser
    is connected, and the reconnect gets exactly the events after the last one received.
    The Stop button's endpoint then answers 204: the stream had already ended.
    """
    upstream = LocalServer(add_ids=True, delay_s=0.002, faults=[Fault.cut(after_events=150)])
    with upstream, serve(relay.create_app(base_url=upstream.base_url, api_key="t")) as url:
        received: list[dict[str, str]] = []
        with httpx.Client(base_url=url, timeout=10) as browser:
            links = start_stream(browser, "Hi")
            with browser.stream("GET", links["stream_url"]) as response:
                buffer = ""
                for chunk in response.iter_text():
                    buffer += chunk
                    *blocks, buffer = buffer.split("\n\n")
                    received += parse_sse("\n\n".join(blocks) + "\n\n")
                    if len(received) >= 40:
                        break  # the connection drops here
            last_id = received[-1]["id"]
            again = browser.get(links["stream_url"], headers={"Last-Event-ID": last_id})
            stopped = browser.post(links["stop_url"])
    rest = parse_sse(again.text)
    assert int(rest[0]["id"]) == int(last_id) + 1
    ids = [int(e["id"]) for e in received + rest]
    assert ids == list(range(1, len(ids) + 1))
    assert relayed_text(received + rest) == DEMO_TEXT
    kinds = [e["event"] for e in rest]
    assert "notice" in kinds  # the upstream break and resume, relayed
    assert kinds[-1] == "done"
    assert upstream.attempts == 2
    assert stopped.status_code == 204


# --- notebook.ipynb ---------------------------------------------------------------------------


def test_notebook_runs_against_the_local_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nbformat = need("nbformat")
    nbclient = need("nbclient")
    need("ipykernel")
    from traitlets.config import Config

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no "migrating to platformdirs" warning
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    config = Config()
    config.KernelManager.transport = "ipc"  # sockets in a temporary folder, no TCP port at all
    config.KernelManager.ip = str(tmp_path / "kernel")
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=60, allow_errors=False, config=config
    )
    client.execute(cwd=str(tmp_path))

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    markdown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    live_views = [m for m in markdown if m.startswith("## Why streaming needs a resumable")]
    assert len(live_views) >= 3  # display(), the resumed display(), adisplay()
    for view in live_views:
        assert DEMO_TEXT.rstrip()[-40:] in view  # the whole answer arrived
        assert " out tokens · $0.00" in view  # the footer: tokens and cost
    assert any("⟳ resumed (last-event-id)" in view and "2 attempts" in view for view in markdown)
    assert "2 True True" in printed  # attempts, complete, same text as without the cut
    assert any("| gpt-4.1 | 3 |" in m for m in markdown)  # the tracker's report
    assert all(o["output_type"] != "error" for o in outputs)
