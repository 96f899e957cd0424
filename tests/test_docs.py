"""Every ```python block of README.md and docs/**/*.md runs, against a local server.

Each block is one test, named ``file:line`` (the line of the opening fence), so a
failure points at the example. The blocks run as a reader would paste them:

- ``STREAMKIT_BASE_URL`` is a :class:`streamkit.testing.LocalServer` serving the demo
  transcript of the block's dialect, and ``STREAMKIT_API_KEY``/``OPENAI_API_KEY``/... are
  dummies, so ``sk.StreamingClient()`` with no arguments streams from it;
- every HTTP request made through httpx (streamkit, the openai and anthropic SDKs) to a
  host other than 127.0.0.1 is sent to that server instead, so an example written
  against ``https://api.openai.com/v1`` runs unchanged; and a socket guard refuses any
  other connection or DNS lookup, so nothing ever leaves the machine;
- the working directory is a temporary folder holding ``answer.sse`` and
  ``recording.sse`` (recorded streams) and ``my-prices.json`` (a price file);
- a block that defines parameterless ``test_*`` functions has them called;
- a block may ``await`` at top level, as in a notebook cell: it runs on an asyncio loop;
- any warning fails the block, unless the block declares it.

An HTML comment on the line before a fence configures the block (several settings are
separated by spaces)::

    <!-- docs-test: provider=anthropic-messages -->   serve that dialect's demo stream
    <!-- docs-test: transcript=tool-calls -->         a chat stream with two tool calls
    <!-- docs-test: continue -->                      run after the previous block, same namespace
    <!-- docs-test: warns=UnknownModelWarning -->     the block emits this warning on purpose
    <!-- docs-test: file=my_app.py -->                written to that file (importable) for
                                                      every block of the page, and imported
    <!-- docs-test: skip (reason) -->                 not run (keep these rare)

Blocks in other languages (bash, text) are not run.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import ipaddress
import json
import re
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from streamkit.testing import (
    LocalServer,
    demo_anthropic_transcript,
    demo_responses_transcript,
    demo_transcript,
)

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
DUMMY_KEY = "docs-test-key"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:(?P<body>.*?)-->\s*$")
_SKIP = re.compile(r"skip\s*(?:\((?P<reason>[^)]*)\))?")
PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class Block:
    """One fenced Python block of a Markdown file."""

    path: Path
    line: int
    """1-based line of the opening fence."""
    code: str
    provider: str = "openai-chat"
    transcript: str = "demo"
    warns: tuple[str, ...] = ()
    file: str | None = None
    """Write the block to this file in the working directory (for the page's other blocks)."""
    skip: str | None = None
    previous: Block | None = field(default=None, repr=False)
    """The block this one continues (``continue``), else ``None``."""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def chain(self) -> list[Block]:
        """The blocks to run, in order: the ones this continues, then this one."""
        blocks: list[Block] = []
        block: Block | None = self
        while block is not None:
            blocks.append(block)
            block = block.previous
        return blocks[::-1]


def _settings(text: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    skip = _SKIP.search(text)
    if skip and text.strip().startswith("skip"):
        reason = (skip["reason"] or "").strip()
        if not reason:
            raise ValueError(f"{where}: a docs-test skip needs a reason: skip (why)")
        return {"skip": reason}
    for token in text.split():
        if token == "continue":
            out["continue"] = True
        elif "=" in token:
            key, value = token.split("=", 1)
            if key not in ("provider", "transcript", "warns", "file"):
                raise ValueError(f"{where}: unknown docs-test setting {key!r}")
            out[key] = tuple(value.split(",")) if key == "warns" else value
        else:
            raise ValueError(f"{where}: cannot read docs-test setting {token!r}")
    return out


def parse_blocks(path: Path) -> list[Block]:
    """The Python blocks of one Markdown file, with their docs-test settings."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening["indent"], opening["fence"], opening["lang"].lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = _FENCE.match(lines[i])
            if closing and closing["fence"].startswith(fence) and not closing["lang"]:
                break
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in PYTHON:
            continue
        where = f"{path.relative_to(ROOT)}:{start + 1}"
        settings: dict[str, Any] = {}
        if start > 0 and (directive := _DIRECTIVE.match(lines[start - 1])):
            settings = _settings(directive["body"], where)
        previous = None
        if settings.pop("continue", False):
            if not blocks:
                raise ValueError(f"{where}: 'continue' but no earlier Python block")
            previous = blocks[-1]
        blocks.append(
            Block(
                path=path,
                line=start + 1,
                code="\n".join(body) + "\n",
                previous=previous,
                **settings,
            )
        )
    return blocks


BLOCKS = [block for path in DOC_FILES for block in parse_blocks(path)]


def _params() -> list[Any]:
    params = []
    for block in BLOCKS:
        params.append(pytest.param(block, id=block.id))
    return params


# --- transcripts ------------------------------------------------------------------------------


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def tool_call_transcript(model: str = "gpt-4.1") -> bytes:
    """An OpenAI chat stream in which the model calls two tools, arguments in pieces."""
    base = {"id": "chatcmpl-docs", "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse({**base, "choices": [choice]})

    def call(index: int, fragment: str, call_id: str | None = None, name: str | None = None) -> str:
        item: dict[str, Any] = {"index": index, "function": {"arguments": fragment}}
        if call_id is not None:
            item.update(id=call_id, type="function")
            item["function"]["name"] = name
        return chunk({"tool_calls": [item]})

    parts = [
        chunk({"role": "assistant", "content": None}),
        call(0, "", "call_paris", "get_weather"),
        *(call(0, piece) for piece in ['{"ci', 'ty": "Par', 'is", "unit', '": "celsius"}']),
        call(1, "", "call_tokyo", "get_weather"),
        *(call(1, piece) for piece in ['{"city": ', '"Tokyo", ', '"unit": "celsius"}']),
        chunk({}, "tool_calls"),
        _sse(
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 60, "completion_tokens": 40, "total_tokens": 100},
            }
        ),
        "data: [DONE]\n\n",
    ]
    return "".join(parts).encode()


def gemini_transcript(text: str = "Hello from Gemini, served locally.") -> bytes:
    """A Gemini ``streamGenerateContent?alt=sse`` stream of ``text`` in three chunks."""
    words = text.split(" ")
    pieces = [" ".join(words[:2]) + " ", " ".join(words[2:4]) + " ", " ".join(words[4:])]
    out = []
    for n, piece in enumerate(pieces, 1):
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": piece}], "role": "model"},
            "index": 0,
        }
        if n == len(pieces):
            candidate["finishReason"] = "STOP"
        usage = {"promptTokenCount": 5, "candidatesTokenCount": 3 * n, "totalTokenCount": 5 + 3 * n}
        out.append(
            _sse(
                {
                    "candidates": [candidate],
                    "usageMetadata": usage,
                    "modelVersion": "gemini-2.5-flash",
                }
            )
        )
    return "".join(out).encode()


def transcript_for(block: Block) -> bytes:
    if block.transcript == "tool-calls":
        return tool_call_transcript()
    if block.transcript != "demo":
        raise ValueError(f"{block.id}: unknown transcript {block.transcript!r}")
    demos: dict[str, Callable[[], bytes]] = {
        "openai-chat": demo_transcript,
        "anthropic-messages": demo_anthropic_transcript,
        "openai-responses": demo_responses_transcript,
        "gemini": gemini_transcript,
    }
    return demos[block.provider]()


# --- isolation --------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def route_httpx_to(monkeypatch: pytest.MonkeyPatch, server: LocalServer) -> None:
    """Send every httpx request for a non-local host to ``server`` (same path and query)."""

    def local(request: httpx.Request) -> None:
        if not _is_loopback(request.url.host):
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=server.port)
            request.headers["host"] = f"127.0.0.1:{server.port}"

    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        local(request)
        return sync_send(self, request)

    async def handle_async_request(
        self: httpx.AsyncHTTPTransport, request: httpx.Request
    ) -> httpx.Response:
        local(request)
        return await async_send(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)


def forbid_remote_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse DNS lookups and connections to anything but the loopback interface."""
    getaddrinfo = socket.getaddrinfo
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_loopback(str(name)):
            raise OSError(f"docs tests never contact {name!r}")
        return getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(str(address[0])):
            raise OSError(f"docs tests never connect to {address!r}")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        check(address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


PRICE_FILE = {
    "models": [
        {
            "model": "my-finetune",
            "input": "3.00",
            "output": "12.00",
            "aliases": ["ft:gpt-4.1:acme"],
            "source": "contract 2026-07",
        }
    ]
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working directory with the files the examples read."""
    (tmp_path / "answer.sse").write_bytes(demo_transcript())
    (tmp_path / "recording.sse").write_bytes(demo_transcript())
    (tmp_path / "my-prices.json").write_text(json.dumps(PRICE_FILE, indent=2))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[tuple[str, str], LocalServer]]:
    """One fault-free server per (dialect, transcript), shared by the module's tests."""
    running: dict[tuple[str, str], LocalServer] = {}
    try:
        yield running
    finally:
        for server in running.values():
            server.stop()


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, servers: dict[tuple[str, str], LocalServer]
) -> Callable[[Block], None]:
    """Start (or reuse) the block's server; point the environment and httpx at it."""

    def serve(block: Block) -> None:
        key = (block.provider, block.transcript)
        server = servers.get(key)
        if server is None:
            server = LocalServer(transcript_for(block), dialect=block.provider)  # type: ignore[arg-type]
            servers[key] = server.start()
        monkeypatch.setenv("STREAMKIT_BASE_URL", server.base_url)
        for name in (
            "STREAMKIT_API_KEY",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
        ):
            monkeypatch.setenv(name, DUMMY_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)  # the openai and anthropic SDKs
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.origin)
        route_httpx_to(monkeypatch, server)
        forbid_remote_sockets(monkeypatch)

    return serve


def page_files(block: Block, workdir: Path) -> list[str]:
    """Write the ``file=`` blocks of ``block``'s page into ``workdir``; their module names."""
    modules = []
    for other in BLOCKS:
        if other.path == block.path and other.file is not None:
            (workdir / other.file).write_text(other.code, encoding="utf-8")
            modules.append(Path(other.file).stem)
    return modules


def run_block(block: Block, namespace: dict[str, Any]) -> None:
    """Execute ``block`` in ``namespace``; tracebacks point at the Markdown lines."""
    before = set(namespace)
    source = "\n" * block.line + block.code  # the code starts on the line after the fence
    code = compile(source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if block.file is not None:  # a module the page's examples import: check that it imports
        importlib.import_module(Path(block.file).stem)
        return
    if code.co_flags & inspect.CO_COROUTINE:  # top-level await, like a notebook cell
        coroutine = eval(code, namespace)

        async def cell() -> None:
            await coroutine

        anyio.run(cell)
    else:
        exec(code, namespace)
    for name, value in list(namespace.items()):
        if (
            name.startswith("test_")
            and name not in before
            and inspect.isfunction(value)
            and value.__code__.co_filename == str(block.path)
            and not inspect.signature(value).parameters
        ):
            value()


_HAS_WEBSOCKET = importlib.util.find_spec("httpx_ws") is not None


def test_blocks_were_found() -> None:
    assert len(BLOCKS) >= 40
    names = {block.path.name for block in BLOCKS}
    assert {"README.md", "quickstart.md", "sync-async.md", "migration-from-openai.md"} <= names


@pytest.mark.parametrize("block", _params())
def test_doc_example(block: Block, served: Callable[[Block], None], workdir: Path) -> None:
    if block.skip is not None:
        pytest.skip(block.skip)
    if any(".connect(" in b.code for b in block.chain()) and not _HAS_WEBSOCKET:
        pytest.skip("needs the websocket extra (httpx-ws), which the lowest-versions run leaves out")
    served(block)
    modules = page_files(block, workdir)
    importlib.invalidate_caches()
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    chain = block.chain()
    allowed = {name for b in chain for name in b.warns}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for b in chain:
                run_block(b, namespace)
    finally:
        for module in modules:  # the next test imports its own copy
            sys.modules.pop(module, None)
    unexpected = [w for w in caught if w.category.__name__ not in allowed]
    assert not unexpected, [f"{w.category.__name__}: {w.message}" for w in unexpected]
    declared = {w.category.__name__ for w in caught}
    assert allowed <= declared, f"declared warnings not emitted: {allowed - declared}"
