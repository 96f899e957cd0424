"""Two uvicorn worker processes sharing a real Redis: a stream outlives the worker that ran it.

A browser starts a stream on worker A through a proxy (a load balancer that skips dead
backends); the proxy cuts its connection once, then holds the next one; the test waits
until the stream is complete in Redis, kills A (SIGKILL), and the browser's reconnect goes
to worker B, which serves the rest from Redis. Killed mid-generation, A's stream ends as
``interrupted`` on B once A's lease expires.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from streamkit.testing import LocalServer

from ._helpers import parse_sse, text_of, wait_for
from ._proxy import CuttingProxy, seeded_plan

ROOT = Path(__file__).resolve().parents[2]
ALICE = {"x-user": "alice"}


class Worker:
    """A relay worker process (tests/relay/_worker.py) on a socket bound here."""

    def __init__(self, redis_url: str, upstream: str, log: Path) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.socket.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p
        )
        fd = self.socket.fileno()
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("_worker.py")),
                    str(fd),
                    redis_url,
                    upstream,
                ],
                pass_fds=[fd],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        self.socket.close()  # the worker has its own copy; a killed worker refuses at once

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def errors(self) -> str:
        """What the worker logged (uvicorn logs warnings and errors only)."""
        return self.log.read_text(errors="replace")


@contextmanager
def workers(redis_url: str, upstream: str, tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    with ExitStack() as stack:
        pair = tuple(Worker(redis_url, upstream, tmp_path / f"worker-{n}.log") for n in "ab")
        for worker in pair:
            stack.callback(worker.stop)
        yield pair  # type: ignore[misc]


def stream_done(redis: Any, stream_id: str) -> bool:
    return redis.hget(f"streamkit:relay:{{{stream_id}}}:meta", "done") == b"1"


def test_a_browser_resumes_on_another_worker_after_the_first_one_dies(
    page: Any, redis_server: Any, redis_url: str, direct_text: str, tmp_path: Path
) -> None:
    redis = redis_server.client()
    plan = seeded_plan(3, ["sse", "ws"], ("cut", "hold"))
    upstream = LocalServer(delay_s=0.002)
    with (
        upstream,
        workers(redis_url, upstream.base_url, tmp_path) as (a, b),
        CuttingProxy([a.port, b.port], plan) as proxy,
    ):
        page.goto(proxy.origin + "/")
        page.evaluate("base => window.runBoth(base)", "")
        proxy.wait_fired({("sse", "hold"), ("ws", "hold")})
        started = page.evaluate("window.started")
        assert len(started) == 2
        assert set(proxy.routed) == {a.port}  # so far everything went to A
        wait_for(lambda: all(stream_done(redis, s) for s in started), what="both streams done")
        a.kill()
        page.wait_for_function("window.outcome !== undefined")
        outcome = page.evaluate("window.outcome")
        assert "error" not in outcome, outcome
        assert proxy.routed.count(b.port) >= 2  # both reconnects went to B
        # B checks the owner kept in Redis: someone else's cookie gets 404
        other = httpx.get(f"{b.origin}/chat/{started[0]}/stream", headers={"x-user": "bob"})
        assert other.status_code == 404
    for result in outcome["results"]:  # EventSource, WebSocket
        assert result["text"] == direct_text
        assert result["opens"] == 3
        assert result["done"]["finish_reason"] == "stop"
    assert "Traceback" not in b.errors()
    redis.close()


def test_a_worker_killed_mid_generation_ends_its_stream_as_interrupted_elsewhere(
    redis_url: str, direct_text: str, tmp_path: Path
) -> None:
    upstream = LocalServer(delay_s=0.01)  # ~2.5 s of generation: A dies in the middle
    with (
        upstream,
        workers(redis_url, upstream.base_url, tmp_path) as (a, b),
        httpx.Client(headers=ALICE, timeout=10) as http,
    ):
        links = http.post(f"{a.origin}/chat", json={}).json()
        received: list[dict[str, str]] = []
        with http.stream("GET", a.origin + links["stream_url"]) as response:
            buffer = ""
            for chunk in response.iter_text():
                buffer += chunk
                *blocks, buffer = buffer.split("\n\n")
                received += parse_sse("\n\n".join(blocks) + "\n\n")
                if len(received) >= 20:
                    break
        a.kill()
        headers = {"Last-Event-ID": received[-1]["id"]}
        rest = parse_sse(http.get(b.origin + links["stream_url"], headers=headers).text)
        # a new stream still starts on B
        assert http.post(f"{b.origin}/chat", json={}).status_code == 201
    events = received + rest
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    assert direct_text.startswith(text_of(events)) and len(text_of(events)) < len(direct_text)
    assert events[-1]["event"] == "failed"
    assert json.loads(events[-1]["data"]) == {"error": "interrupted"}
    assert "Traceback" not in b.errors()
