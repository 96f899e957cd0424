"""Fixtures of the relay tests: a real Redis server, a real Chromium, servers in threads.

Redis and Chromium come from the system's packages (``.ci/run`` installs them). When one
cannot be started, its tests skip with the reason; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system's packages, driven by playwright."""
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            unavailable(f"chromium did not start: {exc}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no shared cookies) and page; console errors collected."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


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
