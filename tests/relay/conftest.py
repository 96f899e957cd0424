"""Fixtures of the relay tests: a real Redis server, a real Chromium, servers in threads.

Redis and Chromium come from the system's packages (``.ci/run`` installs them). When one
cannot be started, its tests skip with the reason; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

import streamkit as sk
from streamkit.testing import LocalServer

from ._helpers import free_port, unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# --- Redis -------------------------------------------------------------------------------


class RedisServer:
    """A redis-server process on 127.0.0.1 (no persistence)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server for the session (skip, or fail under CI, when impossible)."""
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    try:
        import redis
    except ImportError:
        unavailable("the redis package is not installed (pip install -e '.[dev]')")
    assert executable is not None
    last_error = ""
    for _ in range(5):  # a port picked free may be taken before redis binds it
        port = free_port()
        process = subprocess.Popen(
            [
                executable,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        client.close()
        if process.poll() is None and time.monotonic() < deadline:
            try:
                yield RedisServer(process, port)
            finally:
                process.terminate()
                process.wait(10)
                assert process.stdout is not None
                process.stdout.close()
            return
        process.kill()
        out, _ = process.communicate(timeout=10)
        last_error = out.decode(errors="replace")[-500:]
    unavailable(f"redis-server did not start: {last_error}")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The server's URL, emptied after the test."""
    yield redis_server.url
    client = redis_server.client()
    client.flushall()
    client.close()


# --- Chromium ----------------------------------------------------------------------------


class BrowserThread:
    """Chromium driven by playwright's sync API in a thread of its own.

    Playwright's sync API keeps an asyncio loop running in the thread that uses it; in
    the test thread that loop would break every anyio test that runs after it. So every
    call to the browser is shipped to this thread and waited for.
    """

    def __init__(self) -> None:
        self._calls: queue.Queue[tuple[Callable[[Any], Any], Future[Any]] | None] = queue.Queue()
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                self._started.set_result(None)
                while (call := self._calls.get()) is not None:
                    function, future = call
                    try:
                        future.set_result(function(chromium))
                    except BaseException as exc:
                        future.set_exception(exc)
                chromium.close()
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)

    def started(self) -> None:
        """Wait for Chromium; raises what kept it from starting."""
        self._started.result(timeout=60)

    def call(self, function: Callable[[Any], Any], timeout_s: float = 60) -> Any:
        """Run ``function(chromium)`` in the browser's thread; return its result."""
        future: Future[Any] = Future()
        self._calls.put((function, future))
        return future.result(timeout=timeout_s)

    def close(self) -> None:
        self._calls.put(None)
        self._thread.join(30)


class Page:
    """A page in its own browser context (no shared cookies), used from the test thread."""

    def __init__(self, browser: BrowserThread) -> None:
        self._browser = browser

        def open_page(chromium: Any) -> Any:
            page = chromium.new_context().new_page()
            page.set_default_timeout(30_000)
            return page

        self._page = browser.call(open_page)

    def goto(self, url: str) -> None:
        self._browser.call(lambda _: self._page.goto(url))

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        return self._browser.call(lambda _: self._page.evaluate(expression, arg))

    def wait_for_function(self, expression: str, timeout_s: float = 30) -> None:
        def wait(_: Any) -> None:
            self._page.wait_for_function(expression, timeout=timeout_s * 1000)

        self._browser.call(wait, timeout_s + 5)

    def close(self) -> None:
        self._browser.call(lambda _: self._page.context.close())


@pytest.fixture(scope="session")
def browser() -> Iterator[BrowserThread]:
    """Headless Chromium from the system's packages, driven by playwright."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    thread = BrowserThread()
    try:
        thread.started()
    except Exception as exc:
        thread.close()
        unavailable(f"chromium did not start: {exc}")
    try:
        yield thread
    finally:
        thread.close()


@pytest.fixture
def page(browser: BrowserThread) -> Iterator[Page]:
    """A fresh page in its own browser context."""
    page = Page(browser)
    try:
        yield page
    finally:
        page.close()


# --- servers ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def direct_text() -> str:
    """The demo answer's text, streamed directly from the upstream (no relay)."""
    messages = [{"role": "user", "content": "Hi"}]
    with (
        LocalServer() as upstream,
        sk.StreamingClient(base_url=upstream.base_url, api_key="k") as client,
        client.stream(model="gpt-4.1", messages=messages) as stream,
    ):
        return "".join(stream.text_stream)
